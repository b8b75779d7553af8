//! What `postern users unlock` and `postern users revoke` do, on the shared store, so every
//! replica sees it at once.

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
