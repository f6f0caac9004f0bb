//! What to download and how: validated before anything touches the network or the disk.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

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

/// A download as the user described it (strings as typed); [`ProbeRequest::validate`] checks it.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub url: String,
    /// `(name, value)` pairs, sent in this order.
    pub headers: Vec<(String, String)>,
    pub http_version: HttpVersion,
    pub connect_timeout: Duration,
    /// No byte (headers or body) for this long ends the run as stalled.
    pub idle_timeout: Duration,
    /// The whole run, request to last byte, may take at most this long.
    pub overall_limit: Option<Duration>,
    /// Hex SHA-256 the body must have; wins over any digest the server sends.
    pub expect_sha256: Option<String>,
    pub output: PathBuf,
    /// Header names, besides the built-in secret ones, whose values reports must not contain.
    pub redact: Vec<String>,
}

impl ProbeRequest {
    pub fn new(url: impl Into<String>, output: impl Into<PathBuf>) -> Self {
        ProbeRequest {
            url: url.into(),
            headers: Vec::new(),
            http_version: HttpVersion::Auto,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            overall_limit: None,
            expect_sha256: None,
            output: output.into(),
            redact: Vec::new(),
        }
    }
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
    Header(String, String),
    #[error("--expect-sha256 must be 64 hex digits, got {0:?}")]
    ExpectSha256(String),
    #[error("output directory {0:?} does not exist")]
    OutputDir(PathBuf),
    #[error("output path {0:?} is a directory; name a file")]
    OutputIsDir(PathBuf),
    #[error("no output file given")]
    NoOutput,
    #[error("{0} must be more than zero seconds")]
    Timeout(&'static str),
}

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

/// A request that passed every check: ready to run.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub header_list: Vec<(String, String)>,
    pub http_version: HttpVersion,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub overall_limit: Option<Duration>,
    pub expect_sha256: Option<[u8; 32]>,
    pub output: PathBuf,
    pub part: PathBuf,
    pub redact: Vec<String>,
}

impl ProbeRequest {
    pub fn validate(&self) -> Result<ValidRequest, InputError> {
        let url_text = self.url.trim();
        let url = reqwest::Url::parse(url_text)
            .map_err(|e| InputError::Url(url_text.to_string(), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InputError::Scheme(url.scheme().to_string()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InputError::Url(url_text.to_string(), "no host".to_string()));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                InputError::Header(name.clone(), "not a valid header name".to_string())
            })?;
            let v = HeaderValue::from_str(value.trim()).map_err(|_| {
                InputError::Header(
                    name.clone(),
                    "value has characters a header cannot carry".to_string(),
                )
            })?;
            headers.append(n, v);
        }
        let expect_sha256 = match self
            .expect_sha256
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(hex_text) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hex_text, &mut out)
                    .map_err(|_| InputError::ExpectSha256(hex_text.to_string()))?;
                Some(out)
            }
        };
        if self.idle_timeout.is_zero() {
            return Err(InputError::Timeout("idle timeout"));
        }
        if self.connect_timeout.is_zero() {
            return Err(InputError::Timeout("connect timeout"));
        }
        if self.overall_limit.is_some_and(|d| d.is_zero()) {
            return Err(InputError::Timeout("overall time limit"));
        }
        let output = self.output.clone();
        check_output(&output)?;
        let part = part_path(&output);
        Ok(ValidRequest {
            url,
            headers,
            header_list: self
                .headers
                .iter()
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect(),
            http_version: self.http_version,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            overall_limit: self.overall_limit,
            expect_sha256,
            output,
            part,
            redact: self.redact.clone(),
        })
    }
}

fn check_output(output: &Path) -> Result<(), InputError> {
    if output.as_os_str().is_empty() {
        return Err(InputError::NoOutput);
    }
    if output.is_dir() {
        return Err(InputError::OutputIsDir(output.to_path_buf()));
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(InputError::OutputDir(parent.to_path_buf()));
    }
    Ok(())
}

/// `<out>.part`: where bytes go until the download is complete and verified.
pub fn part_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str) -> ProbeRequest {
        ProbeRequest::new(url, std::env::temp_dir().join("streamscope-validate.bin"))
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(matches!(
            req("not a url").validate(),
            Err(InputError::Url(..))
        ));
        assert!(
            matches!(req("ftp://example.com/x").validate(), Err(InputError::Scheme(s)) if s == "ftp")
        );
        let mut r = req("http://127.0.0.1:1/x");
        r.headers.push(("Bad Name".into(), "v".into()));
        assert!(matches!(r.validate(), Err(InputError::Header(..))));
        let mut r = req("http://127.0.0.1:1/x");
        r.expect_sha256 = Some("abc".into());
        assert!(matches!(r.validate(), Err(InputError::ExpectSha256(_))));
        let mut r = req("http://127.0.0.1:1/x");
        r.output = PathBuf::from("/nonexistent-dir-streamscope/x.bin");
        assert!(matches!(r.validate(), Err(InputError::OutputDir(_))));
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
    fn part_path_appends() {
        assert_eq!(
            part_path(Path::new("/tmp/a.bin")),
            PathBuf::from("/tmp/a.bin.part")
        );
    }
}
