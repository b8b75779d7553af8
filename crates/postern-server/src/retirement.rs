//! Retiring a local user: when a user is removed from the users, everything durable postern
//! kept about them is deleted, so a user created again under the name is a new person who
//! inherits nothing: their sessions end, and their passkeys (with the owner index entries and
//! the user handle), the credentials record (a password set at run time, the TOTP secret and
//! recovery codes they set up themselves; what stays in its place is a revocation as of the
//! retirement, so their bearer tokens stay ended), their OpenID consents (with the
//! token families those issued) and their OpenID subject id go. One audit line says
//! what was removed, as counts.
//!
//! Deleted, not marked: a removed person's factors and consents are of no further use to
//! anyone, and keeping their secrets would only keep them exposed.
//!
//! When a user counts as removed, since deleting cannot be undone:
//! - a reload of this process that had the user and no longer has them (an observed
//!   removal), on every store;
//! - at start, a local user with records who is not in the users, but only on the embedded
//!   store: its file belongs to this one process, so the users at start are the newest it
//!   has (the caller runs the start pass once the files it started with held still, so a
//!   users file still being written at start is not taken for the newest). On Redis, replicas share records and one started with an older users file would
//!   otherwise destroy the data of users it merely lacks; a start there retires nothing of
//!   its own (a user removed while every replica was stopped keeps their records);
//! - never when the users in force hold no local user at all (an emptied file is more
//!   likely a mistake than the removal of everyone): that is logged instead.
//!
//! A removal is first noted in the store (`RecordKind::Retiring`) and the note deleted when
//! the retirement is whole, so one cut short (the store failed) is finished later: retried
//! every `RETRY_INTERVAL` and at every start, by any replica. Every step can be repeated.

use std::time::{Duration, Instant};

use postern_core::UnixSeconds;
use postern_core::users::UserTable;
use postern_store::{RETIRING_OWNER, RecordKind, Store, StoreError};

use crate::clock::now;
use crate::credentials_record::{self, RecordLock};
use crate::oidc::consents;
use crate::state::AppState;
use crate::webauthn::records as passkeys;

/// How long after a failed retirement the next try comes.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// What retiring one user removed: the audit line's counts, never a secret.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Retired {
    pub sessions: usize,
    pub passkeys: usize,
    pub totp: bool,
    pub recovery_codes: usize,
    pub password_changed: bool,
    pub consents: usize,
    pub refresh_families: usize,
    pub subject: bool,
}

/// Deletes everything durable kept about the local user `name` (any spelling case). The
/// subject id goes first, so their tokens are refused from then on whatever else fails.
pub async fn retire_user(
    state: &AppState,
    name: &str,
    now: UnixSeconds,
) -> Result<Retired, StoreError> {
    let store: &Store = &state.store;
    let name = name.to_lowercase();
    // Under the credentials lock, as every other write of these records: a passkey sign-in's
    // save, a factor change or a `store import` that was in flight when the user went cannot
    // write them back (the subject id too, which an import writes under this lock).
    let held = RecordLock::take(store, &name).await?;
    let removed = async {
        let subject = retire_subject(state, &name).await?;
        Ok::<_, StoreError>((subject, remove_factors(&held, now).await?))
    }
    .await;
    held.release().await;
    let (subject, (passkeys, kept)) = removed?;
    let sessions = store.delete_user_sessions(&name).await?;
    let retired_consents = consents::retire_all(store, &name, now).await?;
    Ok(Retired {
        sessions,
        passkeys,
        totp: kept.as_ref().is_some_and(|kept| kept.totp.is_some()),
        recovery_codes: kept
            .as_ref()
            .and_then(|kept| kept.recovery.as_ref())
            .map_or(0, |recovery| recovery.hashes.len()),
        password_changed: kept.as_ref().is_some_and(|kept| kept.kept.is_some()),
        consents: retired_consents.consents,
        refresh_families: retired_consents.families,
        subject,
    })
}

/// Deletes the subject id of `name`; true when there was one.
async fn retire_subject(state: &AppState, name: &str) -> Result<bool, StoreError> {
    let store: &Store = &state.store;
    match &state.oidc {
        Some(provider) => provider.subjects.retire(store, name).await,
        // A provider configured before may have drawn one.
        None => {
            let had = !store
                .user_records(name, RecordKind::OidcSubject)
                .await?
                .is_empty();
            store
                .delete_user_record(name, RecordKind::OidcSubject, "id")
                .await?;
            Ok(had)
        }
    }
}

/// Whether a factor may still be added to the records of the local user `name`: they are in
/// the users in force. A write that adds one (a TOTP secret, recovery codes, a passkey) asks
/// with the user's credentials lock held. A retirement takes that lock after the users without
/// them are in force, so a write in flight when they were removed either lands first (and is
/// deleted with the rest) or is refused here; it is never written back after the retirement
/// for the next user of the name to inherit.
pub(crate) fn takes_new_factors(state: &AppState, name: &str) -> bool {
    state.user(name).is_some()
}

/// The answer to a factor added for a user removed meanwhile (`takes_new_factors`).
pub(crate) fn removed_meanwhile() -> crate::error::AppError {
    crate::error::AppError::refused(http::StatusCode::UNAUTHORIZED, "This account was removed")
}

/// The passkeys (how many) and the credentials record of the user whose lock is `held`. The
/// record is replaced by one that holds only a revocation as of `now`: the old person's bearer
/// tokens carry a stamp of the record (`user_passwords::InForce`), and without it a user
/// created again from the same users-file line would have their stamp back, a revocation
/// undone with it.
async fn remove_factors(
    held: &RecordLock<'_>,
    now: UnixSeconds,
) -> Result<(usize, Option<credentials_record::UserState>), StoreError> {
    let passkeys = passkeys::remove_all(held).await?;
    let kept = credentials_record::remove_state(held).await?;
    let revocation = credentials_record::UserState {
        revoked_at: Some(now),
        retired_at: Some(now),
        ..credentials_record::UserState::default()
    };
    credentials_record::write_state(held.store(), held.user(), &revocation).await?;
    Ok((passkeys, kept))
}

/// A credentials record that keeps no credential (no password, TOTP or recovery codes): only
/// stamps, such as the revocation a retirement leaves, or the one `postern users revoke`
/// writes for a name that is no local user (a provider's user, whose consents live under the
/// bare name too). It is no sign of a user to retire, and an import keeps it for a name not
/// in force (`crate::record_import`): it can only end things.
pub(crate) fn keeps_no_credential(bytes: &[u8]) -> bool {
    credentials_record::parse_state(bytes)
        .is_ok_and(|state| state.kept.is_none() && state.totp.is_none() && state.recovery.is_none())
}

/// The local users of `before` that `after` lacks.
pub fn removed_users(before: &UserTable, after: &UserTable) -> Vec<String> {
    before
        .iter()
        .filter(|user| after.get(&user.name).is_none())
        .map(|user| user.name.to_lowercase())
        .collect()
}

/// Local users with records of their own who are not in `users` (start, embedded store).
async fn absent_users(store: &Store, users: &UserTable) -> Result<Vec<String>, StoreError> {
    let mut absent: Vec<String> = store
        .all_user_records()
        .await?
        .into_iter()
        // Kinds only a local user has: a provider's user's consents live under their bare
        // name too, and must not make them look like a removed local user.
        .filter(|record| match record.kind {
            RecordKind::Credentials => !keeps_no_credential(&record.value),
            RecordKind::Passkeys | RecordKind::PasskeyHandle | RecordKind::OidcSubject => true,
            _ => false,
        })
        .map(|record| record.user)
        // No local name has a ':'; every other owner (a provider's user, the passkey index,
        // the retirement notes) has one.
        .filter(|owner| !owner.contains(':'))
        .filter(|owner| users.get(owner).is_none())
        .collect();
    absent.dedup();
    Ok(absent)
}

/// The retirements this process owes: names seen removed and not yet noted in the store, and
/// whether the pass over the notes (and at start, on the embedded store, over absent users)
/// is due.
pub struct Retirements {
    unnoted: Vec<String>,
    start_pass_done: bool,
    due: Option<Instant>,
}

impl Default for Retirements {
    /// At start: the start pass is due at once.
    fn default() -> Self {
        Self {
            unnoted: Vec::new(),
            start_pass_done: false,
            due: Some(Instant::now()),
        }
    }
}

impl Retirements {
    /// A reload swapped `before` for `after`: those removed are owed, now.
    pub fn removed(&mut self, before: &UserTable, after: &UserTable) {
        let removed = removed_users(before, after);
        if !removed.is_empty() {
            self.unnoted.extend(removed);
            self.due = Some(Instant::now());
        }
    }

    /// Whether a pass is due.
    pub fn is_due(&self) -> bool {
        self.due.is_some_and(|due| due <= Instant::now())
    }

    /// Notes what is owed, then retires every noted user; on a store failure, tries again
    /// after `RETRY_INTERVAL`. Returns how many users were retired.
    pub async fn run(&mut self, state: &AppState) -> usize {
        match self.pass(state).await {
            Ok(retired) => {
                self.due = None;
                retired
            }
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    retry_in_s = RETRY_INTERVAL.as_secs(),
                    "removed users could not be retired yet; postern tries again"
                );
                self.due = Some(Instant::now() + RETRY_INTERVAL);
                0
            }
        }
    }

    async fn pass(&mut self, state: &AppState) -> Result<usize, StoreError> {
        let store: &Store = &state.store;
        let users = state.users();
        let local_users = !users.is_empty();
        if !self.start_pass_done {
            if local_users && matches!(store, Store::Embedded(_)) {
                self.unnoted.extend(absent_users(store, &users).await?);
            }
            self.start_pass_done = true;
        }
        if !local_users && !self.unnoted.is_empty() {
            tracing::warn!(
                users = self.unnoted.len(),
                "the users in force hold no local user: removing everyone is taken for a mistake, and nobody is retired"
            );
            self.unnoted.clear();
        }
        while let Some(name) = self.unnoted.last() {
            store
                .put_user_record(RETIRING_OWNER, RecordKind::Retiring, name, Vec::new())
                .await?;
            self.unnoted.pop();
        }
        retire_noted(state).await
    }
}

/// Retires the local users of `before` that `after` lacks, at once and without a retry (what
/// a reload does; a failure leaves their notes for the next pass).
pub async fn retire_removed(
    state: &AppState,
    before: &UserTable,
    after: &UserTable,
) -> Result<usize, StoreError> {
    let mut owed = Retirements {
        unnoted: removed_users(before, after),
        start_pass_done: true,
        due: None,
    };
    owed.pass(state).await
}

/// Retires every user noted as removed, and deletes each note once its retirement is whole.
async fn retire_noted(state: &AppState) -> Result<usize, StoreError> {
    let store: &Store = &state.store;
    let noted = store
        .user_records(RETIRING_OWNER, RecordKind::Retiring)
        .await?;
    let mut retired = 0;
    for (name, _) in noted {
        let removed = retire_user(state, &name, now()).await?;
        tracing::info!(
            target: "audit",
            event = "user.retired",
            user = %name,
            sessions = removed.sessions,
            passkeys = removed.passkeys,
            totp = removed.totp,
            recovery_codes = removed.recovery_codes,
            password_changed = removed.password_changed,
            consents = removed.consents,
            refresh_families = removed.refresh_families,
            subject = removed.subject,
            "a removed user is retired: their sessions, passkeys, own TOTP and recovery codes, consents and subject id are deleted; a user created again under the name starts afresh"
        );
        store
            .delete_user_record(RETIRING_OWNER, RecordKind::Retiring, &name)
            .await?;
        retired += 1;
    }
    Ok(retired)
}

#[cfg(test)]
pub(crate) mod tests;
