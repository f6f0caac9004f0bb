//! The request form and what the app remembers between sessions (names, never secrets).

use crate::emulator::gateway::GatewayMode;
use crate::probe::redact::is_secret_header;
use crate::probe::{HttpVersion, ProbeRequest};
use std::path::PathBuf;

/// One request header row in the editor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderRow {
    pub name: String,
    pub value: String,
    /// Show a secret value in clear.
    pub reveal: bool,
}

impl HeaderRow {
    pub fn is_secret(&self) -> bool {
        is_secret_header(&self.name, &[])
    }
}

pub(super) fn yes() -> bool {
    true
}

/// What is remembered across restarts: never header values, never URL credentials.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The URL the user typed (without credentials); unused while the demo is chosen.
    pub url: String,
    /// The form shows the local demo (whose port changes with every start).
    #[serde(default = "yes")]
    pub use_demo: bool,
    pub header_names: Vec<String>,
    pub dest_dir: Option<PathBuf>,
    pub http_version: HttpVersion,
    pub idle_timeout_s: Option<f64>,
    pub preset: Option<String>,
    pub cacert: Option<PathBuf>,
    /// Sign with AWS SigV4, for which region and profile (names only: credentials come from the
    /// AWS chain and are never stored).
    pub sigv4: bool,
    pub aws_region: String,
    pub aws_profile: String,
    /// Thresholds a run must meet, comma-separated (`first_byte_ms<1000, delivery==streamed`).
    pub thresholds: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: String::new(),
            use_demo: true,
            header_names: Vec::new(),
            dest_dir: None,
            http_version: HttpVersion::Auto,
            idle_timeout_s: None,
            preset: None,
            cacert: None,
            sigv4: false,
            aws_region: String::new(),
            aws_profile: String::new(),
            thresholds: String::new(),
        }
    }
}

/// The request as typed in the form.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestForm {
    pub url: String,
    pub headers: Vec<HeaderRow>,
    pub expect_sha256: String,
    pub http_version: HttpVersion,
    pub idle_timeout_s: f64,
    /// A PEM file of CA certificates to trust besides the system's (empty: none).
    pub cacert: String,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Sign with AWS SigV4 (API Gateway IAM authorization).
    pub sigv4: bool,
    /// The region to sign for (empty: the URL's, or the AWS configuration's).
    pub aws_region: String,
    /// The AWS profile for the credentials (empty: the default chain).
    pub aws_profile: String,
    /// Parallel ranges at a time (0: one stream).
    pub segments: u32,
    /// Thresholds, comma-separated (see [`crate::probe::require`]); empty: none.
    pub thresholds: String,
    pub dest_dir: PathBuf,
    /// A file typed or chosen in the save dialog; when empty, `dest_dir` + a name suggested by
    /// the URL.
    pub dest_path: String,
}

impl RequestForm {
    pub fn destination(&self) -> PathBuf {
        match self.dest_path.trim() {
            "" => self.default_destination(),
            typed => PathBuf::from(typed),
        }
    }

    pub fn default_destination(&self) -> PathBuf {
        self.dest_dir.join(suggest_file_name(&self.url))
    }

    /// The form as a request. Rows with neither a name nor a value are empty lines of the editor,
    /// not headers; everything else is for [`ProbeRequest::validate`] to judge.
    pub fn to_request(&self) -> ProbeRequest {
        ProbeRequest {
            headers: self
                .headers
                .iter()
                .filter(|h| !(h.name.trim().is_empty() && h.value.trim().is_empty()))
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            http_version: self.http_version,
            idle_timeout_s: self.idle_timeout_s,
            expect_sha256: Some(self.expect_sha256.clone()),
            cacert: Some(self.cacert.trim())
                .filter(|c| !c.is_empty())
                .map(PathBuf::from),
            insecure: self.insecure,
            segments: (self.segments > 0).then_some(self.segments),
            aws_sigv4: self.sigv4.then(|| self.aws_region.trim().to_string()),
            aws_profile: Some(self.aws_profile.trim())
                .filter(|p| self.sigv4 && !p.is_empty())
                .map(str::to_string),
            require: self
                .thresholds
                .split([',', '\n'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            ..ProbeRequest::new(self.url.trim(), self.destination())
        }
    }
}

/// A file name from the URL's last path segment (`download?size=50MiB` → `download-50MiB.bin`).
pub fn suggest_file_name(url: &str) -> String {
    let Ok(u) = reqwest::Url::parse(url.trim()) else {
        return "download.bin".into();
    };
    let last = u
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("")
        .to_string();
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = if clean.is_empty() || clean == "." || clean == ".." {
        "download".to_string()
    } else {
        clean
    };
    if let Some(size) = u
        .query_pairs()
        .find(|(k, _)| k == "size")
        .map(|(_, v)| v.into_owned())
        && size.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        name = format!("{name}-{size}");
    }
    if !name.contains('.') {
        name.push_str(".bin");
    }
    name
}

/// Downloads if it exists, else the home directory, else the temp directory.
pub fn default_dest_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        let dl = h.join("Downloads");
        if dl.is_dir() {
            return dl;
        }
        if h.is_dir() {
            return h.clone();
        }
    }
    std::env::temp_dir()
}

/// The local demo URL the form was filled with, so "is this the demo" is a fact, not a guess.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoChoice {
    pub gateway: GatewayMode,
    pub url: String,
}

/// Where the endpoint comes from: one choice at the head of the request area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The local demo, with its preset and gateway mode.
    Demo,
    /// A method of a template run locally ("Run a template locally...", or one of the
    /// repository's backends).
    Template,
    /// A URL the user typed: their own endpoint.
    Url,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Demo, Source::Template, Source::Url];

    pub fn label(self) -> &'static str {
        match self {
            Source::Demo => "Local demo",
            Source::Template => "Local template",
            Source::Url => "Your URL",
        }
    }
}
