//! Durable user data: what a user or an administrator changes at run time and must outlive
//! every TTL (a changed password now; passkeys, self-enrolled TOTP secrets, recovery codes and
//! OIDC consents next). Each user has a keyed namespace per `RecordKind`; a new kind of user
//! data is a new variant, not a new store API. The embedded store and Redis keep records
//! durably; the memory store keeps them only as long as the process runs.

use crate::{Store, StoreError};

/// One durable record with its owner: what `postern store export` and `import` move between
/// stores. `user` is in lower case, as every backend keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user: String,
    pub kind: RecordKind,
    pub id: String,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The user's credentials as changed at run time (id `current`): the password hash set
    /// through change-password, and when `postern users revoke` last ended everything.
    Credentials,
    /// The scopes the user granted an OpenID client (id: the client's id), so consent is
    /// asked once per client and scope set.
    OidcConsent,
    /// The user's passkeys, one record per credential (id: the credential id, base64url).
    Passkeys,
    /// The user's random WebAuthn user handle (id `handle`).
    PasskeyHandle,
    /// Who owns a user handle or a credential id, for passwordless sign-in and for refusing a
    /// credential registered to another account. Held under the reserved owner
    /// `PASSKEY_INDEX_OWNER` (ids `handle:<b64>` and `credential:<b64>`), which no user name can
    /// spell (names may not contain ':').
    PasskeyIndex,
    /// The user's OpenID subject (`sub`, id `id`): 128 random bits, base64url, drawn at the
    /// first need and never derived from the name, so a user removed and created again under
    /// the same name is a new subject. A provider's user (no `[[users]]` entry) is held under
    /// the owner `federated:<name>`, which no local name can spell.
    OidcSubject,
    /// A local user postern saw removed whose durable records are still to be retired (id:
    /// the user's name, lower case), under the reserved owner `RETIRING_OWNER`: written before
    /// the retirement and deleted once it is whole, so a retirement cut short is finished
    /// later, by any replica, also after a restart.
    Retiring,
}

/// The owner of the `PasskeyIndex` records.
pub const PASSKEY_INDEX_OWNER: &str = "webauthn:index";
/// The owner of the `Retiring` records; no user name can spell it (names may not contain ':').
pub const RETIRING_OWNER: &str = "postern:retiring";

impl RecordKind {
    /// Every kind, for export and import.
    pub const ALL: &[Self] = &[
        Self::Credentials,
        Self::OidcConsent,
        Self::Passkeys,
        Self::PasskeyHandle,
        Self::PasskeyIndex,
        Self::OidcSubject,
        Self::Retiring,
    ];

    /// The stored name: never change one, files and Redis hold it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::OidcConsent => "oidc_consent",
            Self::Passkeys => "passkeys",
            Self::PasskeyHandle => "passkey-handle",
            Self::PasskeyIndex => "passkey-index",
            Self::OidcSubject => "oidc-subject",
            Self::Retiring => "retiring",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.name() == name)
    }
}

impl Store {
    /// The record `id` of `kind` for `user` (any spelling case).
    pub async fn user_record(
        &self,
        user: &str,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.records.get(user, kind.name(), id)),
            Self::Redis(store) => store.record(user, kind.name(), id).await,
            Self::Embedded(store) => store.record(user, kind.name(), id),
        }
    }

    /// Every record of `kind` for `user`, by id.
    pub async fn user_records(
        &self,
        user: &str,
        kind: RecordKind,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.records.of_kind(user, kind.name())),
            Self::Redis(store) => store.records(user, kind.name()).await,
            Self::Embedded(store) => store.records(user, kind.name()),
        }
    }

    /// Stores (or replaces) a record; durable before this returns (but see the memory store).
    pub async fn put_user_record(
        &self,
        user: &str,
        kind: RecordKind,
        id: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.records.put(user, kind.name(), id, value);
                Ok(())
            }
            Self::Redis(store) => store.put_record(user, kind.name(), id, value).await,
            Self::Embedded(store) => store.put_record(user, kind.name(), id, value).await,
        }
    }

    pub async fn delete_user_record(
        &self,
        user: &str,
        kind: RecordKind,
        id: &str,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.records.delete(user, kind.name(), id);
                Ok(())
            }
            Self::Redis(store) => store.delete_record(user, kind.name(), id).await,
            Self::Embedded(store) => store.delete_record(user, kind.name(), id).await,
        }
    }

    /// Every record of every user, ordered by user, kind and id (export).
    pub async fn all_user_records(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut all = match self {
            Self::Memory(store) => store.records.all(),
            Self::Redis(store) => store.all_records().await?,
            Self::Embedded(store) => store.all_records()?,
        };
        all.sort_by(|a, b| (&a.user, a.kind.name(), &a.id).cmp(&(&b.user, b.kind.name(), &b.id)));
        Ok(all)
    }

    /// Stores (or replaces) many records (import); on the embedded store in one transaction.
    pub async fn put_user_records(&self, records: Vec<UserRecord>) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                for record in records {
                    store
                        .records
                        .put(&record.user, record.kind.name(), &record.id, record.value);
                }
                Ok(())
            }
            Self::Redis(store) => {
                for record in records {
                    store
                        .put_record(&record.user, record.kind.name(), &record.id, record.value)
                        .await?;
                }
                Ok(())
            }
            Self::Embedded(store) => store.put_records(records).await,
        }
    }

    /// Whether records outlive this process (false only for the memory store).
    pub fn keeps_records_durably(&self) -> bool {
        !matches!(self, Self::Memory(_))
    }
}
