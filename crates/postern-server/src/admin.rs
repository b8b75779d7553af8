//! What `postern users unlock`, `postern users revoke` and `postern users totp-reset` do, on
//! the shared store, so every replica sees it at once.

use postern_store::{Store, StoreError};

use crate::clock::now;
use crate::user_passwords;

/// Clears the account's failure counter and its streak of failures in a row: the account may
/// sign in again at once.
pub async fn unlock(store: &Store, user: &str) -> Result<(), StoreError> {
    crate::credentials::clear_account(store, user).await
}

/// Ends every session, bearer token and cached Basic credential of `user`. Returns the number
/// of sessions ended.
pub async fn revoke(store: &Store, user: &str) -> Result<usize, StoreError> {
    user_passwords::revoke(store, user, now()).await?;
    store.delete_user_sessions(user).await
}

/// Removes the TOTP secret and recovery codes `user` set up on the account page (never the
/// administrator's, which live in the config). True when there was something to remove.
pub async fn totp_reset(
    store: &Store,
    user: &postern_core::users::User,
) -> Result<bool, StoreError> {
    let removed = crate::user_factors::save(
        store,
        user,
        crate::user_factors::FactorChange::RemoveTotp,
        now(),
    )
    .await?;
    if removed {
        tracing::info!(target: "audit", event = "account.totp_reset", user = %user.name, "an administrator reset the user's own TOTP");
    }
    Ok(removed)
}
