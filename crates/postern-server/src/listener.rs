//! Accepting connections and serving them. Each connection's protocol is settled before hyper
//! sees it: on TLS by ALPN ("h2" is HTTP/2), on plain TCP by peeking for the HTTP/2
//! prior-knowledge preface (h2c). Then hyper's own HTTP/1.1 or HTTP/2 connection serves it;
//! a plain HTTP/1.1 connection first goes through the check lane (`check_lane.rs`), which
//! answers a proxy's checks itself and hands hyper the connection at any other request.
//! hyper-util's auto builder did the same detection, but every connection's task kept room for
//! both protocols' state, about 6 KiB per idle keep-alive connection. Both protocols are
//! closed when no request has been in flight for the header read timeout (`idle.rs`); HTTP/2
//! also pings its peer; TLS handshakes run inside the connection task under a timeout;
//! shutdown is graceful with a bounded grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use self::check_lane::{LaneEnd, Rewound};
use self::idle::Activity;
use crate::respond::HttpResponse;
use crate::router;
use crate::state::AppState;
use crate::tls::{self, TlsError};

mod check_lane;
mod idle;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired sessions are swept from the memory store.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// What an h2c client with prior knowledge sends first (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long to wait before peeking again at a start that is a piece of the preface: a peek
/// returns at once while the bytes it saw are unread, so it cannot wait for more by itself.
/// The wait doubles from the first to the last: a client that stalls there costs at most ten
/// wake-ups a second, no more than one that trickles its headers a byte at a time.
const PEEK_RETRY_FIRST: Duration = Duration::from_millis(1);
const PEEK_RETRY_LAST: Duration = Duration::from_millis(100);
/// The most a connection's read buffer may grow to (hyper's default is about 400 KiB). No
/// request postern answers needs more: bodies are limited to 16 KiB, and a header block this
/// large is refused. It bounds what a few thousand clients with huge headers can make us hold.
const MAX_READ_BUFFER: usize = 64 * 1024;
/// The most headers a request head may have (hyper's default, set here so that the check
/// lane, which parses heads before hyper sees them, uses the same: both must find the same
/// end for every head, so both also parse with `httparse`'s default `ParserConfig`).
const MOST_REQUEST_HEADERS: usize = 100;
/// HTTP/2 streams one connection may have open at once.
const MAX_CONCURRENT_STREAMS: u32 = 256;
/// HTTP/2 flow-control windows: what a peer may send before postern reads it. hyper's
/// default is 1 MiB a stream and a connection, far past the 16 KiB a body may be; a peer that
/// sends DATA on streams whose handler does not read it would make each connection hold that
/// much. A stream's window covers a whole body; the connection's, a few at once.
const HTTP2_STREAM_WINDOW: u32 = 32 * 1024;
const HTTP2_CONNECTION_WINDOW: u32 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A bound, not yet serving, server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
}

/// What every connection task shares, behind one `Arc`: one pointer in each task instead of
/// copies of the builders' settings.
struct Shared {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
}

/// The protocol a connection speaks, settled once before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

impl Server {
    /// Binds `server.listen` and loads TLS material, so every startup error surfaces here,
    /// before anything is served.
    pub async fn bind(state: Arc<AppState>) -> Result<Self, ServeError> {
        crate::credentials::run_hash_upgrades(&state);
        let addr = state.config.server.listen;
        let tls = state
            .config
            .server
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            tls,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish for up to
    /// `server.shutdown_timeout`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Self {
            listener,
            tls,
            state,
        } = self;
        let shared = Arc::new(Shared::new(tls, Arc::clone(&state), shutdown.clone()));
        let graceful = GracefulShutdown::new();
        let sweeper = tokio::spawn(sweep_periodically(Arc::clone(&state), shutdown.clone()));
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Usually out of file descriptors: wait a little instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(
                Arc::clone(&shared),
                graceful.watcher(),
                stream,
                peer,
            ));
        }
        drop(listener);
        sweeper.abort();
        let grace = state.config.server.shutdown_timeout;
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining connections"),
        }
    }
}

impl Shared {
    fn new(tls: Option<TlsAcceptor>, state: Arc<AppState>, shutdown: CancellationToken) -> Self {
        let mut http1 = http1::Builder::new();
        // No hyper timer: its header read timeout allocates and registers a timer for every
        // request (1,350 of a cookie check's 29,600 instructions under callgrind). The
        // connection's idle clock (`serve_http1`) bounds the same wait for a few atomics.
        http1
            .header_read_timeout(None)
            .max_buf_size(MAX_READ_BUFFER)
            .max_headers(MOST_REQUEST_HEADERS)
            .keep_alive(true);
        // A peer that stops answering pings (gone, or never really there) is dropped after
        // two header read timeouts even while a request is in flight; an idle one sooner, by
        // the idle timer in `serve_http2`.
        let quiet = state.config.server.header_read_timeout;
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(quiet))
            .keep_alive_timeout(quiet)
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .initial_stream_window_size(HTTP2_STREAM_WINDOW)
            .initial_connection_window_size(HTTP2_CONNECTION_WINDOW);
        Self {
            http1,
            http2,
            tls,
            state,
            shutdown,
        }
    }
}

/// Serves one connection. Runs in its own task: a failure or panic here ends only this
/// connection. `watcher` keeps the graceful shutdown waiting until the connection is done.
///
/// The HTTP/1.1 connection is awaited here directly, not through another `async fn`: each
/// level of `async fn` keeps its own copies of what it was given, and an idle keep-alive
/// connection holds this task's memory for its whole life.
async fn serve_connection(
    shared: Arc<Shared>,
    watcher: Watcher,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let result = match &shared.tls {
        None => match plain_protocol(&shared, &stream).await {
            Some(Protocol::Http1) => serve_plain_http1(&shared, watcher, stream, peer).await,
            // Boxed: an HTTP/2 connection's state is larger, and HTTP/1.1 is the common case.
            Some(Protocol::Http2) => Box::pin(serve_http2(&shared, watcher, stream, peer)).await,
            None => {
                tracing::debug!(%peer, "connection closed before it sent a request");
                return;
            }
        },
        // Boxed, so that a plain connection's task does not carry room for the handshake and
        // the TLS stream.
        Some(acceptor) => Box::pin(serve_tls(&shared, acceptor, watcher, stream, peer)).await,
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// Plain TCP: HTTP/2 for a client that opens with the preface (h2c, prior knowledge), else
/// HTTP/1.1. `None` for a client that says nothing within the header read timeout, or not
/// before shutdown: it is closed, with no task left behind. (A client that does start within
/// the timeout then gets hyper's own header read timeout for the rest of its headers.)
async fn plain_protocol(shared: &Shared, stream: &TcpStream) -> Option<Protocol> {
    let header_read_timeout = shared.state.config.server.header_read_timeout;
    tokio::select! {
        () = shared.shutdown.cancelled() => None,
        sniffed = tokio::time::timeout(header_read_timeout, sniff(stream)) => sniffed.ok().flatten(),
    }
}

/// TLS: the handshake under its timeout, then the protocol ALPN chose.
async fn serve_tls(
    shared: &Shared,
    acceptor: &TlsAcceptor,
    watcher: Watcher,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<(), hyper::Error> {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(%peer, error = %err, "TLS handshake failed");
            return Ok(());
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return Ok(());
        }
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        serve_http2(shared, watcher, stream, peer).await
    } else {
        serve_http1(shared, watcher, stream, peer, Activity::new()).await
    }
}

/// A plain HTTP/1.1 connection: the check lane (`check_lane.rs`) answers the checks a proxy
/// sends, and hands the connection to hyper at the first request that is anything else. The
/// lane runs under the same idle clock as hyper does (see `serve_http1`), and stops reading
/// when postern shuts down; the watcher, held meanwhile, keeps the graceful shutdown waiting
/// for a check in flight.
async fn serve_plain_http1(
    shared: &Shared,
    watcher: Watcher,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Result<(), hyper::Error> {
    let activity = Activity::new();
    let timeout = shared.state.config.server.header_read_timeout;
    let lane = check_lane::answer_checks(
        &mut stream,
        &shared.state,
        peer,
        &activity,
        &shared.shutdown,
        MAX_READ_BUFFER,
    );
    let end = tokio::select! {
        biased;
        end = lane => end,
        () = activity.idle_for(timeout) => {
            tracing::debug!(%peer, "closing an HTTP/1.1 connection: no request within the header read timeout");
            LaneEnd::Closed
        }
    };
    match end {
        LaneEnd::Closed => Ok(()),
        // Boxed: a connection that leaves the lane carries hyper's state from here on, and
        // one that never does (a proxy's) should not keep room for it.
        LaneEnd::ToHyper(read) => {
            Box::pin(serve_http1(
                shared,
                watcher,
                Rewound::new(read, stream),
                peer,
                activity,
            ))
            .await
        }
    }
}

/// An HTTP/1.1 connection under the watcher, dropped once no request has been in flight for
/// `server.header_read_timeout`: a client must send its next request's headers within that
/// time after the last answer (the first request's, after the connection opened), as with
/// hyper's own header read timeout, which is off (see `Shared::new`). A request is in flight
/// from the moment its headers are read until its answer is ready, so a slow upload or a slow
/// answer is never cut off by this clock. Sending the answer counts towards the next wait:
/// postern's answers are small, and a client that does not read one for the whole timeout
/// is cut off, as a slow reader should be.
///
/// Not an `async fn`: the future keeps the connection, the clock and the peer, not copies of
/// the arguments, for as long as an idle keep-alive connection lives.
fn serve_http1<I>(
    shared: &Shared,
    watcher: Watcher,
    io: I,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl Future<Output = Result<(), hyper::Error>> + use<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Service::new(&shared.state, peer, Arc::clone(&activity));
    // Boxed before the block captures it: moved into `select!` from a capture, the block would
    // keep room for the connection twice (about 1.3 KiB more per idle connection, row g).
    let connection =
        Box::pin(watcher.watch(shared.http1.serve_connection(TokioIo::new(io), service)));
    let timeout = shared.state.config.server.header_read_timeout;
    async move {
        tokio::select! {
            biased;
            result = connection => result,
            () = activity.idle_for(timeout) => {
                tracing::debug!(%peer, "closing an HTTP/1.1 connection: no request within the header read timeout");
                Ok(())
            }
        }
    }
}

/// An HTTP/2 connection, closed gracefully (GOAWAY, open streams finish) when postern shuts
/// down or when no request has been in flight for `server.header_read_timeout`: hyper itself
/// would keep an idle, or preface-only, HTTP/2 connection open for as long as the client does.
/// One that has not closed another timeout later (no preface yet, or GOAWAY never read) is
/// dropped.
/// The watcher is held, not used to watch, so that the idle timer can shut the connection down
/// too; `run` cancels `shutdown` before it waits for the watchers.
async fn serve_http2<I>(
    shared: &Shared,
    watcher: Watcher,
    io: I,
    peer: SocketAddr,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = Service::new(&shared.state, peer, Arc::clone(&activity));
    let connection = shared.http2.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let idle_timeout = shared.state.config.server.header_read_timeout;
    let mut closing = false;
    // Set when the idle timer closed the connection: a client that has not even sent its
    // preface yet (TLS) or does not read the GOAWAY is dropped when this passes.
    let mut drop_at: Option<tokio::time::Instant> = None;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = shared.shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(idle_timeout), if !closing => {
                tracing::debug!(%peer, "closing an idle HTTP/2 connection");
                closing = true;
                drop_at = Some(tokio::time::Instant::now() + idle_timeout);
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(drop_at.unwrap_or_else(tokio::time::Instant::now)),
                if drop_at.is_some() =>
            {
                tracing::debug!(%peer, "dropping an idle HTTP/2 connection that did not close");
                break Ok(());
            }
        }
    };
    drop(watcher);
    result
}

/// What a plain client speaks, from its first bytes, which stay unread for hyper: HTTP/2 once
/// the whole preface is there, HTTP/1.1 as soon as a byte differs from it. `None`: the client
/// closed or failed first. The caller bounds how long this may wait.
async fn sniff(stream: &TcpStream) -> Option<Protocol> {
    let mut first = [0u8; H2_PREFACE.len()];
    let mut retry = PEEK_RETRY_FIRST;
    loop {
        let seen = stream.peek(&mut first).await.ok()?;
        if seen == 0 {
            return None;
        }
        match classify(first.get(..seen)?) {
            Some(protocol) => return Some(protocol),
            None => {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(PEEK_RETRY_LAST);
            }
        }
    }
}

/// `None`: the bytes so far are a beginning of the preface, too few to tell.
fn classify(first: &[u8]) -> Option<Protocol> {
    if !H2_PREFACE.starts_with(first) {
        Some(Protocol::Http1)
    } else if first.len() == H2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// The router as a hyper service for one connection's client.
#[derive(Clone)]
struct Service {
    state: Arc<AppState>,
    peer: SocketAddr,
    /// The connection's requests in flight, for its idle clock.
    activity: Arc<Activity>,
}

impl Service {
    fn new(state: &Arc<AppState>, peer: SocketAddr, activity: Arc<Activity>) -> Self {
        Self {
            state: Arc::clone(state),
            peer,
            activity,
        }
    }
}

/// Boxed: hyper keeps room for one in-flight service future per connection for as long as the
/// connection lives, and the router's future is several KiB. Unboxed, every idle keep-alive
/// connection would carry it.
type Answer = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let state = Arc::clone(&self.state);
        let peer = self.peer;
        let in_flight = self.activity.request_started();
        Box::pin(async move {
            let answer = router::handle(state, peer, request).await;
            drop(in_flight);
            Ok(answer)
        })
    }
}

async fn sweep_periodically(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {
                // Off the async workers: a sweep walks every session (and takes each shard's
                // lock in turn), and on a worker every check queued behind it would wait.
                let store = state.store.clone();
                let removed = tokio::task::spawn_blocking(move || store.sweep_expired()).await;
                if let Ok(removed @ 1..) = removed {
                    tracing::debug!(removed, "swept expired sessions");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_preface_is_http2() {
        assert_eq!(classify(H2_PREFACE), Some(Protocol::Http2));
    }

    #[test]
    fn a_beginning_of_the_preface_is_not_enough_to_tell() {
        for len in 1..H2_PREFACE.len() {
            assert_eq!(classify(&H2_PREFACE[..len]), None, "{len} bytes");
        }
    }

    #[test]
    fn any_other_start_is_http1() {
        for start in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST",
            b"PRI * HTTP/1.1",
            b"\r\n",
        ] {
            assert_eq!(classify(start), Some(Protocol::Http1), "{start:?}");
        }
    }
}
