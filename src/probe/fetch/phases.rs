//! Where the time before the first byte went: DNS, TCP connect, TLS, the wait for the headers,
//! the first byte, the body. Timed through reqwest's own hooks, not a second client: the resolver
//! marks the lookup, a connector layer marks the connection, and the TLS session cache marks the
//! moment rustls builds its ClientHello (it consults the cache then, as the TCP connection is
//! ready). [`Phases::of`] turns the marks of one request into consecutive intervals, a pure
//! function with a table test.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The client asked for a new connection.
    ConnectStart,
    DnsStart,
    DnsEnd,
    /// rustls is building its ClientHello: the TCP connection is up.
    TlsStart,
    /// The connection (TCP, and TLS over it) is ready.
    ConnectEnd,
}

/// The marks of one client, shared by its hooks.
#[derive(Debug, Clone, Default)]
pub struct Marks(Arc<Mutex<Vec<(Mark, Instant)>>>);

impl Marks {
    pub fn record(&self, mark: Mark) {
        let now = Instant::now();
        if let Ok(mut m) = self.0.lock() {
            m.push((mark, now));
        }
    }

    /// The marks at or after `from`, as nanoseconds since `from` (the first of each kind).
    pub fn since(&self, from: Instant) -> PhaseMarks {
        let mut out = PhaseMarks::default();
        let Ok(marks) = self.0.lock() else {
            return out;
        };
        for (mark, at) in marks.iter().filter(|(_, at)| *at >= from) {
            let ns = Some(at.duration_since(from).as_nanos() as u64);
            let slot = match mark {
                Mark::ConnectStart => &mut out.connect_start,
                Mark::DnsStart => &mut out.dns_start,
                Mark::DnsEnd => &mut out.dns_end,
                Mark::TlsStart => &mut out.tls_start,
                Mark::ConnectEnd => &mut out.connect_end,
            };
            if slot.is_none() {
                *slot = ns;
            }
        }
        out
    }
}

/// When each mark of one request happened, in nanoseconds from sending it; None: did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseMarks {
    pub connect_start: Option<u64>,
    pub dns_start: Option<u64>,
    pub dns_end: Option<u64>,
    pub tls_start: Option<u64>,
    pub connect_end: Option<u64>,
}

/// One request's time, as consecutive intervals that add up to the time to its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Phases {
    /// Time spent on earlier requests of a redirect chain.
    pub redirects_ns: u64,
    /// Sent → the connector asked for a connection (or the lookup began): the client's own time
    /// (its pool, the scheduler); microseconds, unless the machine is loaded. 0 on a reused
    /// connection (then it is in `wait_ns`).
    pub queue_ns: u64,
    /// Name lookup; 0 for an IP literal or a reused connection.
    pub dns_ns: u64,
    /// TCP connect (with TLS, when `tls_ns` is None); 0 on a reused connection.
    pub connect_ns: u64,
    /// TLS handshake; 0 on plain HTTP or a reused connection, None when it could not be told
    /// apart from the TCP connect (then `connect_ns` holds both).
    pub tls_ns: Option<u64>,
    /// Connection ready (or request sent, on a reused one) → all response headers: sending the
    /// request and the server's time to answer.
    pub wait_ns: u64,
    /// Headers → first body byte.
    pub first_byte_ns: Option<u64>,
    /// First body byte → last.
    pub body_ns: Option<u64>,
    /// A connection was opened for this request (false: one was reused).
    pub new_connection: bool,
}

impl Phases {
    /// The phases of a request sent at 0 whose headers were in at `headers`, over `https` or not.
    pub fn of(m: PhaseMarks, https: bool, headers: u64) -> Phases {
        let Some(ready) = m.connect_end.filter(|&e| e <= headers) else {
            // No connection was opened: one was reused.
            return Phases {
                wait_ns: headers,
                tls_ns: Some(0),
                ..Phases::default()
            };
        };
        let queue_ns = m.dns_start.or(m.connect_start).unwrap_or(0).min(ready);
        let dns_ns = match (m.dns_start, m.dns_end) {
            (Some(s), Some(e)) if e >= s => e.min(ready) - s.min(ready),
            _ => 0,
        };
        let tcp_from = m
            .dns_end
            .or(m.connect_start)
            .unwrap_or(0)
            .min(ready)
            .max(queue_ns + dns_ns);
        let (connect_ns, tls_ns) = match m.tls_start.filter(|t| (tcp_from..=ready).contains(t)) {
            Some(t) if https => (t - tcp_from, Some(ready - t)),
            None if https => (ready - tcp_from, None),
            _ => (ready - tcp_from, Some(0)),
        };
        Phases {
            redirects_ns: 0,
            queue_ns,
            dns_ns,
            connect_ns,
            tls_ns,
            wait_ns: headers - ready,
            first_byte_ns: None,
            body_ns: None,
            new_connection: true,
        }
    }

    /// With the body's first and last arrival, in nanoseconds from the same start as `headers`.
    pub fn with_body(mut self, headers: u64, first: Option<u64>, last: Option<u64>) -> Phases {
        self.first_byte_ns = first.map(|f| f.saturating_sub(headers));
        self.body_ns = first.zip(last).map(|(f, l)| l.saturating_sub(f));
        self
    }

    /// Everything before the headers, redirects included.
    pub fn before_headers_ns(&self) -> u64 {
        self.redirects_ns
            + self.queue_ns
            + self.dns_ns
            + self.connect_ns
            + self.tls_ns.unwrap_or(0)
            + self.wait_ns
    }
}

/// A tower layer around reqwest's connector: marks when a connection is asked for and when it
/// is ready. Generic over the request type (reqwest does not name it).
#[derive(Clone)]
pub struct TimedConnectLayer(pub Marks);

impl<S> tower::Layer<S> for TimedConnectLayer {
    type Service = TimedConnect<S>;
    fn layer(&self, inner: S) -> TimedConnect<S> {
        TimedConnect {
            inner,
            marks: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct TimedConnect<S> {
    inner: S,
    marks: Marks,
}

impl<S, R> tower::Service<R> for TimedConnect<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.marks.record(Mark::ConnectStart);
        let fut = self.inner.call(req);
        let marks = self.marks.clone();
        Box::pin(async move {
            let out = fut.await;
            if out.is_ok() {
                marks.record(Mark::ConnectEnd);
            }
            out
        })
    }
}

/// rustls's session cache, marking when a handshake starts: rustls asks it for a key-share hint
/// and a resumption ticket while it builds the ClientHello, which it does once the TCP
/// connection is up.
#[derive(Debug)]
pub struct TlsStartMarker {
    inner: rustls::client::ClientSessionMemoryCache,
    marks: Marks,
}

impl TlsStartMarker {
    pub fn new(marks: Marks) -> TlsStartMarker {
        TlsStartMarker {
            inner: rustls::client::ClientSessionMemoryCache::new(32),
            marks,
        }
    }
}

impl rustls::client::ClientSessionStore for TlsStartMarker {
    fn set_kx_hint(&self, name: rustls::pki_types::ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group);
    }

    fn kx_hint(&self, name: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.marks.record(Mark::TlsStart);
        self.inner.kx_hint(name)
    }

    fn set_tls12_session(
        &self,
        name: rustls::pki_types::ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value);
    }

    fn tls12_session(
        &self,
        name: &rustls::pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.marks.record(Mark::TlsStart);
        self.inner.tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &rustls::pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(name);
    }

    fn insert_tls13_ticket(
        &self,
        name: rustls::pki_types::ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(name, value);
    }

    fn take_tls13_ticket(
        &self,
        name: &rustls::pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.marks.record(Mark::TlsStart);
        self.inner.take_tls13_ticket(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(cs: u64, dns: Option<(u64, u64)>, tls: Option<u64>, ready: u64) -> PhaseMarks {
        PhaseMarks {
            connect_start: Some(cs),
            dns_start: dns.map(|d| d.0),
            dns_end: dns.map(|d| d.1),
            tls_start: tls,
            connect_end: Some(ready),
        }
    }

    #[test]
    fn phases_table() {
        // (what, marks, https, headers, dns, connect, tls, wait, new connection)
        type Row = (
            &'static str,
            PhaseMarks,
            bool,
            u64,
            u64,
            u64,
            Option<u64>,
            u64,
            bool,
        );
        let rows: Vec<Row> = vec![
            (
                "https with a lookup",
                marks(1, Some((2, 12)), Some(20), 50),
                true,
                80,
                10,
                8,
                Some(30),
                30,
                true,
            ),
            (
                "plain http: no TLS",
                marks(1, Some((2, 12)), None, 20),
                false,
                30,
                10,
                8,
                Some(0),
                10,
                true,
            ),
            (
                "an IP literal: no lookup",
                marks(1, None, Some(5), 9),
                true,
                15,
                0,
                4,
                Some(4),
                6,
                true,
            ),
            (
                "https without a TLS mark: not told apart",
                marks(1, Some((2, 4)), None, 9),
                true,
                15,
                2,
                5,
                None,
                6,
                true,
            ),
            (
                "a reused connection",
                PhaseMarks::default(),
                true,
                7,
                0,
                0,
                Some(0),
                7,
                false,
            ),
            (
                "a connection that became ready after the headers is not this request's",
                marks(1, None, None, 90),
                false,
                40,
                0,
                0,
                Some(0),
                40,
                false,
            ),
        ];
        for (what, m, https, headers, dns, connect, tls, wait, new) in rows {
            let p = Phases::of(m, https, headers);
            assert_eq!(
                (
                    p.dns_ns,
                    p.connect_ns,
                    p.tls_ns,
                    p.wait_ns,
                    p.new_connection
                ),
                (dns, connect, tls, wait, new),
                "{what}"
            );
            // The intervals add up to the headers exactly: the client's own time before the
            // connector was called (a loaded machine's milliseconds) is one of them.
            let queue = if new {
                m.dns_start.or(m.connect_start).unwrap_or(0)
            } else {
                0
            };
            assert_eq!(p.queue_ns, queue, "{what}");
            assert_eq!(p.before_headers_ns(), headers, "{what}");
        }
    }

    #[test]
    fn body_phases_follow_the_headers() {
        let p = Phases::of(PhaseMarks::default(), false, 10).with_body(10, Some(15), Some(40));
        assert_eq!((p.first_byte_ns, p.body_ns), (Some(5), Some(25)));
        let none = Phases::of(PhaseMarks::default(), false, 10).with_body(10, None, None);
        assert_eq!((none.first_byte_ns, none.body_ns), (None, None));
    }
}
