//! One sign-in through a provider, from the redirect to the callback: its `state`, PKCE
//! verifier and nonce, kept in the store (so the callback may land on any replica) under the
//! SHA-256 of the state, for ten minutes, and taken out once (a replayed callback finds
//! nothing). It is bound to the browser that started it by the `postern_oauth` cookie: the
//! record holds the cookie's hash, and a callback without the same cookie is refused.

use std::time::Duration;

use http::HeaderMap;
use oauth2::{CsrfToken, PkceCodeChallenge};
use postern_core::UnixSeconds;
use postern_core::token::{SessionToken, TokenHash, random_text};
use postern_store::StoreError;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::now;
use crate::cookies::{self, OAUTH_COOKIE};
use crate::state::AppState;

/// Ten minutes from the redirect to the callback.
pub const LIFETIME_SECS: u64 = 600;

#[derive(Debug, Serialize, Deserialize)]
pub struct Transaction {
    /// The `[oauth.<id>]` the sign-in was started for.
    pub provider: String,
    /// Hex SHA-256 of the browser's `postern_oauth` cookie.
    pub browser: String,
    pub pkce_verifier: String,
    pub nonce: String,
    /// Validated again when it is followed.
    pub redirect_uri: Option<String>,
    pub expires_at: UnixSeconds,
}

/// What the authorization URL needs, and the cookie to set (when the browser had none).
pub struct Started {
    pub state: CsrfToken,
    pub pkce_challenge: PkceCodeChallenge,
    pub nonce: String,
    pub set_cookie: Option<String>,
}

fn key(state: &str) -> String {
    format!(
        "{}{}",
        postern_store::OAUTH_TRANSACTION_VALUE,
        TokenHash::of(state.as_bytes()).to_hex()
    )
}

/// Stores a new transaction. A browser that already has a `postern_oauth` cookie keeps it, so
/// sign-ins started in two tabs both complete.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    provider: &str,
    redirect_uri: Option<&str>,
) -> Result<Started, StoreError> {
    let existing = browser_cookie(headers);
    let browser = existing.clone().unwrap_or_else(SessionToken::generate);
    // 32 random bytes for the verifier, as RFC 7636 recommends.
    let (pkce_challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(32);
    let transaction = Transaction {
        provider: provider.to_owned(),
        browser: browser.hash().to_hex(),
        pkce_verifier: verifier.into_secret(),
        nonce: random_text::<16>(),
        redirect_uri: redirect_uri.map(str::to_owned),
        expires_at: now() + LIFETIME_SECS,
    };
    // 256 bits: unguessable, and unique enough that NX never finds a previous value.
    let state_value = CsrfToken::new_random_len(32);
    let bytes = serde_json::to_vec(&transaction).unwrap_or_default();
    let stored = state
        .store
        .put_value(
            &key(state_value.secret()),
            bytes,
            Duration::from_secs(LIFETIME_SECS),
        )
        .await?;
    if !stored {
        // Only a collision of 256 random bits could get here; never hand out an unstored state.
        return Err(StoreError::unavailable("the sign-in could not be stored"));
    }
    let lifetime = i64::try_from(LIFETIME_SECS).unwrap_or(0);
    Ok(Started {
        state: state_value,
        pkce_challenge,
        nonce: transaction.nonce,
        set_cookie: existing
            .is_none()
            .then(|| state.session_cookie.oauth(browser.as_str(), lifetime)),
    })
}

/// Takes the transaction named by `state_value` out of the store, if it is there and live.
pub async fn take(state: &AppState, state_value: &str) -> Result<Option<Transaction>, StoreError> {
    let Some(bytes) = state.store.take_value(&key(state_value)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Transaction>(&bytes)
        .ok()
        .filter(|transaction| transaction.expires_at > now()))
}

/// Whether the request comes from the browser that started `transaction`.
pub fn same_browser(headers: &HeaderMap, transaction: &Transaction) -> bool {
    browser_cookie(headers).is_some_and(|cookie| {
        bool::from(
            cookie
                .hash()
                .to_hex()
                .as_bytes()
                .ct_eq(transaction.browser.as_bytes()),
        )
    })
}

fn browser_cookie(headers: &HeaderMap) -> Option<SessionToken> {
    cookies::find_map(headers, OAUTH_COOKIE, SessionToken::parse)
}
