//! What the passkey endpoints (`passkeys.rs`, `passkey_login.rs`, `passkey_reauth.rs`) share:
//! whose session may use them, a ceremony's options as JSON for the browser, and the one
//! answer when the library cannot make them.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use webauthn_rs_core::proto::AuthenticationState;

use crate::error::AppError;
use crate::request;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;
use crate::webauthn::records;

/// A challenge naming `user`'s passkeys (as JSON for the browser) and the ceremony's state to
/// keep until the answer comes; 400 when the user has none. `what` names the ceremony in the
/// log line of a failure.
pub async fn assertion_options(
    state: &AppState,
    user: &str,
    what: &str,
) -> Result<(Value, AuthenticationState), AppError> {
    let passkeys = records::list(&state.store, user).await?;
    if passkeys.is_empty() {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "This account has no passkey",
        ));
    }
    let credentials = passkeys
        .into_iter()
        .map(|passkey| passkey.credential)
        .collect();
    let (options, ceremony) = state
        .webauthn
        .start_authentication(credentials)
        .map_err(|err| internal(what, &err))?;
    Ok((to_json(&options), ceremony))
}

/// Users change their own factors only with `[account] self_service` (the default).
pub fn self_service(state: &AppState) -> Result<(), AppError> {
    if state.config.account.self_service {
        Ok(())
    } else {
        Err(AppError::refused(
            StatusCode::FORBIDDEN,
            "Your administrator manages passkeys on this portal (`account.self_service`)",
        ))
    }
}

/// The caller's cookie session (with its CSRF token for a change), of a user in the user
/// table: a provider user without a local account has nowhere to keep passkeys.
pub async fn local_session(
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

/// A ceremony's options as JSON for the browser (the library's own serialisation).
pub fn to_json<T: Serialize>(options: &T) -> Value {
    serde_json::to_value(options).unwrap_or(Value::Null)
}

/// The library refused to make options from postern's own settings: a bug, not the client's.
pub fn internal(what: &str, err: &dyn std::fmt::Display) -> AppError {
    AppError::internal(&format!("making WebAuthn {what}"), err)
}
