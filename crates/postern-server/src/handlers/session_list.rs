//! A user's own sessions: `GET /api/sessions` lists them (created, last seen, IP, user agent,
//! which one is this), `DELETE /api/sessions/{id}` ends one, `DELETE /api/sessions` ends all
//! but the current one. Cookie sessions only; the deletes need the session's CSRF token.

use http::{Request, StatusCode};
use postern_core::session::{AuthLevel, SessionRecord};
use postern_core::token::TokenHash;
use postern_store::StoreError;
use serde_json::{Value, json};

use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::request;
use crate::respond;
use crate::sessions::{self, CurrentSession, Device};
use crate::state::AppState;

/// One live session of a user, as the list and the account page show it.
pub struct SessionInfo {
    pub key: TokenHash,
    pub current: bool,
    pub record: SessionRecord,
    /// When it was last used, to within a tenth of the idle window; `None` for a
    /// remember-me session, whose use is not tracked.
    pub last_seen: Option<u64>,
    pub device: Device,
}

/// The caller's live sessions, newest first.
pub async fn sessions_of(
    state: &AppState,
    caller: &CurrentSession,
) -> Result<Vec<SessionInfo>, StoreError> {
    let hashes = state.store.user_sessions(&caller.record.user).await?;
    let policy = &state.config.session.policy;
    let now = now();
    let mut listed = Vec::new();
    for hash in hashes {
        let Some(record) = state
            .store
            .get_session(&hash)
            .await?
            .filter(|record| policy.is_live(record, now) && same_owner(record, &caller.record))
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
        listed.push(SessionInfo {
            key: hash,
            current: hash == caller.key,
            record: SessionRecord::clone(&record),
            last_seen,
            device,
        });
    }
    listed.sort_by_key(|session| std::cmp::Reverse(session.record.created_at));
    Ok(listed)
}

/// `GET /api/sessions`.
pub async fn list<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let current = signed_in(state, request, false).await?;
    let sessions: Vec<Value> = sessions_of(state, &current)
        .await?
        .into_iter()
        .map(|session| {
            json!({
                "id": session.key.to_hex(),
                "current": session.current,
                "createdAt": session.record.created_at,
                "lastSeen": session.last_seen,
                "expiresAt": session.record.expires_at,
                "ip": session.device.ip,
                "userAgent": session.device.user_agent,
                "method": session.device.method,
                "rememberMe": session.record.remember,
                "secondFactor": session.record.level == AuthLevel::TwoFactor,
            })
        })
        .collect();
    Ok(respond::json_with(
        StatusCode::OK,
        "OK",
        json!({ "sessions": sessions }),
    ))
}

/// `DELETE /api/sessions/{id}`: ends one of the caller's sessions (the current one too).
pub async fn end_one<B>(state: &AppState, request: &Request<B>, id: &str) -> AppResult {
    let current = signed_in(state, request, true).await?;
    if !end_session_of(state, &current, id).await? {
        return Err(AppError::refused(StatusCode::NOT_FOUND, "No such session"));
    }
    Ok(respond::json_message(StatusCode::OK, "Session ended"))
}

/// Ends the caller's session `id` (its token hash in hex); false when they have none by that
/// id. Only the caller's own sessions can be named; any other id is simply not found.
pub async fn end_session_of(
    state: &AppState,
    caller: &CurrentSession,
    id: &str,
) -> Result<bool, StoreError> {
    for hash in state.store.user_sessions(&caller.record.user).await? {
        if hash.to_hex() == id && owned_by(state, &hash, caller).await? {
            end(state, &hash, &caller.record.user).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// `DELETE /api/sessions`: ends every other session of the caller.
pub async fn end_others<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let current = signed_in(state, request, true).await?;
    let ended = end_other_sessions_of(state, &current).await?;
    Ok(respond::json_with(
        StatusCode::OK,
        "Other sessions ended",
        json!({ "ended": ended }),
    ))
}

/// Ends every session of the caller but the current one; returns how many ended.
pub async fn end_other_sessions_of(
    state: &AppState,
    caller: &CurrentSession,
) -> Result<usize, StoreError> {
    let mut ended = 0;
    for hash in state.store.user_sessions(&caller.record.user).await? {
        if hash != caller.key && owned_by(state, &hash, caller).await? {
            end(state, &hash, &caller.record.user).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// Whether the session `hash` is still there and the caller's own.
async fn owned_by(
    state: &AppState,
    hash: &TokenHash,
    caller: &CurrentSession,
) -> Result<bool, StoreError> {
    let record = state.store.get_session(hash).await?;
    Ok(record.is_some_and(|record| same_owner(&record, &caller.record)))
}

/// Whether a session the store lists under the owner's name is the owner's: signed in the
/// same way (locally, or through the same `[oauth.<id>]`). The store's index of a user's
/// sessions is by name alone (so the name matches already), and two providers may give the
/// same name to two people (who are two OpenID subjects too, docs/oidc-provider.md): one must
/// not list or end the other's sessions.
fn same_owner(session: &SessionRecord, owner: &SessionRecord) -> bool {
    session.provider() == owner.provider()
}

async fn end(state: &AppState, hash: &TokenHash, user: &str) -> Result<(), StoreError> {
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
