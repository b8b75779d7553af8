//! The session seen from a script: who am I (`/api/status`), is my session valid
//! (`GET /api/session`), keep it alive (`POST /api/session/keepalive`), and the CSRF token
//! for state-changing calls (`GET /api/csrf`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use postern_core::csrf::CsrfBinding;
use serde_json::json;

use crate::principal;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions::{self, CurrentSession};
use crate::state::{AppState, now};

fn unauthorized() -> HttpResponse {
    respond::json_message(StatusCode::UNAUTHORIZED, "Unauthorized")
}

/// `GET /api/status`: 200 with `isLoggedIn` saying whether the cookie names a live session
/// (or, without one, whether `Authorization` carries a valid bearer token or Basic
/// credentials); 503 when the store does not answer.
pub async fn status(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<Incoming>,
) -> HttpResponse {
    let session = match sessions::current(state, request.headers()).await {
        Ok(session) => session,
        Err(err) => return respond::store_unavailable(&err),
    };
    let headed = if session.is_none() && request.headers().contains_key(http::header::AUTHORIZATION)
    {
        let client = request::client_ip(state, peer, request.headers()).ip;
        match principal::api_caller(state, request.headers(), client).await {
            Ok(found) => found,
            Err(response) => return response,
        }
    } else {
        None
    };
    let title = &state.config.ui.title;
    let providers: Vec<&str> = state
        .config
        .oauth
        .iter()
        .map(|provider| provider.id.as_str())
        .collect();
    match session {
        Some(CurrentSession { user, record, .. }) => {
            let identity = user.identity();
            let provider = record
                .external
                .as_ref()
                .map_or("", |external| external.provider.as_str());
            respond::json_with(
                StatusCode::OK,
                "Authenticated",
                json!({
                    "isLoggedIn": true,
                    "username": identity.user,
                    "name": identity.name,
                    "email": identity.email,
                    "groups": identity.groups,
                    "oauth": record.external.is_some(),
                    "provider": provider,
                    "totpPending": false,
                    "configuredProviders": providers,
                    "title": title,
                }),
            )
        }
        None if headed.is_some() => {
            let identity = headed
                .as_ref()
                .map(|(user, _)| user.identity().clone())
                .unwrap_or_default();
            respond::json_with(
                StatusCode::OK,
                "Authenticated",
                json!({
                    "isLoggedIn": true,
                    "username": identity.user,
                    "name": identity.name,
                    "email": identity.email,
                    "groups": identity.groups,
                    "oauth": false,
                    "provider": "",
                    "totpPending": false,
                    "configuredProviders": providers,
                    "title": title,
                }),
            )
        }
        None => respond::json_with(
            StatusCode::OK,
            "Unauthenticated",
            json!({
                "isLoggedIn": false,
                "username": "",
                "name": "",
                "email": "",
                "groups": [],
                "oauth": false,
                "provider": "",
                // The password step of a TOTP user is done (its cookie is present; whether it
                // is still live is for `POST /api/totp` to say).
                "totpPending": crate::pending::cookie_token(request.headers()).is_some(),
                "configuredProviders": providers,
                "title": title,
            }),
        ),
    }
}

/// `GET /api/session`: 200 with the session's deadlines, or 401.
pub async fn get(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    match sessions::current(state, request.headers()).await {
        Ok(Some(session)) => session_body(StatusCode::OK, "Session valid", &session),
        Ok(None) => unauthorized(),
        Err(err) => respond::store_unavailable(&err),
    }
}

/// `POST /api/session/keepalive`: moves the idle deadline (never the absolute one).
pub async fn keepalive(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let session = match sessions::current(state, request.headers()).await {
        Ok(Some(session)) => session,
        Ok(None) => return unauthorized(),
        Err(err) => return respond::store_unavailable(&err),
    };
    let presented = request::csrf_header(request.headers()).unwrap_or_default();
    if !state
        .csrf
        .verify(CsrfBinding::Session(&session.key), presented)
    {
        return respond::json_message(StatusCode::FORBIDDEN, "Invalid CSRF token");
    }
    let now = now();
    let policy = state.config.session.policy;
    let moved = policy.keepalive(&session.record, now);
    let ttl = Duration::from_secs(policy.ttl(&moved, now));
    if let Err(err) = state.store.put_session(&session.key, &moved, ttl).await {
        return respond::store_unavailable(&err);
    }
    // Remembered sessions have no idle timeout: nothing moves, and the answer says so.
    let message = if moved.remember {
        "Session has no idle timeout"
    } else {
        "Session extended"
    };
    session_body(
        StatusCode::OK,
        message,
        &CurrentSession {
            record: Arc::new(moved),
            ..session
        },
    )
}

/// `GET /api/csrf`: the token that state-changing calls with this session must carry.
pub async fn csrf(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    match sessions::current(state, request.headers()).await {
        Ok(Some(session)) => respond::json_with(
            StatusCode::OK,
            "OK",
            json!({ "csrfToken": state.csrf.token_for(CsrfBinding::Session(&session.key)) }),
        ),
        Ok(None) => unauthorized(),
        Err(err) => respond::store_unavailable(&err),
    }
}

fn session_body(status: StatusCode, message: &str, session: &CurrentSession) -> HttpResponse {
    let record = &session.record;
    respond::json_with(
        status,
        message,
        json!({
            "username": session.user.name,
            "createdAt": record.created_at,
            "idleExpiresAt": record.idle_deadline,
            "expiresAt": record.expires_at,
            "rememberMe": record.remember,
        }),
    )
}
