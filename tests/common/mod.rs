//! Helpers shared by the integration tests: real processes on 127.0.0.1, real files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_streamscope");

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Starts `streamscope serve --port 0 [extra...]` and returns it with its base URL, read from the
/// first stdout line.
pub fn serve(extra: &[&str]) -> Proc {
    serve_with_stderr(extra, Stdio::inherit())
}

/// [`serve`], its stderr (logs, REPORT lines) going to `log`.
pub fn serve_logged(extra: &[&str], log: &Path) -> Proc {
    serve_with_stderr(extra, std::fs::File::create(log).unwrap().into())
}

fn serve_with_stderr(extra: &[&str], stderr: Stdio) -> Proc {
    let child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start streamscope serve");
    let p = Proc::listening(child);
    assert!(
        p.base.starts_with("http://127.0.0.1:"),
        "binds loopback by default: {}",
        p.base
    );
    p
}

impl Proc {
    /// A `serve` or `local` child whose stdout is piped: its base URL, read from its first line
    /// (`listening on URL`).
    pub fn listening(mut child: Child) -> Proc {
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line should say where it listens, got {line:?}"))
            .to_string();
        Proc { child, base }
    }
}

/// A custom runtime in `dir/bootstrap` (a shell script on the Runtime API, with curl): for each
/// event it runs `answer`, shell lines that print the proxy JSON response on stdout.
pub fn shell_runtime(dir: &Path, answer: &str) -> PathBuf {
    shell_runtime_after(dir, "", answer)
}

/// [`shell_runtime`] that runs `init` (shell lines: a slow start) before its first event.
pub fn shell_runtime_after(dir: &Path, init: &str, answer: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("bootstrap");
    std::fs::write(
        &path,
        format!(
            r#"#!/bin/sh
{init}
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
  head=$(mktemp)
  curl -s -D "$head" -o /dev/null "$api/next" || exit 1
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$head" | cut -d' ' -f2 | tr -d '\r')
  {{
{answer}
  }} | curl -s -X POST --data-binary @- "$api/$id/response" > /dev/null
  rm -f "$head"
done
"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Starts a server we did not write: `python3 -m http.server` serving `dir`.
pub fn python_http_server(dir: &Path) -> Proc {
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 must be installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read banner");
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_string();
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A loopback port that refuses connections: bound, so nothing else can take it while this lives,
/// but not listening.
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

pub fn refused_port() -> RefusedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind a loopback port");
    let port = socket.local_addr().unwrap().port();
    RefusedPort {
        _socket: socket,
        port,
    }
}

/// Starts moto's S3 server (a server we did not write) on a port it picks itself; lives until
/// dropped (its stdin closes).
pub fn moto_server() -> Proc {
    const SCRIPT: &str = "import sys\n\
from moto.server import ThreadedMotoServer\n\
s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n\
s.start()\n\
print(s.get_host_and_port()[1], flush=True)\n\
sys.stdin.read()\n\
s.stop()\n";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with moto[server] must be installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("moto prints its port");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("moto should print its port, got {line:?}"));
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

pub fn get(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("get")
        .args(args)
        .output()
        .expect("run streamscope get")
}

/// `streamscope get URL -o OUT --json JSON EXTRA...`: how it ended, and the report it wrote.
pub fn get_report(
    url: &str,
    out: &Path,
    json: &Path,
    extra: &[&str],
) -> (Output, serde_json::Value) {
    let mut args = vec![
        url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = get(&args);
    (o, read_json(json))
}

pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Fetches with curl (a second client we did not write); returns (sha256 of body, raw headers).
pub fn curl_fetch(url: &str, dir: &Path) -> (String, String) {
    curl_fetch_with(url, dir, &[])
}

pub fn curl_fetch_with(url: &str, dir: &Path, extra: &[&str]) -> (String, String) {
    let body = dir.join("curl.body");
    let hdrs = dir.join("curl.headers");
    let out = Command::new("curl")
        .args(extra)
        .args(["-sS", "--fail", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&hdrs)
        .arg(url)
        .output()
        .expect("curl must be installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (sha256sum(&body), std::fs::read_to_string(&hdrs).unwrap())
}

pub fn header_of(raw: &str, name: &str) -> Option<String> {
    raw.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Reads a report (or a comparison) the tool wrote, and validates it against the checked-in JSON
/// Schema its `$schema` names with an independent validator (Python's `jsonschema`): every
/// report the suite reads is checked.
pub fn read_json(path: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
            .expect("report is JSON");
    let schema = match v["$schema"].as_str() {
        Some("urn:streamscope:schema:report:1") => "report.schema.json",
        Some("urn:streamscope:schema:comparison:1") => "comparison.schema.json",
        Some(other) => panic!("{}: unknown $schema {other:?}", path.display()),
        None if v.get("schema_version").is_some() => {
            panic!("{}: a report without $schema", path.display())
        }
        None => return v,
    };
    validate_with_jsonschema(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(schema),
        path,
    );
    v
}

/// Validates the JSON file `instance` against `schema` with Python's jsonschema (the validator
/// class the schema's own `$schema` asks for); panics with the first errors.
pub fn validate_with_jsonschema(schema: &Path, instance: &Path) {
    const SCRIPT: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
instance = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors[:5]:
    print("/".join(map(str, e.absolute_path)) + ": " + e.message[:300], file=sys.stderr)
sys.exit(1 if errors else 0)
"#;
    let o = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(schema)
        .arg(instance)
        .output()
        .expect("python3 with jsonschema (scripts/install-test-deps.sh installs it)");
    assert!(
        o.status.success(),
        "{} does not follow {}:\n{}",
        instance.display(),
        schema.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn part_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A throwaway CA and a server certificate it signed, as PEM files in `dir`: `ca.pem`,
/// `server.pem`, `server.key`. The server certificate names only `names`.
pub fn throwaway_ca(dir: &Path, names: &[&str]) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "streamscope throwaway test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    dir.join("ca.pem")
}

/// nginx (Debian's package, a server we did not write) on 127.0.0.1 serving `www` over TLS
/// (HTTP/2 offered by ALPN) with the certificate in `tls_dir` (see [`throwaway_ca`]). `port` is
/// the port; the process is stopped when dropped.
pub struct Nginx {
    _proc: Proc,
    pub port: u16,
}

pub fn nginx_tls(www: &Path, tls_dir: &Path) -> Nginx {
    nginx_tls_with(www, tls_dir, "")
}

/// [`nginx_tls`] with more directives in its `server` block (`location`s that redirect...).
pub fn nginx_tls_with(www: &Path, tls_dir: &Path, server_extra: &str) -> Nginx {
    let run = tempfile::Builder::new()
        .prefix("nginx-")
        .tempdir_in(tls_dir)
        .unwrap()
        .keep();
    for attempt in 0..20u32 {
        // nginx binds the port itself; one already taken makes it exit at once, and another is
        // tried (no port is bound, released and reused by us).
        let port = 20_000 + (std::process::id() * 7919 + attempt * 104_729) % 30_000;
        let port = port as u16;
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {run}/error.log warn;\npid {run}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n default_type application/octet-stream;\n\
             client_body_temp_path {run}/b;\n proxy_temp_path {run}/p;\n fastcgi_temp_path {run}/f;\n\
             uwsgi_temp_path {run}/u;\n scgi_temp_path {run}/s;\n\
             server {{\n  listen 127.0.0.1:{port} ssl http2;\n  root {www};\n\
              ssl_certificate {tls}/server.pem;\n  ssl_certificate_key {tls}/server.key;\n {server_extra}\n }}\n}}\n",
            run = run.display(),
            www = www.display(),
            tls = tls_dir.display(),
        );
        std::fs::write(run.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new("nginx")
            .arg("-c")
            .arg(run.join("nginx.conf"))
            .arg("-p")
            .arg(&run)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (apt-get install nginx-light)");
        let t0 = std::time::Instant::now();
        loop {
            // nginx writes its pid file only once every port is bound: only then is the port its.
            if run.join("nginx.pid").exists()
                && child.try_wait().unwrap().is_none()
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return Nginx {
                    _proc: Proc {
                        child,
                        base: format!("https://localhost:{port}"),
                    },
                    port,
                };
            }
            if child.try_wait().unwrap().is_some() {
                break; // the port was taken: try another
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "nginx did not start: {}",
                std::fs::read_to_string(run.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    panic!(
        "nginx found no free port: {}",
        std::fs::read_to_string(run.join("error.log")).unwrap_or_default()
    );
}

/// python's http.server answering every GET with `file`'s bytes under a Content-Length that
/// announces `missing` more, then closing the connection: a body cut short.
pub fn python_short_body_server(file: &Path, missing: usize) -> Proc {
    const SCRIPT: &str = r#"
import sys, http.server
data = open(sys.argv[1], 'rb').read()
missing = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(data) + missing))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(file)
        .arg(missing.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server prints its port");
    let port: u16 = line.trim().parse().expect("a port");
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A PNG's size and pixels (RGB), to check what a picture shows.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[u8; 3]>,
}

impl Picture {
    pub fn read(path: &Path) -> Picture {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let step = info.color_type.samples();
        let rgb = buf[..info.buffer_size()]
            .chunks(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Picture {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    /// Pixels of exactly this colour.
    pub fn count(&self, c: [u8; 3]) -> usize {
        self.rgb.iter().filter(|p| **p == c).count()
    }

    /// The rows from `y` down.
    pub fn below(&self, y: u32) -> &[[u8; 3]] {
        &self.rgb[(y * self.width) as usize..]
    }
}

/// The ids of a JSON report's findings, in order.
/// A response header of a JSON report (`response.headers`), "" when it has none.
pub fn report_header(report: &serde_json::Value, name: &str) -> String {
    report["response"]["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["name"] == name)
        .and_then(|h| h["value"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn finding_ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
