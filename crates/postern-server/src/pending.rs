//! The pending login of a TOTP user: the password was right, the code is still to come. It is
//! not a session: it lives under its own key and its own host-only cookie, so no check, token,
//! keepalive or password change can ever read it; only the TOTP step does. Single use: each
//! attempt takes the record out of the store, so two concurrent attempts cannot both use it.

use std::time::Duration;

use http::HeaderMap;
use postern_core::UnixSeconds;
use postern_core::token::SessionToken;
use postern_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::clock::now;
use crate::cookies::{self, PENDING_COOKIE};
use crate::state::AppState;

/// Five minutes from the password to the code.
pub const LIFETIME_SECS: u64 = 300;
/// Wrong codes one pending login may take before it ends.
pub const MAX_CODE_FAILURES: u32 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub user: String,
    /// The failure counter the password step used: the account's, or the device's.
    pub counter: String,
    pub remember: bool,
    /// Validated again when it is followed.
    pub redirect_uri: Option<String>,
    pub failures: u32,
    pub expires_at: UnixSeconds,
}

fn key(token: &SessionToken) -> String {
    format!("pending:{}", token.hash().to_hex())
}

/// Stores a new pending login; returns the `Set-Cookie` value that names it.
pub async fn begin(
    state: &AppState,
    user: &str,
    counter: &str,
    remember: bool,
    redirect_uri: Option<&str>,
) -> Result<String, StoreError> {
    let token = SessionToken::generate();
    let record = PendingLogin {
        user: user.to_owned(),
        counter: counter.to_owned(),
        remember,
        redirect_uri: redirect_uri.map(str::to_owned),
        failures: 0,
        expires_at: now() + LIFETIME_SECS,
    };
    put(state, &token, &record).await?;
    Ok(state
        .session_cookie
        .pending(token.as_str(), i64::try_from(LIFETIME_SECS).unwrap_or(0)))
}

/// The first well-formed pending-login cookie the request carries. A malformed one sent
/// before it (a sibling host's cookie of the same name for the parent domain) must not hide
/// it, as for the session cookie (`cookies::find_map`).
pub fn cookie_token(headers: &HeaderMap) -> Option<SessionToken> {
    cookies::find_map(headers, PENDING_COOKIE, SessionToken::parse)
}

/// Takes the pending login out of the store (it is gone until `put_back`).
pub async fn take(
    state: &AppState,
    token: &SessionToken,
) -> Result<Option<PendingLogin>, StoreError> {
    let Some(bytes) = state.store.take_value(&key(token)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<PendingLogin>(&bytes)
        .ok()
        .filter(|record| record.expires_at > now()))
}

/// Reads the pending login without taking it (what the second step offers depends on it).
pub async fn peek(
    state: &AppState,
    token: &SessionToken,
) -> Result<Option<PendingLogin>, StoreError> {
    let Some(bytes) = state.store.peek_value(&key(token)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<PendingLogin>(&bytes)
        .ok()
        .filter(|record| record.expires_at > now()))
}

/// Returns a pending login to the store for its remaining lifetime.
pub async fn put_back(
    state: &AppState,
    token: &SessionToken,
    record: &PendingLogin,
) -> Result<(), StoreError> {
    if record.expires_at > now() {
        put(state, token, record).await?;
    }
    Ok(())
}

async fn put(
    state: &AppState,
    token: &SessionToken,
    record: &PendingLogin,
) -> Result<(), StoreError> {
    let ttl = Duration::from_secs(record.expires_at.saturating_sub(now()).max(1));
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    // A fresh token's key cannot be taken; `false` (not stored) then only means the login
    // has to start again, which the TOTP step says.
    state
        .store
        .put_value(&key(token), bytes, ttl)
        .await
        .map(|_| ())
}
