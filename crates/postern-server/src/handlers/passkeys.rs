//! A signed-in user's own passkeys, under `/api/webauthn/`: `register/begin` and
//! `register/finish` add one, `GET passkeys` lists them, `PATCH passkeys/{id}` renames and
//! `DELETE passkeys/{id}` removes one. Cookie sessions of users in the user table only; every
//! change needs the session's CSRF token. Signing in with a passkey is `passkey_login.rs`.

use std::net::SocketAddr;

use http::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs_core::proto::{RegisterPublicKeyCredential, RegistrationState};

use super::passkey_options::{internal, to_json};
use super::{account, passkey_login};
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;
use crate::user_passwords;
use crate::webauthn::Refusal;
use crate::webauthn::challenges::{self, Binding};
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
        "register/begin"
        | "register/finish"
        | "second-factor/begin"
        | "second-factor/finish"
        | "login/begin"
        | "login/finish" => return Err(Some("POST")),
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
        Endpoint::Rename(id) => rename(state, request, &id).await,
        Endpoint::Remove(id) => remove(state, peer, &request, &id).await,
        Endpoint::SecondFactorBegin => passkey_login::second_factor_begin(state, request).await,
        Endpoint::SecondFactorFinish => {
            passkey_login::second_factor_finish(state, peer, request).await
        }
        Endpoint::PasswordlessBegin => passkey_login::passwordless_begin(state, request).await,
        Endpoint::PasswordlessFinish => {
            passkey_login::passwordless_finish(state, peer, request).await
        }
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
    let session = local_session(state, &parts.headers, true).await?;
    let user = &session.user;
    let handle = records::user_handle(&state.store, &user.name).await?;
    let exclude = records::list(&state.store, &user.name)
        .await?
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
    let session = local_session(state, &parts.headers, true).await?;
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
    let id = records::encode(&credential.cred_id);
    if records::owner_of_credential(&state.store, &id)
        .await?
        .is_some()
    {
        return Err(AppError::refused(
            StatusCode::CONFLICT,
            "This passkey is already registered",
        ));
    }
    let passkey = StoredPasskey {
        name: records::clean_name(&body.name).unwrap_or_else(|| "Passkey".to_owned()),
        credential,
        created_at: now(),
        last_used_at: None,
    };
    records::save(&state.store, &user.name, &passkey).await?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    tracing::info!(target: "audit", event = "passkey.added", user = %user.name, ip = %client, passkey = %id);
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
async fn rename<B: RequestBody>(state: &AppState, request: Request<B>, id: &str) -> AppResult {
    let (parts, body) = request::json_body::<Rename, _>(state, request).await?;
    let session = local_session(state, &parts.headers, true).await?;
    let Some(name) = records::clean_name(&body.name) else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "`name` must not be empty",
        ));
    };
    let Some(mut passkey) = records::find(&state.store, &session.user.name, id).await? else {
        return Err(no_such_passkey());
    };
    passkey.name = name;
    records::save(&state.store, &session.user.name, &passkey).await?;
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
    let session = local_session(state, request.headers(), true).await?;
    let passkeys = records::list(&state.store, &session.user.name).await?;
    if !passkeys.iter().any(|passkey| passkey.id() == id) {
        return Err(no_such_passkey());
    }
    refuse_removing_the_last_factor(state, &session, passkeys.len()).await?;
    if !records::remove(&state.store, &session.user.name, id).await? {
        return Err(no_such_passkey());
    }
    let client = request::client_ip(state, peer, request.headers()).ip;
    tracing::info!(target: "audit", event = "passkey.removed", user = %session.user.name, ip = %client, passkey = %id);
    Ok(respond::json_message(StatusCode::OK, "Passkey removed"))
}

/// A user may not remove their last second factor while an app they may open needs two
/// (the account page's rule for TOTP, the same words).
async fn refuse_removing_the_last_factor(
    state: &AppState,
    session: &CurrentSession,
    passkeys: usize,
) -> Result<(), AppError> {
    let totp = user_passwords::in_force(state, &session.user)
        .await?
        .factors
        .totp
        .is_some();
    let required_by = account::view::two_factor_apps(state, session);
    if passkeys > 1 || totp || required_by.is_empty() {
        return Ok(());
    }
    Err(AppError::refused(
        StatusCode::CONFLICT,
        account::view::last_factor_refusal(&required_by),
    ))
}

/// The caller's cookie session (with its CSRF token for a change), of a user in the user
/// table: a provider user without a local account has nowhere to keep passkeys.
async fn local_session(
    state: &AppState,
    headers: &http::HeaderMap,
    needs_csrf: bool,
) -> Result<CurrentSession, AppError> {
    let session = sessions::current(state, headers)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if needs_csrf {
        request::require_session_csrf(state, headers, &session.key)?;
    }
    if session.record.external.is_some() || state.user(&session.user.name).is_none() {
        return Err(AppError::refused(
            StatusCode::FORBIDDEN,
            "Passkeys are for users of postern's own user table",
        ));
    }
    Ok(session)
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

fn no_such_passkey() -> AppError {
    AppError::refused(StatusCode::NOT_FOUND, "No such passkey")
}
