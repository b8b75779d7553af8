//! The OpenID clients a user allowed: one durable user record per user and client
//! (`RecordKind::OidcConsent`), holding the scopes granted, since when, and the refresh-token
//! families issued to the client for the user since. The one place that reads, grants and
//! revokes a consent: the consent page, the account page and `postern users consents` all
//! come here, so revoking always ends the client's refresh tokens as well.
//!
//! A consent is bound to the subject id (`oidc::subjects`) of the person who gave it: one
//! kept under the same name for another id (a user removed and created again, a provider's
//! user of the same name, or a record from before consents were bound) is neither honoured
//! nor shown; the next consent given replaces it (keeping its refresh-token families, so a
//! revocation still ends them). Retiring a user removes their consents (`retire_all`).

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
    /// Refresh-token families the client holds for the user, each with its absolute end.
    #[serde(default)]
    pub families: Vec<(String, UnixSeconds)>,
    /// The subject id of the person who gave it; empty in records kept before it was noted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
}

impl Consent {
    /// Whether this consent was given by the subject `sub` (and so is theirs to use and see).
    pub fn is_of(&self, sub: &str) -> bool {
        !self.sub.is_empty() && self.sub == sub
    }
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

/// `user`'s consent for `client`, if they gave one.
pub async fn of(store: &Store, user: &str, client: &str) -> Result<Option<Consent>, StoreError> {
    Ok(store
        .user_record(user, RecordKind::OidcConsent, client)
        .await?
        .and_then(|bytes| parse(&bytes)))
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
        .collect();
    consents.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(consents)
}

/// Reads `user`'s consent for `client`, lets `change` alter it, and writes it back, under the
/// user's consents lock (on every replica): a consent given, a family noted and a revocation
/// made at once never write over each other, so no family escapes a revocation.
/// A consent of another subject is started afresh, keeping only its families.
async fn update(
    store: &Store,
    (user, sub): (&str, &str),
    client: &str,
    change: impl FnOnce(&mut Consent),
) -> Result<(), StoreError> {
    let lock = RecordLock::take_named(store, "consents", user).await?;
    let result = async {
        let mut consent = of(store, user, client).await?.unwrap_or_default();
        if !consent.is_of(sub) {
            consent = Consent {
                families: std::mem::take(&mut consent.families),
                sub: sub.to_owned(),
                ..Consent::default()
            };
        }
        change(&mut consent);
        put(store, user, client, &consent).await
    }
    .await;
    lock.release().await;
    result
}

/// `user`, the subject `sub`, allowed `client` `scopes` (added to what they allowed before).
pub async fn grant(
    store: &Store,
    (user, sub): (&str, &str),
    client: &str,
    scopes: &[String],
    now: UnixSeconds,
) -> Result<(), StoreError> {
    update(store, (user, sub), client, |consent| {
        merge(consent, scopes, now);
    })
    .await
}

/// A refresh-token family was issued to `client` for `user` (ending at `ends_at`), for
/// `scopes`: revoking the consent ends it. The scopes join the consent's (consented, or
/// allowed by the administrator for a client with implicit consent), so the account page
/// shows what the client may read. Families that ended are forgotten here.
pub async fn remember_family(
    store: &Store,
    (user, sub): (&str, &str),
    client: &str,
    scopes: &[String],
    family: (&str, UnixSeconds),
    now: UnixSeconds,
) -> Result<(), StoreError> {
    update(store, (user, sub), client, |consent| {
        merge(consent, scopes, now);
        consent.families.retain(|(_, end)| *end > now);
        consent.families.push((family.0.to_owned(), family.1));
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
/// sign-in, and every refresh-token family the client holds for the user (with its access
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
        for (family, ends_at) in consent.families.iter().filter(|(_, end)| *end > now) {
            let ttl = Duration::from_secs(ends_at.saturating_sub(now).max(1));
            grants::revoke_family(store, family, ttl).await?;
        }
        store
            .delete_user_record(user, RecordKind::OidcConsent, client)
            .await?;
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
    /// Refresh-token families still running that were ended.
    pub families: usize,
}

/// Revokes every consent kept under `user` (`crate::retirement`), each as `revoke` does, so
/// the refresh tokens they issued stop working too.
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
    // Records that no longer parse are not in `all`: removed all the same.
    for (client, _) in store.user_records(user, RecordKind::OidcConsent).await? {
        store
            .delete_user_record(user, RecordKind::OidcConsent, &client)
            .await?;
    }
    Ok(retired)
}
