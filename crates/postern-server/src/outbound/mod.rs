//! The outgoing HTTP client, for OAuth providers (discovery, JWKS, token, userinfo) and the
//! `[notify]` webhook: hyper over
//! tokio, rustls with ring and the system's roots for https. One connection per request (a
//! sign-in makes a few calls; pooling would buy nothing), and every call is bounded: a connect
//! timeout, a whole-exchange timeout and a body size limit, so a slow or hostile provider can
//! hold a sign-in for seconds, never a worker for ever.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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
        self.json(url, request, Bytes::new()).await
    }

    /// One exchange for the `oauth2` crate (the token request it builds, with the client's
    /// credentials and the PKCE verifier), bounded like every other call here. Its status,
    /// `Content-Type` and body go back to the crate, which reads OAuth errors from them.
    async fn oauth2(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, FetchError> {
        let url = Url::parse(&request.uri().to_string())
            .map_err(|err| FetchError::Transport(err.to_string()))?;
        let (parts, body) = request.into_parts();
        let mut builder = Request::builder().method(parts.method);
        if let Some(headers) = builder.headers_mut() {
            *headers = parts.headers;
        }
        let (parts, body) = self
            .exchange(&url, builder, Bytes::from(body))
            .await?
            .into_parts();
        let mut response = http::Response::new(body.to_vec());
        *response.status_mut() = parts.status;
        if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
        }
        Ok(response)
    }

    /// `POST url` with a JSON body; the answer's status (its body is not read beyond the
    /// size limit and not returned).
    pub async fn post_json(&self, url: &Url, body: &Value) -> Result<StatusCode, FetchError> {
        let request = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/json");
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        Ok(self.exchange(url, request, bytes).await?.status())
    }

    /// The JSON answer of a successful status.
    async fn json(
        &self,
        url: &Url,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<Value, FetchError> {
        let answer = self.exchange(url, request, body).await?;
        let (status, body) = (answer.status(), answer.into_body());
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(FetchError::Status { status, body: text });
        }
        serde_json::from_slice(&body).map_err(|err| FetchError::NotJson(err.to_string()))
    }

    /// One request and its answer, within `EXCHANGE_TIMEOUT` from connect to the last byte.
    async fn exchange(
        &self,
        url: &Url,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, FetchError> {
        tokio::time::timeout(EXCHANGE_TIMEOUT, self.untimed(url, request, body))
            .await
            .map_err(|_| {
                FetchError::Transport(format!("{url}: no answer within {EXCHANGE_TIMEOUT:?}"))
            })?
    }

    async fn untimed(
        &self,
        url: &Url,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, FetchError> {
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
        let mut request = request
            .uri(target)
            .header(HOST, authority)
            .header(USER_AGENT, AGENT);
        if !request
            .headers_ref()
            .is_some_and(|headers| headers.contains_key(ACCEPT))
        {
            request = request.header(ACCEPT, "application/json");
        }
        let request = request
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
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|err| transport(&err))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
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

/// `oauth2` sends its requests through this client. The future is boxed so that it is `Send`
/// for every lifetime, as the handlers' futures must be.
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = FetchError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.oauth2(request))
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

#[cfg(test)]
mod tests;
