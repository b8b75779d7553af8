//! A user's second factors: the TOTP secret and recovery codes an administrator set (in the
//! config or `users_file`), or those the user set up on the account page. The user's own are
//! kept in their credentials record in the durable store (`credentials_record::UserState`), which
//! the sign-in path reads anyway, so every replica and every restart sees them at no extra
//! store call. The administrator's stay in force: a TOTP secret in the file always wins over
//! the user's own, and recovery codes the user made apply only while the file still holds the
//! codes they replaced.

use std::sync::Arc;

use postern_core::token::TokenHash;
use postern_core::totp::TotpKey;
use postern_core::users::User;
use postern_store::{Store, StoreError};

use crate::credentials_record::{self, KeptRecovery, KeptTotp, RecordLock, UserState, fingerprint};

/// Who set the TOTP secret in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpSource {
    /// In `[[users]]` or `users_file`: only the administrator changes it.
    Administrator,
    /// On the account page.
    User { enrolled_at: u64 },
}

/// The second factors in force for one user.
#[derive(Clone)]
pub struct Factors {
    pub totp: Option<(TotpKey, TotpSource)>,
    /// argon2id hashes of the recovery codes in force.
    pub recovery_codes: Vec<String>,
    /// When the user made the codes in force; `None` for the administrator's (or none).
    pub recovery_made_at: Option<u64>,
}

impl Factors {
    /// `user`'s factors, with what the store keeps for them (`None`: nothing is kept, as with
    /// the memory store).
    pub(crate) fn of(user: &User, kept: Option<&UserState>) -> Self {
        let own_totp = kept.and_then(|kept| kept.totp.as_ref()).and_then(|own| {
            let source = TotpSource::User {
                enrolled_at: own.enrolled_at,
            };
            TotpKey::parse(&own.secret).ok().map(|key| (key, source))
        });
        let totp = match &user.totp {
            Some(key) => Some((key.clone(), TotpSource::Administrator)),
            None => own_totp,
        };
        let own_codes = kept
            .and_then(|kept| kept.recovery.as_ref())
            .filter(|own| own.replaces == codes_fingerprint(&user.recovery_codes));
        match own_codes {
            Some(own) => Self {
                totp,
                recovery_codes: own.hashes.clone(),
                recovery_made_at: Some(own.created_at),
            },
            None => Self {
                totp,
                recovery_codes: user.recovery_codes.clone(),
                recovery_made_at: None,
            },
        }
    }

    /// `user` with these factors: the user every sign-in step checks. The same `Arc` when
    /// nothing of the user's own is in force.
    pub fn applied_to(&self, user: &Arc<User>) -> Arc<User> {
        let own_totp = matches!(self.totp, Some((_, TotpSource::User { .. })));
        if !own_totp && self.recovery_made_at.is_none() {
            return Arc::clone(user);
        }
        let mut changed = User::clone(user);
        changed.totp = self.totp.as_ref().map(|(key, _)| key.clone());
        changed.recovery_codes = self.recovery_codes.clone();
        Arc::new(changed)
    }

    pub fn totp_source(&self) -> Option<TotpSource> {
        self.totp.as_ref().map(|(_, source)| *source)
    }
}

fn codes_fingerprint(hashes: &[String]) -> String {
    fingerprint(&hashes.join("\n"))
}

/// The store mark that spends one recovery code (by its hash), on every replica.
pub fn spent_recovery_key(user: &str, hash: &str) -> String {
    format!(
        "recovery:{{{}}}:{}",
        user.to_lowercase(),
        TokenHash::of(hash.as_bytes()).to_hex()
    )
}

/// How many of `hashes` are not spent yet.
pub async fn recovery_codes_left(
    store: &Store,
    user: &str,
    hashes: &[String],
) -> Result<usize, StoreError> {
    let mut left = 0;
    for hash in hashes {
        if !store.is_marked(&spent_recovery_key(user, hash)).await? {
            left += 1;
        }
    }
    Ok(left)
}

/// What the account page (or `postern users totp-reset`, or a change of passkeys) changes.
pub enum FactorChange {
    /// A confirmed secret becomes the user's. Their old recovery codes go with the old secret.
    EnrolTotp { secret: String },
    /// The user's own secret and recovery codes end (never the administrator's).
    RemoveTotp,
    /// New recovery codes replace every earlier one.
    NewRecoveryCodes { hashes: Vec<String> },
    /// A passkey was added or removed (`webauthn::changes`; passkeys are records of their
    /// own): nothing here changes but the count, so the stamp moves.
    Passkeys,
}

/// Applies `change` to `user`'s record. Returns false when there was nothing to change (a
/// secret already enrolled, none to remove). A change moves the stamp: the user's bearer
/// tokens and cached Basic credentials end.
pub async fn save(
    store: &Store,
    user: &User,
    change: FactorChange,
    now: u64,
) -> Result<bool, StoreError> {
    let held = RecordLock::take(store, &user.name).await?;
    let result = apply(&held, user, change, now).await;
    held.release().await;
    result
}

/// `save`, with `user`'s credentials lock `held` (by a caller that checks more under it, such
/// as the last-factor rule before a TOTP removal).
pub(crate) async fn apply(
    held: &RecordLock<'_>,
    user: &User,
    change: FactorChange,
    now: u64,
) -> Result<bool, StoreError> {
    let store = held.store();
    let mut state = credentials_record::read_state(store, &user.name).await?;
    let changed = match change {
        FactorChange::EnrolTotp { secret } => {
            let fresh = state.totp.is_none();
            if fresh {
                state.totp = Some(KeptTotp {
                    secret,
                    enrolled_at: now,
                });
                state.recovery = None;
            }
            fresh
        }
        FactorChange::RemoveTotp => {
            let had = state.totp.take().is_some() || state.recovery.is_some();
            state.recovery = None;
            had
        }
        FactorChange::NewRecoveryCodes { hashes } => {
            state.recovery = Some(KeptRecovery {
                hashes,
                replaces: codes_fingerprint(&user.recovery_codes),
                created_at: now,
            });
            true
        }
        FactorChange::Passkeys => true,
    };
    if changed {
        state.factors_version += 1;
        credentials_record::write_state(store, &user.name, &state).await?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests;
