//! Signing requests with AWS Signature Version 4 (service `execute-api` by default), credentials
//! from the standard AWS chain (environment, profile, SSO, role) via aws-config, signatures from
//! the aws-sigv4 crate. The signed headers are added per request (a redirect to the same origin
//! is signed again; one to another origin is not) and never reach a report.

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::SystemTime;

pub use crate::aws::EXECUTE_API;

/// What to sign with, as the user said it: `--aws-sigv4 [aws:amz:]REGION[:SERVICE]` (curl's
/// form), or nothing for the region the URL or the AWS configuration names.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct SigV4Spec {
    pub region: Option<String>,
    pub service: String,
    /// The AWS profile to take credentials (and a region) from; None: the default chain.
    pub profile: Option<String>,
}

/// Why requests cannot be signed: the spec as given, or the AWS configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "{0:?} looks like the URL: give the URL before --aws-sigv4, or write --aws-sigv4=REGION"
    )]
    LooksLikeUrl(String),
    #[error("{0:?}: write it as REGION, REGION:SERVICE or aws:amz:REGION:SERVICE")]
    Shape(String),
    #[error("{0:?} is not an AWS region name")]
    Region(String),
    #[error("{0:?} is not an AWS service name")]
    Service(String),
    #[error("{0:?} is not a profile name")]
    Profile(String),
    #[error("a profile is only used to sign: turn SigV4 on")]
    ProfileWithoutSigning,
    #[error("no AWS region to sign for: give --aws-sigv4 REGION or set AWS_REGION")]
    NoRegion,
    #[error("no AWS credentials provider is configured")]
    NoProvider,
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

impl SigV4Spec {
    /// `""`, `REGION`, `REGION:SERVICE`, or curl's `aws:amz:REGION:SERVICE`.
    pub fn parse(text: &str, profile: Option<&str>) -> Result<SigV4Spec, AuthError> {
        let text = text.trim();
        if text.contains("://") {
            return Err(AuthError::LooksLikeUrl(text.to_string()));
        }
        let rest = text
            .strip_prefix("aws:amz:")
            .or_else(|| text.strip_prefix("aws:amz"))
            .unwrap_or(text);
        let mut parts = rest.split(':');
        let region = parts.next().filter(|r| !r.is_empty()).map(str::to_string);
        let service = parts
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(EXECUTE_API)
            .to_string();
        if parts.next().is_some() {
            return Err(AuthError::Shape(text.to_string()));
        }
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if let Some(r) = &region
            && !word(r)
        {
            return Err(AuthError::Region(r.clone()));
        }
        if !word(&service) {
            return Err(AuthError::Service(service));
        }
        let profile = profile.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = profile
            && p.chars().any(char::is_whitespace)
        {
            return Err(AuthError::Profile(p.to_string()));
        }
        Ok(SigV4Spec {
            region,
            service,
            profile: profile.map(str::to_string),
        })
    }
}

/// The region in an API Gateway URL: `{id}.execute-api.{region}.amazonaws.com`.
pub fn region_in_url(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let (_, rest) = host.split_once(".execute-api.")?;
    let (region, _) = rest.split_once('.')?;
    Some(region.to_string())
}

/// Credentials and a region, ready to sign.
#[derive(Debug)]
pub struct Signer {
    credentials: Credentials,
    pub region: String,
    pub service: String,
}

impl Signer {
    /// Loads credentials from the AWS chain. The region: the spec's, else the URL's, else the
    /// configuration's (`AWS_REGION`, the profile).
    pub async fn load(spec: &SigV4Spec, url: &reqwest::Url) -> Result<Signer, AuthError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &spec.profile {
            loader = loader.profile_name(p);
        }
        let named = spec.region.clone().or_else(|| region_in_url(url));
        if let Some(r) = &named {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let config = loader.load().await;
        let region = named
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or(AuthError::NoRegion)?;
        let provider = config.credentials_provider().ok_or(AuthError::NoProvider)?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| AuthError::NoCredentials(super::outcome::error_chain(&e)))?;
        Ok(Signer {
            credentials,
            region,
            service: spec.service.clone(),
        })
    }

    /// Signers for tests and the local emulation: fixed credentials.
    pub fn with_credentials(credentials: Credentials, region: &str, service: &str) -> Signer {
        Signer {
            credentials,
            region: region.to_string(),
            service: service.to_string(),
        }
    }

    /// Adds `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`) for a GET of `url` with
    /// `headers`, signed at `now`.
    pub fn sign(
        &self,
        url: &reqwest::Url,
        headers: &mut HeaderMap,
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AuthError::Signing(e.to_string()))?
            .into();
        // Host is what the client will send; the signer needs it among the headers.
        let host = host_header(url);
        let mut pairs: Vec<(&str, &str)> = vec![("host", host.as_str())];
        for (n, v) in headers.iter() {
            if let Ok(v) = v.to_str() {
                pairs.push((n.as_str(), v));
            }
        }
        let signable = SignableRequest::new(
            "GET",
            url.as_str(),
            pairs.into_iter(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| AuthError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| AuthError::Signing(e.to_string()))?
            .into_parts();
        let (add, _) = instructions.into_parts();
        for h in add {
            let name = HeaderName::from_bytes(h.name().as_bytes())
                .map_err(|e| AuthError::Signing(e.to_string()))?;
            let value =
                HeaderValue::from_str(h.value()).map_err(|e| AuthError::Signing(e.to_string()))?;
            headers.insert(name, value);
        }
        Ok(())
    }
}

/// The Host header a client sends for `url`: the port only when it is not the scheme's.
pub fn host_header(url: &reqwest::Url) -> String {
    crate::probe::redact::host_of(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_curl() {
        let ok = |t: &str| SigV4Spec::parse(t, None).unwrap();
        assert_eq!(ok("").region, None);
        assert_eq!(ok("").service, EXECUTE_API);
        assert_eq!(ok("eu-west-1").region.as_deref(), Some("eu-west-1"));
        let curl = ok("aws:amz:us-east-2:execute-api");
        assert_eq!(
            (curl.region.as_deref(), curl.service.as_str()),
            (Some("us-east-2"), EXECUTE_API)
        );
        assert_eq!(ok("us-west-2:lambda").service, "lambda");
        for bad in ["a:b:c", "eu west", "us-east-1:exec api", "aws:amz:x:y:z"] {
            assert!(SigV4Spec::parse(bad, None).is_err(), "{bad}");
        }
        assert!(SigV4Spec::parse("", Some("has space")).is_err());
        assert_eq!(
            SigV4Spec::parse("", Some(" dev "))
                .unwrap()
                .profile
                .as_deref(),
            Some("dev")
        );
    }

    #[test]
    fn the_region_is_read_from_an_api_gateway_url() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            region_in_url(&u(
                "https://abc123.execute-api.eu-central-1.amazonaws.com/prod/x"
            ))
            .as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(region_in_url(&u("http://127.0.0.1:8080/x")), None);
    }

    #[test]
    fn signing_adds_the_aws_headers() {
        let s = Signer::with_credentials(
            Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
            "us-east-1",
            EXECUTE_API,
        );
        let mut h = HeaderMap::new();
        let url = reqwest::Url::parse("http://127.0.0.1:8080/prod/download?size=1MiB").unwrap();
        s.sign(
            &url,
            &mut h,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        )
        .unwrap();
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20270115/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert_eq!(h["x-amz-date"], "20270115T080000Z");
    }
}
