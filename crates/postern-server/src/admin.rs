//! What `postern users unlock` and `postern users revoke` do, on the shared store, so every
//! replica sees it at once.

use postern_store::{RecordKind, Store, StoreError};

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

/// The OpenID clients `user` allowed, with the scopes each may have.
pub async fn consents(store: &Store, user: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let records = store.user_records(user, RecordKind::OidcConsent).await?;
    Ok(records
        .into_iter()
        .map(|(client, bytes)| (client, serde_json::from_slice(&bytes).unwrap_or_default()))
        .collect())
}

/// Takes back `user`'s consent for `client`: the consent page is shown again at the next
/// sign-in. Tokens already issued stay valid until they expire or are revoked.
pub async fn revoke_consent(store: &Store, user: &str, client: &str) -> Result<(), StoreError> {
    store
        .delete_user_record(user, RecordKind::OidcConsent, client)
        .await
}
