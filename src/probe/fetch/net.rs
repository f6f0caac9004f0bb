//! The HTTP client as the engine uses it, and why a connection failed, told from the error chain's
//! types (never from message text).

use super::outcome::{ConnectCause, ConnectFailure, error_chain};
use super::phases::{Mark, Marks, TimedConnectLayer, TlsStartMarker};
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
/// its failures have a type of our own and its time is marked.
struct SystemResolver(Marks);

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let marks = self.0.clone();
        Box::pin(async move {
            marks.record(Mark::DnsStart);
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.collect::<Vec<_>>());
            marks.record(Mark::DnsEnd);
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(source) => Err(Box::new(DnsError { host, source }) as _),
            }
        })
    }
}

/// The client for one run: no proxy, no automatic redirects (the engine follows them itself, to
/// time and show each), its phases marked in `marks`.
pub fn build_client(req: &ValidRequest, marks: &Marks) -> Result<reqwest::Client, ConnectFailure> {
    let tls = tls_config(req, marks).map_err(|e| ConnectFailure {
        cause: ConnectCause::Tls,
        error: format!("setting up TLS: {e}"),
    })?;
    let mut b = reqwest::Client::builder()
        .connect_timeout(req.connect_timeout)
        // A proxy would change what we measure; the user asked about this endpoint.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("streamscope/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(SystemResolver(marks.clone())))
        .connector_layer(TimedConnectLayer(marks.clone()))
        .tls_backend_preconfigured(tls);
    b = match req.http_version {
        HttpVersion::Auto => b,
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
    };
    b.build().map_err(|e| connect_failure(&e))
}

/// What reqwest would build (the platform's verifier, with the `--cacert` roots added, or none
/// with `-k`; ALPN for the HTTP version asked for), plus the session cache that marks when a TLS
/// handshake starts.
fn tls_config(req: &ValidRequest, marks: &Marks) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if req.tls.insecure {
        Arc::new(AcceptAnyCertificate(provider.clone()))
    } else if req.tls.extra_roots.is_empty() {
        Arc::new(rustls_platform_verifier::Verifier::new(provider.clone())?)
    } else {
        Arc::new(rustls_platform_verifier::Verifier::new_with_extra_roots(
            req.tls.extra_roots.iter().cloned(),
            provider.clone(),
        )?)
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = match req.http_version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    tls.resumption =
        rustls::client::Resumption::store(Arc::new(TlsStartMarker::new(marks.clone())));
    Ok(tls)
}

/// `-k`: any certificate is taken (signatures are still checked, so the handshake is real).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
    if let Some(h) = err.downcast_ref::<hyper::Error>() {
        return protocol_cause(h);
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

/// What hyper says of a response it could not read. hyper's parse error kinds are private; its
/// `Display` names them ("invalid content-length parsed"), and that text is hyper's API here.
fn protocol_cause(h: &hyper::Error) -> Option<ConnectCause> {
    if h.is_parse_too_large() {
        Some(ConnectCause::HeadersTooLarge)
    } else if h.is_parse_status() {
        Some(ConnectCause::MalformedStatusLine)
    } else if h.is_parse() {
        Some(if h.to_string().contains("content-length") {
            ConnectCause::InvalidContentLength
        } else {
            ConnectCause::InvalidResponse
        })
    } else if h.is_incomplete_message() {
        Some(ConnectCause::ClosedBeforeResponse)
    } else {
        None
    }
}

/// Whether `e` is a request that failed before any byte of a response: a connection the pool
/// kept that the server had closed fails so (hyper's "connection closed before message
/// completed"). Worth one more try on a fresh connection.
pub fn closed_before_response(e: &reqwest::Error) -> bool {
    connect_cause(e) == ConnectCause::ClosedBeforeResponse
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
