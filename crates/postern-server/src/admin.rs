//! What `postern users unlock`, `postern users revoke` and `postern users totp-reset` do, on
//! the shared store, so every replica sees it at once. The command runs them itself on a store
//! it can open (Redis, a stopped postern's data file) or asks a running postern through the
//! admin channel; both give the same answer, worded here.

use postern_core::users::UserTable;
use postern_store::embedded::BackupSummary;
use postern_store::{Store, StoreError, UserRecord};

use crate::clock::now;
use crate::{records_file, user_passwords};

/// Clears the account's failure counter and its streak of failures in a row: the account may
/// sign in again at once.
pub async fn unlock(store: &Store, user: &str) -> Result<(), StoreError> {
    crate::credentials::clear_account(store, user).await
}

/// Ends every session, bearer token, cached Basic credential and OpenID token of `user`.
/// Returns the number of sessions ended. The sessions end first: an OpenID code issued for a
/// session read before then either carries the stamp from before the revocation, or finds
/// its session gone when it reads the new one (`oidc_flow::credentials_stamp`).
pub async fn revoke(store: &Store, user: &str) -> Result<usize, StoreError> {
    let ended = store.delete_user_sessions(user).await?;
    user_passwords::revoke(store, user, now()).await?;
    Ok(ended)
}

/// The OpenID clients `user` allowed, with the scopes each may have.
pub async fn consents(store: &Store, user: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    Ok(crate::oidc::consents::all(store, user)
        .await?
        .into_iter()
        .map(|(client, consent)| (client, consent.scopes))
        .collect())
}

/// Takes back `user`'s consent for `client`: the consent page is shown again at the next
/// sign-in, and the access and refresh tokens the client holds for the user stop working
/// (the account page's "Revoke" does the same, through the same function).
pub async fn revoke_consent(store: &Store, user: &str, client: &str) -> Result<(), StoreError> {
    if crate::oidc::consents::revoke(store, user, client, now()).await? {
        tracing::info!(target: "audit", event = "oidc.consent_revoked", user, client, by = "administrator", "an administrator revoked the user's consent");
    }
    Ok(())
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

/// The user's name as the configuration spells it; a name it does not hold (an OAuth user's)
/// is taken as given.
fn spelled(users: &UserTable, name: &str) -> String {
    users
        .get(name)
        .map_or_else(|| name.to_owned(), |user| user.name.clone())
}

/// `postern users unlock NAME`: unlocks and says so.
pub async fn unlock_user(
    store: &Store,
    users: &UserTable,
    name: &str,
) -> Result<String, StoreError> {
    let name = spelled(users, name);
    unlock(store, &name).await?;
    Ok(format!(
        "unlocked {name}: the failed sign-in counter is cleared"
    ))
}

/// `postern users revoke NAME`: revokes and says how many sessions ended.
pub async fn revoke_user(
    store: &Store,
    users: &UserTable,
    name: &str,
) -> Result<String, StoreError> {
    let name = spelled(users, name);
    let ended = revoke(store, &name).await?;
    Ok(format!(
        "revoked {name}: {ended} session(s) ended; every bearer token, cached Basic credential and OpenID token no longer works"
    ))
}

/// `postern users totp-reset NAME`: removes the TOTP the user set up themselves and says what
/// stays (a secret in the config).
pub async fn totp_reset_user(
    store: &Store,
    users: &UserTable,
    name: &str,
) -> Result<String, StoreError> {
    let Some(user) = users.get(name) else {
        return Ok(format!(
            "{name} is no local user: only local users have TOTP here; nothing to reset"
        ));
    };
    let name = &user.name;
    let removed = totp_reset(store, user).await?;
    let mut message = if removed {
        format!(
            "reset TOTP of {name}: the secret and recovery codes they set up are removed; \
             their bearer tokens and cached Basic credentials no longer work"
        )
    } else {
        format!("{name} had set up no TOTP of their own: nothing removed")
    };
    if user.totp.is_some() {
        message.push_str(
            "; their TOTP secret in the config or users_file stays in force: remove it there",
        );
    }
    Ok(message)
}

/// `postern users passkeys NAME [--remove ID]`: the user's passkeys, one per line (id, name,
/// when added, when last used), or the removal of one.
pub async fn passkeys_user(
    store: &Store,
    users: &UserTable,
    name: &str,
    remove: Option<&str>,
) -> Result<String, StoreError> {
    let Some(user) = users.get(name) else {
        return Ok(format!(
            "{name} is no local user: only local users have passkeys here"
        ));
    };
    let name = &user.name;
    if let Some(id) = remove {
        let held = crate::credentials_record::RecordLock::take(store, name).await?;
        let removed = crate::webauthn::changes::remove_held(&held, user, id).await;
        held.release().await;
        let removed = removed?;
        if !removed {
            return Ok(format!("{name} has no passkey {id}: nothing removed"));
        }
        tracing::info!(target: "audit", event = "passkey.removed", user = %name, passkey = %id, by = "admin");
        return Ok(format!(
            "removed passkey {id} of {name}: their bearer tokens and cached Basic credentials \
             no longer work"
        ));
    }
    let passkeys = crate::webauthn::records::list(store, name).await?;
    if passkeys.is_empty() {
        return Ok(format!("{name} has no passkey"));
    }
    let lines: Vec<String> = passkeys
        .iter()
        .map(|passkey| {
            let used = passkey.last_used_at.map_or_else(
                || "never used".to_owned(),
                |at| format!("last used {}", when(at)),
            );
            format!(
                "{}  {:?}  added {}, {used}",
                passkey.id(),
                passkey.name,
                when(passkey.created_at)
            )
        })
        .collect();
    Ok(format!(
        "{} passkey(s) of {name}:\n{}",
        passkeys.len(),
        lines.join("\n")
    ))
}

/// A time as RFC 3339 (UTC, seconds); `unknown` for a stored time no calendar writes.
fn when(at: u64) -> String {
    crate::clock::rfc3339(at).unwrap_or_else(|| "unknown".to_owned())
}

/// `postern store export`: the export file of every user's durable data, and what it holds.
pub async fn export(store: &Store) -> Result<(Vec<u8>, String), StoreError> {
    let records = store.all_user_records().await?;
    let file = records_file::to_bytes(&records, store.backend_name());
    Ok((file, format!("exported {} user record(s)", records.len())))
}

/// `postern store import`: stores records read from an export file (those with the same user,
/// kind and id are replaced; others stay), but nothing of a user `users` lacks or retired
/// since (`record_import` has the rules), and says what it skipped.
pub async fn import(
    store: &Store,
    users: &UserTable,
    records: Vec<UserRecord>,
) -> Result<String, StoreError> {
    Ok(crate::record_import::import(store, users, records)
        .await?
        .summary())
}

/// What `postern store backup` says it wrote.
pub fn backed_up(summary: &BackupSummary) -> String {
    format!(
        "backup of {} live session(s) and {} user record(s)",
        summary.sessions, summary.records
    )
}

/// `postern users consents NAME`: the OpenID clients the user allowed, one line each.
pub async fn consents_user(
    store: &Store,
    users: &UserTable,
    name: &str,
) -> Result<String, StoreError> {
    let name = spelled(users, name);
    let granted = consents(store, &name).await?;
    Ok(if granted.is_empty() {
        format!("{name} has allowed no OpenID client")
    } else {
        granted
            .iter()
            .map(|(client, scopes)| format!("{client}: {}", scopes.join(" ")))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `postern users consents NAME --revoke CLIENT`.
pub async fn revoke_consent_user(
    store: &Store,
    users: &UserTable,
    name: &str,
    client: &str,
) -> Result<String, StoreError> {
    let name = spelled(users, name);
    revoke_consent(store, &name, client).await?;
    Ok(format!(
        "{name} will be asked again before {client} learns anything; its access and refresh tokens for {name} no longer work"
    ))
}
