//! Each user's OpenID subject (`sub`): 128 random bits, base64url, kept as a durable user
//! record (`RecordKind::OidcSubject`), so it is the same on every replica and after a restart,
//! and moves with `store export|import`. It is drawn at the first need, never derived from the
//! name: a user removed from the users and later created again under the same name is a new
//! subject to every client.
//!
//! "Never reused" is kept by retiring: when postern retires a local user (`crate::retirement`
//! says when), it deletes their subject record. Ids are random, so a retired id is never drawn
//! again, and the next user of that name gets a fresh one; nothing else (a tombstone) is needed.
//!
//! A provider's user is held under `provider:<provider id>:<name>`: two providers may hand out
//! the same name to two people, and neither name nor provider id can spell the other's part
//! (provider ids have no ':'; local names have none at all). Ids kept by earlier releases
//! under `federated:<name>` are moved once, to the first provider's user of that name who
//! needs one, so that person's `sub` does not change; a user of another provider with the
//! same name gets a new id.
//!
//! Two replicas may need a new user's id at once: the first to store a candidate under a
//! short-lived claim (`put_value`, put-if-absent) wins, and the other takes the winner's
//! candidate, so both write the same record.
//!
//! The store is the one word on a user's id: a replica may never see a retirement (the user
//! removed and put back between two of its reloads, while another replica retired them), and
//! then only the store says the old id is gone. So every lookup reads it (`SubjectIds::of`:
//! authorize, the token endpoint, userinfo, the account page), except the check path's
//! identity token, which takes an id this process read at most `CACHED_FOR` ago
//! (`SubjectIds::cached`) and hands the token it signed to the rest of that second's checks
//! (`identity_token`): it reads the store once per user per `CACHED_FOR`, not once per
//! check, and a missed retirement reaches it within that time and a second.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postern_core::token::random_text;
use postern_store::{RecordKind, Store, StoreError};

/// The record's id under the owner.
const RECORD_ID: &str = "id";
/// How long a claim to mint a user's id stands: long enough for the winner to write the record.
const CLAIM_TTL: Duration = Duration::from_secs(60);
/// How long the check path takes an id from memory before it reads the store again: with the
/// second a signed token is kept, the longest a replica that missed a retirement may still
/// put the old id in an identity token.
pub const CACHED_FOR: Duration = Duration::from_secs(5);
const SHARDS: usize = 16;
/// Entries per shard; a full shard starts over (the ids are still in the store).
const MAX_ENTRIES_PER_SHARD: usize = 8192;
/// Owners of a provider's users (not in `[[users]]`) start with this; local names may not
/// contain ':'.
pub(crate) const PROVIDER_PREFIX: &str = "provider:";
/// How earlier releases held a provider's user, whatever the provider.
pub(crate) const LEGACY_PREFIX: &str = "federated:";
/// How long the note of which provider took a legacy id stands: far longer than the move
/// (after it the legacy record is gone), so a replica that read the legacy id just before
/// never hands it to a second provider's user.
const LEGACY_CLAIM_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// Whose subject: the record owner, in lower case like every stored user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectOwner(String);

impl SubjectOwner {
    /// `provider`: the `[oauth.<id>]` of a provider's user known only through their session,
    /// whose id lives apart from a local user's of the same name and from another provider's
    /// (either may be another person).
    pub fn new(user: &str, provider: Option<&str>) -> Self {
        let name = user.to_lowercase();
        match provider {
            Some(provider) => Self(format!("{PROVIDER_PREFIX}{provider}:{name}")),
            None => Self(name),
        }
    }

    /// The name under which an earlier release kept this provider user's id.
    fn legacy(&self) -> Option<(&str, String)> {
        let rest = self.0.strip_prefix(PROVIDER_PREFIX)?;
        let (provider, name) = rest.split_once(':')?;
        Some((provider, format!("{LEGACY_PREFIX}{name}")))
    }
}

/// One shard of the cache. `retirements` counts the retirements of its owners: a lookup that
/// read the store before one finished does not cache what it read (it may be the retired id).
#[derive(Default)]
struct Shard {
    ids: HashMap<SubjectOwner, Cached>,
    retirements: u64,
}

/// An id as read from the store, and until when the check path may take it from memory.
struct Cached {
    id: Arc<str>,
    until: Instant,
}

/// The subject ids known to this process.
pub struct SubjectIds {
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
    /// Counts the times an id in memory changed or was dropped (a retirement here, a read
    /// that found another id than the one kept, a full shard emptied): the identity tokens
    /// kept under an earlier count may carry an old id, and are not handed out again
    /// (`changes`). A user's first id is no change: no token can carry an earlier one.
    changes: AtomicU64,
}

impl Default for SubjectIds {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            changes: AtomicU64::new(0),
        }
    }
}

impl SubjectIds {
    fn shard(&self, owner: &SubjectOwner) -> std::sync::MutexGuard<'_, Shard> {
        let index = usize::try_from(self.hasher.hash_one(owner) % SHARDS as u64).unwrap_or(0);
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many times an id in memory has changed. A token signed with an id read before a
    /// change is not handed out after it: once any lookup here reads the new id (a
    /// replica that missed a retirement, then signed the new person in to a client), the
    /// check's token carries it too. Changes are rare (retirements, a full shard), so
    /// reading this costs a check one load of a line that stays in every core's cache.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The id of `owner` when this process read it less than `CACHED_FOR` ago (the check
    /// path's identity token; nothing else may take an id that may be stale).
    pub fn cached(&self, owner: &SubjectOwner) -> Option<Arc<str>> {
        self.cached_at(owner, Instant::now())
    }

    fn cached_at(&self, owner: &SubjectOwner, now: Instant) -> Option<Arc<str>> {
        self.shard(owner)
            .ids
            .get(owner)
            .filter(|cached| now < cached.until)
            .map(|cached| Arc::clone(&cached.id))
    }

    /// The id of `owner` as the store has it (a new one stored when it has none); kept in
    /// memory for the check path.
    pub async fn of(&self, store: &Store, owner: &SubjectOwner) -> Result<Arc<str>, StoreError> {
        let retirements = self.shard(owner).retirements;
        let id: Arc<str> = load_or_mint(store, owner).await?.into();
        self.cache_if_unretired(owner, retirements, &id);
        Ok(id)
    }

    /// Keeps `id`, read from the store while the shard's count of retirements was `counted`,
    /// unless a retirement ran since: what was read may then be the retired id, which must
    /// not outlive it here (the one answer that read it began before it). True when kept.
    fn cache_if_unretired(&self, owner: &SubjectOwner, counted: u64, id: &Arc<str>) -> bool {
        let mut shard = self.shard(owner);
        if shard.retirements != counted {
            return false;
        }
        if shard.ids.len() >= MAX_ENTRIES_PER_SHARD {
            shard.ids.clear();
            self.changes.fetch_add(1, Ordering::Release);
        }
        let cached = Cached {
            id: Arc::clone(id),
            until: Instant::now() + CACHED_FOR,
        };
        let earlier = shard.ids.insert(owner.clone(), cached);
        if earlier.is_some_and(|earlier| earlier.id != *id) {
            self.changes.fetch_add(1, Ordering::Release);
        }
        true
    }

    fn forget(&self, owner: &SubjectOwner) {
        let mut shard = self.shard(owner);
        shard.ids.remove(owner);
        shard.retirements = shard.retirements.wrapping_add(1);
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// Retires the id of the local user `name`: the next user of that name gets a new id.
    /// True when there was one.
    pub async fn retire(&self, store: &Store, name: &str) -> Result<bool, StoreError> {
        let owner = SubjectOwner::new(name, None);
        self.forget(&owner);
        // The claim first: a claim still standing would hand its id to the next user of this
        // name, and an id being drawn now sees it gone after its write and takes that back.
        store.take_value(&claim_key(&owner)).await?;
        let had = stored(store, &owner).await?.is_some();
        store
            .delete_user_record(&owner.0, RecordKind::OidcSubject, RECORD_ID)
            .await?;
        // Again, after the delete: a lookup between the first forget and the delete read the
        // old id, and the count it started under has moved on, so it does not cache it.
        self.forget(&owner);
        Ok(had)
    }
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
    let drawn = draw(store, owner).await?;
    keep(store, owner, drawn).await
}

/// An id drawn for a user without one, and whether it stands under a claim.
struct Drawn {
    id: String,
    claimed: bool,
}

/// Claims a new id for `owner` (or takes the one another request claimed first).
async fn draw(store: &Store, owner: &SubjectOwner) -> Result<Drawn, StoreError> {
    let candidate = match legacy_id(store, owner).await? {
        Some(kept) => kept,
        None => random_text::<16>(),
    };
    let claim = claim_key(owner);
    if store
        .put_value(&claim, candidate.clone().into_bytes(), CLAIM_TTL)
        .await?
    {
        return Ok(Drawn {
            id: candidate,
            claimed: true,
        });
    }
    // Another request (here or on another replica) claimed first: its id is the one.
    match store.peek_value(&claim).await? {
        Some(bytes) => Ok(Drawn {
            id: String::from_utf8(bytes)
                .map_err(|_| StoreError::unavailable("an unreadable OpenID subject claim"))?,
            claimed: true,
        }),
        // The claim lapsed (or a retirement took it): its winner has stored the record by now.
        None => Ok(Drawn {
            id: stored(store, owner).await?.ok_or_else(|| {
                StoreError::unavailable("an OpenID subject claim lapsed before its record")
            })?,
            claimed: false,
        }),
    }
}

/// Stores the drawn id as `owner`'s record. A retirement takes the claim before it deletes the
/// record, so a claim gone right after this write means one ran meanwhile: the record is taken
/// back (the next user of the name must not get this id) and the request fails closed.
async fn keep(store: &Store, owner: &SubjectOwner, drawn: Drawn) -> Result<String, StoreError> {
    // The loser writes the same value as the winner, so the order of the two writes is moot.
    store
        .put_user_record(
            &owner.0,
            RecordKind::OidcSubject,
            RECORD_ID,
            drawn.id.clone().into_bytes(),
        )
        .await?;
    if drawn.claimed && store.peek_value(&claim_key(owner)).await?.is_none() {
        store
            .delete_user_record(&owner.0, RecordKind::OidcSubject, RECORD_ID)
            .await?;
        return Err(StoreError::unavailable(
            "the user was retired while their OpenID subject id was drawn",
        ));
    }
    if let Some((_, legacy)) = owner.legacy() {
        store
            .delete_user_record(&legacy, RecordKind::OidcSubject, RECORD_ID)
            .await?;
    }
    Ok(drawn.id)
}

/// The id an earlier release kept for this provider user's name (`federated:<name>`), when
/// this provider is the first to take it: a note put-if-absent names the one provider whose
/// user gets it, on every replica.
async fn legacy_id(store: &Store, owner: &SubjectOwner) -> Result<Option<String>, StoreError> {
    let Some((provider, legacy)) = owner.legacy() else {
        return Ok(None);
    };
    let Some(kept) = stored(store, &SubjectOwner(legacy.clone())).await? else {
        return Ok(None);
    };
    let note = format!("oidc-subject-legacy:{legacy}");
    let taken = store
        .put_value(&note, provider.as_bytes().to_vec(), LEGACY_CLAIM_TTL)
        .await?
        || store.peek_value(&note).await?.as_deref() == Some(provider.as_bytes());
    Ok(taken.then_some(kept))
}

#[cfg(test)]
mod tests;
