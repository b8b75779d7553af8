//! Each user's OpenID subject (`sub`): 128 random bits, base64url, kept as a durable user
//! record (`RecordKind::OidcSubject`), so it is the same on every replica and after a restart,
//! and moves with `store export|import`. It is drawn at the first need, never derived from the
//! name: a user removed from the users and later created again under the same name is a new
//! subject to every client.
//!
//! "Never reused" is kept by retiring: when postern sees a local user gone (a reload without
//! them, or a start whose users lack them), it deletes their subject record. Ids are random, so
//! a retired id is never drawn again, and the next user of that name gets a fresh one; nothing
//! else (a tombstone) is needed. A name removed and put back within one edit of the file, never
//! seen missing, stays the same subject.
//!
//! Two replicas may need a new user's id at once: the first to store a candidate under a
//! short-lived claim (`put_value`, put-if-absent) wins, and the other takes the winner's
//! candidate, so both write the same record. Ids are cached in memory, so the check path (the
//! identity token) reads the store once per user, not once per check.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postern_core::token::random_text;
use postern_core::users::UserTable;
use postern_store::{RecordKind, Store, StoreError};

/// The record's id under the owner.
const RECORD_ID: &str = "id";
/// How long a claim to mint a user's id stands: long enough for the winner to write the record.
const CLAIM_TTL: Duration = Duration::from_secs(60);
const SHARDS: usize = 16;
/// Entries per shard; a full shard starts over (the ids are still in the store).
const MAX_ENTRIES_PER_SHARD: usize = 8192;
/// Owners of a provider's users (not in `[[users]]`) start with this; local names may not
/// contain ':'.
const FEDERATED_PREFIX: &str = "federated:";

/// Whose subject: the record owner, in lower case like every stored user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectOwner(String);

impl SubjectOwner {
    /// `federated`: a provider's user known only through their session, whose id lives apart
    /// from a local user's of the same name (who may be another person).
    pub fn new(user: &str, federated: bool) -> Self {
        let name = user.to_lowercase();
        if federated {
            Self(format!("{FEDERATED_PREFIX}{name}"))
        } else {
            Self(name)
        }
    }

    fn is_federated(&self) -> bool {
        self.0.starts_with(FEDERATED_PREFIX)
    }
}

/// The subject ids known to this process.
pub struct SubjectIds {
    hasher: RandomState,
    shards: [Mutex<HashMap<SubjectOwner, Arc<str>>>; SHARDS],
}

impl Default for SubjectIds {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

impl SubjectIds {
    fn shard(&self, owner: &SubjectOwner) -> &Mutex<HashMap<SubjectOwner, Arc<str>>> {
        let index = usize::try_from(self.hasher.hash_one(owner) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// The id of `owner`, from memory when this process has seen it.
    pub fn cached(&self, owner: &SubjectOwner) -> Option<Arc<str>> {
        self.shard(owner)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(owner)
            .cloned()
    }

    /// The id of `owner`: from memory, else from the store, else a new one stored.
    pub async fn of(&self, store: &Store, owner: &SubjectOwner) -> Result<Arc<str>, StoreError> {
        if let Some(id) = self.cached(owner) {
            return Ok(id);
        }
        let id: Arc<str> = load_or_mint(store, owner).await?.into();
        let mut entries = self
            .shard(owner)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES_PER_SHARD {
            entries.clear();
        }
        entries.insert(owner.clone(), Arc::clone(&id));
        Ok(id)
    }

    fn forget(&self, owner: &SubjectOwner) {
        self.shard(owner)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(owner);
    }

    /// Retires the ids of local users postern saw removed: the next user of such a name gets
    /// a new id.
    pub async fn retire(
        &self,
        store: &Store,
        removed: impl IntoIterator<Item = String>,
    ) -> Result<usize, StoreError> {
        let mut retired = 0;
        for name in removed {
            let owner = SubjectOwner::new(&name, false);
            self.forget(&owner);
            store
                .delete_user_record(&owner.0, RecordKind::OidcSubject, RECORD_ID)
                .await?;
            // A claim still standing would hand its id to the next user of this name.
            store.take_value(&claim_key(&owner)).await?;
            self.forget(&owner);
            retired += 1;
        }
        Ok(retired)
    }

    /// On reload: retires the ids of the local users of `before` that `after` lacks.
    pub async fn retire_removed(
        &self,
        store: &Store,
        before: &UserTable,
        after: &UserTable,
    ) -> Result<usize, StoreError> {
        self.retire(store, removed_users(before, after)).await
    }

    /// At start: retires the ids of local users that are not in `users` (removed while postern
    /// was stopped).
    pub async fn retire_absent(
        &self,
        store: &Store,
        users: &UserTable,
    ) -> Result<usize, StoreError> {
        if !store.keeps_records_durably() {
            return Ok(0);
        }
        let absent: Vec<String> = store
            .all_user_records()
            .await?
            .into_iter()
            .filter(|record| record.kind == RecordKind::OidcSubject)
            .map(|record| SubjectOwner(record.user))
            .filter(|owner| !owner.is_federated() && users.get(&owner.0).is_none())
            .map(|owner| owner.0)
            .collect();
        self.retire(store, absent).await
    }
}

/// The local users of `before` that `after` lacks.
fn removed_users(before: &UserTable, after: &UserTable) -> Vec<String> {
    before
        .iter()
        .filter(|user| after.get(&user.name).is_none())
        .map(|user| user.name.to_lowercase())
        .collect()
}

fn claim_key(owner: &SubjectOwner) -> String {
    format!("oidc-subject-claim:{}", owner.0)
}

async fn stored(store: &Store, owner: &SubjectOwner) -> Result<Option<String>, StoreError> {
    Ok(store
        .user_record(&owner.0, RecordKind::OidcSubject, RECORD_ID)
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| !id.is_empty()))
}

async fn load_or_mint(store: &Store, owner: &SubjectOwner) -> Result<String, StoreError> {
    if let Some(id) = stored(store, owner).await? {
        return Ok(id);
    }
    let candidate = random_text::<16>();
    let claim = claim_key(owner);
    let id = if store
        .put_value(&claim, candidate.clone().into_bytes(), CLAIM_TTL)
        .await?
    {
        candidate
    } else {
        // Another request (here or on another replica) claimed first: its id is the one.
        match store.peek_value(&claim).await? {
            Some(bytes) => String::from_utf8(bytes)
                .map_err(|_| StoreError::unavailable("an unreadable OpenID subject claim"))?,
            // The claim lapsed: its winner has stored the record by now.
            None => stored(store, owner).await?.ok_or_else(|| {
                StoreError::unavailable("an OpenID subject claim lapsed before its record")
            })?,
        }
    };
    // The loser writes the same value as the winner, so the order of the two writes is moot.
    store
        .put_user_record(
            &owner.0,
            RecordKind::OidcSubject,
            RECORD_ID,
            id.clone().into_bytes(),
        )
        .await?;
    Ok(id)
}

#[cfg(test)]
mod tests;
