//! `[metrics] listen`: a listener of its own that answers `GET /metrics` with the OpenMetrics
//! text and nothing else, so the metrics never share a port (or an access rule) with the
//! checks. With `[metrics] token_file` a scrape must send `Authorization: Bearer <token>`,
//! compared in constant time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Metrics;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct MetricsListener {
    listener: TcpListener,
    metrics: Arc<Metrics>,
    token: Option<Arc<[u8]>>,
}

impl MetricsListener {
    pub async fn bind(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        token: Option<&[u8]>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            metrics,
            token: token.map(Arc::from),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until `shutdown`; each connection in a task of its own.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let metrics = Arc::clone(&self.metrics);
            let token = self.token.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let answer = scrape_answer(&metrics, token.as_deref(), &request);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(err) = served {
                    tracing::debug!(error = %err, "metrics connection ended with an error");
                }
            });
        }
    }
}

/// The answer to one request on the metrics listener.
pub fn scrape_answer<B>(
    metrics: &Metrics,
    token: Option<&[u8]>,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "Not Found: metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut answer = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        answer
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return answer;
    }
    if let Some(expected) = token {
        let sent = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(expected)) {
            let mut answer = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            answer.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"postern metrics\""),
            );
            return answer;
        }
    }
    let mut answer = Response::new(Full::new(Bytes::from(metrics.encode())));
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    answer
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut answer = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}
