//! `POST /api/auth/login` and `POST /api/auth/refresh`: the token pair for headless clients
//! (seed 001's shape). Login runs under the same failed-login limits as every other login;
//! a TOTP user must send `code` as well.

use std::net::SocketAddr;

use http::{Request, StatusCode};
use postern_core::limits::LoginLimits;
use serde::Deserialize;
use serde_json::json;

use super::totp;
use crate::credentials::{self, Attempt, Verified};
use crate::error::{AppError, AppResult};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::state::AppState;
use crate::tokens::{self, RefreshError};
use postern_core::users::User;

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    code: Option<String>,
}

#[derive(Deserialize)]
struct RefreshBody {
    #[serde(default)]
    refresh_token: String,
}

/// `POST /api/auth/login` `{"username","password"[,"code"]}`.
pub async fn login<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<LoginBody, _>(state, request).await?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let stamp_before = credentials::stamp_before_check(state, &body.username).await?;
    let user =
        match credentials::authenticate(state, client, &body.username, body.password, &[]).await? {
            Verified::SignedIn(user, attempt) => {
                credentials::password_signed_in(state, client, &user, attempt).await?;
                user
            }
            Verified::PasswordOnly(user, attempt) => {
                second_factor(state, &user, attempt, body.code.as_deref()).await?;
                user
            }
        };
    // Decided by the user as signed in: with the second factors in force.
    let two_factor = user.totp.is_some();
    // The stamp the password was checked under: a password change, a revocation or a new
    // factor that landed during the check leaves this token void. (A user a reload added
    // during the check had none: they sign in again.)
    let Some(pwd) = stamp_before else {
        return Err(AppError::Unavailable);
    };
    let issued = tokens::issue(state, &user, &pwd, two_factor, None);
    tracing::info!(target: "audit", event = "token.issued", user = %user.name, ip = %client);
    Ok(respond::json(StatusCode::OK, issued.body()))
}

/// A TOTP user's code, checked under the attempt their password opened, so that code guesses
/// sent at once are limited like password guesses: a right code signs in, a wrong one is the
/// attempt's failure, and without a code the attempt is given back (nothing is issued).
async fn second_factor(
    state: &AppState,
    user: &User,
    attempt: Attempt,
    code: Option<&str>,
) -> Result<(), AppError> {
    let Some(code) = code else {
        attempt.give_back(state).await?;
        return Err(AppError::refused_with(
            StatusCode::UNAUTHORIZED,
            "TOTP code required",
            json!({ "totpRequired": true }),
        ));
    };
    if totp::accept_code(state, user, code).await? {
        return Ok(attempt.headless_success(state).await?);
    }
    attempt
        .failed(state, "totp.failed", Some(&user.name))
        .await?;
    Err(AppError::refused_with(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        json!({ "totpRequired": true }),
    ))
}

/// `POST /api/auth/refresh` `{"refresh_token"}`: a new pair; the old refresh token is spent.
/// A refresh token that does not work counts as a failed attempt of the client IP (there is
/// no account to count it on: the token's user is not to be believed).
pub async fn refresh<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<RefreshBody, _>(state, request).await?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let ip = LoginLimits::ip_counter(client);
    let limits = &state.config.limits;
    let counter = state.store.failures(&ip).await?;
    if counter.count >= limits.max_failures_per_ip {
        return Err(AppError::Limited {
            retry_after: LoginLimits::retry_after_secs(counter.resets_in),
        });
    }
    let refused = match tokens::refresh(state, &body.refresh_token).await {
        Ok(issued) => return Ok(respond::json(StatusCode::OK, issued.body())),
        Err(RefreshError::Unavailable(err)) => return Err(err.into()),
        Err(RefreshError::Reused) => AppError::refused(
            StatusCode::UNAUTHORIZED,
            "Refresh token already used: every token of this login is revoked",
        ),
        Err(RefreshError::Invalid | RefreshError::Revoked | RefreshError::UnknownUser) => {
            AppError::Unauthorized
        }
    };
    state
        .store
        .count_failure(&ip, limits.failure_window)
        .await?;
    Err(refused)
}
