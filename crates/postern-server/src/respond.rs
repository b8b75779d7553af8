//! Building responses: JSON bodies in tinyauth's shape (`{"status": <code>, "message": ...}`),
//! pages with their security headers, redirects. Every handler answers through these helpers,
//! so the headers that protect a response are decided here and nowhere else.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value, json};

pub type Body = Full<Bytes>;
pub type HttpResponse = Response<Body>;

/// Pages: no scripts at all, styles only from postern itself, never framed.
/// Scripts only from postern itself (the passkey script, a static asset), which may call
/// postern's own API; never inline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

fn base(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An answer with no body (`Content-Length: 0`) and `Cache-Control: no-store`, for a reader
/// that only looks at the status (the token revocation's 200). A check's allowed answer has
/// the same two, from the headers rendered with its identity (`Identity::answer_headers`).
pub fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `response` with its body (and the body's `Content-Type`) taken away, every other header
/// kept.
pub fn without_body(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
        .headers_mut()
        .remove(header::X_CONTENT_TYPE_OPTIONS);
    *response.body_mut() = Full::new(Bytes::new());
    response
}

/// `{"status": <code>, "message": <message>}`.
pub fn json_message(status: StatusCode, message: &str) -> HttpResponse {
    json(
        status,
        json!({ "status": status.as_u16(), "message": message }),
    )
}

/// `{"status": <code>, "message": <message>, ...fields}`.
pub fn json_with(status: StatusCode, message: &str, fields: Value) -> HttpResponse {
    let mut body = Map::new();
    body.insert("status".into(), status.as_u16().into());
    body.insert("message".into(), message.into());
    if let Value::Object(extra) = fields {
        body.extend(extra);
    }
    json(status, Value::Object(body))
}

pub fn json(status: StatusCode, body: Value) -> HttpResponse {
    base(status, "application/json", body.to_string())
}

/// A rendered page with the page security headers.
pub fn page(status: StatusCode, html: String) -> HttpResponse {
    let mut response = base(status, "text/html; charset=utf-8", html);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Login URLs carry redirect targets; don't leak them to other sites.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A redirect to an already validated (or server-built) URL.
pub fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    let mut response = base(status, "text/plain; charset=utf-8", Bytes::new());
    set_location(&mut response, location);
    response
}

/// Sets `Location`; a URL that cannot be a header value (it never should: every one is built
/// or validated by postern) becomes a 500 rather than a broken header.
pub fn set_location(response: &mut HttpResponse, location: &str) {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            tracing::error!(
                location_len = location.len(),
                "refused to send a Location header that is not a valid header value"
            );
            *response = json_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    }
}

/// `Retry-After` in seconds, for 429 answers.
pub fn set_retry_after(response: &mut HttpResponse, seconds: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// Appends a `Set-Cookie` header per cookie.
pub fn add_cookies(response: &mut HttpResponse, cookies: &[String]) {
    for cookie in cookies {
        add_cookie(response, cookie);
    }
}

pub fn add_cookie(response: &mut HttpResponse, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A static asset, cached for a year (its URL changes with its content).
pub fn asset(content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = base(StatusCode::OK, content_type, body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

pub fn not_found() -> HttpResponse {
    json_message(StatusCode::NOT_FOUND, "Not Found")
}

pub fn method_not_allowed(allowed: &'static str) -> HttpResponse {
    let mut response = json_message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// Unexpected failures: the detail goes to the log, never to the client.
pub fn internal_error(context: &str, detail: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(context, error = %detail, "internal error");
    json_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}
