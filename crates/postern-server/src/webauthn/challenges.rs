//! Ceremonies in progress: what `begin` told the browser, kept in the store until `finish`
//! takes it out (once: a replayed answer finds nothing), for at most `CEREMONY_TIMEOUT`. Each
//! is bound to what started it: the session (registration, re-authentication), the pending
//! sign-in (second factor) or the login page's pre-session cookie (passwordless), whose
//! SHA-256 is in the key. So another browser's answer never meets this browser's challenge,
//! and any replica can finish what another began.

use postern_core::token::TokenHash;
use postern_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CEREMONY_TIMEOUT;
use crate::state::AppState;

/// What a ceremony is bound to.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// A signed-in session adding a passkey (its token hash).
    Registration(&'a TokenHash),
    /// A pending sign-in whose password was right (its token hash).
    SecondFactor(&'a TokenHash),
    /// The pre-session cookie of a passwordless sign-in.
    Passwordless(&'a str),
    /// A signed-in session confirming it is its user before a change of factors.
    Reauthentication(&'a TokenHash),
}

impl Binding<'_> {
    fn key(self) -> String {
        match self {
            Self::Registration(session) => format!("webauthn:register:{}", session.to_hex()),
            Self::SecondFactor(pending) => format!("webauthn:second:{}", pending.to_hex()),
            Self::Reauthentication(session) => format!("webauthn:reauth:{}", session.to_hex()),
            Self::Passwordless(pre_session) => format!(
                "{}{}",
                postern_store::PASSWORDLESS_CEREMONY_VALUE,
                TokenHash::of(pre_session.as_bytes()).to_hex()
            ),
        }
    }
}

/// Keeps a ceremony's state, replacing any earlier one of the same binding (only the latest
/// `begin` can finish).
pub async fn keep<T: Serialize>(
    state: &AppState,
    binding: Binding<'_>,
    ceremony: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(ceremony).unwrap_or_default();
    state
        .store
        .set_value(&binding.key(), bytes, CEREMONY_TIMEOUT)
        .await
}

/// Takes the ceremony out of the store: `None` when there is none (never begun, expired,
/// finished already, or begun by another session).
pub async fn take<T: DeserializeOwned>(
    state: &AppState,
    binding: Binding<'_>,
) -> Result<Option<T>, StoreError> {
    Ok(state
        .store
        .take_value(&binding.key())
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}
