//! The signed identity a forward-auth upstream gets in `[identity_token] header`: a JWT of at
//! most 60 s, for one app (`aud` = its host), signed with the provider's first key. Signing
//! costs far more than the rest of a check (an RSA signature is about a millisecond), so each
//! token is kept for the rest of the second it was signed in and handed to every check of the
//! same user, app and way of signing in within it: a page with fifty assets signs once.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};

use http::{HeaderName, HeaderValue};
use postern_core::UnixSeconds;
use postern_core::identity::Identity;
use postern_core::oidc::claims::{IdentityTokenClaims, amr};
use postern_core::oidc::keys::SigningKey;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token;

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

struct Cached {
    second: UnixSeconds,
    value: HeaderValue,
}

pub struct IdentityTokens {
    pub header: HeaderName,
    issuer: String,
    key: SigningKey,
    hasher: RandomState,
    /// Entries per shard before the old seconds are swept out.
    capacity: usize,
    shards: [Mutex<HashMap<String, Cached>>; SHARDS],
}

impl IdentityTokens {
    pub fn new(header: HeaderName, issuer: String, key: SigningKey) -> Self {
        Self {
            header,
            issuer,
            key,
            hasher: RandomState::new(),
            capacity: MAX_ENTRIES_PER_SHARD,
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    /// The header value for `identity` (whose subject id is `sub`) at `aud`, signed at most
    /// once per second for each user, app and way of signing in. `None` if signing failed (logged): the answer then goes without it, and
    /// an upstream that needs it refuses the request, which fails closed.
    pub fn value(
        &self,
        identity: &Identity,
        sub: &str,
        aud: &str,
        sign_in: SignIn,
        now: UnixSeconds,
    ) -> Option<HeaderValue> {
        // Every claim that varies is in the key; '\n' appears in none of them (header-safe).
        let key = format!(
            "{}\n{sub}\n{aud}\n{:?}{:?}{}",
            identity.user, sign_in.level, sign_in.way_in, sign_in.federated
        );
        let index = usize::try_from(self.hasher.hash_one(&key) % SHARDS as u64).unwrap_or(0);
        let shard = &self.shards[index];
        if let Some(cached) = shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|cached| cached.second == now)
        {
            return Some(cached.value.clone());
        }
        let claims = IdentityTokenClaims::new(
            &self.issuer,
            sub,
            identity,
            aud,
            amr(sign_in.level, sign_in.way_in, sign_in.federated),
            now,
            token::random_text::<16>(),
        );
        let signed = match self.key.sign(&claims) {
            Ok(signed) => signed,
            Err(err) => {
                tracing::error!(error = %err, "the identity token could not be signed");
                return None;
            }
        };
        let value = HeaderValue::from_str(&signed).ok()?;
        let mut entries = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, cached| cached.second == now);
        }
        // Still full of this second's tokens: this one is not kept (the next check signs).
        if entries.len() < self.capacity {
            entries.insert(
                key,
                Cached {
                    second: now,
                    value: value.clone(),
                },
            );
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests;
