//! What to download and how. [`ProbeRequest`] holds the values as a view got them (typed text,
//! numbers of seconds); [`ProbeRequest::validate`] is the one place they are checked, before
//! anything touches the network or the disk. Errors name the value, never a CLI flag: the CLI maps
//! [`Field`] to its flags, the app shows the sentence under its form.

use crate::disk::Dest;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Lambda's 6 MB uncapped window (smaller than API Gateway's 10 MB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 6 * 1024 * 1024;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpVersion {
    #[default]
    Auto,
    Http1,
    Http2,
}

impl HttpVersion {
    pub fn label(self) -> &'static str {
        match self {
            HttpVersion::Auto => "auto",
            HttpVersion::Http1 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        }
    }
}

/// A download as the user described it; [`ProbeRequest::validate`] checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    pub url: String,
    /// `(name, value)` pairs, sent in this order.
    pub headers: Vec<(String, String)>,
    pub http_version: HttpVersion,
    /// Seconds to establish the connection (DNS, TCP, TLS).
    pub connect_timeout_s: f64,
    /// Seconds without a byte (headers or body) before the run ends as stalled.
    pub idle_timeout_s: f64,
    /// Seconds the whole run, request sent to last byte, may take.
    pub max_time_s: Option<f64>,
    /// Hex SHA-256 the body must have; wins over any digest the server sends.
    pub expect_sha256: Option<String>,
    pub output: PathBuf,
    /// Where the JSON report and the arrivals CSV will be written (their directories must exist).
    pub json_report: Option<PathBuf>,
    pub csv_report: Option<PathBuf>,
    /// Where the charts will be drawn (checked here with the other outputs; drawn by the caller).
    pub png_report: Option<PathBuf>,
    /// Header names, besides the built-in secret ones, whose values reports must not contain.
    pub redact: Vec<String>,
    /// PEM file of CA certificates trusted besides the system's roots.
    pub cacert: Option<PathBuf>,
    /// Skip certificate verification (reports say so).
    pub insecure: bool,
    /// Redirects followed at most (0: none; a 3xx is then the answer).
    pub max_redirects: u32,
    /// Sign with AWS SigV4: `""` (region from the URL or the AWS configuration), `REGION`,
    /// `REGION:SERVICE` or curl's `aws:amz:REGION:SERVICE`. None: not signed.
    pub aws_sigv4: Option<String>,
    /// The AWS profile for the credentials; None: the default chain.
    pub aws_profile: Option<String>,
    /// Continue an existing `<output>.part` with a Range request.
    pub resume: bool,
    /// Continue a truncated or stalled attempt this many times at most.
    pub retries: u32,
    /// Download as parallel ranges, this many at a time.
    pub segments: Option<u32>,
    /// Bytes per range (6 MiB: Lambda's uncapped window).
    pub segment_bytes: u64,
    /// Thresholds the run must meet (`first_byte_ms<1000`); see [`crate::probe::require`].
    pub require: Vec<String>,
}

impl ProbeRequest {
    pub fn new(url: impl Into<String>, output: impl Into<PathBuf>) -> Self {
        ProbeRequest {
            url: url.into(),
            headers: Vec::new(),
            http_version: HttpVersion::Auto,
            connect_timeout_s: 10.0,
            idle_timeout_s: 30.0,
            max_time_s: None,
            expect_sha256: None,
            output: output.into(),
            json_report: None,
            csv_report: None,
            png_report: None,
            redact: Vec::new(),
            cacert: None,
            insecure: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            aws_sigv4: None,
            aws_profile: None,
            resume: false,
            retries: 0,
            segments: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            require: Vec::new(),
        }
    }
}

/// Parallel ranges allowed at most at a time.
pub const MAX_SEGMENTS: u32 = 64;

/// Retries allowed at most (each is a new request for the rest).
pub const MAX_RETRIES: u32 = 100;

/// Redirects followed unless told otherwise (reqwest's default; curl -L follows 50).
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// The value an [`InputError`] is about, so a view can point at its own control for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Url,
    Header,
    ExpectSha256,
    Output,
    JsonReport,
    CsvReport,
    PngReport,
    ConnectTimeout,
    IdleTimeout,
    MaxTime,
    CaCert,
    Auth,
    /// Resume, retries, segments: how the body is fetched in parts.
    Ranges,
    Require,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InputError {
    #[error("not a URL: {0:?} ({1})")]
    Url(String, String),
    #[error("unsupported scheme {0:?}: use http:// or https://")]
    Scheme(String),
    #[error("malformed header {0:?}: write it as 'Name: value'")]
    HeaderSyntax(String),
    #[error("invalid header {0:?}: {1}")]
    Header(String, &'static str),
    #[error("the expected SHA-256 must be 64 hex digits, got {0:?}")]
    ExpectSha256(String),
    #[error("no output file given")]
    NoOutput,
    #[error("{1} (the {0})")]
    Dest(&'static str, crate::disk::DestError),
    #[error("{0}")]
    SameFile(crate::disk::DestError),
    #[error("the {0} is a {1}: {2}")]
    Straight(&'static str, &'static str, &'static str),
    #[error("directory {1:?} for the {0} does not exist")]
    MissingDir(&'static str, PathBuf),
    #[error("the {0} must be a positive number of seconds, got {1}")]
    Seconds(&'static str, String),
    #[error("cannot use CA certificates from {0:?}: {1}")]
    CaCert(PathBuf, String),
    #[error("AWS SigV4: {0}")]
    Auth(#[from] super::auth::AuthError),
    #[error("{0}")]
    Ranges(String),
    #[error("{0}")]
    Require(#[from] crate::probe::require::RequireError),
}

impl InputError {
    pub fn field(&self) -> Field {
        match self {
            InputError::Url(..) | InputError::Scheme(_) => Field::Url,
            InputError::HeaderSyntax(_) | InputError::Header(..) => Field::Header,
            InputError::ExpectSha256(_) => Field::ExpectSha256,
            InputError::NoOutput | InputError::Straight(..) | InputError::SameFile(_) => {
                Field::Output
            }
            InputError::MissingDir(what, _) | InputError::Dest(what, _) => match *what {
                JSON_REPORT => Field::JsonReport,
                CSV_REPORT => Field::CsvReport,
                PNG_REPORT => Field::PngReport,
                _ => Field::Output,
            },
            InputError::Seconds(what, _) => match *what {
                CONNECT_TIMEOUT => Field::ConnectTimeout,
                IDLE_TIMEOUT => Field::IdleTimeout,
                _ => Field::MaxTime,
            },
            InputError::CaCert(..) => Field::CaCert,
            InputError::Auth(_) => Field::Auth,
            InputError::Ranges(_) => Field::Ranges,
            InputError::Require(_) => Field::Require,
        }
    }
}

const OUTPUT: &str = "output file";
const JSON_REPORT: &str = "JSON report";
const CSV_REPORT: &str = "arrivals CSV";
const PNG_REPORT: &str = "PNG";
const CONNECT_TIMEOUT: &str = "connect timeout";
const IDLE_TIMEOUT: &str = "idle timeout";
const MAX_TIME: &str = "time limit";

/// Parses a `Name: value` line as curl's `-H` takes it.
pub fn parse_header_line(line: &str) -> Result<(String, String), InputError> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| InputError::HeaderSyntax(line.to_string()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(InputError::HeaderSyntax(line.to_string()));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// How the TLS peer is checked.
#[derive(Debug, Clone, Default)]
pub struct TlsTrust {
    /// Extra roots from a PEM file, besides the system's.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub cacert: Option<PathBuf>,
    /// Certificates are not verified at all.
    pub insecure: bool,
}

/// A request that passed every check: ready to run.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    /// The headers as given (trimmed), in order: what reports show (redacted).
    pub header_list: Vec<(String, String)>,
    pub http_version: HttpVersion,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub overall_limit: Option<Duration>,
    pub expect_sha256: Option<[u8; 32]>,
    pub output: PathBuf,
    /// What `output` is: a file (written as `.part`, renamed once complete) or a special file
    /// the user named (written straight into).
    pub dest: Dest,
    /// `<output>.part`: where bytes go until the download is complete and verified (`output`
    /// itself when it is written straight into).
    pub part: PathBuf,
    pub json_report: Option<PathBuf>,
    pub csv_report: Option<PathBuf>,
    pub png_report: Option<PathBuf>,
    pub redact: Vec<String>,
    pub tls: TlsTrust,
    pub max_redirects: u32,
    /// Sign every request to the URL's origin with AWS SigV4.
    pub sigv4: Option<super::auth::SigV4Spec>,
    pub resume: bool,
    pub retries: u32,
    pub segments: Option<u32>,
    pub segment_bytes: u64,
    pub require: Vec<crate::probe::require::Requirement>,
}

impl ProbeRequest {
    pub fn validate(&self) -> Result<ValidRequest, InputError> {
        let url = parse_url(&self.url)?;
        let (headers, header_list) = parse_headers(&self.headers)?;
        let expect_sha256 = parse_sha256(self.expect_sha256.as_deref())?;
        let connect_timeout = seconds(CONNECT_TIMEOUT, self.connect_timeout_s)?;
        let idle_timeout = seconds(IDLE_TIMEOUT, self.idle_timeout_s)?;
        let overall_limit = self.max_time_s.map(|s| seconds(MAX_TIME, s)).transpose()?;
        let dest = self.check_outputs()?;
        let tls = TlsTrust {
            extra_roots: match &self.cacert {
                Some(path) => read_ca_file(path)?,
                None => Vec::new(),
            },
            cacert: self.cacert.clone(),
            insecure: self.insecure,
        };
        let sigv4 = self.sigv4()?;
        self.check_ranges(&header_list)?;
        let require = self
            .require
            .iter()
            .map(|t| crate::probe::require::Requirement::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ValidRequest {
            url,
            headers,
            header_list,
            http_version: self.http_version,
            connect_timeout,
            idle_timeout,
            overall_limit,
            expect_sha256,
            part: match dest {
                Dest::File => part_path(&self.output),
                Dest::Straight(_) => self.output.clone(),
            },
            dest,
            output: self.output.clone(),
            json_report: self.json_report.clone(),
            csv_report: self.csv_report.clone(),
            png_report: self.png_report.clone(),
            redact: self.redact.clone(),
            tls,
            max_redirects: self.max_redirects,
            sigv4,
            resume: self.resume,
            retries: self.retries,
            segments: self.segments,
            segment_bytes: self.segment_bytes,
            require,
        })
    }

    /// Every file the run will write: directories there, nothing a link or a special file the
    /// user did not name, no two the same (see [`crate::disk`]). Returns what the download's
    /// own path is.
    fn check_outputs(&self) -> Result<Dest, InputError> {
        if self.output.as_os_str().is_empty() {
            return Err(InputError::NoOutput);
        }
        let dest = checked_dest(OUTPUT, &self.output)?;
        let part = part_path(&self.output);
        let mut named: Vec<(&'static str, &Path)> = vec![(OUTPUT, &self.output)];
        match dest {
            Dest::File => {
                let sidecar = resume_path(&part);
                for side in [&part, &sidecar] {
                    crate::disk::check_side_file(side).map_err(|e| InputError::Dest(OUTPUT, e))?;
                }
                named.push(("output's .part", &part));
            }
            Dest::Straight(kind) if self.resume => {
                return Err(InputError::Straight(
                    OUTPUT,
                    kind.label(),
                    "there is no .part to resume",
                ));
            }
            Dest::Straight(kind) if self.segments.is_some() => {
                return Err(InputError::Straight(
                    OUTPUT,
                    kind.label(),
                    "parallel ranges need a regular file to write into",
                ));
            }
            Dest::Straight(_) => {}
        }
        for (what, path) in [
            (JSON_REPORT, &self.json_report),
            (CSV_REPORT, &self.csv_report),
            (PNG_REPORT, &self.png_report),
        ] {
            if let Some(p) = path {
                checked_dest(what, p)?;
                named.push((what, p));
            }
        }
        crate::disk::distinct(&named).map_err(InputError::SameFile)?;
        Ok(dest)
    }

    /// The signing spec, when SigV4 is on.
    fn sigv4(&self) -> Result<Option<super::auth::SigV4Spec>, InputError> {
        match &self.aws_sigv4 {
            Some(spec) => super::auth::SigV4Spec::parse(spec, self.aws_profile.as_deref())
                .map(Some)
                .map_err(InputError::Auth),
            None if self.aws_profile.is_some() => Err(InputError::Auth(
                super::auth::AuthError::ProfileWithoutSigning,
            )),
            None => Ok(None),
        }
    }

    /// Ranges asked three ways (a Range header, resuming or retrying, parallel segments) that
    /// cannot be combined, and their bounds.
    fn check_ranges(&self, header_list: &[(String, String)]) -> Result<(), InputError> {
        let asks_range = header_list
            .iter()
            .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case("range"));
        if asks_range && (self.resume || self.retries > 0) {
            return Err(InputError::Ranges(
                "a Range header cannot be combined with resuming or retrying, which ask for their own ranges".into(),
            ));
        }
        if let Some(n) = self.segments {
            if !(1..=MAX_SEGMENTS).contains(&n) {
                return Err(InputError::Ranges(format!(
                    "segments: 1 to {MAX_SEGMENTS} at a time, got {n}"
                )));
            }
            if self.segment_bytes == 0 {
                return Err(InputError::Ranges(
                    "the segment size must be positive".into(),
                ));
            }
            if self.resume || asks_range {
                return Err(InputError::Ranges(
                    "parallel segments cannot be combined with resuming or a Range header".into(),
                ));
            }
        }
        if self.retries > MAX_RETRIES {
            return Err(InputError::Ranges(format!(
                "at most {MAX_RETRIES} retries, got {}",
                self.retries
            )));
        }
        Ok(())
    }
}

/// An absolute http or https URL with a host.
fn parse_url(text: &str) -> Result<reqwest::Url, InputError> {
    let url_text = text.trim();
    let url = reqwest::Url::parse(url_text)
        .map_err(|e| InputError::Url(url_text.to_string(), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InputError::Scheme(url.scheme().to_string()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InputError::Url(url_text.to_string(), "no host".to_string()));
    }
    Ok(url)
}

/// The user's headers, checked, as sent and as listed (names and values as typed).
type Headers = (HeaderMap, Vec<(String, String)>);

fn parse_headers(given: &[(String, String)]) -> Result<Headers, InputError> {
    let mut headers = HeaderMap::new();
    let mut header_list = Vec::with_capacity(given.len());
    for (name, value) in given {
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(InputError::HeaderSyntax(format!(": {value}")));
        }
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| InputError::Header(name.to_string(), "not a valid header name"))?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            InputError::Header(
                name.to_string(),
                "value has characters a header cannot carry",
            )
        })?;
        headers.append(n, v);
        header_list.push((name.to_string(), value.to_string()));
    }
    Ok((headers, header_list))
}

/// `--expect-sha256`: 64 hex digits, or nothing.
fn parse_sha256(given: Option<&str>) -> Result<Option<[u8; 32]>, InputError> {
    Ok(match given.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(hex_text) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(hex_text, &mut out)
                .map_err(|_| InputError::ExpectSha256(hex_text.to_string()))?;
            Some(out)
        }
    })
}

/// A positive, finite number of seconds.
fn seconds(what: &'static str, s: f64) -> Result<Duration, InputError> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| InputError::Seconds(what, s.to_string()))
}

fn read_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, InputError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let err = |why: String| InputError::CaCert(path.to_path_buf(), why);
    let pem = crate::disk::read_input(path, crate::disk::SMALL_FILE_CAP)
        .map_err(|e| err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".to_string()));
    }
    Ok(certs)
}

/// `path`'s directory exists and `path` is something the run may write (see [`Dest::of`]).
fn checked_dest(what: &'static str, path: &Path) -> Result<Dest, InputError> {
    let dest = Dest::of(path).map_err(|e| InputError::Dest(what, e))?;
    if dest == Dest::File {
        check_dir_of(what, path)?;
    }
    Ok(dest)
}

fn check_dir_of(what: &'static str, path: &Path) -> Result<(), InputError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(InputError::MissingDir(what, parent.to_path_buf()));
    }
    Ok(())
}

/// `<out>.part`: where bytes go until the download is complete and verified.
pub fn part_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// `<out>.part.resume`: what a `.part` was fetched from (see [`super::resume`]).
pub fn resume_path(part: &Path) -> PathBuf {
    let mut s = part.as_os_str().to_owned();
    s.push(".resume");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str) -> ProbeRequest {
        ProbeRequest::new(url, std::env::temp_dir().join("streamscope-validate.bin"))
    }

    #[test]
    fn bad_inputs_are_named_with_their_field() {
        let cases: Vec<(ProbeRequest, Field, &str)> = vec![
            (req("not a url"), Field::Url, "not a URL"),
            (req("ftp://example.com/x"), Field::Url, "unsupported scheme"),
            (
                ProbeRequest {
                    headers: vec![("Bad Name".into(), "v".into())],
                    ..req("http://127.0.0.1:1/x")
                },
                Field::Header,
                "not a valid header name",
            ),
            (
                ProbeRequest {
                    headers: vec![(" ".into(), "v".into())],
                    ..req("http://127.0.0.1:1/x")
                },
                Field::Header,
                "malformed header",
            ),
            (
                ProbeRequest {
                    expect_sha256: Some("abc".into()),
                    ..req("http://127.0.0.1:1/x")
                },
                Field::ExpectSha256,
                "64 hex digits",
            ),
            (
                ProbeRequest {
                    output: "/nonexistent-dir-streamscope/x.bin".into(),
                    ..req("http://127.0.0.1:1/x")
                },
                Field::Output,
                "for the output file does not exist",
            ),
            (
                ProbeRequest {
                    json_report: Some("/nonexistent-dir-streamscope/r.json".into()),
                    ..req("http://127.0.0.1:1/x")
                },
                Field::JsonReport,
                "for the JSON report",
            ),
            (
                ProbeRequest {
                    csv_report: Some("/nonexistent-dir-streamscope/a.csv".into()),
                    ..req("http://127.0.0.1:1/x")
                },
                Field::CsvReport,
                "arrivals CSV",
            ),
            (
                ProbeRequest {
                    idle_timeout_s: -1.0,
                    ..req("http://127.0.0.1:1/x")
                },
                Field::IdleTimeout,
                "idle timeout must be a positive number of seconds, got -1",
            ),
            (
                ProbeRequest {
                    connect_timeout_s: 0.0,
                    ..req("http://127.0.0.1:1/x")
                },
                Field::ConnectTimeout,
                "connect timeout",
            ),
            (
                ProbeRequest {
                    max_time_s: Some(f64::INFINITY),
                    ..req("http://127.0.0.1:1/x")
                },
                Field::MaxTime,
                "time limit",
            ),
            (
                ProbeRequest {
                    cacert: Some("/nonexistent-streamscope-ca.pem".into()),
                    ..req("https://127.0.0.1:1/x")
                },
                Field::CaCert,
                "cannot use CA certificates",
            ),
        ];
        for (r, field, needle) in cases {
            let e = r.validate().expect_err(needle);
            assert_eq!(e.field(), field, "{e}");
            assert!(e.to_string().contains(needle), "{e} should say {needle:?}");
            assert!(!e.to_string().contains("--"), "no CLI flag in {e}");
        }
        assert_eq!(
            parse_header_line("nocolon"),
            Err(InputError::HeaderSyntax("nocolon".into()))
        );
        assert_eq!(
            parse_header_line("x-api-key:  abc "),
            Ok(("x-api-key".into(), "abc".into()))
        );
    }

    #[test]
    fn a_pem_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("empty.pem");
        std::fs::write(&pem, "not a certificate\n").unwrap();
        let r = ProbeRequest {
            cacert: Some(pem),
            ..req("https://127.0.0.1:1/x")
        };
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("no PEM certificate")
        );
    }

    #[test]
    fn part_path_appends() {
        assert_eq!(
            part_path(Path::new("/tmp/a.bin")),
            PathBuf::from("/tmp/a.bin.part")
        );
    }
}
