//! Replacing a user's bcrypt hash by argon2id after a right password, off the request path: the
//! sign-in or the forward-auth check that verified the password answers at once, and one task
//! does the hashing and the `users_file` rewrite (which may be slow: a network mount, a busy
//! disk). A full queue drops the upgrade; the next right password asks again.

use std::sync::{Arc, Mutex, Weak};

use postern_core::users::User;
use tokio::sync::mpsc;

use crate::state::AppState;
use crate::user_passwords;

/// Upgrades waiting at most; each holds a password, so few.
const QUEUE: usize = 16;

struct Upgrade {
    user: Arc<User>,
    password: String,
}

pub struct HashUpgrades {
    sender: mpsc::Sender<Upgrade>,
    /// Taken by `start`, once.
    receiver: Mutex<Option<mpsc::Receiver<Upgrade>>>,
}

impl HashUpgrades {
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// Queues the upgrade of `user`'s hash to an argon2id hash of `password`; never waits.
    pub fn request(&self, user: Arc<User>, password: String) {
        if self.sender.try_send(Upgrade { user, password }).is_err() {
            tracing::debug!("bcrypt upgrade queue full; the next sign-in asks again");
        }
    }

    /// Starts the task that does the upgrades. It holds the state weakly, so it ends when the
    /// state is dropped (the sender goes with it).
    pub fn start(state: &Arc<AppState>) {
        let receiver = state
            .hash_upgrades
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut receiver) = receiver else {
            return;
        };
        let state = Arc::downgrade(state);
        tokio::spawn(async move {
            while let Some(upgrade) = receiver.recv().await {
                let Some(state) = Weak::upgrade(&state) else {
                    return;
                };
                upgrade_to_argon2(&state, &upgrade.user, upgrade.password).await;
            }
        });
    }
}

impl Default for HashUpgrades {
    fn default() -> Self {
        Self::new()
    }
}

/// Rewrites a user's bcrypt hash as argon2id (the file, and Redis when that is the store).
/// A failure only leaves the bcrypt hash in place.
async fn upgrade_to_argon2(state: &AppState, user: &User, password: String) {
    let Ok(new_hash) = state.passwords.hash(password).await else {
        return;
    };
    match user_passwords::save(state, user, &new_hash).await {
        Ok(()) => {
            tracing::info!(user = %user.name, "bcrypt hash replaced by argon2id in users_file")
        }
        Err(err) => tracing::warn!(user = %user.name, error = %err, "bcrypt hash not replaced"),
    }
}
