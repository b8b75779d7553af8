//! `POST /api/auth/login` and `POST /api/auth/refresh`: the token pair for headless clients
//! (seed 001's shape). Login runs under the same failed-login limits as every other login;
//! a TOTP user must send `code` as well.

use std::net::SocketAddr;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use postern_core::limits::LoginLimits;
use serde::Deserialize;
use serde_json::json;

use super::credentials::{self, Attempt, LoginError, Verified};
use super::totp;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::state::AppState;
use crate::tokens::{self, RefreshError};
use crate::user_passwords;
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
pub async fn login(state: &AppState, peer: SocketAddr, request: Request<Incoming>) -> HttpResponse {
    let (parts, body) = match request::json_body::<LoginBody>(state, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let verified =
        match credentials::authenticate(state, client, &body.username, body.password, None).await {
            Ok(verified) => verified,
            Err(err) => return login_error(err),
        };
    let user = match verified {
        Verified::SignedIn(user) => user,
        Verified::PasswordOnly(user, attempt) => {
            if let Err(response) = second_factor(state, &user, attempt, body.code.as_deref()).await
            {
                return response;
            }
            user
        }
    };
    tracing::info!(target: "audit", event = "token.issued", user = %user.name, ip = %client);
    // The user as the table holds them now: signing in may have just replaced a bcrypt hash.
    let user = state.user(&user.name).unwrap_or(user);
    let pwd = match user_passwords::in_force(state, &user).await {
        Ok(now) => now.stamp,
        Err(err) => return login_error(LoginError::Unavailable(err)),
    };
    let issued = tokens::issue(state, &user, &pwd, user.totp.is_some(), None);
    respond::json(StatusCode::OK, issued.body())
}

/// A TOTP user's code, checked under the attempt their password opened, so that code guesses
/// sent at once are limited like password guesses: a right code signs in, a wrong one is the
/// attempt's failure, and without a code the attempt is given back (nothing is issued).
async fn second_factor(
    state: &AppState,
    user: &User,
    attempt: Attempt,
    code: Option<&str>,
) -> Result<(), HttpResponse> {
    let unavailable = |err| login_error(LoginError::Unavailable(err));
    let Some(code) = code else {
        attempt.give_back(state).await.map_err(unavailable)?;
        return Err(respond::json_with(
            StatusCode::UNAUTHORIZED,
            "TOTP code required",
            json!({ "totpRequired": true }),
        ));
    };
    match totp::accept_code(state, user, code).await {
        Ok(true) => attempt.signed_in(state, user).await.map_err(unavailable),
        Ok(false) => {
            attempt.failed(state, "totp.failed", Some(&user.name));
            Err(respond::json_with(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                json!({ "totpRequired": true }),
            ))
        }
        Err(err) => Err(unavailable(err)),
    }
}

/// `POST /api/auth/refresh` `{"refresh_token"}`: a new pair; the old refresh token is spent.
/// A refresh token that does not work counts as a failed attempt of the client IP (there is
/// no account to count it on: the token's user is not to be believed).
pub async fn refresh(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> HttpResponse {
    let (parts, body) = match request::json_body::<RefreshBody>(state, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let ip = LoginLimits::ip_counter(client);
    let limits = &state.config.limits;
    match state.store.failures(&ip).await {
        Ok(counter) if counter.count >= limits.max_failures_per_ip => {
            return respond::limited(
                "Too many failed attempts, try again later",
                LoginLimits::retry_after_secs(counter.resets_in),
            );
        }
        Ok(_) => {}
        Err(err) => return login_error(LoginError::Unavailable(err)),
    }
    let outcome = tokens::refresh(state, &body.refresh_token).await;
    if matches!(outcome, Ok(Err(_)))
        && let Err(err) = state.store.count_failure(&ip, limits.failure_window).await
    {
        return login_error(LoginError::Unavailable(err));
    }
    match outcome {
        Ok(Ok(issued)) => respond::json(StatusCode::OK, issued.body()),
        Ok(Err(RefreshError::Reused)) => respond::json_message(
            StatusCode::UNAUTHORIZED,
            "Refresh token already used: every token of this login is revoked",
        ),
        Ok(Err(RefreshError::Invalid | RefreshError::Revoked | RefreshError::UnknownUser)) => {
            respond::json_message(StatusCode::UNAUTHORIZED, "Unauthorized")
        }
        Err(err) => login_error(LoginError::Unavailable(err)),
    }
}

fn login_error(err: LoginError) -> HttpResponse {
    match err {
        LoginError::Invalid => respond::json_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
        LoginError::Limited { retry_after } => {
            respond::limited("Too many failed sign-ins, try again later", retry_after)
        }
        LoginError::Busy => respond::json_message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins in progress, try again",
        ),
        LoginError::Unavailable(err) => {
            tracing::error!(error = %err, "session store unavailable during a token request");
            respond::json_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}
