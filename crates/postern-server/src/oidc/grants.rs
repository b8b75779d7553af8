//! What the provider keeps in the store, so any replica finishes what another began: codes
//! (taken once, 60 s), access tokens, refresh tokens (rotated: each is taken once), and the
//! marks that make reuse visible. Every token is 256 random bits; the store keys are the
//! SHA-256 of the token, never the token.
//!
//! Every token issued from one code belongs to one *family*. A code presented twice, or a
//! refresh token presented after it was rotated, revokes the family: every access and
//! refresh token of it stops working at once (one mark, read on every use).

use std::time::Duration;

use postern_core::UnixSeconds;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token::{SessionToken, random_text};
use postern_store::{Store, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// How long a code may wait for its exchange.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a spent code is remembered, so a second use revokes what the first one got.
const SPENT_CODE_TTL: Duration = Duration::from_secs(600);

/// Who signed in, how and when: carried from the code to every token of its family. The
/// identity is kept as it was at sign-in (a provider's user is in no table to look up).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    pub user: String,
    /// The user's subject id (`oidc::subjects`) when the code was issued; empty in grants
    /// stored before there were subject ids, which are refused (whose they are is unknown).
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    pub level: AuthLevel,
    /// Which factors signed in (`amr`); not recorded in grants stored before it was kept.
    #[serde(default, skip_serializing_if = "WayIn::is_unrecorded")]
    pub way_in: WayIn,
    /// A provider's own user (not a local user, whichever way they signed in).
    pub federated: bool,
    /// The `[oauth.<id>]` a provider's user signed in with (their subject id is its own);
    /// `None` for a local user, and in a provider user's grant stored before it was kept,
    /// which is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub auth_time: UnixSeconds,
    /// A local user's credentials stamp when the code was issued (`user_passwords::InForce`):
    /// a password change, `postern users revoke` or a change of second factors moves it, and
    /// the grant's tokens end as the user's sessions and bearer tokens do. Empty for a
    /// provider's user (a revocation of their name is read against `auth_time`), and in a
    /// local user's grant stored before it was kept, which is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stamp: String,
}

/// An authorization code's grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// The S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    pub subject: Subject,
    /// The generation of the user's consent for the client when the code was issued
    /// (`oidc::consents`): a revocation since moves it, and the code is refused.
    #[serde(default)]
    pub consent_generation: u64,
}

/// What an access or refresh token stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenGrant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub subject: Subject,
    pub family: String,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// The family's absolute end (refresh tokens): rotation never goes past it.
    pub family_expires_at: UnixSeconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Access => "oidc-at:",
            Self::Refresh => "oidc-rt:",
        }
    }
}

fn key(prefix: &str, token: &str) -> String {
    let hash = SessionToken::parse(token).map(|token| token.hash().to_hex());
    // A token of the wrong shape names nothing; its key can never be stored.
    format!("{prefix}{}", hash.unwrap_or_else(|| "-".into()))
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_bytes<T: DeserializeOwned>(bytes: Option<Vec<u8>>) -> Option<T> {
    bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// A new code for `grant`.
pub async fn issue_code(state: &AppState, grant: &CodeGrant) -> Result<String, StoreError> {
    let code = SessionToken::generate();
    state
        .store
        .set_value(&key("oidc-code:", code.as_str()), to_bytes(grant), CODE_TTL)
        .await?;
    Ok(code.as_str().to_owned())
}

/// What redeeming a code found.
pub enum Redeemed {
    Grant(Box<CodeGrant>, String),
    /// Never issued, expired, or spent (then its family is revoked now).
    Nothing,
}

/// Takes the code (once) and names the family its tokens will belong to. A spent code
/// revokes the family its first use started.
pub async fn redeem_code(state: &AppState, code: &str) -> Result<Redeemed, StoreError> {
    let code_key = key("oidc-code:", code);
    let spent_key = key("oidc-code-spent:", code);
    let taken = state.store.take_value(&code_key).await?;
    let Some(grant) = from_bytes::<CodeGrant>(taken) else {
        if let Some(family) = state.store.peek_value(&spent_key).await? {
            let family = String::from_utf8_lossy(&family).into_owned();
            tracing::warn!(
                event = "oidc.code_reused",
                "an authorization code was used twice; its tokens are revoked"
            );
            revoke_family(&state.store, &family, Duration::from_secs(366 * 86_400)).await?;
        }
        return Ok(Redeemed::Nothing);
    };
    let family = random_text::<16>();
    state
        .store
        .set_value(&spent_key, family.clone().into_bytes(), SPENT_CODE_TTL)
        .await?;
    Ok(Redeemed::Grant(Box::new(grant), family))
}

/// Stores a token for `grant`; returns the token.
pub async fn issue_token(
    state: &AppState,
    kind: TokenKind,
    grant: &TokenGrant,
    now: UnixSeconds,
) -> Result<String, StoreError> {
    let token = SessionToken::generate();
    let ttl = Duration::from_secs(grant.expires_at.saturating_sub(now).max(1));
    state
        .store
        .set_value(&key(kind.prefix(), token.as_str()), to_bytes(grant), ttl)
        .await?;
    Ok(token.as_str().to_owned())
}

/// The live grant of a token, unless it expired, was revoked, or its family was.
pub async fn find_token(
    state: &AppState,
    kind: TokenKind,
    token: &str,
    now: UnixSeconds,
) -> Result<Option<TokenGrant>, StoreError> {
    let found = state.store.peek_value(&key(kind.prefix(), token)).await?;
    let Some(grant) = from_bytes::<TokenGrant>(found) else {
        return Ok(None);
    };
    if grant.expires_at <= now || family_revoked(state, &grant.family).await? {
        return Ok(None);
    }
    Ok(Some(grant))
}

/// Takes a refresh token (once). A token taken before (rotated away) revokes its family.
pub async fn take_refresh(
    state: &AppState,
    token: &str,
    now: UnixSeconds,
) -> Result<Option<TokenGrant>, StoreError> {
    let spent_key = key("oidc-rt-spent:", token);
    let taken = state
        .store
        .take_value(&key(TokenKind::Refresh.prefix(), token))
        .await?;
    let Some(grant) = from_bytes::<TokenGrant>(taken) else {
        if let Some(family) = state.store.peek_value(&spent_key).await? {
            let family = String::from_utf8_lossy(&family).into_owned();
            tracing::warn!(
                event = "oidc.refresh_reused",
                "a rotated refresh token was used again; its family is revoked"
            );
            revoke_family(&state.store, &family, Duration::from_secs(366 * 86_400)).await?;
        }
        return Ok(None);
    };
    let remembered = Duration::from_secs(grant.family_expires_at.saturating_sub(now).max(1));
    state
        .store
        .set_value(&spent_key, grant.family.clone().into_bytes(), remembered)
        .await?;
    if grant.expires_at <= now || family_revoked(state, &grant.family).await? {
        return Ok(None);
    }
    Ok(Some(grant))
}

/// Deletes one access token (revocation).
pub async fn delete_token(
    state: &AppState,
    kind: TokenKind,
    token: &str,
) -> Result<(), StoreError> {
    state
        .store
        .take_value(&key(kind.prefix(), token))
        .await
        .map(drop)
}

/// Every token of `family` stops working, for `ttl` (the longest any of them could live).
pub async fn revoke_family(store: &Store, family: &str, ttl: Duration) -> Result<(), StoreError> {
    store
        .mark_once(&format!("oidc-family-revoked:{family}"), ttl)
        .await
        .map(drop)
}

async fn family_revoked(state: &AppState, family: &str) -> Result<bool, StoreError> {
    state
        .store
        .is_marked(&format!("oidc-family-revoked:{family}"))
        .await
}
