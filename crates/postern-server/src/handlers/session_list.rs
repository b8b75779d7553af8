//! A user's own sessions: `GET /api/sessions` lists them (created, last seen, IP, user agent,
//! which one is this), `DELETE /api/sessions/{id}` ends one, `DELETE /api/sessions` ends all
//! but the current one. Cookie sessions only; the deletes need the session's CSRF token.

use http::{Request, StatusCode};
use postern_core::session::AuthLevel;
use postern_core::token::TokenHash;
use serde_json::{Value, json};

use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::request;
use crate::respond;
use crate::sessions::{self, CurrentSession, Device};
use crate::state::AppState;

/// `GET /api/sessions`.
pub async fn list<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let current = signed_in(state, request, false).await?;
    let hashes = state.store.user_sessions(&current.record.user).await?;
    let policy = &state.config.session.policy;
    let now = now();
    let mut listed: Vec<(u64, Value)> = Vec::new();
    for hash in hashes {
        let Some(record) = state
            .store
            .get_session(&hash)
            .await?
            .filter(|record| policy.is_live(record, now))
        else {
            continue;
        };
        let device: Device = state
            .store
            .peek_value(&sessions::device_key(&hash))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
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
    Ok(respond::json_with(
        StatusCode::OK,
        "OK",
        json!({ "sessions": sessions }),
    ))
}

/// `DELETE /api/sessions/{id}`: ends one of the caller's sessions (the current one too).
pub async fn end_one<B>(state: &AppState, request: &Request<B>, id: &str) -> AppResult {
    let current = signed_in(state, request, true).await?;
    let hashes = state.store.user_sessions(&current.record.user).await?;
    // Only the caller's own sessions can be named; any other id is simply not found.
    let Some(target) = hashes.into_iter().find(|hash| hash.to_hex() == id) else {
        return Err(AppError::refused(StatusCode::NOT_FOUND, "No such session"));
    };
    end(state, &target, &current.record.user).await?;
    Ok(respond::json_message(StatusCode::OK, "Session ended"))
}

/// `DELETE /api/sessions`: ends every other session of the caller.
pub async fn end_others<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let current = signed_in(state, request, true).await?;
    let hashes = state.store.user_sessions(&current.record.user).await?;
    let mut ended = 0;
    for hash in hashes.into_iter().filter(|hash| *hash != current.key) {
        end(state, &hash, &current.record.user).await?;
        ended += 1;
    }
    Ok(respond::json_with(
        StatusCode::OK,
        "Other sessions ended",
        json!({ "ended": ended }),
    ))
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
async fn signed_in<B>(
    state: &AppState,
    request: &Request<B>,
    needs_csrf: bool,
) -> Result<CurrentSession, AppError> {
    let current = sessions::current(state, request.headers())
        .await?
        .ok_or(AppError::Unauthorized)?;
    if needs_csrf {
        request::require_session_csrf(state, request.headers(), &current.key)?;
    }
    Ok(current)
}
