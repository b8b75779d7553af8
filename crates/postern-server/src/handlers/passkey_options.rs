//! What the passkey endpoints (`passkeys.rs`, `passkey_login.rs`) share: a ceremony's options
//! as JSON for the browser, and the one answer when the library cannot make them.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::error::AppError;

/// A ceremony's options as JSON for the browser (the library's own serialisation).
pub fn to_json<T: Serialize>(options: &T) -> Value {
    serde_json::to_value(options).unwrap_or(Value::Null)
}

/// The library refused to make options from postern's own settings: a bug, not the client's.
pub fn internal(what: &str, err: &dyn std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "WebAuthn {what} could not be made");
    AppError::refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error: passkeys are not available",
    )
}
