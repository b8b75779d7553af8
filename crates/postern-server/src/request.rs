//! Reading what a request carries: a size- and time-limited body, form and JSON payloads, the
//! presented CSRF token, the client's IP.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use postern_core::client_ip::ClientIp;
use postern_core::csrf::CsrfBinding;
use postern_core::forwarded::Scheme;
use postern_core::headers::RequestHeaders;
use postern_core::token::TokenHash;

use crate::error::AppError;
use crate::state::AppState;

/// A request body postern can read: hyper's `Incoming` on a connection, any other body (a
/// `Full<Bytes>`) when a test calls the router in-process.
pub trait RequestBody: Body<Data = Bytes, Error: Into<BoxError>> {}

impl<B: Body<Data = Bytes, Error: Into<BoxError>>> RequestBody for B {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Login forms and JSON bodies are tiny; anything larger is refused with 413.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// A body must arrive within this time (slow-body clients hold a connection otherwise).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Collects the body, or says why not: 413, 400 or 408.
pub async fn read_body<B: RequestBody>(
    request: Request<B>,
) -> Result<(http::request::Parts, Bytes), AppError> {
    let (parts, body) = request.into_parts();
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    match collected {
        Ok(Ok(body)) => Ok((parts, body.to_bytes())),
        Ok(Err(err))
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(AppError::refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ))
        }
        Ok(Err(_)) => Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "Could not read the request body",
        )),
        Err(_) => Err(AppError::refused(
            StatusCode::REQUEST_TIMEOUT,
            "Request body timed out",
        )),
    }
}

/// True when `Content-Type` is `essence` (parameters such as `charset` ignored).
pub fn content_type_is(headers: &HeaderMap, essence: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(essence))
}

/// The CSRF token a request presents in a header (`X-CSRF-Token`, or Kirby's `X-CSRF`).
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    ["x-csrf-token", "x-csrf"]
        .into_iter()
        .find_map(|name| headers.get(name).and_then(|value| value.to_str().ok()))
}

/// A state change with a session cookie must carry that session's CSRF token in a header.
pub fn require_session_csrf(
    state: &AppState,
    headers: &HeaderMap,
    session: &TokenHash,
) -> Result<(), AppError> {
    let presented = csrf_header(headers).unwrap_or_default();
    if state.csrf.verify(CsrfBinding::Session(session), presented) {
        Ok(())
    } else {
        Err(AppError::BadCsrf)
    }
}

/// Browser pages are wanted when `Accept` names text/html.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).is_some_and(|accept| {
        accept
            .as_bytes()
            .windows(9)
            .any(|window| window.eq_ignore_ascii_case(b"text/html"))
    })
}

/// Looked up as a `HeaderName`: a lookup by `&str` parses the name again on every check.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client IP through `trusted_proxies`; warns once per misconfigured peer.
pub fn client_ip<'a>(
    state: &AppState,
    peer: SocketAddr,
    headers: impl Into<RequestHeaders<'a>>,
) -> ClientIp {
    let forwarded_for = headers.into().all(&X_FORWARDED_FOR);
    let found = state
        .config
        .trusted_proxies
        .client_ip(peer.ip(), forwarded_for);
    if found.untrusted_forwarding && state.first_untrusted_forwarding(peer.ip()) {
        tracing::warn!(
            peer = %peer.ip(),
            "a peer outside `trusted_proxies` sent X-Forwarded-For; its header is ignored. \
             If this is your reverse proxy, add its address to `trusted_proxies`"
        );
    }
    found
}

/// Whether the request a proxy asks about came over HTTPS, as far as a security decision may
/// believe it (Basic's HTTPS rule). The scheme a proxy reports (`X-Forwarded-Proto`,
/// `X-Original-URL`) counts only from a peer in `trusted_proxies`; any other peer could be the
/// client itself, so only postern's own listener counts: TLS or not.
pub fn forwarded_https(state: &AppState, peer: SocketAddr, claimed: Scheme) -> bool {
    if state.config.trusted_proxies.contains(peer.ip()) {
        claimed == Scheme::Https
    } else {
        state.config.server.tls.is_some()
    }
}

/// Whether a form's POST came from a page of this origin, as the browser tells it in
/// `Sec-Fetch-Site` (every current browser sends it; `none` is the user's own action, such as
/// a reload). A request without it passes: an older browser or a script, still held to the
/// form's CSRF token. `Origin` cannot tell the same: postern's pages send `Referrer-Policy:
/// no-referrer`, under which a browser sends `Origin: null` with every form, as any other
/// site's page can.
pub fn sent_from_own_page(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        None => true,
        Some(site) => matches!(site.as_bytes(), b"same-origin" | b"none"),
    }
}

/// The request's `Origin` matches `app_url` (or there is none).
pub fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => origin.to_str().is_ok_and(|origin| {
            origin.trim_end_matches('/') == state.config.app_url.origin().ascii_serialization()
        }),
    }
}

/// A JSON API call's body, after the checks that stand in for a CSRF token there: a
/// cross-site page cannot send `Content-Type: application/json` without a CORS preflight
/// (which postern never grants), and a browser always sends `Origin` on a cross-site POST.
/// `Err` says why not: 403, 413, 408 or 400.
pub async fn json_body<T: serde::de::DeserializeOwned, B: RequestBody>(
    state: &AppState,
    request: Request<B>,
) -> Result<(http::request::Parts, T), AppError> {
    if !content_type_is(request.headers(), "application/json") {
        return Err(AppError::refused(
            StatusCode::FORBIDDEN,
            "Content-Type must be application/json",
        ));
    }
    if !origin_allowed(state, request.headers()) {
        return Err(AppError::refused(
            StatusCode::FORBIDDEN,
            "Origin not allowed",
        ));
    }
    let (parts, body) = read_body(request).await?;
    match serde_json::from_slice::<T>(&body) {
        Ok(value) => Ok((parts, value)),
        Err(err) => Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON body: {err}"),
        )),
    }
}
