//! HTTPS as a user meets it, against nginx (a server we did not write) with a throwaway CA: the CA
//! passed with --cacert, certificates that are not trusted or not for the host name, and
//! verification turned off (and said to be off).

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;

struct Site {
    nginx: Nginx,
    ca: std::path::PathBuf,
    data: Vec<u8>,
    dir: tempfile::TempDir,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let mut data = vec![0u8; 3 * 1024 * 1024 + 17];
    streamscope::backend::synthetic::fill(5, 0, &mut data);
    std::fs::write(www.join("blob.bin"), &data).unwrap();
    // The certificate names `localhost` only: https://127.0.0.1 is a name mismatch.
    let ca = throwaway_ca(dir.path(), &["localhost"]);
    let nginx = nginx_tls(&www, dir.path());
    Site {
        nginx,
        ca,
        data,
        dir,
    }
}

fn run(site: &Site, host: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out = site.dir.path().join("got.bin");
    let json = site.dir.path().join("r.json");
    std::fs::remove_file(&out).ok();
    let url = format!("https://{host}:{}/blob.bin", site.nginx.port);
    get_report(&url, &out, &json, extra)
}

#[test]
fn the_ca_passed_with_cacert_is_trusted_and_the_download_is_verified_over_h2() {
    let s = site();
    let (o, r) = run(&s, "localhost", &["--cacert", s.ca.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["response"]["http_version"], "HTTP/2.0", "ALPN picked h2");
    assert_eq!(r["request"]["tls"]["verify_certificates"], true);
    assert_eq!(std::fs::read(s.dir.path().join("got.bin")).unwrap(), s.data);
    // curl agrees about the bytes.
    let (curl_sha, _) = curl_fetch_with(
        &format!("https://localhost:{}/blob.bin", s.nginx.port),
        s.dir.path(),
        &["--cacert", s.ca.to_str().unwrap()],
    );
    assert_eq!(r["sha256"], curl_sha);
}

#[test]
fn untrusted_and_misnamed_certificates_are_named_in_one_line() {
    let s = site();
    let cases = [
        ("localhost", vec![], "certificate not trusted"),
        (
            "127.0.0.1",
            vec!["--cacert", s.ca.to_str().unwrap()],
            "certificate name mismatch",
        ),
    ];
    for (host, extra, cause) in cases {
        let (o, r) = run(&s, host, &extra);
        assert_eq!(o.status.code(), Some(1), "{host}: {}", stderr(&o));
        assert_eq!(r["outcome"], "connect_error");
        let detail = r["outcome_detail"].as_str().unwrap();
        assert!(detail.contains(cause), "{host}: {detail:?} names {cause:?}");
        assert!(!detail.contains('\n'), "one line: {detail:?}");
        assert!(r["sha256"].is_null());
        assert!(!s.dir.path().join("got.bin").exists());
        let summary = String::from_utf8_lossy(&o.stdout);
        assert!(summary.contains(cause), "{summary}");
    }
}

#[test]
fn insecure_downloads_and_says_verification_was_off() {
    let s = site();
    let (o, r) = run(&s, "127.0.0.1", &["-k"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["request"]["tls"]["verify_certificates"], false);
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains("certificate verification was OFF"),
        "{summary}"
    );
    // With verification on, the same request fails: the flag is what made it pass.
    let (o, r) = run(&s, "127.0.0.1", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "connect_error");
}
