//! Password checks run argon2 (19 MiB, ~20 ms of one core each): on the blocking pool, behind a
//! semaphore, so a flood of logins queues instead of exhausting memory, and the async workers
//! that answer checks are never blocked.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How long a login may wait for a free verifier before it is answered "busy".
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("too many password checks in progress")]
pub struct Busy;

pub struct PasswordPool {
    permits: Arc<Semaphore>,
}

impl PasswordPool {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            permits: Arc::new(Semaphore::new(cores.max(2))),
        }
    }

    /// Verifies `password` against `hash`; for unknown users pass `None` and a dummy hash of
    /// the same cost is checked, so the answer takes as long as for a wrong password.
    pub async fn verify(&self, hash: Option<String>, password: String) -> Result<bool, Busy> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match hash {
                Some(hash) => postern_core::password::verify_password(&hash, password.as_bytes()),
                None => {
                    postern_core::password::verify_password(
                        postern_core::password::dummy_hash(),
                        password.as_bytes(),
                    );
                    false
                }
            }
        })
        .await;
        // A panic inside the verifier counts as a failed check, never as success.
        Ok(verified.unwrap_or(false))
    }
}

impl PasswordPool {
    /// Hashes a new password (argon2id) on the blocking pool, behind the same semaphore.
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            postern_core::password::hash_password(password.as_bytes()).ok()
        })
        .await
        .ok()
        .flatten()
        .ok_or(Busy)
    }
}

impl Default for PasswordPool {
    fn default() -> Self {
        Self::new()
    }
}
