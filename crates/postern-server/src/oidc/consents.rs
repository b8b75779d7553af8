//! The OpenID clients a user allowed: one durable user record per user and client
//! (`RecordKind::OidcConsent`), holding the scopes granted, since when, and the token families
//! (each code exchange's access token, and its refresh tokens) issued to the client for the
//! user since. The one place that reads, grants and revokes a consent: the consent page, the
//! account page and `postern users consents` all come here, so revoking always ends the
//! client's access and refresh tokens as well.
//!
//! A revoked consent is kept as a record without scopes, for its `generation` alone: every
//! code carries the generation it was issued under, and the token endpoint refuses a code
//! issued before a revocation (`admit_code`), on every replica.
//!
//! A consent is bound to the subject id (`oidc::subjects`) of the person who gave it: one
//! kept under the same name for another id (a user removed and created again, a provider's
//! user of the same name, or a record from before consents were bound) is neither honoured
//! nor shown; the next consent given replaces it (keeping its token families, so a
//! revocation still ends them, and its generation). Retiring a user removes their consents
//! (`retire_all`).

use std::time::Duration;

use postern_core::UnixSeconds;
use postern_store::{RecordKind, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::grants;
use crate::credentials_record::RecordLock;

/// One client's consent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Consent {
    pub scopes: Vec<String>,
    /// When the user first allowed the client (`None`: a record kept before postern noted it).
    #[serde(default)]
    pub granted_at: Option<UnixSeconds>,
    /// The token families the client holds for the user (one per code exchange: its access
    /// token, and its refresh tokens with `offline_access`), each with its absolute end.
    #[serde(default)]
    pub families: Vec<(String, UnixSeconds)>,
    /// Moves on at each revocation, and when the user allows the client again after one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Revoked: the record stays only for its generation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    /// The subject id of the person who gave it; empty in records kept before it was noted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
}

impl Consent {
    /// Whether this consent was given by the subject `sub` (and so is theirs to use and see).
    pub fn is_of(&self, sub: &str) -> bool {
        !self.sub.is_empty() && self.sub == sub
    }

    /// The record as the subject `sub` may build on: another subject's (or an unbound one)
    /// starts afresh, keeping only its token families and its generation.
    fn owned_by(self, sub: &str) -> Self {
        if self.is_of(sub) {
            return self;
        }
        Self {
            families: self.families,
            generation: self.generation,
            revoked: self.revoked,
            sub: sub.to_owned(),
            ..Self::default()
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A record as kept: today's object, or the bare list of scopes the first release wrote.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Consent(Consent),
    Scopes(Vec<String>),
}

fn parse(bytes: &[u8]) -> Option<Consent> {
    match serde_json::from_slice(bytes).ok()? {
        Stored::Consent(consent) => Some(consent),
        Stored::Scopes(scopes) => Some(Consent {
            scopes,
            ..Consent::default()
        }),
    }
}

async fn put(store: &Store, user: &str, client: &str, consent: &Consent) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(consent).unwrap_or_default();
    store
        .put_user_record(user, RecordKind::OidcConsent, client, bytes)
        .await
}

/// `user`'s consent for `client`, if they gave one (and did not revoke it).
pub async fn of(store: &Store, user: &str, client: &str) -> Result<Option<Consent>, StoreError> {
    Ok(kept(store, user, client)
        .await?
        .filter(|consent| !consent.revoked))
}

/// The record as kept, a revoked one included.
async fn kept(store: &Store, user: &str, client: &str) -> Result<Option<Consent>, StoreError> {
    Ok(store
        .user_record(user, RecordKind::OidcConsent, client)
        .await?
        .and_then(|bytes| parse(&bytes)))
}

/// The generation of `user`'s consent for `client` now, for a code about to be issued.
pub async fn generation(store: &Store, user: &str, client: &str) -> Result<u64, StoreError> {
    Ok(kept(store, user, client)
        .await?
        .map_or(0, |consent| consent.generation))
}

/// Every client the subject `sub` (named `user`) allowed, by client id.
pub async fn all_of(
    store: &Store,
    user: &str,
    sub: &str,
) -> Result<Vec<(String, Consent)>, StoreError> {
    let mut consents = all(store, user).await?;
    consents.retain(|(_, consent)| consent.is_of(sub));
    Ok(consents)
}

/// Every consent kept under `user`, by client id, whoever gave it (the administrator's view).
pub async fn all(store: &Store, user: &str) -> Result<Vec<(String, Consent)>, StoreError> {
    let mut consents: Vec<(String, Consent)> = store
        .user_records(user, RecordKind::OidcConsent)
        .await?
        .into_iter()
        .filter_map(|(client, bytes)| parse(&bytes).map(|consent| (client, consent)))
        .filter(|(_, consent)| !consent.revoked)
        .collect();
    consents.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(consents)
}

/// The most token families one consent notes. Each code exchange adds one, and the whole
/// record is written again at every exchange (an fsync'd commit on the embedded store), so a
/// client that exchanged codes in a loop would grow it, and the cost of each write, without
/// end. Over the cap the oldest families are ended, as a revocation ends them, before the
/// record forgets them: no family leaves the list still working. 100 is a person signing in to
/// one app on 100 devices within `refresh_token_ttl`.
pub const MAX_FAMILIES: usize = 100;

/// Reads `user`'s consent for `client`, lets `change` alter it, and writes it back, under the
/// user's consents lock (on every replica): a consent given, a family noted and a revocation
/// made at once never write over each other, so no family escapes a revocation. `change`
/// answers `None` to leave the record as it was (then `update` answers false). Families over
/// `MAX_FAMILIES` are ended first.
async fn update(
    store: &Store,
    user: &str,
    client: &str,
    now: UnixSeconds,
    change: impl FnOnce(Option<Consent>) -> Option<Consent>,
) -> Result<bool, StoreError> {
    let lock = RecordLock::take_named(store, "consents", user).await?;
    let result = async {
        let Some(mut consent) = change(kept(store, user, client).await?) else {
            return Ok(false);
        };
        let over = consent.families.len().saturating_sub(MAX_FAMILIES);
        let oldest: Vec<_> = consent.families.drain(..over).collect();
        end_families(store, &oldest, now).await?;
        put(store, user, client, &consent).await?;
        Ok(true)
    }
    .await;
    lock.release().await;
    result
}

/// Revokes each family of `families` still running at `now` (access and refresh tokens);
/// answers how many.
async fn end_families(
    store: &Store,
    families: &[(String, UnixSeconds)],
    now: UnixSeconds,
) -> Result<usize, StoreError> {
    let running = families.iter().filter(|(_, end)| *end > now);
    let mut ended = 0;
    for (family, ends_at) in running {
        let ttl = Duration::from_secs(ends_at.saturating_sub(now).max(1));
        grants::revoke_family(store, family, ttl).await?;
        ended += 1;
    }
    Ok(ended)
}

/// `user`, the subject `sub`, allowed `client` `scopes` (added to what they allowed before).
pub async fn grant(
    store: &Store,
    (user, sub): (&str, &str),
    client: &str,
    scopes: &[String],
    now: UnixSeconds,
) -> Result<(), StoreError> {
    update(store, user, client, now, |consent| {
        let mut consent = match consent {
            // Allowed again: codes issued under the revoked consent stay refused.
            Some(revoked) if revoked.revoked => Consent {
                generation: revoked.generation + 1,
                sub: sub.to_owned(),
                ..Consent::default()
            },
            consent => consent.unwrap_or_default().owned_by(sub),
        };
        merge(&mut consent, scopes, now);
        Some(consent)
    })
    .await
    .map(drop)
}

/// What a code needs of the consent at the token endpoint.
pub struct CodeConsent<'a> {
    pub user: &'a str,
    /// The user's subject id: only a consent they gave stands for them.
    pub sub: &'a str,
    pub client: &'a str,
    /// The consent's generation when the code was issued.
    pub generation: u64,
    /// The client asks for consent (not implicit): the consent must still stand.
    pub explicit: bool,
    pub scopes: &'a [String],
}

/// Whether the code `code` describes may still be redeemed: false when the user revoked the
/// consent after it was issued (its generation moved), or when an explicit client's consent
/// no longer stands. The exchange's token family (with its absolute end) is noted with the
/// consent in the same step, under the consents lock, so revoking the consent ends it: a
/// revocation is either before the check (the code is refused) or after the note (the family
/// is revoked). The scopes join the consent's (consented, or allowed by the administrator for
/// a client with implicit consent), so the account page shows what the client may read.
/// Families that ended are forgotten here.
pub async fn admit_code(
    store: &Store,
    code: &CodeConsent<'_>,
    (family, ends_at): (&str, UnixSeconds),
    now: UnixSeconds,
) -> Result<bool, StoreError> {
    let admits = |consent: Option<&Consent>| {
        let generation = consent.map_or(0, |consent| consent.generation);
        let stands = consent.is_some_and(|consent| !consent.revoked && consent.is_of(code.sub));
        generation == code.generation && (stands || !code.explicit)
    };
    update(store, code.user, code.client, now, |consent| {
        if !admits(consent.as_ref()) {
            return None;
        }
        // A revoked consent of an implicit client comes back with this code's family.
        let mut consent = consent.unwrap_or_default().owned_by(code.sub);
        consent.revoked = false;
        merge(&mut consent, code.scopes, now);
        consent.families.retain(|(_, end)| *end > now);
        consent.families.push((family.to_owned(), ends_at));
        Some(consent)
    })
    .await
}

fn merge(consent: &mut Consent, scopes: &[String], now: UnixSeconds) {
    for scope in scopes {
        if !consent.scopes.contains(scope) {
            consent.scopes.push(scope.clone());
        }
    }
    consent.granted_at.get_or_insert(now);
}

/// Takes back `user`'s consent for `client`: the consent page is shown again at the next
/// sign-in, and every token family the client holds for the user (access and refresh
/// tokens) stops working now. False when there was no consent.
pub async fn revoke(
    store: &Store,
    user: &str,
    client: &str,
    now: UnixSeconds,
) -> Result<bool, StoreError> {
    let lock = RecordLock::take_named(store, "consents", user).await?;
    let result = async {
        let Some(consent) = of(store, user, client).await? else {
            return Ok(false);
        };
        end_families(store, &consent.families, now).await?;
        // Kept, without scopes, for its generation: codes issued until now are refused.
        let revoked = Consent {
            generation: consent.generation + 1,
            revoked: true,
            ..Consent::default()
        };
        put(store, user, client, &revoked).await?;
        Ok(true)
    }
    .await;
    lock.release().await;
    result
}

/// What retiring a user's consents removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetiredConsents {
    pub consents: usize,
    /// Token families still running that were ended.
    pub families: usize,
}

/// Revokes every consent kept under `user` (`crate::retirement`), each as `revoke` does, so
/// the tokens they issued stop working too, then deletes every record left (revoked
/// ones, kept for their generation, and any that no longer parse).
pub async fn retire_all(
    store: &Store,
    user: &str,
    now: UnixSeconds,
) -> Result<RetiredConsents, StoreError> {
    let mut retired = RetiredConsents::default();
    for (client, consent) in all(store, user).await? {
        if revoke(store, user, &client, now).await? {
            retired.consents += 1;
            retired.families += consent
                .families
                .iter()
                .filter(|(_, end)| *end > now)
                .count();
        }
    }
    for (client, _) in store.user_records(user, RecordKind::OidcConsent).await? {
        store
            .delete_user_record(user, RecordKind::OidcConsent, &client)
            .await?;
    }
    Ok(retired)
}
