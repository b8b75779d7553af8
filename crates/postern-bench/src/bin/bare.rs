//! The baseline, and the stub auth server of the proxy rows: bare hyper 1 over HTTP/1.1
//! keep-alive, answering every request with 200, one header and an empty body
//! (`Content-Length: 0`: a body nginx's auth_request would not read costs its connection). Same runtime as postern (tokio multi-thread, one worker per allowed core),
//! `TCP_NODELAY` as postern sets it. Usage: `bare PORT`.
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

#[tokio::main]
async fn main() -> ExitCode {
    let Some(port) = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse::<u16>().ok())
    else {
        eprintln!("usage: bare PORT");
        return ExitCode::from(64);
    };
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
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
