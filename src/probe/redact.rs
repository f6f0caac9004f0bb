//! Secrets never leave the process: header values and URL parts that look like credentials are
//! replaced (in reports) or dropped (in what the app remembers).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct HeaderPair {
    pub name: String,
    pub value: String,
}

/// Header names whose values are secrets wherever they appear.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "set-cookie",
    "x-amz-security-token",
];
pub const REDACTED: &str = "<redacted>";

pub fn is_secret_header(name: &str, extra: &[String]) -> bool {
    let n = name.trim().to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str()) || extra.iter().any(|e| e.trim().eq_ignore_ascii_case(&n))
}

pub fn redact_headers<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    extra: &[String],
) -> Vec<HeaderPair> {
    pairs
        .into_iter()
        .map(|(n, v)| HeaderPair {
            name: n.to_string(),
            value: if is_secret_header(n, extra) {
                REDACTED.to_string()
            } else {
                v.to_string()
            },
        })
        .collect()
}

/// Query parameter names that look like credentials (presigned S3 URLs carry X-Amz-Signature,
/// X-Amz-Credential, X-Amz-Security-Token; APIs take api_key, token, sig...; OAuth redirects carry
/// `code`, which is matched whole: `postcode` is no secret).
pub fn is_secret_query_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "code"
        || [
            "signature",
            "token",
            "credential",
            "key",
            "secret",
            "password",
            "auth",
            "sig",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// Replaces a password in the URL and the values of credential-like query parameters with
/// `<redacted>`: for reports, which must show that they were there.
pub fn redact_url(url: &reqwest::Url) -> String {
    scrub_url(url, true)
}

/// Removes a password and credential-like query parameters altogether: for what is remembered
/// across restarts, which should neither hold secrets nor a placeholder that breaks the URL.
pub fn strip_url_secrets(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => scrub_url(&u, false),
        // Not an http(s) URL (a presigned URL pasted without its scheme, say; `user:pw@host`
        // even parses, as a URL of scheme `user`): only what comes before the query and the
        // fragment is kept, and no `user:password@`.
        _ => {
            let before_query = url.trim().split(['?', '#']).next().unwrap_or_default();
            let authority_start = before_query.find("://").map_or(0, |i| i + 3);
            let authority_end = before_query[authority_start..]
                .find('/')
                .map_or(before_query.len(), |i| authority_start + i);
            match before_query[authority_start..authority_end].rfind('@') {
                Some(at) => format!(
                    "{}{}",
                    &before_query[..authority_start],
                    &before_query[authority_start + at + 1..]
                ),
                None => before_query.to_string(),
            }
        }
    }
}

fn scrub_url(url: &reqwest::Url, keep_placeholders: bool) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one has.
        u.set_password(keep_placeholders.then_some(REDACTED)).ok();
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| keep_placeholders || !is_secret_query_param(k))
            .map(|(k, v)| {
                let v = if is_secret_query_param(&k) {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    u.to_string()
}

/// `host` or `host:port` (when the port is not the scheme's).
pub fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let h = redact_headers(
            [
                ("Authorization", "Bearer x"),
                ("X-API-Key", "k"),
                ("Cookie", "a=b"),
                ("X-Tenant", "t"),
                ("Accept", "*/*"),
            ],
            &["x-tenant".to_string()],
        );
        assert!(
            h.iter()
                .filter(|p| p.name != "Accept")
                .all(|p| p.value == REDACTED)
        );
        assert_eq!(h[4].value, "*/*");
        let u =
            reqwest::Url::parse("https://u:pw@h/x?X-Amz-Signature=abc&size=5&api_key=zz").unwrap();
        let r = redact_url(&u);
        assert!(
            !r.contains("pw") && !r.contains("abc") && !r.contains("zz"),
            "{r}"
        );
        assert!(r.contains("size=5"));
        let kept = strip_url_secrets("https://u:pw@h/x?X-Amz-Signature=abc&size=5&api_key=zz");
        assert_eq!(kept, "https://u@h/x?size=5");
        assert_eq!(strip_url_secrets("https://h/x?token=1"), "https://h/x");
    }

    #[test]
    fn what_is_remembered_of_a_url_that_does_not_parse_holds_no_secret() {
        for (pasted, kept) in [
            (
                "bucket.s3.amazonaws.com/big.bin?X-Amz-Signature=abc&X-Amz-Credential=AKIA",
                "bucket.s3.amazonaws.com/big.bin",
            ),
            ("user:pw@host/x?sig=1", "host/x"),
            ("host/a@b?token=t#frag", "host/a@b"),
            ("not a url at all", "not a url at all"),
        ] {
            assert_eq!(strip_url_secrets(pasted), kept, "{pasted}");
        }
    }

    #[test]
    fn oauth_parameters_are_secrets_and_look_alikes_are_not() {
        for (name, secret) in [
            ("code", true),
            ("Code", true),
            ("client_secret", true),
            ("refresh_token", true),
            ("access_token", true),
            ("postcode", false),
            ("encoding", false),
            ("size", false),
        ] {
            assert_eq!(is_secret_query_param(name), secret, "{name}");
        }
    }
}
