//! The client against small local servers: JSON over TLS (with a CA of the test's own), an
//! untrusted certificate refused, and an oversized body cut off.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;

/// Serves `body` to every request, over TLS when `tls` is given; returns the port.
async fn serve(body: Bytes, tls: Option<TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    port
}

/// A self-signed certificate for `localhost`, its acceptor, and roots that trust it.
fn localhost_tls() -> (TlsAcceptor, rustls::RootCertStore) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls_pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (TlsAcceptor::from(Arc::new(config)), roots)
}

#[tokio::test]
async fn fetches_json_over_tls_from_a_trusted_server() {
    let (acceptor, roots) = localhost_tls();
    let port = serve(Bytes::from_static(b"{\"issuer\":\"x\"}"), Some(acceptor)).await;
    let url = Url::parse(&format!(
        "https://localhost:{port}/.well-known/openid-configuration"
    ))
    .unwrap();
    let json = HttpClient::trusting(roots)
        .get_json(&url, None)
        .await
        .unwrap();
    assert_eq!(json["issuer"], "x");
}

#[tokio::test]
async fn refuses_a_server_it_does_not_trust() {
    let (acceptor, _) = localhost_tls();
    let (_, other_roots) = localhost_tls();
    let port = serve(Bytes::from_static(b"{}"), Some(acceptor)).await;
    let url = Url::parse(&format!("https://localhost:{port}/")).unwrap();
    let result = HttpClient::trusting(other_roots).get_json(&url, None).await;
    assert!(
        matches!(result, Err(FetchError::Transport(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn cuts_off_an_oversized_answer() {
    let huge = Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]);
    let port = serve(huge, None).await;
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let result = HttpClient::default().get_json(&url, None).await;
    assert!(
        matches!(result, Err(FetchError::Transport(_))),
        "{result:?}"
    );
}
