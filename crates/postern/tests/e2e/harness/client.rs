//! A deliberately plain HTTP/1.1 client: one connection per request to 127.0.0.1 (or one
//! `Connection` kept alive for many, for the keep-alive tests), `Host` set by the caller,
//! redirects never followed, any header name allowed (including the `Remote_User` spellings
//! the spoofing tests need).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Url;

/// What a browser sends as `Accept` for a page load.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

pub struct Request {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Request {
    /// `target` is the path and query, e.g. `/some/path?x=1`.
    pub fn new(method: Method, target: &str) -> Self {
        Self {
            method,
            target: target.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn get(target: &str) -> Self {
        Self::new(Method::GET, target)
    }

    pub fn post(target: &str) -> Self {
        Self::new(Method::POST, target)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn browser(self) -> Self {
        self.header("Accept", BROWSER_ACCEPT)
    }

    pub fn api_client(self) -> Self {
        self.header("Accept", "application/json")
    }

    /// `cookie` as `name=value`.
    pub fn cookie(self, cookie: &str) -> Self {
        self.header("Cookie", cookie)
    }

    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body(body.into_bytes(), "application/x-www-form-urlencoded")
    }

    pub fn json(self, value: &serde_json::Value) -> Self {
        self.body(value.to_string().into_bytes(), "application/json")
    }

    pub fn body(mut self, body: Vec<u8>, content_type: &str) -> Self {
        self.body = Bytes::from(body);
        self.header("Content-Type", content_type)
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn location(&self) -> Option<Url> {
        let raw = self
            .headers
            .get(LOCATION)?
            .to_str()
            .expect("Location is ASCII");
        Some(
            Url::parse(raw)
                .unwrap_or_else(|e| panic!("Location {raw:?} is not an absolute URL: {e}")),
        )
    }

    /// The `name=value` part of the `Set-Cookie` for `name`, if one was set.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or_default().trim())
            .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n == name))
            .map(str::to_owned)
    }

    /// A one-line summary for assertion messages.
    pub fn describe(&self) -> String {
        let location = self
            .headers
            .get(LOCATION)
            .map(|l| format!(" Location: {l:?}"))
            .unwrap_or_default();
        let body: String = self.text().chars().take(300).collect();
        format!("{}{location} body: {body:?}", self.status)
    }
}

/// Sends `request` to `127.0.0.1:port` with `Host: host`.
pub async fn send(port: u16, host: &str, request: Request) -> Response {
    let what = format!("{} {} to 127.0.0.1:{port}", request.method, request.target);
    try_send(port, host, request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Like `send`, but a failed connection or exchange is an `Err` (for readiness probes).
pub async fn try_send(port: u16, host: &str, request: Request) -> Result<Response, String> {
    let mut connection = Connection::open(port).await?;
    connection.exchange(host, request).await
}

/// One keep-alive HTTP/1.1 connection to `127.0.0.1:port`, for many requests in turn.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// Sends `request` with `Host: host` and reads the whole answer.
    pub async fn exchange(&mut self, host: &str, request: Request) -> Result<Response, String> {
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(&request.target);
        let headers = builder.headers_mut().expect("fresh builder");
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(host).expect("valid Host"),
        );
        for (name, value) in &request.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|e| panic!("header name {name:?}: {e}")),
                HeaderValue::from_str(value)
                    .unwrap_or_else(|e| panic!("header value {value:?}: {e}")),
            );
        }
        let outgoing = builder
            .body(Full::new(request.body))
            .expect("valid request");
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let response = self
            .sender
            .send_request(outgoing)
            .await
            .map_err(|e| format!("exchange: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("read body: {e}"))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Sends `request` to the host and port of an absolute URL: connects to 127.0.0.1 on its port
/// and uses its host and port as `Host` (every test hostname lives on loopback). Build the
/// request with `path_and_query(url)` to ask for the URL itself.
pub async fn send_to(url: &Url, request: Request) -> Response {
    let port = url.port_or_known_default().expect("URL has a port");
    let host = format!("{}:{port}", url.host_str().expect("URL has a host"));
    send(port, &host, request).await
}

pub fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}
