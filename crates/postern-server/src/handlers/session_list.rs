//! A user's own sessions: `GET /api/sessions` lists them (created, last seen, IP, user agent,
//! which one is this), `DELETE /api/sessions/{id}` ends one, `DELETE /api/sessions` ends all
//! but the current one. Cookie sessions only; the deletes need the session's CSRF token.

use http::{Request, StatusCode};
use hyper::body::Incoming;
use postern_core::csrf::CsrfBinding;
use postern_core::session::AuthLevel;
use postern_core::token::TokenHash;
use serde_json::{Value, json};

use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions::{self, CurrentSession, Device};
use crate::state::{AppState, now};

/// `GET /api/sessions`.
pub async fn list(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let current = match signed_in(state, request, false).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let hashes = match state.store.user_sessions(&current.record.user).await {
        Ok(hashes) => hashes,
        Err(err) => return respond::store_unavailable(&err),
    };
    let policy = &state.config.session.policy;
    let now = now();
    let mut listed: Vec<(u64, Value)> = Vec::new();
    for hash in hashes {
        let record = match state.store.get_session(&hash).await {
            Ok(Some(record)) if policy.is_live(&record, now) => record,
            Ok(_) => continue,
            Err(err) => return respond::store_unavailable(&err),
        };
        let device: Device = match state.store.peek_value(&sessions::device_key(&hash)).await {
            Ok(bytes) => bytes
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default(),
            Err(err) => return respond::store_unavailable(&err),
        };
        // The idle deadline moves with use (throttled to a tenth of the window), so it tells
        // when the session was last seen, to within that tenth. Remember-me sessions have no
        // idle deadline: their last use is not tracked.
        let last_seen = (!record.remember).then(|| {
            record
                .idle_deadline
                .saturating_sub(policy.idle_timeout)
                .max(record.created_at)
        });
        listed.push((
            record.created_at,
            json!({
                "id": hash.to_hex(),
                "current": hash == current.key,
                "createdAt": record.created_at,
                "lastSeen": last_seen,
                "expiresAt": record.expires_at,
                "ip": device.ip,
                "userAgent": device.user_agent,
                "rememberMe": record.remember,
                "secondFactor": record.level == AuthLevel::TwoFactor,
            }),
        ));
    }
    listed.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    let sessions: Vec<Value> = listed.into_iter().map(|(_, session)| session).collect();
    respond::json_with(StatusCode::OK, "OK", json!({ "sessions": sessions }))
}

/// `DELETE /api/sessions/{id}`: ends one of the caller's sessions (the current one too).
pub async fn end_one(state: &AppState, request: &Request<Incoming>, id: &str) -> HttpResponse {
    let current = match signed_in(state, request, true).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let hashes = match state.store.user_sessions(&current.record.user).await {
        Ok(hashes) => hashes,
        Err(err) => return respond::store_unavailable(&err),
    };
    // Only the caller's own sessions can be named; any other id is simply not found.
    let Some(target) = hashes.into_iter().find(|hash| hash.to_hex() == id) else {
        return respond::json_message(StatusCode::NOT_FOUND, "No such session");
    };
    match end(state, &target, &current.record.user).await {
        Ok(()) => respond::json_message(StatusCode::OK, "Session ended"),
        Err(err) => respond::store_unavailable(&err),
    }
}

/// `DELETE /api/sessions`: ends every other session of the caller.
pub async fn end_others(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let current = match signed_in(state, request, true).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let hashes = match state.store.user_sessions(&current.record.user).await {
        Ok(hashes) => hashes,
        Err(err) => return respond::store_unavailable(&err),
    };
    let mut ended = 0;
    for hash in hashes.into_iter().filter(|hash| *hash != current.key) {
        if let Err(err) = end(state, &hash, &current.record.user).await {
            return respond::store_unavailable(&err);
        }
        ended += 1;
    }
    respond::json_with(
        StatusCode::OK,
        "Other sessions ended",
        json!({ "ended": ended }),
    )
}

async fn end(
    state: &AppState,
    hash: &TokenHash,
    user: &str,
) -> Result<(), postern_store::StoreError> {
    state.store.delete_session(hash, user).await?;
    tracing::info!(target: "audit", event = "session.revoked", user = %user);
    Ok(())
}

/// The caller's session, and for state changes its CSRF token in `X-CSRF-Token` / `X-CSRF`.
async fn signed_in(
    state: &AppState,
    request: &Request<Incoming>,
    needs_csrf: bool,
) -> Result<CurrentSession, HttpResponse> {
    let current = match sessions::current(state, request.headers()).await {
        Ok(Some(current)) => current,
        Ok(None) => {
            return Err(respond::json_message(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
            ));
        }
        Err(err) => return Err(respond::store_unavailable(&err)),
    };
    if needs_csrf {
        let presented = request::csrf_header(request.headers()).unwrap_or_default();
        if !state
            .csrf
            .verify(CsrfBinding::Session(&current.key), presented)
        {
            return Err(respond::json_message(
                StatusCode::FORBIDDEN,
                "Invalid CSRF token",
            ));
        }
    }
    Ok(current)
}
