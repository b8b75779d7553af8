//! What the passkey endpoints (`passkeys.rs`, `passkey_login.rs`) share: a ceremony's options
//! as JSON for the browser, and the one answer when the library cannot make them.

use serde::Serialize;
use serde_json::Value;

use crate::error::AppError;

/// A ceremony's options as JSON for the browser (the library's own serialisation).
pub fn to_json<T: Serialize>(options: &T) -> Value {
    serde_json::to_value(options).unwrap_or(Value::Null)
}

/// The library refused to make options from postern's own settings: a bug, not the client's.
pub fn internal(what: &str, err: &dyn std::fmt::Display) -> AppError {
    AppError::internal(&format!("making WebAuthn {what}"), err)
}
