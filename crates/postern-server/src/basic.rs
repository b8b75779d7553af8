//! HTTP Basic for headless clients: opt-in (`[api] basic_auth`), over HTTPS only unless
//! `allow_insecure_basic`, never for a TOTP user, and argon2 only on a cache miss. The cache
//! is keyed by a keyed hash of the header (a dump of it holds no password) and each entry
//! remembers the password hash it was verified against: a changed password makes it useless.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::users::User;

use crate::authorization::basic_pair;
use crate::credentials::{self, LoginError, Verified};
use crate::state::AppState;
use crate::user_passwords;

pub enum BasicOutcome {
    Verified(Arc<User>),
    /// Wrong, unknown, or not allowed for this user: one answer for all.
    Refused,
    Limited {
        retry_after: u64,
    },
    Busy,
    Unavailable(postern_store::StoreError),
}

/// The cached answer for these credentials, if the cache vouches for them still.
async fn cached(state: &AppState, fingerprint: &[u8; 32]) -> Option<BasicOutcome> {
    let (user, verified_hash) = state.basic_cache.lookup(&state.users(), fingerprint)?;
    match user_passwords::in_force(state, &user).await {
        Ok(now) if now.stamp == verified_hash => Some(BasicOutcome::Verified(user)),
        Ok(_) => None, // the password changed: verify again
        Err(err) => Some(BasicOutcome::Unavailable(err)),
    }
}

/// Whether Basic may be used for a request whose original scheme is (or is not) HTTPS.
pub fn allowed(state: &AppState, https: bool) -> bool {
    let api = &state.config.api;
    api.basic_auth && (https || api.allow_insecure_basic)
}

/// `WWW-Authenticate` for Basic (RFC 7617).
pub fn challenge(state: &AppState) -> String {
    format!(
        "Basic realm=\"{}\", charset=\"UTF-8\"",
        state.config.ui.title.replace('"', "")
    )
}

/// Checks a Basic credential (the base64 part of the header) from `client`.
pub async fn verify(state: &AppState, client: IpAddr, encoded: &str) -> BasicOutcome {
    let fingerprint = state.basic_cache.fingerprint(encoded);
    if let Some(known) = cached(state, &fingerprint).await {
        return known;
    }
    let _turn = state.basic_cache.turn(fingerprint).await;
    // The request before this one with the same credentials may have verified them.
    if let Some(known) = cached(state, &fingerprint).await {
        return known;
    }
    // An undecodable credential is counted like a wrong password.
    let (login, password) = basic_pair(encoded).unwrap_or_default();
    let stamp_before = match credentials::stamp_before_check(state, &login).await {
        Ok(stamp) => stamp,
        Err(err) => return BasicOutcome::Unavailable(err),
    };
    match credentials::authenticate(state, client, &login, password, &[]).await {
        // A second factor cannot be skipped: same answer as a wrong password, and counted.
        Ok(Verified::PasswordOnly(user, attempt)) => {
            match attempt
                .failed(state, "basic.totp_user", Some(&user.name))
                .await
            {
                Ok(()) => BasicOutcome::Refused,
                Err(err) => BasicOutcome::Unavailable(err),
            }
        }
        Ok(Verified::SignedIn(user, attempt)) => {
            if let Err(err) = credentials::password_signed_in(state, client, &user, attempt).await {
                return BasicOutcome::Unavailable(err);
            }
            if let Some(stamp) = stamp_before {
                state.basic_cache.remember(fingerprint, &user, stamp);
            }
            BasicOutcome::Verified(user)
        }
        Err(LoginError::Invalid) => BasicOutcome::Refused,
        Err(LoginError::Limited { retry_after }) => BasicOutcome::Limited { retry_after },
        Err(LoginError::Busy) => BasicOutcome::Busy,
        Err(LoginError::Unavailable(err)) => BasicOutcome::Unavailable(err),
    }
}
