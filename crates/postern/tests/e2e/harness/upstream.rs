//! The protected app: an in-process HTTP server that answers every request with JSON of what
//! it received (method, target, headers with lower-cased names and every value in order),
//! and counts requests, so a test can prove a refused request never reached it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let port = listener.local_addr().expect("upstream address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = service_fn(move |request| echo(request, Arc::clone(&counter)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, hits, server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many requests reached the app so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn echo(
    request: hyper::Request<Incoming>,
    hits: Arc<AtomicUsize>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let method = request.method().to_string();
    let target = request.uri().to_string();
    // Drain the body: proxies reuse upstream connections.
    let _ = request.into_body().collect().await;
    let body = serde_json::json!({ "app": "upstream", "method": method, "target": target, "headers": headers });
    let response = hyper::Response::builder()
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response");
    Ok(response)
}

/// What the upstream echoed back, for assertions.
pub struct Echo {
    json: serde_json::Value,
}

impl Echo {
    pub fn parse(body: &serde_json::Value) -> Self {
        assert_eq!(
            body["app"], "upstream",
            "not an answer from the upstream app: {body}"
        );
        Self { json: body.clone() }
    }

    pub fn method(&self) -> &str {
        self.json["method"].as_str().expect("method")
    }

    /// Every value the app received for `name` (lower case), in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.json["headers"][name]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn header_names(&self) -> Vec<String> {
        self.json["headers"]
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    }
}
