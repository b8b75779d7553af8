//! The outgoing HTTP client, for OAuth providers (discovery, JWKS, token, userinfo) and the
//! `[notify]` webhook: hyper over
//! tokio, rustls with ring and the system's roots for https. One connection per request (a
//! sign-in makes a few calls; pooling would buy nothing), and every call is bounded: a connect
//! timeout, a whole-exchange timeout and a body size limit, so a slow or hostile provider can
//! hold a sign-in for seconds, never a worker for ever.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents, key sets and tokens are a few KiB; 1 MiB is generous.
const MAX_BODY_BYTES: usize = 1024 * 1024;
const AGENT: &str = concat!("postern/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Transport(String),
    #[error("answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
}

/// How a request authenticates the client at the token endpoint.
pub enum ClientAuth<'a> {
    /// `Authorization: Basic` (client_secret_basic).
    Basic { id: &'a str, secret: &'a str },
    /// Nothing extra (the form carries the credentials: client_secret_post).
    InForm,
}

#[derive(Default)]
pub struct HttpClient {
    tls: OnceLock<Result<TlsConnector, String>>,
}

impl HttpClient {
    /// `GET url` and its JSON answer; `bearer` adds `Authorization: Bearer`.
    pub async fn get_json(&self, url: &Url, bearer: Option<&str>) -> Result<Value, FetchError> {
        let mut request = Request::builder().method(Method::GET);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        self.json(url, request, Bytes::new(), false).await
    }

    /// `POST url` with a form body, and its JSON answer.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        auth: ClientAuth<'_>,
    ) -> Result<Value, FetchError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|err| FetchError::Transport(err.to_string()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let ClientAuth::Basic { id, secret } = auth {
            // RFC 6749 2.3.1: both parts form-encoded before the base64.
            let pair = format!("{}:{}", form_encode(id), form_encode(secret));
            request = request.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
        }
        // Token endpoints explain refusals in JSON ({"error": "invalid_grant"}), with a 400.
        self.json(url, request, Bytes::from(body), true).await
    }

    /// `POST url` with a JSON body; the answer's status (its body is not read beyond the
    /// size limit and not returned).
    pub async fn post_json(&self, url: &Url, body: &Value) -> Result<StatusCode, FetchError> {
        let request = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/json");
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        let exchange = self.exchange(url, request, bytes);
        let (status, _) = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                FetchError::Transport(format!("no answer within {EXCHANGE_TIMEOUT:?}"))
            })??;
        Ok(status)
    }

    /// The JSON answer; `error_json` lets a failed status through when its body is an OAuth
    /// error object, for the caller to read.
    async fn json(
        &self,
        url: &Url,
        request: http::request::Builder,
        body: Bytes,
        error_json: bool,
    ) -> Result<Value, FetchError> {
        let exchange = self.exchange(url, request, body);
        let (status, body) = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                FetchError::Transport(format!("{url}: no answer within {EXCHANGE_TIMEOUT:?}"))
            })??;
        if !status.is_success() {
            if error_json
                && let Ok(json) = serde_json::from_slice::<Value>(&body)
                && json.get("error").is_some()
            {
                return Ok(json);
            }
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(FetchError::Status { status, body: text });
        }
        serde_json::from_slice(&body).map_err(|err| FetchError::NotJson(err.to_string()))
    }

    async fn exchange(
        &self,
        url: &Url,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), FetchError> {
        let transport =
            |err: &dyn std::fmt::Display| FetchError::Transport(format!("{url}: {err}"));
        let host = url.host_str().ok_or_else(|| transport(&"no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| transport(&"no port"))?;
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let request = request
            .uri(target)
            .header(HOST, authority)
            .header(USER_AGENT, AGENT)
            .header(ACCEPT, "application/json")
            .body(Full::new(body))
            .map_err(|err| transport(&err))?;
        // `host_str` keeps IPv6 brackets; the socket wants the bare address.
        let connect_host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((connect_host, port)))
            .await
            .map_err(|_| transport(&"connect timed out"))?
            .map_err(|err| transport(&err))?;
        let _ = tcp.set_nodelay(true);
        let response = match url.scheme() {
            "https" => {
                let connector = self.tls().map_err(|err| transport(&err))?;
                let name = rustls_pki_types::ServerName::try_from(connect_host.to_owned())
                    .map_err(|err| transport(&err))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|err| transport(&err))?;
                send(tls, request).await
            }
            _ => send(tcp, request).await,
        }
        .map_err(|err| transport(&err))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|err| transport(&err))?
            .to_bytes();
        Ok((status, body))
    }

    /// The TLS connector, built on first use: reading the system's roots takes a moment and
    /// is not needed by deployments without providers.
    fn tls(&self) -> Result<&TlsConnector, String> {
        self.tls
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err("no trusted root certificates found on this system".to_owned());
                }
                connector(roots)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A client that trusts only `roots` (tests stand up their own CA).
    #[cfg(test)]
    pub fn trusting(roots: rustls::RootCertStore) -> Self {
        Self {
            tls: OnceLock::from(connector(roots)),
        }
    }
}

fn connector(roots: rustls::RootCertStore) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn send<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<Incoming>, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, is the request's.
        let _ = connection.await;
    });
    sender.send_request(request).await
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests;
