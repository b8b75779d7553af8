//! `POST /api/change-password` `{"current_password","new_password"}`: for a signed-in user
//! (session cookie with its CSRF token, or a bearer token). The current password is checked
//! under the failed-login limits; the new one against the password policy. On success every
//! other session of the user ends, and so do their tokens and cached Basic credentials (both
//! are tied to the hash in force).

use std::net::{IpAddr, SocketAddr};

use http::{Request, StatusCode};
use postern_core::limits::LoginLimits;
use postern_core::password_policy;
use postern_core::token::TokenHash;
use postern_core::users::User;
use postern_store::StoreError;
use serde::Deserialize;

use crate::credentials::{self, LoginError};
use crate::error::{AppError, AppResult};
use crate::passwords::Busy;
use crate::principal;
use crate::request::{self, RequestBody};
use crate::respond;
use crate::state::AppState;
use crate::user_passwords::{self, SaveError};

#[derive(Deserialize)]
struct ChangeBody {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<ChangeBody, _>(state, request).await?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let caller = principal::api_caller(state, &parts.headers, client)
        .await?
        .ok_or(AppError::Unauthorized)?;
    caller.check_csrf(state, &parts.headers)?;
    let ended = change_for(
        state,
        client,
        &caller.user,
        caller.session.as_ref(),
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(respond::json_with(
        StatusCode::OK,
        "Password changed",
        serde_json::json!({ "sessionsEnded": ended }),
    ))
}

/// Changes `user`'s password (the API and the account page's form): the current one checked
/// under the limits, the new one against the policy; every session but `keep` ends. Returns
/// how many ended.
pub async fn change_for(
    state: &AppState,
    client: IpAddr,
    user: &User,
    keep: Option<&TokenHash>,
    current_password: String,
    new_password: String,
) -> Result<usize, AppError> {
    let current_hash = confirm_password(
        state,
        client,
        user,
        current_password,
        "password_change.failed",
    )
    .await?;
    if let Err(weak) = password_policy::check_new_password(&new_password) {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            capitalized(&weak.to_string()),
        ));
    }
    let new_hash = state.passwords.hash(new_password).await?;
    match user_passwords::save(state, user, &current_hash, &new_hash).await {
        Ok(()) => {}
        Err(err @ (SaveError::InlineUser | SaveError::Changed)) => {
            return Err(AppError::refused(
                StatusCode::CONFLICT,
                capitalized(&err.to_string()),
            ));
        }
        Err(SaveError::Store(err)) => return Err(err.into()),
        // The file's path and the system's error are for the administrator, not the user.
        Err(err) => {
            let context = format!("saving {}'s new password", user.name);
            return Err(AppError::internal(&context, &err));
        }
    }
    let ended = end_other_sessions(state, &user.name, keep).await?;
    if let Err(err) = credentials::clear_account(&state.store, &user.name).await {
        tracing::warn!(error = %err, "could not clear the failure counter after a password change");
    }
    tracing::info!(target: "audit", event = "password.changed", user = %user.name, ip = %client, sessions_ended = ended);
    Ok(ended)
}

/// Checks a signed-in user's password again (a password change, the account page's
/// re-authentication), under the failed-login limits of their account: a wrong one is a
/// failure logged as `failure_event`. Returns the hash it was checked against.
pub async fn confirm_password(
    state: &AppState,
    client: IpAddr,
    user: &User,
    password: String,
    failure_event: &'static str,
) -> Result<String, AppError> {
    let account = LoginLimits::user_counter(&user.name);
    let attempt = match credentials::begin_attempt(state, client, account).await {
        Ok(attempt) => attempt,
        Err(LoginError::Invalid) => return Err(AppError::Busy),
        Err(err) => return Err(err.into()),
    };
    let current_hash = user_passwords::in_force(state, user).await?.hash;
    let verified = state
        .passwords
        .verify(Some(current_hash.clone()), password)
        .await;
    settle(state, user, attempt, verified, failure_event).await?;
    Ok(current_hash)
}

/// Settles the attempt on the current password: a right one gives its counts back (the
/// account's failures are cleared once the change is made), a wrong one is a failure.
async fn settle(
    state: &AppState,
    user: &User,
    attempt: credentials::Attempt,
    verified: Result<bool, Busy>,
    failure_event: &'static str,
) -> Result<(), AppError> {
    let right = match verified {
        Ok(true) => true,
        Ok(false) => {
            attempt.failed(state, failure_event, Some(&user.name));
            return Err(AppError::refused(
                StatusCode::UNAUTHORIZED,
                "The current password is not right",
            ));
        }
        // Not checked: every verifier was busy.
        Err(Busy) => false,
    };
    attempt.give_back(state).await?;
    if right { Ok(()) } else { Err(AppError::Busy) }
}

async fn end_other_sessions(
    state: &AppState,
    user: &str,
    keep: Option<&TokenHash>,
) -> Result<usize, StoreError> {
    let mut ended = 0;
    for hash in state.store.user_sessions(user).await? {
        if Some(&hash) != keep {
            state.store.delete_session(&hash, user).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
