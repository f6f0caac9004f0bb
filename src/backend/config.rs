//! The Router's settings, as flags, the Lambda's environment or the app's demo give them, and the
//! one place they are checked: [`BackendSettings::build`]. [`ConfigError`] names the setting at
//! fault, for the Router's settings and the emulation's alike.

use super::s3::{S3Settings, S3Source};

/// Settings as given: checked by [`BackendSettings::build`].
#[derive(Debug, Clone, Default)]
pub struct BackendSettings {
    /// `GET /s3/{key}` streams from this bucket (ignored when the bucket is blank).
    pub s3: Option<S3Settings>,
    /// `GET /relay` streams this URL (fixed: never taken from a request; ignored when blank).
    pub upstream_url: Option<String>,
    pub synthetic: SyntheticLimits,
}

/// What `GET /download` allows: locally everything; deployed, a bounded size and no fault knobs
/// unless the deployer turns them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticLimits {
    pub max_bytes: u64,
    pub fault_knobs: bool,
}

impl Default for SyntheticLimits {
    fn default() -> Self {
        SyntheticLimits {
            max_bytes: super::download::MAX_SIZE,
            fault_knobs: true,
        }
    }
}

/// How one server is set up: every value checked.
#[derive(Debug, Clone, Default)]
pub struct BackendConfig {
    pub s3: Option<S3Source>,
    pub upstream_url: Option<reqwest::Url>,
    pub synthetic: SyntheticLimits,
    /// What the host running the Router says about itself on `GET /` (the local emulation names
    /// its gateway mode there); nothing on Lambda.
    pub host_info: serde_json::Map<String, serde_json::Value>,
}

impl BackendSettings {
    /// Checks every setting, then sets up the S3 client (which reads the AWS configuration chain).
    pub async fn build(&self) -> Result<BackendConfig, ConfigError> {
        let upstream_url = match self.upstream_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(parse_upstream_url(u)?),
        };
        let s3 = match &self.s3 {
            Some(s) if !s.bucket.trim().is_empty() => {
                Some(S3Source::from_settings(s.clone()).await)
            }
            _ => None,
        };
        if self.synthetic.max_bytes > super::download::MAX_SIZE {
            return Err(ConfigError::Invalid(
                Setting::SyntheticMax,
                format!(
                    "is over the generator's {} limit",
                    crate::units::fmt_size_binary(super::download::MAX_SIZE)
                ),
            ));
        }
        Ok(BackendConfig {
            s3,
            upstream_url,
            synthetic: self.synthetic,
            host_info: Default::default(),
        })
    }
}

/// The relay's upstream: an absolute http or https URL.
pub fn parse_upstream_url(text: &str) -> Result<reqwest::Url, ConfigError> {
    let bad = |why: String| ConfigError::Invalid(Setting::UpstreamUrl, why);
    let url =
        reqwest::Url::parse(text.trim()).map_err(|e| bad(format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("must be http or https, got {text:?}")));
    }
    Ok(url)
}

/// A setting of the backend that cannot be used, and which one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("the {what} must be more than zero", what = .0.describe())]
    NotPositive(Setting),
    #[error("the {what} must be a positive number of seconds, got {got}", what = .0.describe(), got = .1)]
    Seconds(Setting, f64),
    #[error("the {what} {why}", what = .0.describe(), why = .1)]
    Invalid(Setting, String),
}

impl ConfigError {
    pub fn setting(&self) -> Setting {
        match self {
            ConfigError::NotPositive(s)
            | ConfigError::Seconds(s, _)
            | ConfigError::Invalid(s, _) => *s,
        }
    }
}

/// Every backend setting an error can be about, so each view can name its own control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    StreamRate,
    StreamMaxDuration,
    StreamIdleTimeout,
    BufferedMax,
    IntegrationTimeout,
    LambdaRate,
    LambdaMax,
    UpstreamUrl,
    FunctionCommand,
    FunctionExtension,
    FunctionDir,
    FunctionEnv,
    FunctionMemory,
    FunctionConcurrency,
    FunctionStage,
    FunctionTimeout,
    FunctionInitTimeout,
    SyntheticMax,
    StreamTimeout,
    Stage,
    ApiKey,
    Iam,
    IamRegion,
    HeaderTimeout,
    UsageRate,
}

impl Setting {
    pub fn describe(self) -> &'static str {
        match self {
            Setting::StreamRate => "STREAM rate",
            Setting::StreamMaxDuration => "STREAM maximum duration",
            Setting::StreamIdleTimeout => "STREAM idle timeout",
            Setting::BufferedMax => "BUFFERED payload limit",
            Setting::IntegrationTimeout => "integration timeout",
            Setting::LambdaRate => "Lambda streaming rate",
            Setting::LambdaMax => "Lambda streamed payload limit",
            Setting::UpstreamUrl => "upstream URL",
            Setting::FunctionCommand => "function command",
            Setting::FunctionExtension => "extension command",
            Setting::FunctionDir => "function directory",
            Setting::FunctionEnv => "function environment variable",
            Setting::FunctionMemory => "function memory",
            Setting::FunctionConcurrency => "function concurrency",
            Setting::FunctionStage => "stage name",
            Setting::FunctionTimeout => "function timeout",
            Setting::FunctionInitTimeout => "function init timeout",
            Setting::SyntheticMax => "largest synthetic body",
            Setting::StreamTimeout => "STREAM integration timeout",
            Setting::Stage => "stage",
            Setting::ApiKey => "API key",
            Setting::Iam => "IAM test credentials",
            Setting::IamRegion => "IAM region",
            Setting::HeaderTimeout => "header-read timeout",
            Setting::UsageRate => "usage plan rate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_http_or_https() {
        assert!(parse_upstream_url(" https://bucket.s3.amazonaws.com/big.bin ").is_ok());
        let e = parse_upstream_url("file:///etc/passwd").unwrap_err();
        assert_eq!(e.setting(), Setting::UpstreamUrl);
        assert!(e.to_string().contains("http or https"), "{e}");
        assert!(parse_upstream_url("not a url").is_err());
    }
}
