//! The signed identity a forward-auth upstream gets in `[identity_token] header`: a JWT of at
//! most 60 s, for one app (`aud` = its host), signed with the provider's first key. Signing
//! costs far more than the rest of a check (an RSA signature is about a millisecond), so each
//! token is kept for the rest of the second it was signed in and handed to every check of the
//! same user, app and way of signing in within it: a page with fifty assets signs once.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use hashbrown::HashTable;
use http::{HeaderName, HeaderValue};
use postern_core::UnixSeconds;
use postern_core::access;
use postern_core::identity::Identity;
use postern_core::oidc::claims::{IdentityTokenClaims, amr};
use postern_core::oidc::keys::SigningKey;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token;

mod last_handed;

/// Shards of the cache, so concurrent checks of different users rarely wait for each other.
const SHARDS: usize = 16;
/// Entries per shard: when full, earlier seconds are swept out, then nothing more is kept.
const MAX_ENTRIES_PER_SHARD: usize = 4096;

/// How the user signed in, which the token states (`amr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignIn {
    pub level: AuthLevel,
    /// Which factors signed in.
    pub way_in: WayIn,
    /// A provider's own user (read only when the way in was not recorded).
    pub federated: bool,
}

/// Whose token for which app: what a token is filed under. Its claims are the user's
/// identity, subject id and way in, the app and the time; the subject id follows from the
/// user and their provider. Email, name and groups are not in the key: for a local user
/// they change only with a reload; a provider's user carries them in each session, so two
/// of their sessions that differ (groups changed at the provider between two sign-ins) may
/// be handed one token within a second. Borrowed from the check: a lookup builds no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFor<'a> {
    pub user: &'a str,
    /// The `[oauth.<id>]` of a provider's user, whose subject id is their own.
    pub provider: Option<&'a str>,
    /// The app's host: the token's `aud`.
    pub aud: &'a str,
    pub sign_in: SignIn,
}

/// A `TokenFor` that owns its parts, as a kept token is filed under.
struct OwnedFor {
    user: Box<str>,
    provider: Option<Box<str>>,
    aud: Box<str>,
    sign_in: SignIn,
}

impl OwnedFor {
    fn of(wanted: &TokenFor<'_>) -> Self {
        Self {
            user: wanted.user.into(),
            provider: wanted.provider.map(Into::into),
            aud: wanted.aud.into(),
            sign_in: wanted.sign_in,
        }
    }

    fn is_for(&self, wanted: &TokenFor<'_>) -> bool {
        *self.user == *wanted.user
            && *self.aud == *wanted.aud
            && self.provider.as_deref() == wanted.provider
            && self.sign_in == wanted.sign_in
    }
}

/// A token kept for the rest of the second it was signed in.
struct Kept {
    hash: u64,
    parts: OwnedFor,
    second: UnixSeconds,
    /// `SubjectIds::changes` when the subject id it carries was looked up.
    subject_changes: u64,
    value: HeaderValue,
}

/// Where each `IdentityTokens` gets its `id`.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct IdentityTokens {
    pub header: HeaderName,
    /// Tells this cache's tokens from another's in a thread's last-handed token.
    id: u64,
    issuer: String,
    key: SigningKey,
    hasher: RandomState,
    /// Entries per shard before the old seconds are swept out.
    capacity: usize,
    shards: [Mutex<HashTable<Kept>>; SHARDS],
}

impl IdentityTokens {
    pub fn new(header: HeaderName, issuer: String, key: SigningKey) -> Self {
        Self {
            header,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            issuer,
            key,
            hasher: RandomState::new(),
            capacity: MAX_ENTRIES_PER_SHARD,
            shards: std::array::from_fn(|_| Mutex::new(HashTable::new())),
        }
    }

    /// The token for `wanted` signed in the second `now`, if one was, while no subject id in
    /// memory changed since (`subject_changes`: `SubjectIds::changes` now): the one this
    /// thread handed out last when it is for `wanted` (`last_handed` says why), else the
    /// table's. Never looks up the subject id, and allocates nothing once this thread's
    /// last-handed buffers have grown.
    pub fn kept(
        &self,
        wanted: &TokenFor<'_>,
        now: UnixSeconds,
        subject_changes: u64,
    ) -> Option<HeaderValue> {
        if let Some(value) = last_handed::find(self.id, wanted, now, subject_changes) {
            return Some(value);
        }
        // The borrowed parts hashed once, for the shard and the table.
        let hash = self.hash(wanted);
        let value = self
            .shard(hash)
            .find(hash, |kept| kept.parts.is_for(wanted))
            .filter(|kept| kept.second == now && kept.subject_changes == subject_changes)
            .map(|kept| kept.value.clone())?;
        last_handed::remember(self.id, wanted, now, subject_changes, &value);
        Some(value)
    }

    /// A new token for `wanted` (whose subject id is `sub`, looked up when
    /// `SubjectIds::changes` was `subject_changes`; whose claims are `identity`'s), kept for
    /// the rest of the second `now`. `None` if signing failed (logged): the answer
    /// then goes without it, and an upstream that needs it refuses the request, which fails
    /// closed.
    pub fn sign(
        &self,
        wanted: &TokenFor<'_>,
        identity: &Identity,
        sub: &str,
        now: UnixSeconds,
        subject_changes: u64,
    ) -> Option<HeaderValue> {
        let sign_in = wanted.sign_in;
        let mut claims = IdentityTokenClaims::new(
            &self.issuer,
            sub,
            identity,
            wanted.aud,
            amr(sign_in.level, sign_in.way_in, sign_in.federated),
            now,
            token::random_text::<16>(),
        );
        // A provider's user's groups under their `<provider>:<group>` names, as in ID tokens
        // (`access::provider_groups` says why). Only when a token is signed, not per check.
        let provider_groups = wanted
            .provider
            .map(|provider| access::provider_groups(provider, &identity.groups));
        if let Some(groups) = &provider_groups {
            claims.groups = groups;
        }
        let signed = match self.key.sign(&claims) {
            Ok(signed) => signed,
            Err(err) => {
                tracing::error!(error = %err, "the identity token could not be signed");
                return None;
            }
        };
        let value = HeaderValue::from_str(&signed).ok()?;
        self.keep(wanted, now, subject_changes, &value);
        last_handed::remember(self.id, wanted, now, subject_changes, &value);
        Some(value)
    }

    fn keep(
        &self,
        wanted: &TokenFor<'_>,
        now: UnixSeconds,
        subject_changes: u64,
        value: &HeaderValue,
    ) {
        let hash = self.hash(wanted);
        let mut table = self.shard(hash);
        if let Some(kept) = table.find_mut(hash, |kept| kept.parts.is_for(wanted)) {
            kept.second = now;
            kept.subject_changes = subject_changes;
            kept.value = value.clone();
            return;
        }
        if table.len() >= self.capacity {
            table.retain(|kept| kept.second == now);
        }
        // Still full of this second's tokens: this one is not kept (the next check of another
        // thread, or after another token on this one, signs).
        if table.len() < self.capacity {
            let kept = Kept {
                hash,
                parts: OwnedFor::of(wanted),
                second: now,
                subject_changes,
                value: value.clone(),
            };
            table.insert_unique(hash, kept, |kept| kept.hash);
        }
    }

    /// The strings only, each closed by a byte UTF-8 never holds: SipHash pays for every
    /// write, and a derived `Hash` makes eight of them (the enums' and the `Option`'s
    /// discriminants a whole block each): 668 instructions a check under callgrind, against
    /// 347 for these. Tokens of one user and app signed in different ways
    /// share a hash; `OwnedFor::is_for` tells them apart.
    ///
    /// SipHash, not a faster keyed hash such as foldhash (hashbrown's default): `aud` is the
    /// host the proxy says was requested, so wherever a wildcard app or the default policy
    /// lets a signed-in user reach many hosts, that user picks what is hashed, and foldhash
    /// does not claim to resist an attacker who learns its key from timing; colliding
    /// entries would make lookups in a shard walk up to its 4,096 entries under the shard's
    /// lock. The hash is paid only when the thread's last token is not the one wanted
    /// (another user, host or way of signing in, or a new second): 347 instructions, 2 % of
    /// a check (docs/performance.md, the twenty-first and twenty-fourth sessions).
    fn hash(&self, wanted: &TokenFor<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(wanted.user.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(wanted.aud.as_bytes());
        hasher.write_u8(0xff);
        if let Some(provider) = wanted.provider {
            hasher.write(provider.as_bytes());
        }
        hasher.finish()
    }

    /// The shard from bits the table does not use to place or tag an entry (it takes the
    /// lowest for the slot, the highest seven for the tag), so each shard's table spreads
    /// its entries over all its slots.
    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, HashTable<Kept>> {
        let index = usize::try_from((hash >> 32) % SHARDS as u64).unwrap_or(0);
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
