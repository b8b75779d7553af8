//! The baseline, and the stub auth server of the proxy rows: bare hyper 1 over HTTP/1.1
//! keep-alive, answering every request with 200, one header and an empty body
//! (`Content-Length: 0`: a body nginx's auth_request would not read costs its connection). Same runtime as postern (tokio multi-thread, one worker per allowed core),
//! `TCP_NODELAY` as postern sets it. Usage: `bare PORT [identity]`.
//!
//! With `identity` it answers what postern answers a signed-in check (`Cache-Control` and the
//! four `Remote-*` headers with the bench user's values): a proxy copies those onto the request
//! to the app, and that work is the proxy's, whichever auth server sent them. Rows against this
//! stub tell postern's own cost inside a proxy apart from the cost of passing an identity on.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::process::ExitCode;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");

async fn answer(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::new()));
    response
        .headers_mut()
        .insert(REMOTE_USER, HeaderValue::from_static("bench"));
    Ok(response)
}

/// The headers of postern's answer to a signed-in check by the bench's seeded user, in
/// postern's order.
const IDENTITY: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    ("remote-user", "bench"),
    ("remote-email", "bench@example.com"),
    ("remote-name", "Bench User"),
    ("remote-groups", "admins"),
];

async fn answer_identity(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    for (name, value) in IDENTITY {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(port) = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse::<u16>().ok())
    else {
        eprintln!("usage: bare PORT [identity]");
        return ExitCode::from(64);
    };
    let identity = std::env::args().nth(2).as_deref() == Some("identity");
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("bare: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("bare: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let builder = http1::Builder::new().keep_alive(true).clone();
            let io = TokioIo::new(stream);
            let _ = if identity {
                builder
                    .serve_connection(io, service_fn(answer_identity))
                    .await
            } else {
                builder.serve_connection(io, service_fn(answer)).await
            };
        });
    }
}
