//! A user's own changes of their passkeys, in one place for both ways in: the JSON API
//! (`/api/webauthn/...`) and the account page's forms. Whoever calls has checked the session,
//! its CSRF token and a recent authentication (`factor_rules`); here each change is made,
//! refused with its reason, audited and sent to the `[notify]` webhook. Each change reads and
//! writes under the user's credentials lock (see `records`). An addition or a removal moves the
//! user's stamp, as a TOTP change does; `postern users passkeys --remove` removes through
//! `remove_held` too.

use std::net::IpAddr;

use http::StatusCode;
use postern_core::users::User;
use postern_store::StoreError;

use super::records::{self, StoredPasskey};
use crate::clock::now;
use crate::credentials_record::RecordLock;
use crate::error::AppError;
use crate::factor_rules::{self, Change};
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::user_factors::{self, FactorChange};
use crate::user_passwords;

fn no_such_passkey() -> AppError {
    AppError::refused(StatusCode::NOT_FOUND, "No such passkey")
}

fn announce(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    event: &'static str,
    message: &str,
    id: &str,
) {
    factor_rules::announce(
        state,
        &Change {
            user: &session.user.name,
            client,
            event,
            message,
            passkey: Some(id),
        },
    );
}

/// The most passkeys one user may register. Every passkey sign-in lists them all
/// (`allowCredentials`), and each is a durable record: unbounded, a user with a software
/// authenticator could grow both without end. Twenty is far past anyone's keys and phones.
pub const MAX_PASSKEYS_PER_USER: usize = 20;

/// 409 past `MAX_PASSKEYS_PER_USER`: at `register/begin` (before the authenticator makes a
/// credential it would keep for nothing) and again at `finish`.
pub fn too_many_passkeys() -> AppError {
    AppError::refused(
        StatusCode::CONFLICT,
        format!(
            "You have {MAX_PASSKEYS_PER_USER} passkeys, the most postern keeps: remove one first"
        ),
    )
}

/// Registers `passkey` for the session's user, unless its credential is registered already
/// (to anyone: 409) or the user has `MAX_PASSKEYS_PER_USER` (409). Like every change of second factors, it moves the user's stamp: their
/// bearer tokens and cached Basic credentials end (a cached Basic credential would otherwise
/// skip the second step the new passkey brings).
pub async fn add(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    passkey: &StoredPasskey,
) -> Result<(), AppError> {
    let id = passkey.id();
    let held = RecordLock::take(&state.store, &session.user.name).await?;
    let saved = async {
        if !crate::retirement::takes_new_factors(state, &session.user.name) {
            return Err(crate::retirement::removed_meanwhile());
        }
        if records::owner_of_credential(&state.store, &id)
            .await?
            .is_some()
        {
            return Err(AppError::refused(
                StatusCode::CONFLICT,
                "This passkey is already registered",
            ));
        }
        // Counted again under the user's lock: two registrations at once cannot both pass.
        let registered = records::list(&state.store, &session.user.name).await?.len();
        if registered >= MAX_PASSKEYS_PER_USER {
            return Err(too_many_passkeys());
        }
        passkeys_changed(&held, &session.user).await?;
        records::save(&held, passkey).await?;
        Ok(())
    }
    .await;
    held.release().await;
    saved?;
    announce(
        state,
        session,
        client,
        "passkey.added",
        "passkey added",
        &id,
    );
    Ok(())
}

/// Renames one of the session's user's passkeys (`id`; another user's id is "no such
/// passkey"). The name is cleaned as at registration; an empty one is refused.
pub async fn rename(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    id: &str,
    name: &str,
) -> Result<StoredPasskey, AppError> {
    let Some(name) = records::clean_name(name) else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "The name must not be empty",
        ));
    };
    let user = &session.user.name;
    let held = RecordLock::take(&state.store, user).await?;
    let renamed = async {
        let Some(mut passkey) = records::find(&state.store, user, id).await? else {
            return Err(no_such_passkey());
        };
        passkey.name = name;
        records::save(&held, &passkey).await?;
        Ok(passkey)
    }
    .await;
    held.release().await;
    let passkey = renamed?;
    announce(
        state,
        session,
        client,
        "passkey.renamed",
        "passkey renamed",
        id,
    );
    Ok(passkey)
}

/// Removes one of the session's user's passkeys, unless it is their last second factor
/// (TOTP counts too) and an app they may open needs two.
pub async fn remove(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    id: &str,
) -> Result<(), AppError> {
    let user = &session.user.name;
    // The factors are counted with the lock held that a TOTP removal takes too: two removals
    // at once (two passkeys, or the last passkey and TOTP) cannot both pass the rule.
    let held = RecordLock::take(&state.store, user).await?;
    let removed = async {
        let passkeys = records::list(&state.store, user).await?;
        if !passkeys.iter().any(|passkey| passkey.id() == id) {
            return Err(no_such_passkey());
        }
        let totp = user_passwords::in_force(state, &session.user)
            .await?
            .factors
            .totp
            .is_some();
        let left = passkeys.len().saturating_sub(1) + usize::from(totp);
        if let Some(message) = factor_rules::last_factor_refusal(state, session, left) {
            return Err(AppError::refused(StatusCode::CONFLICT, message));
        }
        if !remove_held(&held, &session.user, id).await? {
            return Err(no_such_passkey());
        }
        Ok(())
    }
    .await;
    held.release().await;
    removed?;
    announce(
        state,
        session,
        client,
        "passkey.removed",
        "passkey removed",
        id,
    );
    Ok(())
}

/// Removes passkey `id` of `user`, whose credentials lock is `held`: the one removal of the
/// account page, the API and `postern users passkeys NAME --remove ID`. It moves the user's
/// stamp as every change of second factors does (`user_factors::apply`, the same step a TOTP
/// removal takes): their bearer tokens and cached Basic credentials end, on every replica.
/// Their browser sessions stay, as after a TOTP removal (the account page ends them on
/// request). False when the user has no passkey by that id.
pub(crate) async fn remove_held(
    held: &RecordLock<'_>,
    user: &User,
    id: &str,
) -> Result<bool, StoreError> {
    if records::find(held.store(), held.user(), id)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    passkeys_changed(held, user).await?;
    records::remove(held, id).await
}

/// Moves `user`'s stamp for a change of their passkeys. Before the passkey itself is written:
/// a failure in between leaves the tokens ended (fail closed), never a changed passkey whose
/// tokens still work.
async fn passkeys_changed(held: &RecordLock<'_>, user: &User) -> Result<(), StoreError> {
    user_factors::apply(held, user, FactorChange::Passkeys, now())
        .await
        .map(drop)
}
