//! Which password hash is in force for a user, and changing it. A change rewrites the user's
//! `users_file` when it can; with a durable store (embedded or Redis) the new hash is also
//! kept as the user's credentials record, so every replica uses it at once, even before its
//! file watch fires and even when the file is a read-only mount or the user is defined in the
//! main config. A kept hash applies only while the file still holds the hash it replaced: an
//! administrator who sets a new hash in the file later wins.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use postern_core::users::{User, UserTable};
use postern_core::users_file;
use postern_store::{Store, StoreError};

use crate::credentials_record::{
    KeptHash, RecordLock, UserState, fingerprint, read_state, write_state,
};
use crate::state::{AppState, LiveState};

/// The user's credentials as they stand now.
pub struct InForce {
    /// The hash a password is checked against.
    pub hash: String,
    /// Changes whenever the hash does, the user is revoked or their second factors change:
    /// tokens and cached Basic credentials made under another stamp no longer work.
    pub stamp: String,
    /// The second factors in force: the administrator's, else the user's own.
    pub factors: crate::user_factors::Factors,
}

pub async fn in_force(state: &AppState, user: &User) -> Result<InForce, StoreError> {
    // Only a durable store holds credentials: with the memory store nothing outside this
    // process changes a user, and a change inside it rewrites the file and the table. Its
    // record still counts the changes of passkeys (kept in memory until a restart), which
    // must end the user's tokens there too.
    if !state.store.keeps_records_durably() {
        let record = read_state(&state.store, &user.name).await?;
        let mut stamped = user.password_hash.clone();
        // A retirement's revocation too: a user created again from the same line while this
        // process runs must not have the old person's tokens back. Only once there is one, so
        // the stamps of every earlier token stay as they were.
        if let Some(revoked_at) = record.revoked_at {
            stamped.push_str(&format!(":revoked {revoked_at}"));
        }
        if record.factors_version > 0 {
            stamped.push_str(&format!(":{}", record.factors_version));
        }
        add_administrators_totp(&mut stamped, user);
        let stamp = fingerprint(&stamped);
        return Ok(InForce {
            hash: user.password_hash.clone(),
            stamp,
            factors: crate::user_factors::Factors::of(user, None),
        });
    }
    let kept = read_state(&state.store, &user.name).await?;
    let hash = hash_in_force(user, &kept).to_owned();
    let mut stamped = format!("{hash}:{}", kept.revoked_at.unwrap_or(0));
    // Only once a factor changed, so the stamps of every earlier token stay as they were.
    if kept.factors_version > 0 {
        stamped.push_str(&format!(":{}", kept.factors_version));
    }
    add_administrators_totp(&mut stamped, user);
    let stamp = fingerprint(&stamped);
    let factors = crate::user_factors::Factors::of(user, Some(&kept));
    Ok(InForce {
        hash,
        stamp,
        factors,
    })
}

/// The TOTP secret the administrator set for `user` (`totp_secret`), named by its identity:
/// setting or replacing it ends the tokens and cached Basic credentials made before, as a
/// change of the user's own factors does. Only when there is one, so every other user's stamp
/// stays as it was.
fn add_administrators_totp(stamped: &mut String, user: &User) {
    if let Some(key) = &user.totp {
        let identity = key.identity();
        stamped.push_str(":admin totp ");
        stamped.push_str(&postern_core::mac::hex(&identity[..8]));
    }
}

/// The kept hash while the file still holds the hash it replaced; else the file's.
fn hash_in_force<'a>(user: &'a User, kept: &'a UserState) -> &'a str {
    kept.kept
        .as_ref()
        .filter(|kept| kept.replaces == user.password_hash)
        .map_or(user.password_hash.as_str(), |kept| kept.hash.as_str())
}

/// `postern users revoke`: ends every token and cached Basic credential of `user`, on every
/// replica (the caller ends the sessions). Needs a durable store: the memory store lives
/// inside the running process.
pub async fn revoke(store: &Store, user: &str, now: u64) -> Result<(), StoreError> {
    let lock = RecordLock::take(store, user).await?;
    let result = async {
        let mut current = read_state(store, user).await?;
        current.revoked_at = Some(now);
        write_state(store, user, &current).await
    }
    .await;
    lock.release().await;
    result
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(
        "the user is defined in the main config file, which postern does not rewrite: move the user to `users_file`, or use the embedded or Redis store"
    )]
    InlineUser,
    #[error("`users_file` could not be written: {0}")]
    File(std::io::Error),
    #[error("the user is no longer in `users_file`")]
    NotInFile,
    #[error("the password was changed meanwhile")]
    Changed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores `new_hash` as `user`'s password hash, everywhere it must go, provided the hash in
/// force is still `replaces` (the one the caller checked a password against) and `user` is
/// still the table's: a compare-and-swap, so a late write (a queued bcrypt upgrade) never
/// brings back a password replaced meanwhile, in the file, the table or the store.
pub async fn save(
    state: &AppState,
    user: &User,
    replaces: &str,
    new_hash: &str,
) -> Result<(), SaveError> {
    let durable = state.store.keeps_records_durably();
    // Held throughout: this replica's saves and their checks happen one at a time; with a
    // durable store, every replica's changes of this user's record too.
    let _serialized = state.users_file_lock.lock().await;
    let lock = if durable {
        Some(RecordLock::take(&state.store, &user.name).await?)
    } else {
        None
    };
    let result = save_locked(state, user, replaces, new_hash, durable).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

/// `save`, with the locks held.
async fn save_locked(
    state: &AppState,
    user: &User,
    replaces: &str,
    new_hash: &str,
    durable: bool,
) -> Result<(), SaveError> {
    let live_hash = state
        .live
        .load()
        .users
        .get(&user.name)
        .map(|live| live.password_hash.clone());
    if live_hash.as_deref() != Some(user.password_hash.as_str()) {
        return Err(SaveError::Changed);
    }
    let mut current = if durable {
        read_state(&state.store, &user.name).await?
    } else {
        UserState::default()
    };
    if hash_in_force(user, &current) != replaces {
        return Err(SaveError::Changed);
    }
    let mut wrote_file = false;
    if user.from_users_file {
        match rewrite_users_file(state, user, new_hash).await {
            Ok(()) => wrote_file = true,
            // Read-only mounts are normal in containers: the store carries the change then.
            Err(err @ (SaveError::File(_) | SaveError::NotInFile)) if durable => {
                tracing::warn!(error = %err, store = state.store.backend_name(), "users_file not rewritten; the new hash is kept in the store")
            }
            Err(err) => return Err(err),
        }
    } else if !durable {
        return Err(SaveError::InlineUser);
    }
    if durable {
        current.kept = Some(KeptHash {
            hash: new_hash.to_owned(),
            replaces: user.password_hash.clone(),
        });
        write_state(&state.store, &user.name, &current).await?;
    }
    if wrote_file {
        // This replica uses the new hash at once; the file watch reloads the rest later.
        swap_hash(state, &user.name, new_hash);
    }
    Ok(())
}

/// Replaces `user`'s line only while it still holds `user.password_hash`.
async fn rewrite_users_file(
    state: &AppState,
    user: &User,
    new_hash: &str,
) -> Result<(), SaveError> {
    let Some(path) = state.config.users_file.clone() else {
        return Err(SaveError::NotInFile);
    };
    let name = user.name.clone();
    let old_hash = user.password_hash.clone();
    let new_hash = new_hash.to_owned();
    tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(&path).map_err(SaveError::File)?;
        let toml = users_file::is_toml(&path);
        let changed = users_file::with_new_hash(&text, &name, &old_hash, &new_hash, toml).map_err(
            |refused| match refused {
                users_file::NotReplaced::NotInFile => SaveError::NotInFile,
                users_file::NotReplaced::Changed => SaveError::Changed,
            },
        )?;
        write_atomically(&path, changed.as_bytes()).map_err(SaveError::File)
    })
    .await
    .map_err(|err| SaveError::File(std::io::Error::other(err.to_string())))?
}

/// Temp file beside the target, fsync, rename over it, fsync the folder: a crash leaves the
/// old file or the new one, never half of one. The file keeps its permissions.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Through a symlink to the file itself, so the link stays a link.
    let path = &std::fs::canonicalize(path)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unpredictable and created fresh (never through a link planted in its place).
    let temp = dir.join(format!(
        ".{name}.postern-{}",
        postern_core::token::random_text::<9>()
    ));
    let permissions = std::fs::metadata(path)?.permissions();
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.set_permissions(permissions)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn swap_hash(state: &AppState, name: &str, new_hash: &str) {
    // `rcu`: a reload swapping in a new table meanwhile is retried on, not overwritten.
    state.live.rcu(|current| {
        let users = current.users.iter().map(|user| {
            let mut user = User::clone(user);
            if user.name == name {
                user.password_hash = new_hash.to_owned();
            }
            user
        });
        LiveState {
            access: Arc::clone(&current.access),
            users: Arc::new(UserTable::new(users)),
        }
    });
}
