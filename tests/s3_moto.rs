//! The S3 route against a real S3 API server on loopback: moto (`moto_server`, from PyPI), started
//! here. Objects are uploaded with a SHA-256 checksum, as `aws s3 cp --checksum-algorithm SHA256` does.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use streamscope::backend::s3::S3Source;
use streamscope::backend::{self, BackendConfig};
use streamscope::emulator::{self, LocalConfig};
use streamscope::probe::fetch::expect::DigestSource;
use streamscope::probe::{self, Outcome, ProbeRequest};

struct Moto {
    _proc: common::Proc,
    endpoint: String,
}

fn start_moto() -> Moto {
    let proc = common::moto_server();
    Moto {
        endpoint: proc.base.clone(),
        _proc: proc,
    }
}

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    // Static test credentials: nothing looks up a real credential chain or instance metadata.
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

const SIZE: usize = 5 * 1024 * 1024 + 7;

fn data() -> Vec<u8> {
    let mut d = vec![0u8; SIZE];
    backend::synthetic::fill(77, 0, &mut d);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_stream_with_digest_ranges_and_errors() {
    let moto = start_moto();
    let s3 = client(&moto.endpoint);
    s3.create_bucket()
        .bucket("streamscope-test")
        .send()
        .await
        .unwrap();
    let d = data();
    s3.put_object()
        .bucket("streamscope-test")
        .key("public/blob.bin")
        .body(ByteStream::from(d.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("streamscope-test")
        .key("private/secret.bin")
        .body(ByteStream::from_static(b"not for you"))
        .send()
        .await
        .unwrap();
    let source = S3Source {
        client: s3,
        bucket: "streamscope-test".into(),
        prefix: "public/".into(),
    };
    let addr = emulator::spawn_local_with(LocalConfig {
        backend: BackendConfig {
            s3: Some(source),
            ..BackendConfig::default()
        },
        ..LocalConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // The whole object, through the engine: the checksum uploaded with it verifies the file.
    let out = dir.path().join("blob.bin");
    let report = probe::run_to_end(&ProbeRequest::new(
        format!("http://{addr}/s3/blob.bin"),
        &out,
    ))
    .await
    .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Complete,
        "{}",
        report.outcome.describe()
    );
    assert_eq!(report.bytes, SIZE as u64);
    assert_eq!(
        report.expected_length().map(|l| l.bytes),
        Some(SIZE as u64),
        "Content-Length forwarded"
    );
    assert_eq!(
        report.expected_digest().map(|d| d.source),
        Some(DigestSource::ReprDigest),
        "the S3 SHA-256 became Repr-Digest"
    );
    assert_eq!(report.digest_match(), Some(true));
    assert_eq!(std::fs::read(&out).unwrap(), d);

    let http = reqwest::Client::new();
    // A Range request: 206 with Content-Range and the right bytes.
    let r = http
        .get(format!("http://{addr}/s3/blob.bin"))
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000-1999/{SIZE}").as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &d[1000..2000]);

    // A missing key: 404 with a JSON body.
    let r = http
        .get(format!("http://{addr}/s3/missing.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(v["error"].as_str().unwrap().contains("missing.bin"));

    // Keys outside the prefix: refused, or looked up under the prefix (where they do not exist).
    let r = http
        .get(format!("http://{addr}/s3/..%2Fprivate%2Fsecret.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "'..' is refused");
    // Sent raw: an HTTP client library would normalize the `..` away before it left.
    assert_eq!(
        raw_get_status(addr, "/s3/../private/secret.bin"),
        400,
        "a literal '..' segment is refused"
    );
    let r = http
        .get(format!("http://{addr}/s3/private/secret.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "private/secret.bin is looked up as public/private/secret.bin"
    );
}

/// The status code a server answers to `GET path` written byte for byte on a socket.
fn raw_get_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    sock.read_to_string(&mut reply).unwrap();
    let status = reply.split_whitespace().nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status line in {reply:?}"))
}

#[test]
fn serve_reads_s3_settings_from_flags() {
    let moto = start_moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s3 = client(&moto.endpoint);
        s3.create_bucket().bucket("flags").send().await.unwrap();
        s3.put_object()
            .bucket("flags")
            .key("p/x.bin")
            .body(ByteStream::from(data()))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .unwrap();
    });
    let child = Command::new(common::BIN)
        .args([
            "serve",
            "--port",
            "0",
            "--s3-bucket",
            "flags",
            "--s3-prefix",
            "p/",
            "--s3-region",
            "us-east-1",
        ])
        .args(["--s3-endpoint", &moto.endpoint])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server = common::Proc::listening(child);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let o = common::get(&[
        &format!("{}/s3/x.bin", server.base),
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let r = common::read_json(&json);
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["bytes"], SIZE);
}
