//! The connections the backend serves, watched so that a deliberate cut (a fault knob, an emulated
//! gateway limit) happens only once what was sent before it has left the server.
//!
//! hyper discards what it still buffers when a response body ends with an error, so cutting at
//! once would lose the last bytes sent. hyper flushes the socket only when its own buffer is empty
//! (HTTP/1): a flush after the cut was decided means every byte queued before it reached the
//! kernel. Where no such flush can be seen (HTTP/2, whose frames wait for flow-control credit, or a
//! Router run without this listener, as on Lambda), a cut waits [`FLUSH_FALLBACK`] instead.
//!
//! [`serve_connections`] is the accept loop: clients that send nothing, or do not finish their
//! request headers within [`HEADER_TIMEOUT`] (also the longest an HTTP/1 connection may idle
//! between requests), are disconnected, as are HTTP/2 clients that stop answering pings.

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How long a cut waits when it cannot see the connection drain.
pub const FLUSH_FALLBACK: Duration = Duration::from_millis(100);

/// A client's first byte and its whole request head must come within this; an HTTP/1 connection
/// idle between requests this long is closed (hyper's header-read timeout covers both).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2: a ping when the connection has been quiet this long, and the connection closed when
/// the answer takes longer than [`H2_PING_TIMEOUT`].
pub const H2_PING_EVERY: Duration = Duration::from_secs(30);
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Flushes of one connection's socket, counted, with a way to wait for the next one.
#[derive(Default)]
struct Flushes {
    count: AtomicU64,
    notify: tokio::sync::Notify,
}

/// One served connection, as handlers see it.
#[derive(Clone, Default)]
pub struct ConnWatch {
    flushes: Arc<Flushes>,
    peer: Option<std::net::SocketAddr>,
}

impl ConnWatch {
    /// The client's address.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// Resolves at the first flush after the call: everything queued before it has been written.
    async fn drained(&self) {
        let start = self.flushes.count.load(Ordering::Acquire);
        loop {
            let notified = self.flushes.notify.notified();
            if self.flushes.count.load(Ordering::Acquire) > start {
                return;
            }
            notified.await;
        }
    }
}

/// Serves `app` on every connection `listener` accepts until `stopping` resolves; then lets the
/// open connections finish (HTTP/1 after the response in flight, HTTP/2 with GOAWAY) and returns.
/// Each request carries its connection's [`ConnWatch`] as `ConnectInfo`.
pub async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    stopping: impl std::future::Future<Output = ()> + Send,
) -> io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let closing = tokio_util::sync::CancellationToken::new();
    let mut stopping = std::pin::pin!(stopping);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stopping => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors, a connection reset before accept: go on after a pause.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        stream.set_nodelay(true).ok();
        let watch = ConnWatch {
            flushes: Arc::default(),
            peer: Some(peer),
        };
        let io = WatchedIo {
            inner: stream,
            watch: watch.clone(),
        };
        let svc = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(watch.clone()));
                req
            },
        );
        let svc = hyper_util::service::TowerToHyperService::new(svc);
        let builder = builder.clone();
        let closing = closing.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // A client that sends nothing at all never reaches hyper (whose version sniffing
            // has no timeout of its own).
            // (`readable()` may report readiness falsely; a peek waits for a real byte.)
            let mut byte = [0u8; 1];
            let first = tokio::select! {
                () = closing.cancelled() => return,
                r = tokio::time::timeout(header_timeout, io.inner.peek(&mut byte)) => r,
            };
            if !matches!(first, Ok(Ok(n)) if n > 0) {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
            watcher.watch(conn.into_owned()).await.ok();
        });
    }
    closing.cancel();
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

impl Connected<IncomingStream<'_, WatchedListener>> for ConnWatch {
    fn connect_info(stream: IncomingStream<'_, WatchedListener>) -> Self {
        ConnWatch {
            flushes: stream.io().watch.flushes.clone(),
            peer: Some(*stream.remote_addr()),
        }
    }
}

/// Put on every request by the Router's outer layer: what a stream that is about to be cut waits for.
#[derive(Clone, Default)]
pub struct Cutter {
    watch: Option<ConnWatch>,
}

impl Cutter {
    pub fn for_request(req: &axum::extract::Request) -> Cutter {
        let watch = req
            .extensions()
            .get::<ConnectInfo<ConnWatch>>()
            .filter(|_| req.version() <= axum::http::Version::HTTP_11)
            .map(|c| c.0.clone());
        Cutter { watch }
    }

    /// Waits until the bytes sent so far have left (or the fallback time has passed).
    pub async fn before_cut(&self) {
        match &self.watch {
            Some(w) => w.drained().await,
            None => tokio::time::sleep(FLUSH_FALLBACK).await,
        }
    }

    /// `body`, with its first error (the cut) held back until what was sent before it has left.
    pub fn guard(self, body: axum::body::Body) -> axum::body::Body {
        use futures_util::StreamExt;
        let stream = futures_util::stream::unfold(
            (body.into_data_stream(), self, false),
            |(mut s, cutter, cut)| async move {
                if cut {
                    return None;
                }
                match s.next().await? {
                    Ok(b) => Some((Ok(b), (s, cutter, false))),
                    Err(e) => {
                        cutter.before_cut().await;
                        Some((Err(e), (s, cutter, true)))
                    }
                }
            },
        );
        axum::body::Body::from_stream(stream)
    }
}

/// A TCP listener whose connections count their flushes.
pub struct WatchedListener(pub TcpListener);

impl Listener for WatchedListener {
    type Io = WatchedIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (inner, addr) = Listener::accept(&mut self.0).await;
        (
            WatchedIo {
                inner,
                watch: ConnWatch::default(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

pub struct WatchedIo {
    inner: TcpStream,
    watch: ConnWatch,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = Pin::new(&mut self.inner).poll_flush(cx);
        if done.is_ready() {
            let f = &self.watch.flushes;
            f.count.fetch_add(1, Ordering::AcqRel);
            f.notify.notify_waiters();
        }
        done
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
