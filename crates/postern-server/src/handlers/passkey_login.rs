//! Signing in with a passkey, under `/api/webauthn/`: as the second step after a right
//! password (`second-factor/begin|finish`, on the pending sign-in TOTP uses), or without a
//! password (`login/begin|finish`, a discoverable credential found by its user handle).
//! A refused assertion counts against the failed-login limits like a wrong password; a
//! signature counter that did not grow is refused and is an audit event of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, StatusCode};
use postern_core::limits::LoginLimits;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token::random_text;
use postern_core::users::User;
use postern_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs_core::proto::{AuthenticationResult, AuthenticationState, PublicKeyCredential};

use super::login::{self, SignIn};
use super::passkey_shared::{assertion_options, internal, to_json};
use super::totp::{self, SecondStep};
use crate::clock::now;
use crate::cookies;
use crate::credentials::{self, Attempt, LoginError};
use crate::credentials_record::RecordLock;
use crate::error::{AppError, AppResult};
use crate::pending;
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::{self, Authentication};
use crate::state::AppState;
use crate::webauthn::Refusal;
use crate::webauthn::challenges::{self, Binding};
use crate::webauthn::records;

/// A sign-in in progress: for whom (a second factor; `None` when passwordless) and what the
/// library needs to finish it.
#[derive(Serialize, Deserialize)]
struct SignInCeremony {
    user: Option<String>,
    state: AuthenticationState,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct SecondFactorFinish {
    credential: PublicKeyCredential,
}

#[derive(Deserialize)]
struct PasswordlessFinish {
    credential: PublicKeyCredential,
    #[serde(default, alias = "rememberMe")]
    remember_me: bool,
    redirect_uri: Option<String>,
}

fn no_pending() -> AppError {
    AppError::refused(
        StatusCode::UNAUTHORIZED,
        "No pending login: sign in with the password first",
    )
}

fn no_ceremony() -> AppError {
    AppError::refused(
        StatusCode::BAD_REQUEST,
        "No passkey sign-in in progress here (or it expired): begin again",
    )
}

/// `POST /api/webauthn/second-factor/begin` `{}`: options naming the pending user's passkeys.
pub async fn second_factor_begin<B: RequestBody>(
    state: &AppState,
    request: Request<B>,
) -> AppResult {
    let (parts, Empty {}) = request::json_body::<Empty, _>(state, request).await?;
    let token = pending::cookie_token(&parts.headers).ok_or_else(no_pending)?;
    let record = pending::peek(state, &token).await?.ok_or_else(no_pending)?;
    let (options, ceremony) = assertion_options(state, &record.user, "sign-in options").await?;
    let ceremony = SignInCeremony {
        user: Some(record.user),
        state: ceremony,
    };
    challenges::keep(state, Binding::SecondFactor(&token.hash()), &ceremony).await?;
    Ok(respond::json(StatusCode::OK, options))
}

/// `POST /api/webauthn/second-factor/finish` `{"credential"}`: a two-factor session, and
/// `redirectTo`, the target the sign-in began with.
pub async fn second_factor_finish<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<SecondFactorFinish, _>(state, request).await?;
    let token = pending::cookie_token(&parts.headers).ok_or_else(no_pending)?;
    let ceremony: SignInCeremony = challenges::take(state, Binding::SecondFactor(&token.hash()))
        .await?
        .ok_or_else(no_ceremony)?;
    let mut record = pending::take(state, &token)
        .await?
        .filter(|record| ceremony.user.as_deref() == Some(record.user.as_str()))
        .ok_or_else(no_pending)?;
    let user = state.user(&record.user).ok_or_else(no_pending)?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let attempt = match credentials::begin_attempt(state, client, record.counter.clone()).await {
        Ok(attempt) => attempt,
        Err(err) => {
            pending::put_back(state, &token, &record).await?;
            return Err(limited_or(err));
        }
    };
    match verify(state, &user, &body.credential, ceremony.state, attempt).await? {
        Ok(_) => {
            let target = state
                .redirects
                .target_or_home(record.redirect_uri.as_deref());
            let answer = respond::json_with(
                StatusCode::OK,
                "Logged in",
                json!({ "redirectTo": target.as_str() }),
            );
            totp::two_factor_session(
                state,
                &parts.headers,
                client,
                &user,
                &record,
                answer,
                SecondStep::Passkey,
            )
            .await
        }
        Err(refusal) => {
            record.failures += 1;
            let ended = record.failures >= pending::MAX_CODE_FAILURES;
            if !ended {
                pending::put_back(state, &token, &record).await?;
            }
            Err(refused(&refusal, Some(ended)))
        }
    }
}

/// `POST /api/webauthn/login/begin` `{}`: options for a passwordless sign-in, bound to the
/// login page's pre-session cookie (set here when the caller has none).
pub async fn passwordless_begin<B: RequestBody>(
    state: &AppState,
    request: Request<B>,
) -> AppResult {
    passwordless_enabled(state)?;
    let (parts, Empty {}) = request::json_body::<Empty, _>(state, request).await?;
    let existing = cookies::pre_session(&parts.headers);
    let pre_session = existing.map_or_else(random_text::<16>, str::to_owned);
    let (options, ceremony) = state
        .webauthn
        .start_discoverable()
        .map_err(|err| internal("sign-in options", &err))?;
    let ceremony = SignInCeremony {
        user: None,
        state: ceremony,
    };
    challenges::keep(state, Binding::Passwordless(&pre_session), &ceremony).await?;
    let mut answer = respond::json(StatusCode::OK, to_json(&options));
    if existing.is_none() {
        respond::add_cookie(&mut answer, &state.session_cookie.pre_session(&pre_session));
    }
    Ok(answer)
}

/// `POST /api/webauthn/login/finish` `{"credential", "remember_me"?, "redirect_uri"?}`: a
/// session (two factors when the authenticator verified the user), and `redirectTo`.
pub async fn passwordless_finish<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    passwordless_enabled(state)?;
    let (parts, body) = request::json_body::<PasswordlessFinish, _>(state, request).await?;
    let pre_session = cookies::pre_session(&parts.headers).ok_or_else(no_ceremony)?;
    let ceremony: SignInCeremony = challenges::take(state, Binding::Passwordless(pre_session))
        .await?
        .ok_or_else(no_ceremony)?;
    let Some(handle) = body.credential.get_user_unique_id() else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "The passkey did not name its user (userHandle): it is not a discoverable passkey",
        ));
    };
    let owner = records::owner_of_handle(&state.store, handle).await?;
    let user = owner.and_then(|name| state.user(&name));
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let counter = match &user {
        Some(user) => credentials::account_counter(
            state,
            Some(user),
            &user.name,
            &cookies::device_cookies(&parts.headers),
        ),
        None => LoginLimits::user_counter(&format!("passkey-{}", records::encode(handle))),
    };
    let attempt = credentials::begin_attempt(state, client, counter)
        .await
        .map_err(limited_or)?;
    let Some(user) = user else {
        attempt.failed(state, "passkey.failed", None).await?;
        return Err(refused(&Refusal::NotVerified, None));
    };
    let result = match verify(state, &user, &body.credential, ceremony.state, attempt).await? {
        Ok(result) => result,
        Err(refusal) => return Err(refused(&refusal, None)),
    };
    let level = if result.user_verified() {
        AuthLevel::TwoFactor
    } else {
        AuthLevel::OneFactor
    };
    let target = state.redirects.target_or_home(body.redirect_uri.as_deref());
    let how = SignIn {
        user: &user,
        level,
        authentication: Authentication::Now(WayIn::Passkey),
        remember: body.remember_me,
        method: sessions::PASSKEY_METHOD,
        settles: None,
    };
    let cookies = login::sign_in(state, &parts.headers, client, how).await?;
    tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client, factor = "passkey", user_verified = result.user_verified());
    let mut answer = respond::json_with(
        StatusCode::OK,
        "Logged in",
        json!({ "redirectTo": target.as_str(), "twoFactor": level == AuthLevel::TwoFactor }),
    );
    respond::add_cookies(&mut answer, &cookies);
    respond::add_cookie(&mut answer, &state.session_cookie.expire_pre_session());
    Ok(answer)
}

/// Checks the assertion against the user's passkey it names, and settles `attempt`: on
/// success the passkey's counter and last use are saved. The passkey is read, checked and
/// saved under the user's credentials lock: one removed meanwhile stays removed and the
/// sign-in is refused, and two sign-ins with one authenticator meet each other's counter. The
/// outer `Err` is the store's.
pub(super) async fn verify(
    state: &AppState,
    user: &Arc<User>,
    assertion: &PublicKeyCredential,
    ceremony: AuthenticationState,
    attempt: Attempt,
) -> Result<Result<AuthenticationResult, Refusal>, AppError> {
    let held = RecordLock::take(&state.store, &user.name).await?;
    let outcome = check_and_save(state, &held, assertion, ceremony).await;
    held.release().await;
    match outcome? {
        Ok(result) => {
            attempt.signed_in(state, user).await?;
            Ok(Ok(result))
        }
        Err(refusal) => {
            attempt
                .failed(state, "passkey.failed", Some(&user.name))
                .await?;
            Ok(Err(refusal))
        }
    }
}

/// `verify`'s part under the lock `held`: the passkey as it is now, the library's check
/// against it, and the save of its counter and last use.
async fn check_and_save(
    state: &AppState,
    held: &RecordLock<'_>,
    assertion: &PublicKeyCredential,
    mut ceremony: AuthenticationState,
) -> Result<Result<AuthenticationResult, Refusal>, StoreError> {
    let user = held.user();
    let id = records::encode(assertion.get_credential_id());
    let Some(mut passkey) = records::find(&state.store, user, &id).await? else {
        return Ok(Err(Refusal::NotVerified));
    };
    ceremony.set_allowed_credentials(vec![passkey.credential.clone()]);
    let result = match state.webauthn.finish_authentication(assertion, &ceremony) {
        Ok(result) => result,
        Err(err) => {
            let refusal = Refusal::of(&err);
            if refusal == Refusal::CounterRegressed {
                tracing::warn!(target: "audit", event = "passkey.counter_regressed", user = %user, passkey = %id, "a passkey's signature counter did not grow: it may have been cloned; the sign-in was refused");
            } else {
                tracing::info!(user = %user, passkey = %id, error = %err, "passkey assertion refused");
            }
            return Ok(Err(refusal));
        }
    };
    if result.counter() > passkey.credential.counter {
        passkey.credential.counter = result.counter();
    }
    passkey.credential.backup_state = result.backup_state();
    passkey.credential.backup_eligible |= result.backup_eligible();
    passkey.last_used_at = Some(now());
    records::save(held, &passkey).await?;
    Ok(Ok(result))
}

pub(super) fn refused(refusal: &Refusal, pending_ended: Option<bool>) -> AppError {
    let (status, message) = match refusal {
        Refusal::Malformed => (
            StatusCode::BAD_REQUEST,
            "The passkey's answer could not be read",
        ),
        Refusal::NotVerified | Refusal::CounterRegressed => {
            (StatusCode::UNAUTHORIZED, "The passkey was not accepted")
        }
    };
    match pending_ended {
        Some(ended) => AppError::refused_with(status, message, json!({ "pendingEnded": ended })),
        None => AppError::refused(status, message),
    }
}

pub(super) fn limited_or(err: LoginError) -> AppError {
    match err {
        LoginError::Limited { retry_after } => AppError::Limited { retry_after },
        LoginError::Unavailable(err) => AppError::Store(err),
        LoginError::Invalid | LoginError::Busy => AppError::Busy,
    }
}

fn passwordless_enabled(state: &AppState) -> Result<(), AppError> {
    if state.webauthn.passwordless {
        Ok(())
    } else {
        Err(AppError::refused(
            StatusCode::NOT_FOUND,
            "Passwordless sign-in is off (`webauthn.passwordless`)",
        ))
    }
}
