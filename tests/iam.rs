//! AWS IAM (SigV4) on both sides: `streamscope get --aws-sigv4` against `serve --iam`, and the
//! server's check against clients we did not write (botocore's SigV4Auth, curl --aws-sigv4).
//! Credentials come from the environment, as the AWS chain reads them; nothing leaves loopback
//! (instance metadata is turned off and no AWS config file is read).

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::process::Command;

const KEY_ID: &str = "AKIDSTREAMSCOPETEST";
const SECRET: &str = "local-test-secret-not-a-real-one";

fn server() -> Proc {
    serve(&[
        "--gateway",
        "stream",
        "--stage",
        "prod",
        "--iam",
        &format!("{KEY_ID}:{SECRET}"),
        "--iam-region",
        "eu-west-1",
    ])
}

/// `streamscope get` with these AWS credentials in its environment.
fn get_as(key: &str, secret: &str, args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let o = Command::new(BIN)
        .arg("get")
        .args(args)
        .args([
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .output()
        .unwrap();
    let r = read_json(&json);
    (o, r)
}

fn message(r: &serde_json::Value) -> String {
    let body = r["http_error_body_preview"].as_str().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_signed_download_streams_and_bad_signatures_get_api_gateways_403s() {
    let s = server();
    let url = format!("{}/prod/download?size=12MiB&seed=4", s.base);

    let (o, r) = get_as(KEY_ID, SECRET, &[&url, "--aws-sigv4", "eu-west-1"]);
    assert!(o.status.success(), "{}\n{r}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["bytes"], 12 * 1024 * 1024);
    // The signature never reaches the report.
    let text = r.to_string();
    for secret in ["AWS4-HMAC-SHA256", "Signature=", SECRET] {
        assert!(!text.contains(secret), "the report holds {secret}: {text}");
    }
    assert_eq!(r["request"]["aws_sigv4"]["region"], "eu-west-1");
    assert_eq!(r["request"]["aws_sigv4"]["service"], "execute-api");

    // curl's form of the flag.
    let (o, r) = get_as(
        KEY_ID,
        SECRET,
        &[&url, "--aws-sigv4", "aws:amz:eu-west-1:execute-api"],
    );
    assert!(o.status.success(), "{}\n{r}", stderr(&o));

    let cases: [(&str, &str, Vec<&str>, &str); 4] = [
        ("unsigned", SECRET, vec![], "Missing Authentication Token"),
        (
            "the wrong secret",
            "not-the-secret",
            vec!["--aws-sigv4", "eu-west-1"],
            "The request signature we calculated does not match",
        ),
        (
            "the wrong region",
            SECRET,
            vec!["--aws-sigv4", "us-east-1"],
            "Credential should be scoped to a valid region, not 'us-east-1'",
        ),
        (
            "another service",
            SECRET,
            vec!["--aws-sigv4", "eu-west-1:lambda"],
            "Credential should be scoped to correct service: 'execute-api'",
        ),
    ];
    for (what, secret, flags, says) in cases {
        let mut args = vec![url.as_str()];
        args.extend(flags);
        let (o, r) = get_as(KEY_ID, secret, &args);
        assert_eq!(o.status.code(), Some(1), "{what}");
        assert_eq!(r["response"]["status"], 403, "{what}: {r}");
        assert!(message(&r).starts_with(says), "{what}: {}", message(&r));
        let ids: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        let want = if what == "unsigned" {
            "missing-authentication-token"
        } else {
            "iam-signature-refused"
        };
        assert_eq!(ids, vec![want], "{what}");
    }
    // Another key id.
    let (_, r) = get_as(
        "AKIDSOMEONEELSE",
        SECRET,
        &[&url, "--aws-sigv4", "eu-west-1"],
    );
    assert_eq!(
        message(&r),
        "The security token included in the request is invalid."
    );
}

#[test]
fn no_credentials_is_said_in_one_line_and_bad_specs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args([
            "get",
            "http://127.0.0.1:9/prod/x",
            "-o",
            dir.path().join("x").to_str().unwrap(),
            "--aws-sigv4",
            "eu-west-1",
            "--connect-timeout",
            "5",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("no AWS credentials"), "{out}");
    for bad in ["eu west", "a:b:c:d:e", "https://x.example/y"] {
        let o = get(&[
            "http://127.0.0.1:9/",
            "-o",
            "/tmp/never",
            &format!("--aws-sigv4={bad}"),
        ]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&o).contains("(--aws-sigv4)"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

/// A request signed by botocore's SigV4Auth (optionally `skew_s` seconds in the past) and sent
/// with urllib: (status, message).
fn botocore_get(url: &str, secret: &str, skew_s: i64) -> (u16, String) {
    const SCRIPT: &str = r#"
import sys, json, datetime, urllib.request, urllib.error
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, region, skew = sys.argv[1:6]
real_now = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(seconds=int(skew))
req = AWSRequest(method="GET", url=url)
SigV4Auth(Credentials(key, secret), "execute-api", region).add_auth(req)
r = urllib.request.Request(url, headers=dict(req.headers.items()))
try:
    with urllib.request.urlopen(r) as resp:
        n = len(resp.read())
        print(json.dumps({"status": resp.status, "message": "", "bytes": n}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "message": json.loads(e.read())["message"]}))
"#;
    let o = Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            url,
            KEY_ID,
            secret,
            "eu-west-1",
            &skew_s.to_string(),
        ])
        .output()
        .expect("python3 with botocore (installed with moto)");
    assert!(
        o.status.success(),
        "botocore: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["status"].as_u64().unwrap() as u16,
        v["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn signatures_by_clients_we_did_not_write_are_checked_too() {
    let s = server();
    let url = format!("{}/prod/download?size=64KiB&seed=3", s.base);
    assert_eq!(botocore_get(&url, SECRET, 0), (200, String::new()));
    let (status, msg) = botocore_get(&url, "wrong", 0);
    assert_eq!(status, 403);
    assert!(
        msg.starts_with("The request signature we calculated"),
        "{msg}"
    );
    let (status, msg) = botocore_get(&url, SECRET, 6 * 60);
    assert_eq!(status, 403, "six minutes old");
    assert!(msg.starts_with("Signature expired: "), "{msg}");

    // curl --aws-sigv4. curl before 8.1 (Debian 12 has 7.88) signs the query as written instead of
    // sorted, which API Gateway refuses as well: the parameters are given in sorted order here.
    let url = format!("{}/prod/download?seed=3&size=64KiB", s.base);
    let curl = |secret: &str| {
        let o = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--aws-sigv4",
                "aws:amz:eu-west-1:execute-api",
                "--user",
                &format!("{KEY_ID}:{secret}"),
                &url,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(curl(SECRET), "200");
    assert_eq!(curl("wrong"), "403");
}
