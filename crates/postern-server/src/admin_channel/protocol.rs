//! What goes over the admin socket: one request line, one answer line, each followed by as
//! many raw bytes as its `body` says.

use serde::{Deserialize, Serialize};

/// The longest request or answer line (the bodies are counted apart).
pub const MAX_LINE: u64 = 64 * 1024;
/// The largest request body: an import file, the only request with one.
pub const MAX_IMPORT: u64 = 256 << 20;

/// Every admin request a running postern answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// `postern users unlock NAME`.
    UsersUnlock,
    /// `postern users revoke NAME`.
    UsersRevoke,
    /// `postern users totp-reset NAME`.
    UsersTotpReset,
    /// `postern users consents NAME`.
    UsersConsents,
    /// `postern users consents NAME --revoke CLIENT`.
    UsersConsentRevoke,
    /// `postern users passkeys NAME [--remove ID]`.
    UsersPasskeys,
    /// `postern store backup FILE`: answers the copy as its body.
    StoreBackup,
    /// `postern store export`: answers the export file as its body.
    StoreExport,
    /// `postern store import FILE`: the export file is the request's body.
    StoreImport,
}

impl Op {
    /// The most body bytes a request of this op may declare.
    pub fn max_body(self) -> u64 {
        match self {
            Self::StoreImport => MAX_IMPORT,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub op: Op,
    /// The user the op acts on, for the `users-*` ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The OpenID client, for `users-consent-revoke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// What the op names besides the user: the passkey to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Bytes that follow the line.
    #[serde(default)]
    pub body: u64,
}

impl Request {
    pub fn new(op: Op) -> Self {
        Self {
            op,
            user: None,
            client: None,
            id: None,
            body: 0,
        }
    }

    pub fn for_user(op: Op, user: &str) -> Self {
        Self {
            user: Some(user.to_owned()),
            ..Self::new(op)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    /// What was done, or why not: the command prints it as it is.
    pub message: String,
    #[serde(default)]
    pub body: u64,
}

/// `value` as one JSON line.
pub fn json_line(value: &impl Serialize) -> Vec<u8> {
    // Structs of strings, numbers and unit variants: serialising them cannot fail.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}
