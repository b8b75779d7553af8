//! The account page's passkey forms: rename and remove (plain forms), and `passkey-add`, the
//! form the page's script drives through the JSON API (`/api/webauthn/register/*`); posted
//! without the script, it asks for the recent authentication first or says that adding a
//! passkey needs JavaScript. Each change is `webauthn::changes`'s, like the API's.

use http::StatusCode;

use super::factors::may_change;
use super::{Caller, done, refused, refused_by};
use crate::error::AppResult;
use crate::webauthn::changes;

const SECTION: &str = "passkeys";

/// `POST /account/passkey-add`.
pub(super) async fn add(caller: &Caller<'_>) -> AppResult {
    if let Some(instead) = may_change(caller, SECTION).await? {
        return Ok(instead);
    }
    refused(
        caller,
        StatusCode::BAD_REQUEST,
        "Adding a passkey needs JavaScript in this browser, and a browser that supports passkeys.",
    )
    .await
}

/// `POST /account/passkey-rename` `id`, `name`.
pub(super) async fn rename(caller: &Caller<'_>, id: &str, name: &str) -> AppResult {
    if let Some(instead) = may_change(caller, SECTION).await? {
        return Ok(instead);
    }
    match changes::rename(caller.state, &caller.session, caller.client, id, name).await {
        Ok(_) => done("passkey-renamed", SECTION),
        Err(err) => refused_by(caller, err).await,
    }
}

/// `POST /account/passkey-remove` `id`.
pub(super) async fn remove(caller: &Caller<'_>, id: &str) -> AppResult {
    if let Some(instead) = may_change(caller, SECTION).await? {
        return Ok(instead);
    }
    match changes::remove(caller.state, &caller.session, caller.client, id).await {
        Ok(()) => done("passkey-removed", SECTION),
        Err(err) => refused_by(caller, err).await,
    }
}
