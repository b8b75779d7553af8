//! Checking a username (or email) and password. Unknown users are verified against a dummy
//! hash of the same cost, so neither the answer nor its timing tells them apart from a wrong
//! password.

use std::sync::Arc;

use postern_core::users::User;

use crate::state::AppState;

/// Longest accepted username or email; longer input is a failed login, not an error page.
const MAX_LOGIN_NAME: usize = 256;

pub enum LoginError {
    /// Unknown user or wrong password: one answer for both.
    Invalid,
    /// Every verifier is busy.
    Busy,
}

pub async fn authenticate(
    state: &AppState,
    login: &str,
    password: String,
) -> Result<Arc<User>, LoginError> {
    let user = if login.len() <= MAX_LOGIN_NAME {
        state.config.users.find_for_login(login).cloned()
    } else {
        None
    };
    let hash = user.as_ref().map(|user| user.password_hash.clone());
    let verified = state
        .passwords
        .verify(hash, password)
        .await
        .map_err(|_| LoginError::Busy)?;
    match user {
        Some(user) if verified => {
            tracing::info!(target: "audit", event = "login.ok", user = %user.name);
            Ok(user)
        }
        _ => {
            tracing::info!(target: "audit", event = "login.failed", known_user = user.is_some());
            Err(LoginError::Invalid)
        }
    }
}
