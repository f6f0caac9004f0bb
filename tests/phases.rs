//! Where the time before the first byte went, and redirects shown rather than hidden: against
//! nginx over TLS with a throwaway CA (a server we did not write) and our own backend over plain
//! HTTP.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;

struct Site {
    nginx: Nginx,
    ca: std::path::PathBuf,
    dir: tempfile::TempDir,
    backend: Proc,
}

/// nginx serving a 1 MiB file over TLS for `localhost` and `127.0.0.1`, with redirects: `/away`
/// to our backend on another origin, `/here` to a path of its own, `/loop` to itself; and our
/// backend behind an API key.
fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("blob.bin"), vec![3u8; 1024 * 1024]).unwrap();
    let ca = throwaway_ca(dir.path(), &["localhost", "127.0.0.1"]);
    let backend = serve(&["--gateway", "stream", "--api-key", "k3y-for-the-backend"]);
    let extra = format!(
        "location = /away {{ return 302 {}/download?size=2MiB&seed=9; }}\n \
         location = /here {{ return 301 /blob.bin; }}\n \
         location = /loop {{ return 302 /loop; }}\n \
         location = /ftp {{ return 302 ftp://127.0.0.1/file; }}",
        backend.base
    );
    let nginx = nginx_tls_with(&www, dir.path(), &extra);
    Site {
        nginx,
        ca,
        dir,
        backend,
    }
}

fn fetch(s: &Site, url: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out = s.dir.path().join("got.bin");
    let json = s.dir.path().join("r.json");
    std::fs::remove_file(&out).ok();
    let extra = [&["--cacert", s.ca.to_str().unwrap()], extra].concat();
    get_report(url, &out, &json, &extra)
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

/// The phases before the headers add up to the headers time within a millisecond.
fn assert_adds_up(r: &serde_json::Value) {
    let p = &r["phases"];
    let sum = ms(&p["redirects_ms"])
        + ms(&p["queue_ms"])
        + ms(&p["dns_ms"])
        + ms(&p["connect_ms"])
        + p["tls_ms"].as_f64().unwrap_or(0.0)
        + ms(&p["wait_ms"]);
    let headers = ms(&r["headers_ms"]);
    assert!(
        (headers - sum).abs() < 1.0 && sum <= headers + 1e-6,
        "phases {sum} ms vs headers {headers} ms: {p}"
    );
    // And the body phases take it on from there.
    if let Some(first) = r["first_byte_ms"].as_f64() {
        assert!(
            (headers + ms(&p["first_byte_ms"]) - first).abs() < 1e-3,
            "{p}"
        );
    } else {
        assert!(p["first_byte_ms"].is_null(), "{p}");
    }
}

#[test]
fn https_phases_add_up_and_tell_dns_tcp_and_tls_apart() {
    let s = site();
    let by_name = format!("https://localhost:{}/blob.bin", s.nginx.port);
    let (o, r) = fetch(&s, &by_name, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = &r["phases"];
    assert_eq!(p["new_connection"], true);
    assert!(ms(&p["dns_ms"]) > 0.0, "localhost is looked up: {p}");
    assert!(ms(&p["connect_ms"]) > 0.0, "{p}");
    assert!(
        ms(&p["tls_ms"]) > 0.0,
        "the TLS handshake is timed on its own: {p}"
    );
    assert_adds_up(&r);
    assert!(ms(&p["body_ms"]) >= 0.0);
    let printed = String::from_utf8_lossy(&o.stdout);
    let bar = printed
        .lines()
        .find(|l| l.starts_with("phases"))
        .unwrap_or_else(|| panic!("{printed}"));
    // (A first "client N ms" part when the client itself took a millisecond or more.)
    for part in [
        "DNS ",
        "| TCP ",
        "| TLS ",
        "| server ",
        "| first byte ",
        "| body ",
    ] {
        assert!(bar.contains(part), "{bar}");
    }

    let by_ip = format!("https://127.0.0.1:{}/blob.bin", s.nginx.port);
    let (o, r) = fetch(&s, &by_ip, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        ms(&r["phases"]["dns_ms"]),
        0.0,
        "an IP literal is not looked up"
    );
    assert!(ms(&r["phases"]["tls_ms"]) > 0.0);
    assert_adds_up(&r);
}

#[test]
fn plain_http_has_no_tls_time() {
    let s = site();
    let url = format!("{}/healthz", s.backend.base);
    let (o, r) = fetch(&s, &url, &["-H", "x-api-key: k3y-for-the-backend"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ms(&r["phases"]["tls_ms"]), 0.0);
    assert!(ms(&r["phases"]["connect_ms"]) > 0.0);
    assert_adds_up(&r);
}

#[test]
fn a_redirect_to_another_origin_is_shown_timed_and_does_not_carry_the_key() {
    let s = site();
    let url = format!("https://localhost:{}/away", s.nginx.port);
    // The key is for nginx's origin; the backend it redirects to is another one and must not
    // receive it: the backend answers 403 without it.
    let (o, r) = fetch(&s, &url, &["-H", "x-api-key: k3y-for-the-backend"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["response"]["status"], 403, "{r}");
    let hops = r["redirects"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{r}");
    assert_eq!(hops[0]["status"], 302);
    assert_eq!(hops[0]["url"], url);
    assert_eq!(
        hops[0]["location"],
        format!("{}/download?size=2MiB&seed=9", s.backend.base)
    );
    assert!(ms(&hops[0]["headers_ms"]) > ms(&hops[0]["sent_ms"]));
    let backend_host = s.backend.base.trim_start_matches("http://");
    assert_eq!(r["served_by"], backend_host);
    assert!(ms(&r["phases"]["redirects_ms"]) >= ms(&hops[0]["headers_ms"]));
    assert_adds_up(&r);
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("redirect     302 → http://127.0.0.1"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("served by    {backend_host} (not localhost:")),
        "{printed}"
    );
    // Without a secret header the redirect is followed to the end.
    let open = serve(&[]);
    let nginx_extra = format!(
        "location = /away {{ return 307 {}/download?size=2MiB&seed=9; }}",
        open.base
    );
    let www = s.dir.path().join("www");
    let n2 = nginx_tls_with(&www, s.dir.path(), &nginx_extra);
    let (o, r) = fetch(&s, &format!("https://localhost:{}/away", n2.port), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["bytes"], 2 * 1024 * 1024);
    assert_eq!(
        r["digest_match"], true,
        "the backend's Repr-Digest, checked"
    );
    assert_eq!(r["redirects"][0]["status"], 307);
}

#[test]
fn same_origin_redirects_keep_the_headers_and_limits_are_kept() {
    let s = site();
    let url = format!("https://localhost:{}/here", s.nginx.port);
    let (o, r) = fetch(&s, &url, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["redirects"][0]["status"], 301);
    assert_eq!(
        r["final_url"],
        format!("https://localhost:{}/blob.bin", s.nginx.port)
    );
    assert_eq!(r["bytes"], 1024 * 1024);

    // Not following: the 3xx is the answer, and the summary says where it pointed.
    for flags in [&["--no-location"][..], &["--max-redirs", "0"][..]] {
        let (o, r) = fetch(&s, &url, flags);
        assert_eq!(o.status.code(), Some(1), "{flags:?}");
        assert_eq!(r["outcome"], "http_error");
        assert_eq!(r["response"]["status"], 301);
        assert_eq!(r["redirects"].as_array().unwrap().len(), 0);
        let printed = String::from_utf8_lossy(&o.stdout);
        assert!(
            printed.contains("not followed (following redirects is off)"),
            "{printed}"
        );
        assert!(!s.dir.path().join("got.bin").exists());
    }

    // A loop stops at the limit.
    let (o, r) = fetch(
        &s,
        &format!("https://localhost:{}/loop", s.nginx.port),
        &["--max-redirs", "3"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["redirects"].as_array().unwrap().len(), 3);
    assert_eq!(r["response"]["status"], 302);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("the limit of 3 redirects was reached"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A Location that is not http(s) is not followed.
    let (o, r) = fetch(&s, &format!("https://localhost:{}/ftp", s.nginx.port), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["response"]["status"], 302);
    assert_eq!(r["redirects"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_redirect_flags_are_refused() {
    for args in [
        &["--max-redirs", "-1"][..],
        &["--max-redirs", "lots"][..],
        &["--max-redirs", "2", "--no-location"][..],
    ] {
        let mut all = vec!["http://127.0.0.1:9/x", "-o", "/tmp/never-written"];
        all.extend_from_slice(args);
        let o = get(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let first = stderr(&o).lines().next().unwrap_or_default().to_string();
        assert!(first.contains("--max-redirs"), "{args:?}: {first}");
    }
}
