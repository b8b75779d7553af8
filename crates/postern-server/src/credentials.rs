//! Checking a username (or email) and password, under the failed-login limits. Unknown users
//! are verified against a dummy hash of the same cost and counted like known ones, so neither
//! the answer, nor its timing, nor a 429 tells them apart from a wrong password.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use postern_core::limits::{LoginLimits, STREAK_WINDOW};
use postern_core::users::User;
use postern_store::{Change, Counter, Pending, Store, StoreError};

use crate::hash_upgrades::Upgrade;
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

/// A right password; either way the caller settles the attempt. `SignedIn`: the password
/// alone signs in (settled with `signed_in`, or with the session by `login::sign_in`, in the
/// same durable write). `PasswordOnly`: a second step is still to come (the attempt is given
/// back once the sign-in goes on to it, or counted as failed).
pub enum Verified {
    SignedIn(Arc<User>, Attempt),
    PasswordOnly(Arc<User>, Attempt),
}

/// `device_cookies`: the browser's device cookies (`cookies::device_cookies`, see
/// `postern_core::device`).
pub async fn authenticate(
    state: &AppState,
    client: IpAddr,
    login: &str,
    password: String,
    device_cookies: &[&str],
) -> Result<Verified, LoginError> {
    let user = if login.len() <= MAX_LOGIN_NAME {
        state.live.load().users.find_for_login(login).cloned()
    } else {
        None
    };
    let account = account_counter(state, user.as_deref(), login, device_cookies);
    let attempt = begin_attempt(state, client, account).await?;
    let (user, hash) = match user {
        // The user with the second factors in force: the file's, or the user's own.
        Some(user) => {
            let in_force = user_passwords::in_force(state, &user).await?;
            (
                Some(in_force.factors.applied_to(&user)),
                Some(in_force.hash),
            )
        }
        None => (None, None),
    };
    // A bcrypt hash in users_file is replaced by argon2id at the first right password.
    let upgrade = hash
        .as_deref()
        .filter(|hash| {
            matches!(password::hash_kind(hash), Ok(HashKind::Bcrypt))
                && user.as_ref().is_some_and(|user| user.from_users_file)
        })
        .map(|hash| (hash.to_owned(), password.clone()));
    let Ok(verified) = state.passwords.verify(hash, password).await else {
        attempt.give_back(state).await?;
        return Err(LoginError::Busy);
    };
    if verified && let (Some(user), Some((replaces, password))) = (&user, upgrade) {
        state
            .hash_upgrades
            .request(Arc::clone(user), replaces, password);
    }
    let second_step = match &user {
        Some(user) if verified => !second_factors(state, user).await?.is_empty(),
        _ => false,
    };
    match user {
        // A TOTP or passkey user's failures are cleared only once the second step is right
        // too: the caller settles the attempt.
        Some(user) if second_step => {
            tracing::info!(target: "audit", event = "login.password_ok", user = %user.name, ip = %client);
            Ok(Verified::PasswordOnly(user, attempt))
        }
        Some(user) if verified => Ok(Verified::SignedIn(user, attempt)),
        _ => {
            attempt
                .failed(
                    state,
                    "login.failed",
                    user.as_deref().map(|user| user.name.as_str()),
                )
                .await?;
            Err(LoginError::Invalid)
        }
    }
}

/// The credentials stamp of the user `login` names, read before their password is checked. A
/// credential issued on the strength of that check (a token, a cached Basic credential)
/// carries this stamp, so a change that lands during the check (a new password, `postern
/// users revoke`, a new second factor) voids it at once instead of being vouched for under
/// the new stamp. `None` for a name no user has.
pub async fn stamp_before_check(
    state: &AppState,
    login: &str,
) -> Result<Option<String>, StoreError> {
    let Some(user) = state.live.load().users.find_for_login(login).cloned() else {
        return Ok(None);
    };
    Ok(Some(user_passwords::in_force(state, &user).await?.stamp))
}

/// The second steps a right password leads to for `user`: `"totp"` (a TOTP secret) and
/// `"passkey"` (at least one registered). Empty: the password alone signs in.
pub async fn second_factors(
    state: &AppState,
    user: &User,
) -> Result<Vec<&'static str>, StoreError> {
    let mut factors = Vec::new();
    if user.totp.is_some() {
        factors.push("totp");
    }
    if crate::webauthn::records::registered(&state.store, &user.name).await? {
        factors.push("passkey");
    }
    Ok(factors)
}

/// `authenticate` for the login form and `POST /api/login`, whose TOTP code comes at a step of
/// its own (`/totp`, counted there): a TOTP user's right password gives its counts back now.
/// The attempt of a password that signs in is left to `login::sign_in`.
pub async fn authenticate_for_login(
    state: &AppState,
    client: IpAddr,
    login: &str,
    password: String,
    device_cookies: &[&str],
) -> Result<(Arc<User>, Option<Attempt>), LoginError> {
    match authenticate(state, client, login, password, device_cookies).await? {
        Verified::SignedIn(user, attempt) => Ok((user, Some(attempt))),
        Verified::PasswordOnly(user, attempt) => {
            attempt.give_back(state).await?;
            Ok((user, None))
        }
    }
}

/// A password that signed in without a session (Basic credentials, `POST /api/auth/login`):
/// the attempt settled (`Attempt::headless_success`), then the audit line, once that is
/// stored.
pub async fn password_signed_in(
    state: &AppState,
    client: IpAddr,
    user: &User,
    attempt: Attempt,
) -> Result<(), StoreError> {
    attempt.headless_success(state).await?;
    tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client);
    Ok(())
}

/// The counter an attempt is limited by besides its IP's: the account's (an email and its
/// user's name share one; other names count as typed), or, for a browser holding a device
/// cookie signed for this user (the first of `device_cookies` that is), the device's own, so
/// a lockout of the account does not lock out the user's browser.
pub fn account_counter(
    state: &AppState,
    user: Option<&User>,
    login: &str,
    device_cookies: &[&str],
) -> String {
    let name = user.map_or(login, |user| user.name.as_str());
    let device = user.and_then(|user| {
        device_cookies
            .iter()
            .find_map(|cookie| state.device.verify(cookie, &user.name))
    });
    match (user, device) {
        (Some(user), Some(device)) => format!("device:{{{}}}:{device}", user.name.to_lowercase()),
        _ => LoginLimits::user_counter(name),
    }
}

/// After a full sign-in: the counter used (the account's or the device's), the account's and
/// its streak.
fn cleared_failures(user: &User, counter: &str) -> Vec<Change> {
    let mut cleared = account_cleared(&user.name);
    if counter != LoginLimits::user_counter(&user.name) {
        cleared.push(Change::ClearFailures(counter.to_owned()));
    }
    cleared
}

/// The account's failures and its streak of failures in a row (also `postern users unlock`).
pub async fn clear_account(store: &Store, user: &str) -> Result<(), StoreError> {
    store.apply(account_cleared(user)).await
}

fn account_cleared(user: &str) -> Vec<Change> {
    let account = LoginLimits::user_counter(user);
    let streak = LoginLimits::streak_counter(&account);
    std::iter::once(account)
        .chain(streak)
        .map(Change::ClearFailures)
        .collect()
}

/// Failures in a row on one account (or device) that raise an `auth.suspicious` event.
const SUSPICIOUS_FAILURES: u64 = 5;

/// One check of a secret, counted as a failure before the secret is checked (a reservation),
/// on every replica: attempts that run at the same time each take a count of their own, so a
/// burst of them cannot all pass the limits before the first failure is counted. A right
/// secret gives its count back; a wrong one keeps it. Dropped unsettled (the store failed
/// meanwhile), it stays counted: the safe side.
#[must_use = "an attempt is settled: signed_in, give_back or failed"]
pub struct Attempt {
    client: IpAddr,
    ip: String,
    account: String,
    /// The account's streak counter; none for a device's counter.
    streak: Option<String>,
    by_ip: Counter,
    by_account: Counter,
    /// Failures in a row on the account with this one; 0 when they are not counted.
    by_streak: u64,
    /// The commit of the counts: waited for before anything is answered or given back.
    recorded: Pending,
}

/// Counts an attempt from `client` on `account` (its counter: `account_counter`), or refuses
/// it (`Limited`) when the limits are reached, without counting it then.
pub async fn begin_attempt(
    state: &AppState,
    client: IpAddr,
    account: String,
) -> Result<Attempt, LoginError> {
    let ip = LoginLimits::ip_counter(client);
    let streak_cap = state.config.limits.max_consecutive_failures_per_user;
    // With the cap off (0), failures in a row are not even counted.
    let streak = LoginLimits::streak_counter(&account).filter(|_| streak_cap > 0);
    // Cheap, and enough for the attempts that come after the limit was reached.
    refuse_if_limited(state, client, &ip, &account, streak.as_deref()).await?;
    let limits = &state.config.limits;
    // All counted in one durable write, which goes on while the secret is checked.
    let mut counters = vec![
        (ip.as_str(), limits.failure_window),
        (account.as_str(), limits.user_failure_window),
    ];
    counters.extend(streak.as_deref().map(|streak| (streak, STREAK_WINDOW)));
    let (counts, recorded) = state.store.count_failures(&counters).await?;
    let (by_ip, by_account, by_streak) = match counts.as_slice() {
        [by_ip, by_account] => (*by_ip, *by_account, None),
        [by_ip, by_account, by_streak] => (*by_ip, *by_account, Some(*by_streak)),
        _ => return Err(StoreError::unavailable("the store answered the wrong counts").into()),
    };
    let attempt = Attempt {
        client,
        ip,
        account,
        streak,
        by_ip,
        by_account,
        by_streak: by_streak.map_or(0, |streak| streak.count),
        recorded,
    };
    if by_ip.count > limits.max_failures_per_ip {
        // One of a burst that passed the check above together: the others took the counts.
        attempt.give_back(state).await?;
        return Err(limited(client, by_ip.resets_in, by_ip.count, 0));
    }
    let streak_wait = by_streak
        .filter(|streak| streak.count > streak_cap)
        .map(|streak| streak.resets_in);
    let account_wait =
        (by_account.count > limits.max_failures_per_user).then_some(by_account.resets_in);
    if let Some(wait) = account_wait.max(streak_wait) {
        attempt.give_back(state).await?;
        return Err(limited(client, wait, by_ip.count, by_account.count));
    }
    Ok(attempt)
}

impl Attempt {
    /// A full sign-in: the account's (and the device's) failures are cleared, and the client's
    /// count for this attempt given back.
    pub async fn signed_in(self, state: &AppState, user: &User) -> Result<(), StoreError> {
        let changes = self.settled_by_sign_in(state, user).await?;
        state.store.apply(changes).await
    }

    /// What `signed_in` changes, for a caller that writes it together with the session, once
    /// the counts are stored (a give-back must never meet counts that were not).
    pub async fn settled_by_sign_in(
        self,
        state: &AppState,
        user: &User,
    ) -> Result<Vec<Change>, StoreError> {
        state.store.committed(self.recorded).await?;
        let mut changes = cleared_failures(user, &self.account);
        changes.push(Change::ForgiveFailure(self.ip));
        Ok(changes)
    }

    /// A right secret from a client with no session (Basic, a token login): only this
    /// attempt's counts are given back. The account's earlier failures and its streak stay:
    /// a script that checks in every minute must not wipe a guesser's count each time, or the
    /// per-account limits would bound nothing on such an account (security.md).
    pub async fn headless_success(self, state: &AppState) -> Result<(), StoreError> {
        self.give_back(state).await
    }

    /// A right secret that does not sign in yet (a TOTP user's password), or an attempt that
    /// was not checked: both counts given back; earlier failures stay.
    pub async fn give_back(self, state: &AppState) -> Result<(), StoreError> {
        state.store.committed(self.recorded).await?;
        let changes = [Some(self.ip), Some(self.account), self.streak]
            .into_iter()
            .flatten()
            .map(Change::ForgiveFailure)
            .collect();
        state.store.apply(changes).await
    }

    /// A wrong secret: its counts stay, and the audit log says so, naming `user` when the
    /// attempt was on an account that exists. `Err` when the counts could not be stored: the
    /// caller answers that (503), never a plain refusal that would not have been counted.
    pub async fn failed(
        self,
        state: &AppState,
        event: &'static str,
        user: Option<&str>,
    ) -> Result<(), StoreError> {
        report_failure(state, &self, event, user);
        state.store.committed(self.recorded).await
    }
}

/// The audit line of a failed attempt, and at most one `auth.suspicious` warning for a run of
/// failures: at the fifth in a row on an existing account (or device), naming it; otherwise
/// once per client when its failures reach the same count (or its limit, if lower), so a
/// client spraying names that do not exist raises one warning per window, not one per name.
fn report_failure(state: &AppState, attempt: &Attempt, event: &'static str, user: Option<&str>) {
    let client = attempt.client;
    let by_account = attempt.by_account.count;
    let by_ip = attempt.by_ip.count;
    tracing::info!(
        target: "audit",
        event,
        user = user.unwrap_or_default(),
        known_user = user.is_some(),
        ip = %client,
        ip_failures = by_ip,
        account_failures = by_account,
    );
    let streak_cap = state.config.limits.max_consecutive_failures_per_user;
    if let Some(name) = user.filter(|_| streak_cap > 0 && attempt.by_streak == streak_cap) {
        // Every attempt on the account without its device cookie is refused from now on.
        tracing::warn!(
            target: "audit",
            event = "auth.suspicious",
            scope = "streak",
            user = name,
            ip = %client,
            count = streak_cap,
            method = event,
            "an account reached its cap of failed sign-ins in a row and is locked"
        );
        state.notifier.suspicious(name, client, streak_cap, event);
        return;
    }
    let ip_threshold = SUSPICIOUS_FAILURES.min(state.config.limits.max_failures_per_ip);
    let (name, count, scope, message) = match user {
        Some(name) if by_account == SUSPICIOUS_FAILURES => (
            name,
            by_account,
            "account",
            "several failed sign-ins in a row on one account",
        ),
        _ if by_ip == ip_threshold => (
            "",
            by_ip,
            "client",
            "several failed sign-ins from one client",
        ),
        _ => return,
    };
    tracing::warn!(
        target: "audit",
        event = "auth.suspicious",
        scope,
        user = name,
        ip = %client,
        count,
        method = event,
        "{message}"
    );
    state.notifier.suspicious(name, client, count, event);
}

/// Refuses an attempt while the client or the account is at its limit, or the account at its
/// cap of failures in a row, without counting it.
async fn refuse_if_limited(
    state: &AppState,
    client: IpAddr,
    ip: &str,
    account: &str,
    streak: Option<&str>,
) -> Result<(), LoginError> {
    let limits = &state.config.limits;
    let by_ip = state.store.failures(ip).await?;
    let by_account = state.store.failures(account).await?;
    let by_streak = match streak {
        Some(streak) => Some(state.store.failures(streak).await?),
        None => None,
    };
    let waits = [
        (by_ip.count >= limits.max_failures_per_ip).then_some(by_ip.resets_in),
        (by_account.count >= limits.max_failures_per_user).then_some(by_account.resets_in),
        by_streak
            .filter(|streak| streak.count >= limits.max_consecutive_failures_per_user)
            .map(|streak| streak.resets_in),
    ];
    match waits.into_iter().flatten().max() {
        Some(wait) => Err(limited(client, wait, by_ip.count, by_account.count)),
        None => Ok(()),
    }
}

/// `Limited`, said in the audit log.
fn limited(client: IpAddr, wait: Duration, ip_failures: u64, account_failures: u64) -> LoginError {
    tracing::info!(target: "audit", event = "login.limited", ip = %client, ip_failures, account_failures);
    LoginError::Limited {
        retry_after: LoginLimits::retry_after_secs(wait),
    }
}

/// Starts the task that does the queued bcrypt-to-argon2id upgrades (`hash_upgrades`). It
/// holds the state weakly, so it ends when the state is dropped (the sender goes with it).
pub fn run_hash_upgrades(state: &Arc<AppState>) {
    let Some(mut queue) = state.hash_upgrades.take_queue() else {
        return;
    };
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some(upgrade) = queue.recv().await {
            let Some(state) = std::sync::Weak::upgrade(&state) else {
                return;
            };
            upgrade_to_argon2(&state, upgrade).await;
        }
    });
}

/// Rewrites a user's bcrypt hash as argon2id (the file, and Redis when that is the store),
/// unless the hash changed since the upgrade was queued. A failure only leaves the bcrypt
/// hash in place.
async fn upgrade_to_argon2(state: &AppState, upgrade: Upgrade) {
    let Upgrade {
        user,
        replaces,
        password,
    } = upgrade;
    let Ok(new_hash) = state.passwords.hash(password).await else {
        return;
    };
    match user_passwords::save(state, &user, &replaces, &new_hash).await {
        Ok(()) => {
            tracing::info!(user = %user.name, "bcrypt hash replaced by argon2id in users_file")
        }
        Err(err) => tracing::warn!(user = %user.name, error = %err, "bcrypt hash not replaced"),
    }
}

#[cfg(test)]
mod tests;
