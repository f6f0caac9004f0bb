//! The HTTP client as the engine uses it, and why a connection failed, told from the error chain's
//! types (never from message text).

use super::outcome::{ConnectCause, ConnectFailure};
use super::request::{HttpVersion, ValidRequest};
use std::error::Error as StdError;
use std::sync::Arc;

/// A name that did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup of {host} failed: {source}")]
pub struct DnsError {
    pub host: String,
    #[source]
    pub source: std::io::Error,
}

/// The system resolver (getaddrinfo, on tokio's blocking pool), behind reqwest's resolver hook so
/// its failures have a type of our own.
struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.collect::<Vec<_>>());
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(source) => Err(Box::new(DnsError { host, source }) as _),
            }
        })
    }
}

pub fn build_client(req: &ValidRequest) -> reqwest::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(req.connect_timeout)
        // A proxy would change what we measure; the user asked about this endpoint.
        .no_proxy()
        .user_agent(concat!("streamscope/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(SystemResolver))
        .tls_certs_merge(req.tls.extra_roots.iter().cloned())
        .tls_danger_accept_invalid_certs(req.tls.insecure);
    b = match req.http_version {
        HttpVersion::Auto => b,
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
    };
    b.build()
}

/// The error and its sources, each said once.
pub fn error_chain(e: &dyn StdError) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        src = s.source();
    }
    msg
}

pub fn connect_failure(e: &reqwest::Error) -> ConnectFailure {
    let cause = match connect_cause(e) {
        ConnectCause::Other if e.is_timeout() => ConnectCause::Timeout,
        c => c,
    };
    ConnectFailure {
        cause,
        error: error_chain(e),
    }
}

/// Walks the error chain for a typed cause. `std::io::Error::source` skips the error it wraps (and
/// io errors wrap io errors), so an io error is stepped into through `get_ref`.
fn connect_cause(e: &(dyn StdError + 'static)) -> ConnectCause {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(c) = cause_of(err) {
            return c;
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return ConnectCause::Refused,
                    std::io::ErrorKind::TimedOut => return ConnectCause::Timeout,
                    _ => {}
                }
                match io.get_ref() {
                    Some(inner) => Some(inner as &(dyn StdError + 'static)),
                    None => err.source(),
                }
            }
            None => err.source(),
        };
    }
    ConnectCause::Other
}

fn cause_of(err: &(dyn StdError + 'static)) -> Option<ConnectCause> {
    if err.downcast_ref::<DnsError>().is_some() {
        return Some(ConnectCause::Dns);
    }
    let tls = err.downcast_ref::<rustls::Error>()?;
    use rustls::CertificateError as C;
    Some(match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => ConnectCause::CertificateUntrusted,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                ConnectCause::CertificateNameMismatch
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => ConnectCause::CertificateExpired,
            _ => ConnectCause::Tls,
        },
        _ => ConnectCause::Tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError as C;

    fn wrapped(e: impl StdError + Send + Sync + 'static) -> std::io::Error {
        // As tokio-rustls and hyper-util wrap a TLS failure: an io error in an io error.
        std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn causes_are_told_from_types_however_deep() {
        let cert = |c| wrapped(rustls::Error::InvalidCertificate(c));
        let cases: Vec<(std::io::Error, ConnectCause)> = vec![
            (cert(C::UnknownIssuer), ConnectCause::CertificateUntrusted),
            (
                cert(C::NotValidForName),
                ConnectCause::CertificateNameMismatch,
            ),
            (cert(C::Expired), ConnectCause::CertificateExpired),
            (cert(C::BadSignature), ConnectCause::Tls),
            (
                wrapped(rustls::Error::HandshakeNotComplete),
                ConnectCause::Tls,
            ),
            (
                std::io::Error::other(DnsError {
                    host: "nowhere".into(),
                    source: std::io::Error::other("no such name"),
                }),
                ConnectCause::Dns,
            ),
            (
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                ConnectCause::Refused,
            ),
            (std::io::Error::other("something else"), ConnectCause::Other),
        ];
        for (e, want) in cases {
            assert_eq!(connect_cause(&e), want, "{e:?}");
        }
    }
}
