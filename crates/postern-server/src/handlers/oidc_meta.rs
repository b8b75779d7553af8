//! The provider's published documents: discovery and the JWKS. Both are rendered at start
//! (`oidc::Provider`); without `[oidc]` they do not exist (404).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::respond::{self, HttpResponse};
use crate::state::AppState;

pub fn discovery(state: &AppState) -> HttpResponse {
    published(state, |provider| provider.discovery.clone())
}

pub fn jwks(state: &AppState) -> HttpResponse {
    published(state, |provider| provider.jwks.clone())
}

fn published(state: &AppState, document: impl Fn(&crate::oidc::Provider) -> Bytes) -> HttpResponse {
    let Some(provider) = &state.oidc else {
        return respond::json_message(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut response = Response::new(Full::new(document(provider)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Relying parties on other origins read both (a browser-based client fetches the JWKS).
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // Short, so a rotation (a key added) reaches every client within minutes.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
