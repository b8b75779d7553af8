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
use postern_core::password::{self, HashKind};

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

/// `device_cookie`: the browser's device cookie, if it sent one (see `postern_core::device`).
pub async fn authenticate(
    state: &AppState,
    client: IpAddr,
    login: &str,
    password: String,
    device_cookie: Option<&str>,
) -> Result<Arc<User>, LoginError> {
    let user = if login.len() <= MAX_LOGIN_NAME {
        state.users.load().find_for_login(login).cloned()
    } else {
        None
    };
    let account = account_counter(state, user.as_deref(), login, device_cookie);
    let ip = LoginLimits::ip_counter(client);
    refuse_if_limited(state, &ip, &account).await?;
    let hash = match &user {
        Some(user) => Some(user_passwords::in_force(state, user).await?.hash),
        None => None,
    };
    // A bcrypt hash in users_file is replaced by argon2id at the first right password.
    let upgrade = hash.as_deref().is_some_and(|hash| {
        matches!(password::hash_kind(hash), Ok(HashKind::Bcrypt))
            && user.as_ref().is_some_and(|user| user.from_users_file)
    });
    let password_for_upgrade = upgrade.then(|| password.clone());
    let verified = state
        .passwords
        .verify(hash, password)
        .await
        .map_err(|_| LoginError::Busy)?;
    if verified && let (Some(user), Some(password)) = (&user, password_for_upgrade) {
        upgrade_to_argon2(state, user, password).await;
    }
    match user {
        // A TOTP user's failures are cleared only once the code is right too.
        Some(user) if verified && user.totp.is_some() => {
            tracing::info!(target: "audit", event = "login.password_ok", user = %user.name, ip = %client);
            Ok(user)
        }
        Some(user) if verified => {
            clear_failures(state, &user, &account).await?;
            tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client);
            Ok(user)
        }
        _ => {
            record_failure(state, client, &ip, &account, "login.failed", user.is_some()).await?;
            Err(LoginError::Invalid)
        }
    }
}

/// Rewrites a user's bcrypt hash as argon2id (the file, and Redis when that is the store).
/// A failure only leaves the bcrypt hash in place: the sign-in goes on.
async fn upgrade_to_argon2(state: &AppState, user: &User, password: String) {
    let Ok(new_hash) = state.passwords.hash(password).await else {
        return;
    };
    match user_passwords::save(state, user, &new_hash).await {
        Ok(()) => {
            tracing::info!(user = %user.name, "bcrypt hash replaced by argon2id in users_file")
        }
        Err(err) => tracing::warn!(user = %user.name, error = %err, "bcrypt hash not replaced"),
    }
}

/// The counter an attempt is limited by besides its IP's: the account's (an email and its
/// user's name share one; other names count as typed), or, for a browser holding a device
/// cookie signed for this user, the device's own, so a lockout of the account does not lock
/// out the user's browser.
pub fn account_counter(
    state: &AppState,
    user: Option<&User>,
    login: &str,
    device_cookie: Option<&str>,
) -> String {
    let name = user.map_or(login, |user| user.name.as_str());
    match (user, device_cookie) {
        (Some(user), Some(cookie)) => match state.device.verify(cookie, &user.name) {
            Some(device) => format!("device:{{{}}}:{device}", user.name.to_lowercase()),
            None => LoginLimits::user_counter(name),
        },
        _ => LoginLimits::user_counter(name),
    }
}

/// After a full sign-in: the counter used (the account's or the device's) and the account's.
pub async fn clear_failures(
    state: &AppState,
    user: &User,
    counter: &str,
) -> Result<(), StoreError> {
    let account = LoginLimits::user_counter(&user.name);
    state.store.clear_failures(&account).await?;
    if counter != account {
        state.store.clear_failures(counter).await?;
    }
    Ok(())
}

/// Failures in a row on one account (or device) that raise an `auth.suspicious` event.
const SUSPICIOUS_FAILURES: u64 = 5;

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
    // Seed 003: once, at the fifth failure in a row on an account (or device), a warning.
    if by_account.count == SUSPICIOUS_FAILURES {
        // A name nobody has may be a password typed into the wrong field: not repeated.
        let user = if !known_user {
            ""
        } else {
            account
                .split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .map_or("", |(name, _)| name)
        };
        tracing::warn!(
            target: "audit",
            event = "auth.suspicious",
            user,
            known_user,
            ip = %client,
            count = by_account.count,
            method = event,
            "several failed sign-ins in a row on one account"
        );
        state
            .notifier
            .suspicious(user, client, by_account.count, event);
    }
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
