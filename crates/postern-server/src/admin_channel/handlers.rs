//! One handler per admin request. Each returns the message the command prints, and a body
//! when the answer carries a file; an `Err` is the reason it was not done.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use postern_store::{Store, StoreError};

use super::protocol::{Op, Request};
use crate::state::AppState;
use crate::{admin, records_file};

pub struct Reply {
    pub message: String,
    pub body: Body,
}

pub enum Body {
    None,
    Bytes(Vec<u8>),
    /// A file written for this answer, deleted once sent (or not).
    File(TempFile),
}

impl Reply {
    fn message(message: String) -> Self {
        Self {
            message,
            body: Body::None,
        }
    }
}

pub async fn handle(state: &AppState, request: Request, body: Vec<u8>) -> Result<Reply, String> {
    match request.op {
        Op::UsersUnlock => {
            let user = user_of(&request)?;
            admin::unlock_user(&state.store, &state.users(), user)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::UsersRevoke => {
            let user = user_of(&request)?;
            admin::revoke_user(&state.store, &state.users(), user)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::UsersTotpReset => {
            let user = user_of(&request)?;
            admin::totp_reset_user(&state.store, &state.users(), user)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::UsersConsents => {
            let user = user_of(&request)?;
            admin::consents_user(&state.store, &state.users(), user)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::UsersConsentRevoke => {
            let user = user_of(&request)?;
            let client = request.client.as_deref().ok_or("no client named")?;
            admin::revoke_consent_user(&state.store, &state.users(), user, client)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::UsersPasskeys => {
            let user = user_of(&request)?;
            admin::passkeys_user(&state.store, &state.users(), user, request.id.as_deref())
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
        Op::StoreBackup => backup(state).await,
        Op::StoreExport => {
            let (file, message) = admin::export(&state.store).await.map_err(store_failed)?;
            Ok(Reply {
                message,
                body: Body::Bytes(file),
            })
        }
        Op::StoreImport => {
            let records = records_file::read(body.as_slice())
                .map_err(|err| format!("nothing imported: {err}"))?;
            admin::import(&state.store, &state.users(), records)
                .await
                .map(Reply::message)
                .map_err(store_failed)
        }
    }
}

fn user_of(request: &Request) -> Result<&str, String> {
    request
        .user
        .as_deref()
        .filter(|user| !user.is_empty())
        .ok_or_else(|| "this request needs a user name".to_owned())
}

fn store_failed(err: StoreError) -> String {
    format!("the store did not answer: {err}")
}

/// Names of backup copies being sent, unique within the process.
static COPIES: AtomicU64 = AtomicU64::new(0);

/// A copy from one read transaction, written beside the data file (owner-only, on the same
/// disk) and sent as the body.
async fn backup(state: &AppState) -> Result<Reply, String> {
    let Store::Embedded(store) = &*state.store else {
        return Err("backups through postern are for the embedded store".into());
    };
    let copy = TempFile(super::socket_dir(&state.config.data_dir).join(format!(
        "{BACKUP_PREFIX}{}-{}.redb",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    )));
    let store = store.clone();
    let path = copy.0.clone();
    let summary = tokio::task::spawn_blocking(move || store.backup_to(&path))
        .await
        .map_err(|err| format!("the backup stopped: {err}"))?
        .map_err(|err| err.to_string())?;
    Ok(Reply {
        message: admin::backed_up(&summary),
        body: Body::File(copy),
    })
}

/// How backup copies under the socket's folder start (a crashed server's are removed at start).
pub const BACKUP_PREFIX: &str = "backup-";

pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
