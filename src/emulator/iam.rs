//! `serve --iam`: a method with `AuthorizationType: AWS_IAM`. A request's SigV4 signature is
//! checked the way API Gateway does: the expected signature is rebuilt from the request itself
//! (its method, path, query and the headers it says it signed, at the time it says it was
//! signed) with the configured test credentials, by the aws-sigv4 crate, and compared with the
//! one it carries. Refusals are API Gateway's 403s, with its messages.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Uri};
use std::time::{Duration, SystemTime};

/// How far a signature's time may be from the server's: API Gateway's 5 minutes.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The credentials a signed request must be signed with, and the API's region.
#[derive(Debug, Clone, PartialEq)]
pub struct IamConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

/// Why a request is refused: API Gateway's message and `x-amzn-errortype`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub error_type: &'static str,
}

fn refuse(message: impl Into<String>, error_type: &'static str) -> Refusal {
    Refusal {
        message: message.into(),
        error_type,
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
struct Claimed<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn claimed(auth: &str) -> Result<Claimed<'_>, Refusal> {
    let incomplete = |what: &str| {
        refuse(
            format!("Authorization header requires '{what}' parameter. Authorization={auth}"),
            "IncompleteSignatureException",
        )
    };
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        refuse(
            format!(
                "Authorization header requires 'AWS4-HMAC-SHA256' algorithm. Authorization={auth}"
            ),
            "IncompleteSignatureException",
        )
    })?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let credential = field("Credential").ok_or_else(|| incomplete("Credential"))?;
    let signed = field("SignedHeaders").ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = field("Signature").ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(refuse(
            format!("Credential should be scoped to a valid region. Authorization={auth}"),
            "IncompleteSignatureException",
        ));
    };
    Ok(Claimed {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

/// `20261129T120000Z`.
fn amz_date(text: &str) -> Option<SystemTime> {
    const FORMAT: &[time::format_description::FormatItem<'_>] =
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(text, FORMAT).ok()?;
    Some(t.assume_utc().into())
}

fn fmt_amz_date(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] =
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t)
        .format(FORMAT)
        .unwrap_or_default()
}

/// A request as the gateway received it: what its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The body (empty for a GET); unused when the request carries `x-amz-content-sha256`.
    pub body: &'a [u8],
}

/// Whether `req`, received at `now`, carries a valid signature by `iam`'s credentials for its
/// region and `execute-api`, made for its own method, path, query, signed headers and body.
/// Returns the access key id that signed it (the event's `identity.accessKey`).
pub fn check(iam: &IamConfig, req: Received<'_>, now: SystemTime) -> Result<String, Refusal> {
    let headers = req.headers;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let Some(auth) = header("authorization") else {
        return Err(refuse(
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        ));
    };
    let c = claimed(auth)?;
    if c.access_key_id != iam.access_key_id {
        return Err(refuse(
            "The security token included in the request is invalid.",
            "UnrecognizedClientException",
        ));
    }
    if c.region != iam.region {
        return Err(refuse(
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                c.region
            ),
            "InvalidSignatureException",
        ));
    }
    if c.service != crate::aws::EXECUTE_API {
        return Err(refuse(
            "Credential should be scoped to correct service: 'execute-api'. ",
            "InvalidSignatureException",
        ));
    }
    let Some(date_text) = header("x-amz-date") else {
        return Err(refuse(
            format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"
            ),
            "IncompleteSignatureException",
        ));
    };
    let Some(signed_at) = amz_date(date_text).filter(|_| date_text.starts_with(c.date)) else {
        return Err(refuse(
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{date_text}'",
                c.date
            ),
            "InvalidSignatureException",
        ));
    };
    if signed_at + CLOCK_SKEW < now {
        return Err(refuse(
            format!(
                "Signature expired: {date_text} is now earlier than {} ({} - 5 min.)",
                fmt_amz_date(now - CLOCK_SKEW),
                fmt_amz_date(now)
            ),
            "InvalidSignatureException",
        ));
    }
    if signed_at > now + CLOCK_SKEW {
        return Err(refuse(
            format!(
                "Signature not yet current: {date_text} is still later than {} ({} + 5 min.)",
                fmt_amz_date(now + CLOCK_SKEW),
                fmt_amz_date(now)
            ),
            "InvalidSignatureException",
        ));
    }
    let expected = expected_signature(iam, &c, req, signed_at)
        .ok_or_else(|| refuse(MISMATCH, "InvalidSignatureException"))?;
    if !constant_time_eq(expected.as_bytes(), c.signature.as_bytes()) {
        return Err(refuse(MISMATCH, "InvalidSignatureException"));
    }
    Ok(c.access_key_id.to_string())
}

/// The signature aws-sigv4 computes for this request with the configured secret, over exactly
/// the headers the request says it signed. None when a signed header is missing.
fn expected_signature(
    iam: &IamConfig,
    c: &Claimed<'_>,
    req: Received<'_>,
    signed_at: SystemTime,
) -> Option<String> {
    let (uri, headers) = (req.uri, req.headers);
    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let identity = Credentials::new(
        &iam.access_key_id,
        &iam.secret_access_key,
        token,
        None,
        "serve --iam",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the client listed: nothing is left out by name.
    settings.excluded_headers = Some(Vec::new());
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(c.region)
        .name(c.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))?;
    // The signer adds x-amz-date and the token itself, from the time and the credentials.
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for name in &c.signed_headers {
        match *name {
            "x-amz-date" | "x-amz-security-token" => {}
            "host" => pairs.push(("host", host.as_str())),
            n => pairs.push((n, headers.get(n)?.to_str().ok()?)),
        }
    }
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{host}{path_and_query}");
    let body = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(hash) => SignableBody::Precomputed(hash.to_string()),
        None => SignableBody::Bytes(req.body),
    };
    let signable = SignableRequest::new(req.method, &url, pairs.into_iter(), body).ok()?;
    let (_, signature) = sign(signable, &params).ok()?.into_parts();
    Some(signature)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::EXECUTE_API;
    use crate::probe::fetch::auth::Signer;

    const NOW: u64 = 1_795_000_000;

    fn iam() -> IamConfig {
        IamConfig {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "s3cr3t".into(),
            region: "us-east-1".into(),
        }
    }

    /// A request signed by our client at `at` with `key`/`secret`/`region`, as the server gets it.
    fn signed(key: &str, secret: &str, region: &str, at: u64) -> (Uri, HeaderMap) {
        let url =
            reqwest::Url::parse("http://127.0.0.1:8080/prod/download?size=1MiB&seed=2").unwrap();
        let signer = Signer::with_credentials(
            Credentials::new(key, secret, None, None, "test"),
            region,
            EXECUTE_API,
        );
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-custom", "kept".parse().unwrap());
        signer
            .sign(
                &url,
                &mut h,
                SystemTime::UNIX_EPOCH + Duration::from_secs(at),
            )
            .unwrap();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        (url.as_str().parse().unwrap(), h)
    }

    fn get<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Received<'a> {
        Received {
            method: "GET",
            uri,
            headers,
            body: &[],
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn refusals_table() {
        let ok = signed("AKIDTEST", "s3cr3t", "us-east-1", NOW - 60);
        let mut tampered = ok.clone();
        tampered.0 = "http://127.0.0.1:8080/prod/download?size=2MiB&seed=2"
            .parse()
            .unwrap();
        let mut header_changed = ok.clone();
        header_changed
            .1
            .insert("x-custom", "changed".parse().unwrap());
        let mut unsigned = ok.clone();
        unsigned.1.remove("authorization");
        let rows: Vec<(&str, (Uri, HeaderMap), Option<&str>)> = vec![
            ("a good signature", ok.clone(), None),
            (
                "no signature",
                unsigned,
                Some("MissingAuthenticationTokenException"),
            ),
            (
                "another key id",
                signed("AKIDOTHER", "s3cr3t", "us-east-1", NOW),
                Some("UnrecognizedClientException"),
            ),
            (
                "the wrong secret",
                signed("AKIDTEST", "wrong", "us-east-1", NOW),
                Some("InvalidSignatureException"),
            ),
            (
                "another region",
                signed("AKIDTEST", "s3cr3t", "eu-west-1", NOW),
                Some("InvalidSignatureException"),
            ),
            (
                "six minutes old",
                signed("AKIDTEST", "s3cr3t", "us-east-1", NOW - 360),
                Some("InvalidSignatureException"),
            ),
            (
                "six minutes ahead",
                signed("AKIDTEST", "s3cr3t", "us-east-1", NOW + 360),
                Some("InvalidSignatureException"),
            ),
            ("another query", tampered, Some("InvalidSignatureException")),
            (
                "a signed header changed",
                header_changed,
                Some("InvalidSignatureException"),
            ),
        ];
        // Signed for its own method and body: a GET's signature does not pass as a POST's,
        // nor a body as another.
        let as_post = |body: &'static [u8]| {
            let (uri, headers) = ok.clone();
            (uri, headers, body)
        };
        let (u, h, b) = as_post(b"");
        let post = Received {
            method: "POST",
            uri: &u,
            headers: &h,
            body: b,
        };
        assert_eq!(
            check(&iam(), post, now()).unwrap_err().error_type,
            "InvalidSignatureException",
            "a GET's signature on a POST"
        );
        assert_eq!(
            check(&iam(), get(&u, &h), now()).as_deref(),
            Ok("AKIDTEST"),
            "the access key that signed it"
        );
        for (what, (uri, headers), want) in rows {
            let got = check(&iam(), get(&uri, &headers), now())
                .err()
                .map(|r| r.error_type);
            assert_eq!(got, want, "{what}");
        }
        let old = signed("AKIDTEST", "s3cr3t", "us-east-1", NOW - 360);
        let msg = check(&iam(), get(&old.0, &old.1), now())
            .unwrap_err()
            .message;
        assert!(msg.starts_with("Signature expired: "), "{msg}");
        assert!(msg.ends_with(" - 5 min.)"), "{msg}");
    }

    #[test]
    fn malformed_authorization_is_incomplete() {
        let (uri, mut h) = signed("AKIDTEST", "s3cr3t", "us-east-1", NOW);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        let r = check(&iam(), get(&uri, &h), now()).unwrap_err();
        assert_eq!(r.error_type, "IncompleteSignatureException");
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261129/us-east-1/execute-api/aws4_request"
                .parse()
                .unwrap(),
        );
        let r = check(&iam(), get(&uri, &h), now()).unwrap_err();
        assert!(r.message.contains("'SignedHeaders'"), "{}", r.message);
    }
}
