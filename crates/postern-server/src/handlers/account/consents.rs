//! The account page's OpenID clients: `POST /account/consent-revoke` `client` takes back the
//! user's consent and ends the access and refresh tokens the client holds for them
//! (`oidc::consents::revoke`, the function `postern users consents --revoke` calls). Taking
//! access away needs no recent authentication, only the session's CSRF token.

use http::StatusCode;

use super::{Caller, done, refused};
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::handlers::oidc_flow::subject_of;
use crate::oidc::consents;

pub(super) async fn revoke(caller: &Caller<'_>, client: &str) -> AppResult {
    let user = &caller.session.user.name;
    // Only a consent this person gave, as the page lists: not one kept under their name for
    // another subject (`oidc::consents`).
    if !own_consent(caller, client).await?
        || !consents::revoke(&caller.state.store, user, client, now()).await?
    {
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

/// Whether the caller gave a consent to `client` themselves (`oidc::consents`).
async fn own_consent(caller: &Caller<'_>, client: &str) -> Result<bool, AppError> {
    let (state, session) = (caller.state, &caller.session);
    let Some(provider) = &state.oidc else {
        return Ok(false);
    };
    let sub = subject_of(state, provider, session).await?;
    Ok(consents::of(&state.store, &session.user.name, client)
        .await?
        .is_some_and(|consent| consent.is_of(&sub)))
}
