//! The session seen from a script: who am I (`/api/status`), is my session valid
//! (`GET /api/session`), keep it alive (`POST /api/session/keepalive`), and the CSRF token
//! for state-changing calls (`GET /api/csrf`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use postern_core::csrf::CsrfBinding;
use serde_json::json;

use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::principal;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;

/// `GET /api/status`: 200 with `isLoggedIn` saying whether the cookie names a live session
/// (or, without one, whether `Authorization` carries a valid bearer token or Basic
/// credentials); 503 when the store does not answer.
pub async fn status<B>(state: &AppState, peer: SocketAddr, request: &Request<B>) -> AppResult {
    let session = sessions::current(state, request.headers()).await?;
    let headed = if session.is_none() && request.headers().contains_key(http::header::AUTHORIZATION)
    {
        let client = request::client_ip(state, peer, request.headers()).ip;
        principal::api_caller(state, request.headers(), client).await?
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
    Ok(match session {
        Some(CurrentSession { user, record, .. }) => {
            let identity = user.identity();
            let provider = record.provider().unwrap_or_default();
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
                .map(|caller| caller.user.identity().clone())
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
    })
}

/// `GET /api/session`: 200 with the session's deadlines, or 401.
pub async fn get<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let session = sessions::current(state, request.headers())
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(session_body(StatusCode::OK, "Session valid", &session))
}

/// `POST /api/session/keepalive`: moves the idle deadline (never the absolute one).
pub async fn keepalive<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let session = sessions::current(state, request.headers())
        .await?
        .ok_or(AppError::Unauthorized)?;
    request::require_session_csrf(state, request.headers(), &session.key)?;
    let now = now();
    let policy = state.config.session.policy;
    let moved = policy.keepalive(&session.record, now);
    let ttl = Duration::from_secs(policy.ttl(&moved, now));
    // Only while it still exists: a sign-out since the read above stays done.
    let replaced = state
        .store
        .replace_session_if_present(&session.key, &moved, ttl)
        .await?;
    if !replaced {
        return Err(AppError::Unauthorized);
    }
    // Remembered sessions have no idle timeout: nothing moves, and the answer says so.
    let message = if moved.remember {
        "Session has no idle timeout"
    } else {
        "Session extended"
    };
    Ok(session_body(
        StatusCode::OK,
        message,
        &CurrentSession {
            record: Arc::new(moved),
            ..session
        },
    ))
}

/// `GET /api/csrf`: the token that state-changing calls with this session must carry.
pub async fn csrf<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let session = sessions::current(state, request.headers())
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(respond::json_with(
        StatusCode::OK,
        "OK",
        json!({ "csrfToken": state.csrf.token_for(CsrfBinding::Session(&session.key)) }),
    ))
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
