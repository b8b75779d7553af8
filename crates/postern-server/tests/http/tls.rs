//! Serving HTTPS directly with rustls, HTTP/2 and HTTP/1.1 by ALPN.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

fn write_self_signed(dir: &std::path::Path) -> CertificateDer<'static> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    certified.cert.der().clone()
}

async fn tls_client(
    addr: std::net::SocketAddr,
    cert: CertificateDer<'static>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let stream = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap()
}

/// A TLS server with a fresh self-signed certificate for `localhost`; `server` is extra TOML
/// for its `[server]` table.
async fn tls_server(name: &str, server: &str) -> (TestServer, CertificateDer<'static>) {
    let dir = std::env::temp_dir().join(format!("postern-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = write_self_signed(&dir);
    let extra = format!(
        "{server}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    let text = config_text("https://auth.example.com", "").replace(
        "[server]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n"),
    );
    let server = TestServer::with_config(&text).await;
    // Loaded at startup: the files are no longer needed.
    std::fs::remove_dir_all(&dir).ok();
    (server, cert)
}

#[tokio::test]
async fn serves_http2_and_http1_over_tls() {
    let (server, cert) = tls_server("both", "").await;

    let h2 = tls_client(server.addr, cert.clone(), b"h2").await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("https://localhost/api/healthcheck")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"status":200,"message":"OK"}"#);

    let h1 = tls_client(server.addr, cert, b"http/1.1").await;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(h1))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("/api/healthcheck")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_plain_http_client_on_the_tls_port_does_not_hurt_the_server() {
    let dir = std::env::temp_dir().join(format!("postern-tls-plain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = write_self_signed(&dir);
    let extra = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    let text = config_text("https://auth.example.com", "").replace(
        "[server]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n"),
    );
    let server = TestServer::with_config(&text).await;
    assert!(server.get("/api/healthcheck").send_raw().await.is_err());
    let tls = tls_client(server.addr, cert, b"http/1.1").await;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("/api/healthcheck")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}

/// TLS clients that chose h2 and then sent only the preface, or nothing at all, are closed
/// after `header_read_timeout` like plain ones.
#[tokio::test]
async fn idle_http2_over_tls_is_closed_after_the_header_read_timeout() {
    let (server, cert) = tls_server("idle", "header_read_timeout = \"2s\"").await;
    let opened = std::time::Instant::now();
    let mut waits = Vec::new();
    for index in 0..60 {
        let mut stream = tls_client(server.addr, cert.clone(), b"h2").await;
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        if index % 2 == 0 {
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
        }
        waits.push(tokio::spawn(crate::protocols::closed_after(
            stream,
            opened,
            std::time::Duration::from_secs(30),
        )));
    }
    for wait in waits {
        wait.await.unwrap();
    }
}
