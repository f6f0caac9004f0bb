//! The emulation's model of AWS: every number and behaviour choice `serve` and `local` make, in
//! one dated file with a source (or `unverified = true`) per value. The default,
//! `profiles/aws-2026-11.toml`, is built in; `serve --profile FILE` loads another (one written by
//! `streamscope calibrate`, say). Flags still override single values.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::LazyLock;

/// The profile built in: AWS's documentation as read on its date.
pub const DEFAULT_TOML: &str = include_str!("../../profiles/aws-2026-11.toml");

static DEFAULT: LazyLock<Profile> = LazyLock::new(|| {
    Profile::parse(DEFAULT_TOML).expect("the built-in profile is checked by a unit test")
});

/// One value and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry<T> {
    pub value: T,
    /// The page that states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Nobody has confirmed it on AWS (`note` says what is unsure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    /// Measured on a deployment: `<date> <region> <endpoint type>` (by `streamscope calibrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl<T> Entry<T> {
    pub fn new(value: T) -> Entry<T> {
        Entry {
            value,
            source: None,
            unverified: false,
            measured: None,
            note: None,
        }
    }
}

/// What bounds a STREAM method's `TimeoutInMillis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutBounds {
    /// The time to the prelude and the whole stream.
    WholeStream,
    /// Only the time to the prelude.
    UntilHeaders,
}

/// Which knee shapes a function's stream behind API Gateway STREAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knees {
    /// Lambda's (6 MB, then its rate), then the gateway's (10 MB, then its rate).
    Both,
    Lambda,
    Gateway,
}

/// What STREAM does with a `Content-Length` the function sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentLength {
    /// Moved to `x-amzn-remapped-content-length`.
    Remap,
    Keep,
    Drop,
}

/// What a client sees when the function fails after its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MidStreamError {
    /// The connection is aborted (curl: 18).
    Cut,
    /// The body just ends.
    CleanEnd,
}

/// How a value reads in the table and the start-up lines.
pub trait Show {
    fn show(&self) -> String;
}

impl Show for u64 {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for bool {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for Vec<String> {
    fn show(&self) -> String {
        self.join(", ")
    }
}

macro_rules! show_by_serde {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self) -> String {
                serde_json::to_value(self)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            }
        }
    )*};
}
show_by_serde!(TimeoutBounds, Knees, ContentLength, MidStreamError);

/// One row of the table: a value and its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub key: &'static str,
    pub value: String,
    pub source: Option<&'a str>,
    pub unverified: bool,
    pub measured: Option<&'a str>,
    pub note: Option<&'a str>,
}

macro_rules! profile {
    ($($(#[doc = $doc:literal])* $key:ident: $ty:ty,)*) => {
        /// A dated model of AWS (see the module's text).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Profile {
            pub name: String,
            /// The day it describes (YYYY-MM-DD).
            pub date: String,
            #[serde(default)]
            pub about: String,
            $($(#[doc = $doc])* pub $key: Entry<$ty>,)*
        }

        impl Profile {
            /// Every value, in the file's order.
            pub fn rows(&self) -> Vec<Row<'_>> {
                vec![$(Row {
                    key: stringify!($key),
                    value: self.$key.value.show(),
                    source: self.$key.source.as_deref(),
                    unverified: self.$key.unverified,
                    measured: self.$key.measured.as_deref(),
                    note: self.$key.note.as_deref(),
                },)*]
            }
        }
    };
}

profile! {
    /// STREAM: bytes of each response sent at full speed.
    stream_unthrottled_bytes: u64,
    /// STREAM: the rate after them.
    stream_bytes_per_sec: u64,
    /// STREAM: the longest a response may stream.
    stream_max_duration_s: u64,
    /// STREAM: the longest the function may send nothing, Regional and private endpoints.
    stream_idle_timeout_regional_s: u64,
    /// STREAM: the same, edge-optimized endpoints.
    stream_idle_timeout_edge_s: u64,
    /// STREAM: the largest TimeoutInMillis, which serve assumes.
    stream_timeout_max_ms: u64,
    /// STREAM: what TimeoutInMillis bounds.
    stream_timeout_bounds: TimeoutBounds,
    /// The integration timeout when TimeoutInMillis is unset; BUFFERED's default.
    integration_timeout_default_ms: u64,
    /// BUFFERED: the largest response payload.
    buffered_max_bytes: u64,
    /// BUFFERED: the status of a response over that.
    buffered_over_limit_status: u64,
    /// The largest request payload API Gateway takes (413 over it).
    gateway_request_max_bytes: u64,
    /// Which knee shapes a function's stream behind STREAM.
    knees: Knees,
    /// What STREAM does with the function's Content-Length.
    content_length: ContentLength,
    /// What the client sees when the function fails mid-stream.
    mid_stream_error: MidStreamError,
    /// Headers the gateway adds to every response.
    added_headers: Vec<String>,
    /// A usage plan's refusal status.
    throttle_status: u64,
    /// The prelude's delimiter must come within this many bytes.
    prelude_max_bytes: u64,
    /// A hosted function is held to Lambda's streaming limits.
    lambda_limits_when_hosting: bool,
    /// Lambda: bytes streamed uncapped.
    lambda_unthrottled_bytes: u64,
    /// Lambda: the rate after them.
    lambda_bytes_per_sec: u64,
    /// Lambda: the largest streamed payload.
    lambda_max_bytes: u64,
    /// Lambda: the largest buffered (Invoke) response.
    lambda_buffered_max_bytes: u64,
    /// Lambda: the largest request payload.
    lambda_request_max_bytes: u64,
    /// Lambda: the init phase's limit.
    init_timeout_s: u64,
    /// Lambda retries an init past its limit inside the first invocation.
    init_retry: bool,
    /// Lambda: from SHUTDOWN and SIGTERM to SIGKILL.
    shutdown_grace_ms: u64,
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    #[error("cannot read the profile {path}: {why}")]
    Read { path: String, why: String },
    #[error("the profile is not valid: {0}")]
    Syntax(String),
    #[error("the profile's {key} {why}")]
    Value { key: &'static str, why: String },
}

impl Profile {
    /// The built-in profile.
    pub fn aws() -> &'static Profile {
        &DEFAULT
    }

    /// Reads and checks a profile file (a regular file of at most 4 MiB).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text =
            crate::disk::read_input_text(path, crate::disk::SMALL_FILE_CAP).map_err(|e| {
                ProfileError::Read {
                    path: path.display().to_string(),
                    why: e.to_string(),
                }
            })?;
        Profile::parse(&text)
    }

    /// Parses and checks a profile's text.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|e| {
            // toml's message spans lines (a caret under the spot): one line here.
            ProfileError::Syntax(e.message().to_string() + &at_line(text, e.span()))
        })?;
        p.check()?;
        Ok(p)
    }

    /// The profile as a file (what `calibrate` writes).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every value has a provenance, and every number makes sense.
    fn check(&self) -> Result<(), ProfileError> {
        let bad = |key, why: &str| ProfileError::Value {
            key,
            why: why.to_string(),
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !word(&self.name) {
            return Err(bad("name", "must be letters, digits, '-', '_' or '.'"));
        }
        if time::Date::parse(
            &self.date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_err()
        {
            return Err(bad("date", "must be a date written YYYY-MM-DD"));
        }
        for row in self.rows() {
            if row.source.is_none() && !row.unverified && row.measured.is_none() {
                return Err(bad(
                    row.key,
                    "has no source: give `source = \"https://...\"`, `measured = \"...\"` or `unverified = true`",
                ));
            }
            if row.source.is_some_and(|s| !s.starts_with("https://")) {
                return Err(bad(row.key, "source must be an https:// address"));
            }
        }
        let positive = self.must_be_positive();
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(bad(key, "must be more than zero"));
        }
        if !(400..600).contains(&self.throttle_status.value) {
            return Err(bad("throttle_status", "must be an HTTP error status"));
        }
        if !(500..600).contains(&self.buffered_over_limit_status.value) {
            return Err(bad("buffered_over_limit_status", "must be a 5xx status"));
        }
        if let Some(h) = self
            .added_headers
            .value
            .iter()
            .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(bad("added_headers", &format!("{h:?} is not a header name")));
        }
        Ok(())
    }

    /// The values that must be more than zero.
    fn must_be_positive(&self) -> [(&'static str, u64); 15] {
        [
            (
                "stream_unthrottled_bytes",
                self.stream_unthrottled_bytes.value,
            ),
            ("stream_bytes_per_sec", self.stream_bytes_per_sec.value),
            ("stream_max_duration_s", self.stream_max_duration_s.value),
            (
                "stream_idle_timeout_regional_s",
                self.stream_idle_timeout_regional_s.value,
            ),
            (
                "stream_idle_timeout_edge_s",
                self.stream_idle_timeout_edge_s.value,
            ),
            ("stream_timeout_max_ms", self.stream_timeout_max_ms.value),
            (
                "integration_timeout_default_ms",
                self.integration_timeout_default_ms.value,
            ),
            ("buffered_max_bytes", self.buffered_max_bytes.value),
            (
                "gateway_request_max_bytes",
                self.gateway_request_max_bytes.value,
            ),
            ("prelude_max_bytes", self.prelude_max_bytes.value),
            ("lambda_bytes_per_sec", self.lambda_bytes_per_sec.value),
            ("lambda_max_bytes", self.lambda_max_bytes.value),
            (
                "lambda_buffered_max_bytes",
                self.lambda_buffered_max_bytes.value,
            ),
            (
                "lambda_request_max_bytes",
                self.lambda_request_max_bytes.value,
            ),
            ("init_timeout_s", self.init_timeout_s.value),
        ]
    }

    /// The keys of values nobody has confirmed on AWS.
    pub fn unverified(&self) -> Vec<&'static str> {
        self.rows()
            .into_iter()
            .filter(|r| r.unverified && r.measured.is_none())
            .map(|r| r.key)
            .collect()
    }

    /// The profile as a Markdown table (README's is this output).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Profile `{}` ({}): {}\n\n| value | setting | source |\n|---|---|---|\n",
            self.name, self.date, self.about
        );
        for r in self.rows() {
            let mut src = match (r.measured, r.source) {
                (Some(m), _) => format!("measured {m}"),
                (None, Some(s)) => format!("<{s}>"),
                (None, None) => String::new(),
            };
            if r.unverified && r.measured.is_none() {
                src = if src.is_empty() {
                    "**unverified**".into()
                } else {
                    format!("**unverified**; {src}")
                };
            }
            let note = r.note.map(|n| format!(": {n}")).unwrap_or_default();
            out += &format!(
                "| `{}` | `{}`{} | {} |\n",
                r.key,
                r.value,
                note.replace('|', "\\|"),
                src
            );
        }
        out
    }
}

/// " (line N)" for a byte span of `text`.
fn at_line(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        let line = text
            .get(..s.start)
            .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count());
        format!(" (line {})", line + 1)
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profile_is_complete_and_checked() {
        let p = Profile::parse(DEFAULT_TOML).unwrap();
        assert_eq!(p.name, "aws-2026-11");
        assert_eq!(p.lambda_buffered_max_bytes.value, 6_291_556);
        assert!(p.unverified().contains(&"content_length"));
        assert!(!p.unverified().contains(&"stream_max_duration_s"));
        // Written back and read again, it is the same profile (calibrate writes this way).
        assert_eq!(Profile::parse(&p.to_toml()).unwrap(), p);
    }

    #[test]
    fn a_profile_must_say_where_each_value_comes_from() {
        let cases = [
            (
                "[knees]\nvalue = \"both\"\nunverified = true",
                "[knees]\nvalue = \"both\"",
                "knees has no source",
            ),
            (
                "value = 429\nsource",
                "value = 429\nunverified = false\nsource",
                "",
            ),
            (
                "[throttle_status]\nvalue = 429",
                "[throttle_status]\nvalue = 200",
                "throttle_status must be an HTTP error status",
            ),
            (
                "[init_timeout_s]\nvalue = 10",
                "[init_timeout_s]\nvalue = 0",
                "init_timeout_s must be more than zero",
            ),
            ("name = \"aws-2026-11\"", "name = \"a b\"", "name must be"),
            (
                "date = \"2026-11-30\"",
                "date = \"30/11/2026\"",
                "date must be",
            ),
            ("[knees]", "[kness]", "unknown field `kness`"),
            (
                "value = \"both\"",
                "value = \"all\"",
                "unknown variant `all`",
            ),
            (
                "source = \"https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html\"\nnote = \"SHUTDOWN",
                "source = \"docs\"\nnote = \"SHUTDOWN",
                "shutdown_grace_ms source must be an https:// address",
            ),
        ];
        for (from, to, want) in cases {
            assert!(DEFAULT_TOML.contains(from), "{from}");
            let text = DEFAULT_TOML.replacen(from, to, 1);
            match Profile::parse(&text) {
                Ok(_) => assert!(want.is_empty(), "{to:?} accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!want.is_empty() && e.contains(want), "{to:?}: {e}");
                    assert!(!e.contains('\n'), "one line: {e}");
                }
            }
        }
    }

    #[test]
    fn the_table_marks_what_is_unverified() {
        let md = Profile::aws().markdown();
        let row = |key: &str| {
            md.lines()
                .find(|l| l.starts_with(&format!("| `{key}`")))
                .unwrap()
                .to_string()
        };
        assert!(row("content_length").contains("**unverified**"));
        assert!(row("stream_max_duration_s").contains("<https://"));
        assert!(!row("stream_max_duration_s").contains("unverified"));
        assert_eq!(md.lines().filter(|l| l.starts_with("| `")).count(), 26);
    }
}
