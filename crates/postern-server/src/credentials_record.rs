//! The one credentials record a durable store keeps per user (`RecordKind::Credentials`): its
//! shape, reading and writing it, and the lock that keeps its changes one at a time on every
//! replica. What it means is decided elsewhere: the password in force in `user_passwords`,
//! the second factors in `user_factors`.

use std::time::{Duration, Instant};

use postern_core::token::random_text;
use postern_store::{RecordKind, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The id of the one credentials record of a user.
const CURRENT: &str = "current";

/// What a durable store keeps about a user (`RecordKind::Credentials`): a hash set through the
/// API, when `postern users revoke` last ended everything of theirs, and the second factors
/// the user set up on their account page (`user_factors`). One record, so the sign-in path
/// reads everything about a user's credentials in one store call.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct UserState {
    pub(crate) kept: Option<KeptHash>,
    pub(crate) revoked_at: Option<u64>,
    /// When the user of this name was last retired (`crate::retirement`): what an export
    /// taken before holds of the name was the person retired, and is not imported back
    /// (`crate::record_import`). Kept by every later write of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retired_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) totp: Option<KeptTotp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recovery: Option<KeptRecovery>,
    /// Counts the changes of second factors: part of the stamp, so each change ends the
    /// user's bearer tokens and cached Basic credentials. Never goes back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) factors_version: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A password hash set through the API.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptHash {
    pub(crate) hash: String,
    /// The hash the user's file or config held when this one was set.
    pub(crate) replaces: String,
}

/// The user's record; none is an empty one. A record that does not read is an error, never an
/// empty one: that would drop the user's own second factors and undo a revocation (fail closed).
pub(crate) async fn read_state(store: &Store, user: &str) -> Result<UserState, StoreError> {
    let Some(bytes) = store
        .user_record(user, RecordKind::Credentials, CURRENT)
        .await?
    else {
        return Ok(UserState::default());
    };
    parse_state(&bytes).map_err(|why| {
        tracing::error!(user, "the credentials record does not read: {why}");
        StoreError::unavailable(format!("{user}'s credentials record does not read: {why}"))
    })
}

/// A credentials record's value, or why it is not one. The reason names where it broke, never
/// the text around it (the record holds secrets).
pub(crate) fn parse_state(bytes: &[u8]) -> Result<UserState, String> {
    serde_json::from_slice(bytes).map_err(|err| {
        format!(
            "{:?} error at line {} column {}",
            err.classify(),
            err.line(),
            err.column()
        )
    })
}

/// The credentials record `bytes` (from an export) with the later of its and `target`'s
/// revocation and retirement stamps, and the higher count of changes of factors: an import
/// never moves any of them back (each ended tokens; moving one back would bring them back).
/// An import that replaces the password `target` keeps (set through the API) revokes at `now`:
/// the tokens issued under the hash the file brings back were ended by the change it undoes,
/// and those issued under the replaced one belong to a password that no longer holds.
/// Bytes that do not read are returned as they are (the import checked them already).
pub(crate) fn later_stamps(bytes: &[u8], target: &UserState, now: u64) -> Vec<u8> {
    let Ok(mut state) = parse_state(bytes) else {
        return bytes.to_vec();
    };
    state.revoked_at = state.revoked_at.max(target.revoked_at);
    let kept_hash = |state: &UserState| state.kept.as_ref().map(|kept| kept.hash.clone());
    if target.kept.is_some() && kept_hash(&state) != kept_hash(target) {
        state.revoked_at = state.revoked_at.max(Some(now));
    }
    state.retired_at = state.retired_at.max(target.retired_at);
    state.factors_version = state.factors_version.max(target.factors_version);
    serde_json::to_vec(&state).unwrap_or_else(|_| bytes.to_vec())
}

/// Removes the user's record (`crate::retirement`) and returns what it held, as far as it
/// reads (`None`: there was none, or it did not read; it is removed all the same).
pub(crate) async fn remove_state(held: &RecordLock<'_>) -> Result<Option<UserState>, StoreError> {
    let (store, user) = (held.store, held.user.as_str());
    let bytes = store
        .user_record(user, RecordKind::Credentials, CURRENT)
        .await?;
    store
        .delete_user_record(user, RecordKind::Credentials, CURRENT)
        .await?;
    Ok(bytes.and_then(|bytes| parse_state(&bytes).ok()))
}

pub(crate) async fn write_state(
    store: &Store,
    user: &str,
    state: &UserState,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(state).unwrap_or_default();
    store
        .put_user_record(user, RecordKind::Credentials, CURRENT, bytes)
        .await
}

/// One change of a user's credentials record at a time, on every replica: a mark in the store
/// (set if absent, for at most `LOCK_TTL`), held from the read to the write, so a password
/// change, a revocation and a change of second factors made at once (on two replicas, or by
/// `postern users` beside a running server on Redis) never write over each other.
///
/// The lock is owned: `take` stores a random token of its own, and `release` deletes the mark
/// only while it still holds that token (`Store::take_value_if`, one atomic step on every
/// backend). A holder that ran past `LOCK_TTL` (a stalled store) and lost the lock to the next
/// holder does not free that holder's lock when it finishes.
///
/// The credentials lock also covers the user's passkeys (`webauthn::records`): every write of
/// a passkey or of its owner-index entry takes a held lock as its proof, and a TOTP removal
/// counts the passkeys left under it, so no change of second factors undoes another or slips
/// past the last-factor rule.
pub(crate) struct RecordLock<'a> {
    store: &'a Store,
    user: String,
    key: String,
    /// This holder's own mark: 128 random bits, base64url.
    token: String,
}

/// Long enough for a read, a `users_file` rewrite and a write; a holder that died frees it then.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// How long a change waits for another one to finish before it gives up (503).
const LOCK_WAIT: Duration = Duration::from_secs(5);

impl<'a> RecordLock<'a> {
    pub(crate) async fn take(store: &'a Store, user: &str) -> Result<Self, StoreError> {
        Self::take_named(store, "credentials", user).await
    }

    /// The lock of another of `user`'s records (`what`: `consents`), with the same rules.
    pub(crate) async fn take_named(
        store: &'a Store,
        what: &str,
        user: &str,
    ) -> Result<Self, StoreError> {
        let key = format!("{what}-lock:{{{}}}", user.to_lowercase());
        let token = random_text::<16>();
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            if store
                .put_value(&key, token.clone().into_bytes(), LOCK_TTL)
                .await?
            {
                return Ok(Self {
                    store,
                    user: user.to_owned(),
                    key,
                    token,
                });
            }
            if Instant::now() >= deadline {
                return Err(StoreError::unavailable(
                    "another change of this user's credentials did not finish",
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The store the lock is held in.
    pub(crate) fn store(&self) -> &'a Store {
        self.store
    }

    /// The user whose record the lock is for, as the caller spelled the name.
    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// Frees the lock if this holder still holds it. A failure only leaves it to expire.
    pub(crate) async fn release(self) {
        match self
            .store
            .take_value_if(&self.key, self.token.as_bytes())
            .await
        {
            Ok(true) => {}
            // Its TTL ran out while held: another change may have overlapped this one.
            Ok(false) => tracing::warn!(
                user = %self.user,
                "a credentials lock expired before its change finished (LOCK_TTL {} s)",
                LOCK_TTL.as_secs()
            ),
            Err(err) => {
                tracing::warn!(error = %err, "a credentials lock was not freed; it expires by itself");
            }
        }
    }
}

/// A TOTP secret the user enrolled (confirmed with a right code).
#[derive(Clone, Serialize, Deserialize)]
pub struct KeptTotp {
    /// Base32, as `TotpKey::parse` reads it.
    pub secret: String,
    pub enrolled_at: u64,
}

/// Recovery codes the user made: argon2id hashes, never the codes.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeptRecovery {
    pub hashes: Vec<String>,
    /// A fingerprint of the codes the config held when these were made.
    pub replaces: String,
    pub created_at: u64,
}

/// A short fingerprint, for tokens and the Basic cache.
pub(crate) fn fingerprint(text: &str) -> String {
    postern_core::mac::hex(&Sha256::digest(text.as_bytes())[..8])
}

#[cfg(test)]
mod tests;
