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
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start streamscope serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read first line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line should say where it listens, got {line:?}"))
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "binds loopback by default: {base}"
    );
    Proc { child, base }
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
    let body = dir.join("curl.body");
    let hdrs = dir.join("curl.headers");
    let out = Command::new("curl")
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

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
        .expect("report is JSON")
}

pub fn part_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
