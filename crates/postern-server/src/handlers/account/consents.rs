//! The account page's OpenID clients: `POST /account/consent-revoke` `client` takes back the
//! user's consent and ends the refresh tokens the client holds for them
//! (`oidc::consents::revoke`, the function `postern users consents --revoke` calls). Taking
//! access away needs no recent authentication, only the session's CSRF token.

use http::StatusCode;

use super::{Caller, done, refused};
use crate::clock::now;
use crate::error::AppResult;
use crate::oidc::consents;

pub(super) async fn revoke(caller: &Caller<'_>, client: &str) -> AppResult {
    let user = &caller.session.user.name;
    if !consents::revoke(&caller.state.store, user, client, now()).await? {
        return refused(
            caller,
            StatusCode::NOT_FOUND,
            "That app has no access to revoke.",
        )
        .await;
    }
    tracing::info!(target: "audit", event = "oidc.consent_revoked", user = %user, ip = %caller.client, client, "the user revoked an app's access");
    done("consent-revoked", "consents")
}
