//! What the store keeps beside a session for the account page's TOTP set-up: the secret
//! shown while it waits for its first code. The page shows it again, the forms confirm it.

use postern_core::token::TokenHash;
use postern_store::StoreError;

use crate::sessions::CurrentSession;
use crate::state::AppState;

pub(super) fn setup_key(session: &TokenHash) -> String {
    format!("totp-setup:{}", session.to_hex())
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
