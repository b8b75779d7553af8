//! Replacing a user's bcrypt hash by argon2id after a right password, off the request path: the
//! sign-in or the forward-auth check that verified the password answers at once, and one task
//! does the hashing and the `users_file` rewrite (which may be slow: a network mount, a busy
//! disk). A full queue drops the upgrade; the next right password asks again. This is the
//! queue; the task that empties it is `credentials::run_hash_upgrades`.

use std::sync::{Arc, Mutex};

use postern_core::users::User;
use tokio::sync::mpsc;

/// Upgrades waiting at most; each holds a password, so few.
const QUEUE: usize = 16;

pub struct Upgrade {
    pub user: Arc<User>,
    /// The bcrypt hash `password` was checked against: the upgrade replaces only that one,
    /// never a hash set after it was queued.
    pub replaces: String,
    pub password: String,
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

    /// Queues the upgrade of `user`'s hash `replaces` to an argon2id hash of `password`;
    /// never waits.
    pub fn request(&self, user: Arc<User>, replaces: String, password: String) {
        let upgrade = Upgrade {
            user,
            replaces,
            password,
        };
        if self.sender.try_send(upgrade).is_err() {
            tracing::debug!("bcrypt upgrade queue full; the next sign-in asks again");
        }
    }

    /// The queue's other end, for the task that does the upgrades
    /// (`credentials::run_hash_upgrades`); `None` once taken.
    pub fn take_queue(&self) -> Option<mpsc::Receiver<Upgrade>> {
        self.receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Default for HashUpgrades {
    fn default() -> Self {
        Self::new()
    }
}
