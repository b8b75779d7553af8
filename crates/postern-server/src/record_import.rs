//! `postern store import`: what of an export file is stored, and how. An export is a picture
//! of the past, so an import must not undo what happened since, nor bring back what a
//! retirement removed (`crate::retirement`):
//!
//! - The records of a local-style name (no ':') that is not among the users in force are
//!   skipped: their passkeys, user handle, credentials, OpenID subject and consents. Kept are
//!   a credentials record that keeps no credential (only stamps, such as `users revoke`'s or a
//!   retirement's: they can only end things), and consents given by a provider's user of that
//!   name (bound to the `sub` of a `provider:<id>:<name>` subject in the same file). Provider
//!   users' own records (`provider:…`, `federated:…`) are always imported.
//! - A user in force who was retired after the export was taken (the target's credentials
//!   record holds a newer `retired_at` than the file's) keeps nothing of the file: what it
//!   holds belonged to the person retired, not to the one who has the name now.
//! - A retirement note is imported only for a name that is not in force (it would retire a
//!   user who is).
//! - A revocation stamp never moves back: the credentials record stored keeps the later
//!   `revoked_at` and `retired_at` of the file's and the target's.
//!
//! Every user's records are written under the locks the server takes for them: the
//! credentials lock for the credentials record, passkeys, user handle, their owner-index
//! entries and the local subject id (a retirement removes all of them under that lock), and
//! the consents lock for consents. So an import racing a passkey removal, a factor change or
//! a retirement (on this replica or another one on Redis) is wholly before or wholly after it,
//! and the retirement check is made under the lock. Provider users' subject ids and the
//! retirement notes take no lock: a provider's user is never retired and their id never
//! changes once drawn, and a note is only ever written whole or deleted whole.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt as _};
use postern_core::users::UserTable;
use postern_store::{
    PASSKEY_INDEX_OWNER, RETIRING_OWNER, RecordKind, Store, StoreError, UserRecord,
};

use crate::credentials_record::{self, RecordLock};
use crate::oidc::consents::Consent;
use crate::oidc::subjects::{LEGACY_PREFIX, PROVIDER_PREFIX};

/// How many users' records are stored at once.
const USERS_AT_ONCE: usize = 64;
/// How many names the summary lists for each reason (then how many more).
const NAMES_SAID: usize = 20;

/// Why a user's records were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skipped {
    /// A local-style name the users in force lack.
    NotAUser,
    /// Retired after the export was taken.
    RetiredSince,
    /// A retirement note for a name that is in force.
    NoteOfAUser,
}

/// What an import stored and what it skipped (records, by user and why).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub stored: usize,
    pub skipped: BTreeMap<(Skipped, String), usize>,
}

impl Imported {
    fn skip(&mut self, why: Skipped, user: &str, records: usize) {
        if records > 0 {
            *self.skipped.entry((why, user.to_owned())).or_default() += records;
        }
    }

    /// The command's answer: how many stored, and how many skipped for whom.
    pub fn summary(&self) -> String {
        let mut message = format!("imported {} user record(s)", self.stored);
        for (why, said) in [
            (Skipped::NotAUser, "not among the users in force"),
            (
                Skipped::RetiredSince,
                "retired after this export was taken (the name now belongs to someone new)",
            ),
            (
                Skipped::NoteOfAUser,
                "in force (retirement notes, which would retire them)",
            ),
        ] {
            let users: Vec<(&str, usize)> = self
                .skipped
                .iter()
                .filter(|((reason, _), _)| *reason == why)
                .map(|((_, user), records)| (user.as_str(), *records))
                .collect();
            if users.is_empty() {
                continue;
            }
            let records: usize = users.iter().map(|(_, records)| records).sum();
            let names: Vec<&str> = users
                .iter()
                .map(|(user, _)| *user)
                .take(NAMES_SAID)
                .collect();
            message.push_str(&format!(
                "; skipped {records} record(s) of {} user(s) {said}: {}",
                users.len(),
                names.join(", ")
            ));
            if users.len() > NAMES_SAID {
                message.push_str(&format!(" and {} more", users.len() - NAMES_SAID));
            }
        }
        message
    }
}

/// Stores `records` (checked whole already) on `store`, by the rules above.
pub async fn import(
    store: &Store,
    users: &UserTable,
    records: Vec<UserRecord>,
) -> Result<Imported, StoreError> {
    let mut outcome = Imported::default();
    let mut by_user: BTreeMap<String, Vec<UserRecord>> = BTreeMap::new();
    let mut unlocked = Vec::new();
    let mut provider_subs: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for record in records {
        if let Some(name) = provider_user(&record) {
            provider_subs
                .entry(name.to_owned())
                .or_default()
                .insert(record.value.clone());
        }
        match owner_name(&record) {
            Some(name) => by_user.entry(name).or_default().push(record),
            None => match record.kind {
                RecordKind::Retiring if users.get(&record.id).is_some() => {
                    outcome.skip(Skipped::NoteOfAUser, &record.id, 1);
                }
                _ => unlocked.push(record),
            },
        }
    }
    let mut to_store = Vec::new();
    for (name, own) in by_user {
        let in_force = users.get(&name).is_some();
        let no_subs = BTreeSet::new();
        let subs = provider_subs.get(&name).unwrap_or(&no_subs);
        let (kept, dropped): (Vec<_>, Vec<_>) = own
            .into_iter()
            .partition(|record| in_force || kept_without_user(record, subs));
        outcome.skip(Skipped::NotAUser, &name, dropped.len());
        if !kept.is_empty() {
            to_store.push((name, kept));
        }
    }
    // Users one by one would cost each a few store round trips (a commit each on the embedded
    // store); many at once share them (group commit, pipelined Redis calls). Each user's own
    // records still go under that user's locks.
    let stored: Vec<Result<(String, usize, bool), StoreError>> = stream::iter(to_store)
        .map(|(name, records)| async move {
            let count = records.len();
            let written = store_own(store, &name, records).await?;
            Ok((name, count, written))
        })
        .buffer_unordered(USERS_AT_ONCE)
        .collect()
        .await;
    for result in stored {
        let (name, count, written) = result?;
        if written {
            outcome.stored += count;
        } else {
            outcome.skip(Skipped::RetiredSince, &name, count);
        }
    }
    outcome.stored += unlocked.len();
    store.put_user_records(unlocked).await?;
    Ok(outcome)
}

/// The local name whose locks cover `record`: its owner, or the owner an index entry names;
/// `None` for provider users' ids and retirement notes.
fn owner_name(record: &UserRecord) -> Option<String> {
    match record.kind {
        RecordKind::PasskeyIndex if record.user == PASSKEY_INDEX_OWNER => {
            Some(String::from_utf8_lossy(&record.value).to_lowercase())
        }
        RecordKind::Retiring if record.user == RETIRING_OWNER => None,
        RecordKind::OidcSubject
            if record.user.starts_with(PROVIDER_PREFIX)
                || record.user.starts_with(LEGACY_PREFIX) =>
        {
            None
        }
        _ => Some(record.user.clone()),
    }
}

/// The name of the provider's user whose subject id `record` is, if it is one.
fn provider_user(record: &UserRecord) -> Option<&str> {
    if record.kind != RecordKind::OidcSubject {
        return None;
    }
    let rest = record.user.strip_prefix(PROVIDER_PREFIX)?;
    rest.split_once(':').map(|(_, name)| name)
}

/// Whether a record of a name the users in force lack is still imported: a credentials record
/// of stamps alone, or a consent given by a provider's user of that name (`subs`: their ids).
fn kept_without_user(record: &UserRecord, subs: &BTreeSet<Vec<u8>>) -> bool {
    match record.kind {
        RecordKind::Credentials => crate::retirement::keeps_no_credential(&record.value),
        RecordKind::OidcConsent => serde_json::from_slice::<Consent>(&record.value)
            .is_ok_and(|consent| !consent.sub.is_empty() && subs.contains(consent.sub.as_bytes())),
        _ => false,
    }
}

/// Stores one user's records under their locks, unless they were retired since the export
/// (then answers false).
async fn store_own(
    store: &Store,
    name: &str,
    records: Vec<UserRecord>,
) -> Result<bool, StoreError> {
    let (consents, own): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|record| record.kind == RecordKind::OidcConsent);
    let held = RecordLock::take(store, name).await?;
    let written = store_under_lock(&held, own, consents).await;
    held.release().await;
    written
}

/// With the user's credentials lock `held`: stores the records, or answers false when the
/// target holds a retirement newer than the file's.
async fn store_under_lock(
    held: &RecordLock<'_>,
    mut own: Vec<UserRecord>,
    consents: Vec<UserRecord>,
) -> Result<bool, StoreError> {
    let store = held.store();
    let target = credentials_record::read_state(store, held.user()).await?;
    let credentials = own
        .iter_mut()
        .find(|record| record.kind == RecordKind::Credentials && record.user == held.user());
    let file_retired_at = credentials
        .as_ref()
        .and_then(|record| credentials_record::parse_state(&record.value).ok())
        .and_then(|state| state.retired_at);
    if target.retired_at > file_retired_at {
        return Ok(false);
    }
    if let Some(record) = credentials {
        record.value =
            credentials_record::later_stamps(&record.value, &target, crate::clock::now());
    }
    store.put_user_records(own).await?;
    if !consents.is_empty() {
        let lock = RecordLock::take_named(store, "consents", held.user()).await?;
        let written = store.put_user_records(consents).await;
        lock.release().await;
        written?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests;
