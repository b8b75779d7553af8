//! The passkeys of a user, kept as durable user records in the store (the embedded file or
//! Redis), so every replica sees the same ones: one record per credential, the user's random
//! user handle, and an index from handles and credential ids to their owner.
//!
//! Every write here happens under the user's credentials lock (`RecordLock`, held from the
//! caller's first read to the last write; the writers take it as their proof), on every
//! replica: a sign-in's counter update, a rename, a registration and a removal made at once
//! never write over each other, so a removed passkey (and its owner-index entry) stays removed,
//! and the last-factor rule counts the factors as they are.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postern_core::UnixSeconds;
use postern_core::token::random_bytes;
use postern_store::{PASSKEY_INDEX_OWNER, RecordKind, Store, StoreError};
use serde::{Deserialize, Serialize};
use webauthn_rs_core::proto::Credential;

use crate::credentials_record::RecordLock;

/// The id of the user handle record.
const HANDLE: &str = "handle";
/// Longest passkey name kept, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One registered passkey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    pub name: String,
    /// The public key, its counter and flags, as `webauthn-rs-core` keeps them.
    pub credential: Credential,
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
}

impl StoredPasskey {
    /// The credential id as the API and the record id write it (base64url, no padding).
    pub fn id(&self) -> String {
        encode(&self.credential.cred_id)
    }
}

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A name as kept: trimmed, control characters dropped, at most `MAX_NAME_CHARS`; `None` when
/// nothing is left.
pub fn clean_name(raw: &str) -> Option<String> {
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The user's passkeys, oldest first. A record that no longer parses is skipped (and said).
pub async fn list(store: &Store, user: &str) -> Result<Vec<StoredPasskey>, StoreError> {
    let mut passkeys: Vec<StoredPasskey> = store
        .user_records(user, RecordKind::Passkeys)
        .await?
        .into_iter()
        .filter_map(|(id, bytes)| match serde_json::from_slice(&bytes) {
            Ok(passkey) => Some(passkey),
            Err(err) => {
                tracing::error!(user, id, error = %err, "a stored passkey does not parse; it is ignored");
                None
            }
        })
        .collect();
    passkeys.sort_by_key(|passkey| (passkey.created_at, passkey.id()));
    Ok(passkeys)
}

/// True when the user has at least one passkey: their password then needs a second step.
pub async fn registered(store: &Store, user: &str) -> Result<bool, StoreError> {
    Ok(!store
        .user_records(user, RecordKind::Passkeys)
        .await?
        .is_empty())
}

pub async fn find(
    store: &Store,
    user: &str,
    id: &str,
) -> Result<Option<StoredPasskey>, StoreError> {
    Ok(store
        .user_record(user, RecordKind::Passkeys, id)
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Stores (or replaces) a passkey of the user whose credentials lock is `held`, and its entry
/// in the owner index.
pub(crate) async fn save(held: &RecordLock<'_>, passkey: &StoredPasskey) -> Result<(), StoreError> {
    let id = passkey.id();
    let bytes = serde_json::to_vec(passkey).unwrap_or_default();
    index(held, &credential_entry(&id)).await?;
    held.store()
        .put_user_record(held.user(), RecordKind::Passkeys, &id, bytes)
        .await
}

/// Names the user whose credentials lock is `held` as the owner of `entry` in the index.
async fn index(held: &RecordLock<'_>, entry: &str) -> Result<(), StoreError> {
    let owner = held.user().to_lowercase().into_bytes();
    held.store()
        .put_user_record(PASSKEY_INDEX_OWNER, RecordKind::PasskeyIndex, entry, owner)
        .await
}

/// Removes a passkey of the user whose credentials lock is `held`; false when they have none
/// by that id.
pub(crate) async fn remove(held: &RecordLock<'_>, id: &str) -> Result<bool, StoreError> {
    let (store, user) = (held.store(), held.user());
    if find(store, user, id).await?.is_none() {
        return Ok(false);
    }
    forget(store, user, id).await?;
    Ok(true)
}

/// Deletes one passkey of `user` and its owner-index entry. The entry first: cut short in
/// between, the passkey is left unable to sign in (no owner) and is still listed, so removing
/// it again finishes the job.
async fn forget(store: &Store, user: &str, id: &str) -> Result<(), StoreError> {
    store
        .delete_user_record(
            PASSKEY_INDEX_OWNER,
            RecordKind::PasskeyIndex,
            &credential_entry(id),
        )
        .await?;
    store
        .delete_user_record(user, RecordKind::Passkeys, id)
        .await
}

/// Removes every passkey of the user whose credentials lock is `held`, their user handle and
/// the index entries of both (`crate::retirement`): the next user of the name registers
/// afresh, under a new handle.
/// Returns how many passkeys there were.
pub(crate) async fn remove_all(held: &RecordLock<'_>) -> Result<usize, StoreError> {
    let (store, user) = (held.store(), held.user());
    let passkeys = store.user_records(user, RecordKind::Passkeys).await?;
    for (id, _) in &passkeys {
        forget(store, user, id).await?;
    }
    if let Some(handle) = store
        .user_record(user, RecordKind::PasskeyHandle, HANDLE)
        .await?
    {
        store
            .delete_user_record(
                PASSKEY_INDEX_OWNER,
                RecordKind::PasskeyIndex,
                &handle_entry(&handle),
            )
            .await?;
        store
            .delete_user_record(user, RecordKind::PasskeyHandle, HANDLE)
            .await?;
    }
    Ok(passkeys.len())
}

/// The user (lower case) a credential id is registered to, if any.
pub async fn owner_of_credential(store: &Store, id: &str) -> Result<Option<String>, StoreError> {
    owner(store, &credential_entry(id)).await
}

/// The user (lower case) whose user handle this is, if any.
pub async fn owner_of_handle(store: &Store, handle: &[u8]) -> Result<Option<String>, StoreError> {
    owner(store, &handle_entry(handle)).await
}

/// The user's WebAuthn user handle: 32 random bytes drawn at their first registration, never
/// derived from the name (an authenticator may show or leak it). Drawn under the user's
/// credentials lock, so two first registrations at once (two tabs, two replicas) agree on one.
pub async fn user_handle(store: &Store, user: &str) -> Result<Vec<u8>, StoreError> {
    if let Some(handle) = stored_handle(store, user).await? {
        return Ok(handle);
    }
    let held = RecordLock::take(store, user).await?;
    let drawn = draw_handle(&held).await;
    held.release().await;
    drawn
}

/// The handle of the user whose credentials lock is `held`: the one stored meanwhile, else a
/// new one.
async fn draw_handle(held: &RecordLock<'_>) -> Result<Vec<u8>, StoreError> {
    let (store, user) = (held.store(), held.user());
    if let Some(handle) = stored_handle(store, user).await? {
        return Ok(handle);
    }
    let handle = random_bytes::<32>().to_vec();
    // The index first: a handle without an owner entry could never sign in passwordless.
    index(held, &handle_entry(&handle)).await?;
    store
        .put_user_record(user, RecordKind::PasskeyHandle, HANDLE, handle.clone())
        .await?;
    Ok(handle)
}

async fn stored_handle(store: &Store, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(store
        .user_record(user, RecordKind::PasskeyHandle, HANDLE)
        .await?
        .filter(|handle| !handle.is_empty()))
}

async fn owner(store: &Store, entry: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .user_record(PASSKEY_INDEX_OWNER, RecordKind::PasskeyIndex, entry)
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

fn credential_entry(id: &str) -> String {
    format!("credential:{id}")
}

fn handle_entry(handle: &[u8]) -> String {
    format!("handle:{}", encode(handle))
}
