//! What the store keeps beside a session for the account page: a TOTP set-up waiting for its
//! first code, and when the password was last given again (`reauth`). Both the page and the
//! forms that change factors read them.

use postern_core::session::authenticated_recently;
use postern_core::token::TokenHash;
use postern_store::StoreError;

use crate::clock::now;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;

pub(super) fn setup_key(session: &TokenHash) -> String {
    format!("totp-setup:{}", session.to_hex())
}

pub(super) fn reauth_key(session: &TokenHash) -> String {
    format!("reauth:{}", session.to_hex())
}

/// The secret of the set-up this session started, while it waits for its code.
pub(super) async fn pending_secret(
    state: &AppState,
    session: &CurrentSession,
) -> Result<Option<String>, StoreError> {
    Ok(state
        .store
        .peek_value(&setup_key(&session.key))
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// Whether the session's user authenticated within the last five minutes: signed in (with a
/// password, a code or a provider: a session a ticket started is no sign-in, and one whose
/// way in is not known does not count), or gave their password again here.
pub(super) async fn recently_authenticated(
    state: &AppState,
    session: &CurrentSession,
) -> Result<bool, StoreError> {
    let now = now();
    if authenticated_recently(session.record.created_at, now) {
        let method = state
            .store
            .peek_value(&sessions::device_key(&session.key))
            .await?
            .and_then(|bytes| serde_json::from_slice::<sessions::Device>(&bytes).ok())
            .map(|device| device.method)
            .unwrap_or_default();
        if !method.is_empty() && method != sessions::TICKET_METHOD {
            return Ok(true);
        }
    }
    let again = state
        .store
        .peek_value(&reauth_key(&session.key))
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok());
    Ok(again.is_some_and(|at| authenticated_recently(at, now)))
}
