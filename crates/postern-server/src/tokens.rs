//! Access and refresh tokens (seed 001's pair). One login makes one family; refreshing spends
//! the refresh token (first use wins, on any replica) and issues a new pair in the same family
//! up to the family's absolute end. A refresh token used twice means it was copied: the whole
//! family is revoked. Revocation is a store mark per family, so a bearer check costs one read.

use std::sync::Arc;
use std::time::Duration;

use postern_core::UnixSeconds;
use postern_core::jwt::{AUDIENCE, Claims, TokenType};
use postern_core::session::{AuthLevel, Origin, WayIn};
use postern_core::token::random_text;
use postern_core::users::User;
use postern_store::StoreError;
use serde_json::{Value, json};

use crate::clock::now;
use crate::state::AppState;
use crate::user_passwords;

pub struct Issued {
    pub access: String,
    pub refresh: String,
    pub expires_in: u64,
}

impl Issued {
    /// The body of `POST /api/auth/login` and `/api/auth/refresh`.
    pub fn body(&self) -> Value {
        json!({
            "status": "success",
            "access_token": self.access,
            "refresh_token": self.refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        })
    }
}

/// Why a refresh token gives no new pair.
pub enum RefreshError {
    Invalid,
    /// Already used: the family is now revoked.
    Reused,
    Revoked,
    UnknownUser,
    /// The store did not answer: nothing is issued.
    Unavailable(StoreError),
}

impl From<StoreError> for RefreshError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(err)
    }
}

fn family_key(family: &str) -> String {
    format!("revoked-family:{family}")
}

fn spent_key(jti: &str) -> String {
    format!("refresh-spent:{jti}")
}

/// A new pair: a new family (at login), or the next pair of `family` (at refresh). `pwd` is
/// the stamp of the credentials in force (`user_passwords::InForce`).
pub fn issue(
    state: &AppState,
    user: &User,
    pwd: &str,
    mfa: bool,
    family: Option<(&str, UnixSeconds)>,
) -> Issued {
    let now = now();
    let api = &state.config.api;
    let (fam, fam_exp) = match family {
        Some((fam, fam_exp)) => (fam.to_owned(), fam_exp),
        None => (random_text::<16>(), now + api.refresh_token_ttl.as_secs()),
    };
    let access_exp = (now + api.access_token_ttl.as_secs()).min(fam_exp);
    let claims = |kind: TokenType, exp: UnixSeconds| Claims {
        sub: user.name.clone(),
        iat: now,
        nbf: now,
        exp,
        jti: random_text::<16>(),
        kind,
        iss: state.jwt.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        fam: fam.clone(),
        fam_exp,
        mfa,
        pwd: pwd.to_owned(),
    };
    Issued {
        access: state.jwt.sign(&claims(TokenType::Access, access_exp)),
        refresh: state.jwt.sign(&claims(TokenType::Refresh, fam_exp)),
        expires_in: access_exp.saturating_sub(now),
    }
}

/// Whether the token family was revoked (a logout with one of its tokens, or a refresh reuse).
pub async fn family_revoked(state: &AppState, family: &str) -> Result<bool, StoreError> {
    state.store.is_marked(&family_key(family)).await
}

/// The user and level of a valid, unrevoked access token whose user still exists, and the
/// sign-in its family stands for.
pub async fn bearer(
    state: &AppState,
    token: &str,
) -> Result<Option<(Arc<User>, AuthLevel, Origin)>, StoreError> {
    let Ok(claims) = state.jwt.verify(token, TokenType::Access, now()) else {
        return Ok(None);
    };
    let Some(user) = state.user(&claims.sub) else {
        return Ok(None);
    };
    if state.store.is_marked(&family_key(&claims.fam)).await?
        || !same_password(state, &user, &claims).await?
    {
        return Ok(None);
    }
    Ok(Some((user, claims.level(), origin(state, &claims))))
}

/// The login a token family began with. The tokens do not carry its time: the family's end
/// less `refresh_token_ttl` is that time while the setting is unchanged (a shorter setting
/// since makes it later, so it is bounded by the token's own issue, itself after the login).
/// A token login is the password (and a TOTP code at two factors).
fn origin(state: &AppState, claims: &Claims) -> Origin {
    let refresh_ttl = state.config.api.refresh_token_ttl.as_secs();
    Origin {
        way_in: WayIn::Password,
        at: claims.fam_exp.saturating_sub(refresh_ttl).min(claims.iat),
        ends_by: claims.fam_exp,
    }
}

/// Spends a refresh token and issues the next pair.
pub async fn refresh(state: &AppState, token: &str) -> Result<Issued, RefreshError> {
    let now = now();
    let claims = match state.jwt.verify(token, TokenType::Refresh, now) {
        Ok(claims) => claims,
        Err(_) => return Err(RefreshError::Invalid),
    };
    if state.store.is_marked(&family_key(&claims.fam)).await? {
        return Err(RefreshError::Revoked);
    }
    let ttl = Duration::from_secs(claims.exp.saturating_sub(now).max(1));
    if !state.store.mark_once(&spent_key(&claims.jti), ttl).await? {
        revoke_family(state, &claims.fam, claims.fam_exp).await?;
        tracing::warn!(target: "audit", event = "token.reuse", user = %claims.sub, "a refresh token was used twice: its family is revoked");
        return Err(RefreshError::Reused);
    }
    let Some(user) = state.user(&claims.sub) else {
        return Err(RefreshError::UnknownUser);
    };
    if !same_password(state, &user, &claims).await? {
        return Err(RefreshError::Revoked);
    }
    tracing::info!(target: "audit", event = "token.refresh", user = %user.name);
    Ok(issue(
        state,
        &user,
        &claims.pwd,
        claims.mfa,
        Some((&claims.fam, claims.fam_exp)),
    ))
}

/// Ends every token of the family `token` belongs to, if it is one of postern's.
pub async fn revoke(state: &AppState, token: &str) -> Result<bool, StoreError> {
    let now = now();
    let claims = state
        .jwt
        .verify(token, TokenType::Access, now)
        .or_else(|_| state.jwt.verify(token, TokenType::Refresh, now));
    match claims {
        Ok(claims) => {
            revoke_family(state, &claims.fam, claims.fam_exp).await?;
            tracing::info!(target: "audit", event = "token.revoked", user = %claims.sub);
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// The password is the one the token's login used.
async fn same_password(state: &AppState, user: &User, claims: &Claims) -> Result<bool, StoreError> {
    Ok(user_passwords::in_force(state, user).await?.stamp == claims.pwd)
}

async fn revoke_family(
    state: &AppState,
    family: &str,
    until: UnixSeconds,
) -> Result<(), StoreError> {
    let ttl = Duration::from_secs(until.saturating_sub(now()).max(1));
    state
        .store
        .mark_once(&family_key(family), ttl)
        .await
        .map(|_| ())
}
