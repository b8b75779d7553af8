//! Checking a username (or email) and password, under the failed-login limits. Unknown users
//! are verified against a dummy hash of the same cost and counted like known ones, so neither
//! the answer, nor its timing, nor a 429 tells them apart from a wrong password.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::limits::LoginLimits;
use postern_core::users::User;
use postern_store::StoreError;

use crate::state::AppState;
use crate::user_passwords;

/// Longest accepted username or email; longer input is a failed login, not an error page.
const MAX_LOGIN_NAME: usize = 256;

pub enum LoginError {
    /// Unknown user or wrong password: one answer for both.
    Invalid,
    /// Too many failures from this client or on this account; retry after this many seconds.
    Limited { retry_after: u64 },
    /// Every verifier is busy.
    Busy,
    /// The store did not answer: no attempt is made (the limits could not be checked).
    Unavailable(StoreError),
}

impl From<StoreError> for LoginError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(err)
    }
}

pub async fn authenticate(
    state: &AppState,
    client: IpAddr,
    login: &str,
    password: String,
) -> Result<Arc<User>, LoginError> {
    let user = if login.len() <= MAX_LOGIN_NAME {
        state.users.load().find_for_login(login).cloned()
    } else {
        None
    };
    // An email and its user's name share one counter; other names count as typed.
    let account = LoginLimits::user_counter(user.as_ref().map_or(login, |user| user.name.as_str()));
    let ip = LoginLimits::ip_counter(client);
    refuse_if_limited(state, &ip, &account).await?;
    let hash = match &user {
        Some(user) => Some(user_passwords::effective_hash(state, user).await?),
        None => None,
    };
    let verified = state
        .passwords
        .verify(hash, password)
        .await
        .map_err(|_| LoginError::Busy)?;
    match user {
        // A TOTP user's failures are cleared only once the code is right too.
        Some(user) if verified && user.totp.is_some() => {
            tracing::info!(target: "audit", event = "login.password_ok", user = %user.name, ip = %client);
            Ok(user)
        }
        Some(user) if verified => {
            state.store.clear_failures(&account).await?;
            tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client);
            Ok(user)
        }
        _ => {
            record_failure(state, client, &ip, &account, "login.failed", user.is_some()).await?;
            Err(LoginError::Invalid)
        }
    }
}

/// Counts one failed attempt against the client and the account, and says so in the audit log.
pub async fn record_failure(
    state: &AppState,
    client: IpAddr,
    ip: &str,
    account: &str,
    event: &'static str,
    known_user: bool,
) -> Result<(), StoreError> {
    let limits = &state.config.limits;
    let by_ip = state.store.count_failure(ip, limits.failure_window).await?;
    let by_account = state
        .store
        .count_failure(account, limits.user_failure_window)
        .await?;
    tracing::info!(
        target: "audit",
        event,
        known_user,
        ip = %client,
        ip_failures = by_ip.count,
        account_failures = by_account.count,
    );
    Ok(())
}

pub async fn refuse_if_limited(
    state: &AppState,
    ip: &str,
    account: &str,
) -> Result<(), LoginError> {
    let limits = &state.config.limits;
    let by_ip = state.store.failures(ip).await?;
    let by_account = state.store.failures(account).await?;
    let mut retry_after = None;
    if by_ip.count >= limits.max_failures_per_ip {
        retry_after = Some(by_ip.resets_in);
    }
    if by_account.count >= limits.max_failures_per_user {
        retry_after = Some(retry_after.map_or(by_account.resets_in, |ip_wait| {
            ip_wait.max(by_account.resets_in)
        }));
    }
    match retry_after {
        Some(wait) => {
            tracing::info!(target: "audit", event = "login.limited", ip_failures = by_ip.count, account_failures = by_account.count);
            Err(LoginError::Limited {
                retry_after: LoginLimits::retry_after_secs(wait),
            })
        }
        None => Ok(()),
    }
}
