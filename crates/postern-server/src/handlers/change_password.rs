//! `POST /api/change-password` `{"current_password","new_password"}`: for a signed-in user
//! (session cookie with its CSRF token, or a bearer token). The current password is checked
//! under the failed-login limits; the new one against the password policy. On success every
//! other session of the user ends, and so do their tokens and cached Basic credentials (both
//! are tied to the hash in force).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Request, StatusCode};
use hyper::body::Incoming;
use postern_core::csrf::CsrfBinding;
use postern_core::limits::LoginLimits;
use postern_core::password_policy;
use postern_core::token::TokenHash;
use postern_core::users::User;
use postern_store::StoreError;
use serde::Deserialize;

use super::credentials::{self, LoginError};
use crate::passwords::Busy;
use crate::principal::{self, Found};
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;
use crate::user_passwords::{self, SaveError};

#[derive(Deserialize)]
struct ChangeBody {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> HttpResponse {
    let (parts, body) = match request::json_body::<ChangeBody>(state, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let (user, keep) = match caller(state, &parts.headers, client).await {
        Ok(Ok(found)) => found,
        Ok(Err(response)) => return response,
        Err(err) => return respond::store_unavailable(&err),
    };
    let account = LoginLimits::user_counter(&user.name);
    let attempt = match credentials::begin_attempt(state, client, account.clone()).await {
        Ok(attempt) => attempt,
        Err(LoginError::Limited { retry_after }) => {
            return respond::limited("Too many failed attempts, try again later", retry_after);
        }
        Err(LoginError::Unavailable(err)) => return respond::store_unavailable(&err),
        Err(LoginError::Invalid | LoginError::Busy) => return busy(),
    };
    let current_hash = match user_passwords::in_force(state, &user).await {
        Ok(now) => now.hash,
        Err(err) => return respond::store_unavailable(&err),
    };
    let verified = state
        .passwords
        .verify(Some(current_hash), body.current_password)
        .await;
    if let Err(response) = settle(state, &user, attempt, verified).await {
        return response;
    }
    if let Err(weak) = password_policy::check_new_password(&body.new_password) {
        return respond::json_message(StatusCode::BAD_REQUEST, &capitalized(&weak.to_string()));
    }
    let Ok(new_hash) = state.passwords.hash(body.new_password).await else {
        return busy();
    };
    match user_passwords::save(state, &user, &new_hash).await {
        Ok(()) => {}
        Err(SaveError::InlineUser) => {
            return respond::json_message(
                StatusCode::CONFLICT,
                &capitalized(&SaveError::InlineUser.to_string()),
            );
        }
        Err(SaveError::Store(err)) => return respond::store_unavailable(&err),
        Err(err) => {
            tracing::error!(error = %err, user = %user.name, "password change not saved");
            return respond::json_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                &capitalized(&err.to_string()),
            );
        }
    }
    let ended = match end_other_sessions(state, &user.name, keep.as_ref()).await {
        Ok(ended) => ended,
        Err(err) => return respond::store_unavailable(&err),
    };
    if let Err(err) = credentials::clear_account(&state.store, &user.name).await {
        tracing::warn!(error = %err, "could not clear the failure counter after a password change");
    }
    tracing::info!(target: "audit", event = "password.changed", user = %user.name, ip = %client, sessions_ended = ended);
    respond::json_with(
        StatusCode::OK,
        "Password changed",
        serde_json::json!({ "sessionsEnded": ended }),
    )
}

/// Settles the attempt on the current password: a right one gives its counts back (the
/// account's failures are cleared once the change is made), a wrong one is a failure.
async fn settle(
    state: &AppState,
    user: &User,
    attempt: credentials::Attempt,
    verified: Result<bool, Busy>,
) -> Result<(), HttpResponse> {
    let right = match verified {
        Ok(true) => true,
        Ok(false) => {
            attempt.failed(state, "password_change.failed", Some(&user.name));
            return Err(respond::json_message(
                StatusCode::UNAUTHORIZED,
                "The current password is not right",
            ));
        }
        // Not checked: every verifier was busy.
        Err(Busy) => false,
    };
    attempt
        .give_back(state)
        .await
        .map_err(|err| respond::store_unavailable(&err))?;
    if right { Ok(()) } else { Err(busy()) }
}

/// The caller, and the session to keep (the one making the change, if it is a session).
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Result<(Arc<User>, Option<TokenHash>), HttpResponse>, StoreError> {
    if let Some(session) = sessions::current(state, headers).await? {
        let presented = request::csrf_header(headers).unwrap_or_default();
        if !state
            .csrf
            .verify(CsrfBinding::Session(&session.key), presented)
        {
            return Ok(Err(respond::json_message(
                StatusCode::FORBIDDEN,
                "Invalid CSRF token",
            )));
        }
        return Ok(Ok((session.user, Some(session.key))));
    }
    // A bearer token, or Basic: not sent by a browser on its own, so no CSRF token.
    let https = state.config.app_url.scheme() == "https";
    match principal::from_authorization(state, headers, client, https).await {
        Found::User(user, _) => Ok(Ok((user, None))),
        Found::Nobody => Ok(Err(respond::json_message(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        ))),
        Found::Limited { retry_after } => Ok(Err(respond::limited(
            "Too many failed attempts, try again later",
            retry_after,
        ))),
        Found::Busy => Ok(Err(busy())),
        Found::Unavailable(err) => Err(err),
    }
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

fn busy() -> HttpResponse {
    respond::json_message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many sign-ins in progress, try again",
    )
}
