//! A signed-in user's own passkeys, under `/api/webauthn/`: `register/begin` and
//! `register/finish` add one, `GET passkeys` lists them, `PATCH passkeys/{id}` renames and
//! `DELETE passkeys/{id}` removes one. Cookie sessions of users in the user table only; every
//! change needs the session's CSRF token and a recent authentication (`factor_rules`), and is
//! made in `webauthn::changes` (audit, webhook), like the account page's forms. Signing in
//! with a passkey is `passkey_login.rs`; confirming it's you with one, `passkey_reauth.rs`.

use std::net::SocketAddr;

use http::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs_core::proto::{RegisterPublicKeyCredential, RegistrationState};

use super::passkey_shared::{internal, local_session, self_service, to_json};
use super::{passkey_login, passkey_reauth};
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::factor_rules::{self, Confirmation, TWO_FACTORS_NEEDED};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::webauthn::Refusal;
use crate::webauthn::challenges::{self, Binding};
use crate::webauthn::changes;
use crate::webauthn::records::{self, StoredPasskey};

/// The routes under `/api/webauthn/`.
#[derive(Debug)]
pub enum Endpoint {
    RegisterBegin,
    RegisterFinish,
    List,
    Rename(String),
    Remove(String),
    SecondFactorBegin,
    SecondFactorFinish,
    PasswordlessBegin,
    PasswordlessFinish,
    ReauthBegin,
    ReauthFinish,
}

/// The endpoint for `rest` (the path after `/api/webauthn/`): `Err(Some(allowed))` for a known
/// path with another method, `Err(None)` for an unknown path.
pub fn route(rest: &str, method: &Method) -> Result<Endpoint, Option<&'static str>> {
    let post = method == Method::POST;
    let endpoint = match rest {
        "register/begin" if post => Endpoint::RegisterBegin,
        "register/finish" if post => Endpoint::RegisterFinish,
        "second-factor/begin" if post => Endpoint::SecondFactorBegin,
        "second-factor/finish" if post => Endpoint::SecondFactorFinish,
        "login/begin" if post => Endpoint::PasswordlessBegin,
        "login/finish" if post => Endpoint::PasswordlessFinish,
        "reauth/begin" if post => Endpoint::ReauthBegin,
        "reauth/finish" if post => Endpoint::ReauthFinish,
        "register/begin"
        | "register/finish"
        | "second-factor/begin"
        | "second-factor/finish"
        | "login/begin"
        | "login/finish"
        | "reauth/begin"
        | "reauth/finish" => return Err(Some("POST")),
        "passkeys" if method == Method::GET || method == Method::HEAD => Endpoint::List,
        "passkeys" => return Err(Some("GET, HEAD")),
        _ => match rest.strip_prefix("passkeys/") {
            Some(id) if id.is_empty() || id.contains('/') => return Err(None),
            Some(id) if method == Method::PATCH => Endpoint::Rename(id.to_owned()),
            Some(id) if method == Method::DELETE => Endpoint::Remove(id.to_owned()),
            Some(_) => return Err(Some("PATCH, DELETE")),
            None => return Err(None),
        },
    };
    Ok(endpoint)
}

pub async fn serve<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
    endpoint: Endpoint,
) -> AppResult {
    match endpoint {
        Endpoint::RegisterBegin => register_begin(state, request).await,
        Endpoint::RegisterFinish => register_finish(state, peer, request).await,
        Endpoint::List => list(state, &request).await,
        Endpoint::Rename(id) => rename(state, peer, request, &id).await,
        Endpoint::Remove(id) => remove(state, peer, &request, &id).await,
        Endpoint::SecondFactorBegin => passkey_login::second_factor_begin(state, request).await,
        Endpoint::SecondFactorFinish => {
            passkey_login::second_factor_finish(state, peer, request).await
        }
        Endpoint::PasswordlessBegin => passkey_login::passwordless_begin(state, request).await,
        Endpoint::PasswordlessFinish => {
            passkey_login::passwordless_finish(state, peer, request).await
        }
        Endpoint::ReauthBegin => passkey_reauth::begin(state, request).await,
        Endpoint::ReauthFinish => passkey_reauth::finish(state, peer, request).await,
    }
}

/// A registration in progress: whose, and what the library needs to finish it.
#[derive(Serialize, Deserialize)]
struct RegistrationCeremony {
    user: String,
    state: RegistrationState,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct FinishRegistration {
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

/// `POST /api/webauthn/register/begin` `{}`: the options for `navigator.credentials.create()`.
async fn register_begin<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let (parts, Empty {}) = request::json_body::<Empty, _>(state, request).await?;
    let session = changing_session(state, &parts.headers).await?;
    let user = &session.user;
    let handle = records::user_handle(&state.store, &user.name).await?;
    let registered = records::list(&state.store, &user.name).await?;
    if registered.len() >= changes::MAX_PASSKEYS_PER_USER {
        return Err(changes::too_many_passkeys());
    }
    let exclude = registered
        .into_iter()
        .map(|passkey| passkey.credential.cred_id)
        .collect();
    let display_name = if user.display_name.is_empty() {
        &user.name
    } else {
        &user.display_name
    };
    let (options, ceremony) = state
        .webauthn
        .start_registration(&handle, &user.name, display_name, exclude)
        .map_err(|err| internal("registration options", &err))?;
    let ceremony = RegistrationCeremony {
        user: user.name.clone(),
        state: ceremony,
    };
    challenges::keep(state, Binding::Registration(&session.key), &ceremony).await?;
    Ok(respond::json(StatusCode::OK, to_json(&options)))
}

/// `POST /api/webauthn/register/finish` `{"name", "credential"}`: 201 with the new passkey.
async fn register_finish<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<FinishRegistration, _>(state, request).await?;
    let session = changing_session(state, &parts.headers).await?;
    let user = &session.user;
    let ceremony: Option<RegistrationCeremony> =
        challenges::take(state, Binding::Registration(&session.key)).await?;
    let Some(ceremony) = ceremony.filter(|ceremony| ceremony.user == user.name) else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "No passkey registration in progress for this session: begin again",
        ));
    };
    let credential = state
        .webauthn
        .finish_registration(&body.credential, &ceremony.state)
        .map_err(|err| {
            tracing::info!(user = %user.name, error = %err, "passkey registration refused");
            let message = match Refusal::of(&err) {
                Refusal::Malformed => "The passkey's answer could not be read",
                _ => "The passkey's answer was not accepted",
            };
            AppError::refused(StatusCode::BAD_REQUEST, message)
        })?;
    let passkey = StoredPasskey {
        name: records::clean_name(&body.name).unwrap_or_else(|| "Passkey".to_owned()),
        credential,
        created_at: now(),
        last_used_at: None,
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    changes::add(state, &session, client, &passkey).await?;
    Ok(respond::json_with(
        StatusCode::CREATED,
        "Passkey added",
        json!({ "passkey": describe(&passkey) }),
    ))
}

/// `GET /api/webauthn/passkeys`.
async fn list<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let session = local_session(state, request.headers(), false).await?;
    let passkeys: Vec<Value> = records::list(&state.store, &session.user.name)
        .await?
        .iter()
        .map(describe)
        .collect();
    Ok(respond::json_with(
        StatusCode::OK,
        "OK",
        json!({ "passkeys": passkeys }),
    ))
}

/// `PATCH /api/webauthn/passkeys/{id}` `{"name"}`.
async fn rename<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
    id: &str,
) -> AppResult {
    let (parts, body) = request::json_body::<Rename, _>(state, request).await?;
    let session = changing_session(state, &parts.headers).await?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let passkey = changes::rename(state, &session, client, id, &body.name).await?;
    Ok(respond::json_with(
        StatusCode::OK,
        "Passkey renamed",
        json!({ "passkey": describe(&passkey) }),
    ))
}

/// `DELETE /api/webauthn/passkeys/{id}`.
async fn remove<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
    id: &str,
) -> AppResult {
    let session = changing_session(state, request.headers()).await?;
    let client = request::client_ip(state, peer, request.headers()).ip;
    changes::remove(state, &session, client, id).await?;
    Ok(respond::json_message(StatusCode::OK, "Passkey removed"))
}

/// The session of a change of passkeys: a local user's, with its CSRF token, who may change
/// their factors (`[account] self_service`) and authenticated within the last five minutes
/// (else 403 with `"reauthenticate": true`: sign in again, or confirm on `/account`).
async fn changing_session(
    state: &AppState,
    headers: &http::HeaderMap,
) -> Result<CurrentSession, AppError> {
    let session = local_session(state, headers, true).await?;
    self_service(state)?;
    let why = match factor_rules::confirmation(state, &session).await? {
        Confirmation::Recent => return Ok(session),
        Confirmation::Needed => {
            "Confirm it's you first: sign in again, or confirm with your password or a passkey \
             on /account. It counts for 5 minutes."
        }
        Confirmation::NeedsTwoFactors => TWO_FACTORS_NEEDED,
    };
    Err(AppError::refused_with(
        StatusCode::FORBIDDEN,
        why,
        json!({ "reauthenticate": true }),
    ))
}

/// A passkey as the API shows it: never its public key or counter.
pub fn describe(passkey: &StoredPasskey) -> Value {
    json!({
        "id": passkey.id(),
        "name": passkey.name,
        "createdAt": passkey.created_at,
        "lastUsedAt": passkey.last_used_at,
        "backupEligible": passkey.credential.backup_eligible,
    })
}
