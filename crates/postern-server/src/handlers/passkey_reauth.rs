//! "Confirm it's you" with a passkey, under `/api/webauthn/reauth/`: a signed-in user of the
//! user table answers a challenge naming their passkeys (`begin`, then `finish`), and changes
//! of their factors are open for five minutes, as after the password on `/account/reauth`. A
//! refused assertion counts against the failed-login limits like a wrong password.

use std::net::SocketAddr;

use http::{Request, StatusCode};
use postern_core::limits::LoginLimits;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs_core::proto::{AuthenticationState, PublicKeyCredential};

use super::passkey_login::{limited_or, refused, verify};
use super::passkey_shared::{assertion_options, local_session, self_service};
use crate::credentials;
use crate::error::{AppError, AppResult};
use crate::factor_rules::{self, Confirmed, REAUTH_SECTIONS};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::state::AppState;
use crate::webauthn::challenges::{self, Binding};

#[derive(Serialize, Deserialize)]
struct ReauthCeremony {
    user: String,
    state: AuthenticationState,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct Finish {
    credential: PublicKeyCredential,
    /// The account page's section to come back to.
    #[serde(default)]
    section: String,
}

/// `POST /api/webauthn/reauth/begin` `{}`: options naming the session user's passkeys.
pub async fn begin<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let (parts, Empty {}) = request::json_body::<Empty, _>(state, request).await?;
    let session = local_session(state, &parts.headers, true).await?;
    self_service(state)?;
    let (options, ceremony) =
        assertion_options(state, &session.user.name, "confirmation options").await?;
    let ceremony = ReauthCeremony {
        user: session.user.name.clone(),
        state: ceremony,
    };
    challenges::keep(state, Binding::Reauthentication(&session.key), &ceremony).await?;
    Ok(respond::json(StatusCode::OK, options))
}

/// `POST /api/webauthn/reauth/finish` `{"credential", "section"?}`: changes of factors are
/// open for five minutes; `redirectTo` is the account page's section.
pub async fn finish<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<Finish, _>(state, request).await?;
    let session = local_session(state, &parts.headers, true).await?;
    self_service(state)?;
    let user = &session.user;
    let ceremony: Option<ReauthCeremony> =
        challenges::take(state, Binding::Reauthentication(&session.key)).await?;
    let Some(ceremony) = ceremony.filter(|ceremony| ceremony.user == user.name) else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "No passkey confirmation in progress for this session (or it expired): begin again",
        ));
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let attempt = credentials::begin_attempt(state, client, LoginLimits::user_counter(&user.name))
        .await
        .map_err(limited_or)?;
    let result = match verify(state, user, &body.credential, ceremony.state, attempt).await? {
        Ok(result) => result,
        Err(refusal) => return Err(refused(&refusal, None)),
    };
    let confirmed = Confirmed::Passkey {
        user_verified: result.user_verified(),
    };
    factor_rules::mark_reauthenticated(state, &session, client, confirmed).await?;
    let section = REAUTH_SECTIONS
        .iter()
        .find(|known| **known == body.section)
        .copied()
        .unwrap_or(REAUTH_SECTIONS[0]);
    Ok(respond::json_with(
        StatusCode::OK,
        "Confirmed",
        json!({ "redirectTo": format!("/account?done=reauth#{section}") }),
    ))
}
