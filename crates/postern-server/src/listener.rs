//! Accepting connections and serving them: HTTP/1.1 and HTTP/2 (hyper-util's auto builder, with
//! a timer so the header read timeout really applies), optional TLS with the handshake inside
//! the connection task under a timeout, graceful shutdown with a bounded grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::router;
use crate::state::AppState;
use crate::tls::{self, TlsError};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired sessions are swept from the memory store.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

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

impl Server {
    /// Binds `server.listen` and loads TLS material, so every startup error surfaces here,
    /// before anything is served.
    pub async fn bind(state: Arc<AppState>) -> Result<Self, ServeError> {
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
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(state.config.server.header_read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256);
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
            let watcher = graceful.watcher();
            tokio::spawn(serve_connection(
                builder.clone(),
                watcher,
                stream,
                peer,
                tls.clone(),
                Arc::clone(&state),
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

/// Serves one connection. Runs in its own task: a failure or panic here ends only this
/// connection.
async fn serve_connection(
    builder: Builder<TokioExecutor>,
    watcher: Watcher,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
) {
    // Boxed: hyper keeps room for one in-flight service future per connection for as long as
    // the connection lives, and the router's future is several KiB. Unboxed, every idle
    // keep-alive connection would carry it.
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        Box::pin(async move {
            Ok::<_, std::convert::Infallible>(router::handle(state, peer, request).await)
        })
    });
    let result = match tls {
        None => {
            watcher
                .watch(
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned(),
                )
                .await
        }
        // Boxed, so that a plain connection's task does not carry room for the handshake and
        // the TLS stream.
        Some(acceptor) => {
            let served = Box::pin(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => Some(
                        watcher
                            .watch(
                                builder
                                    .serve_connection(TokioIo::new(tls_stream), service)
                                    .into_owned(),
                            )
                            .await,
                    ),
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        None
                    }
                }
            });
            match served.await {
                Some(result) => result,
                None => return,
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

async fn sweep_periodically(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {
                let removed = state.store.sweep_expired();
                if removed > 0 {
                    tracing::debug!(removed, "swept expired sessions");
                }
            }
        }
    }
}
