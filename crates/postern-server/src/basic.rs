//! HTTP Basic for headless clients: opt-in (`[api] basic_auth`), over HTTPS only unless
//! `allow_insecure_basic`, never for a TOTP user, and argon2 only on a cache miss. The cache
//! is keyed by a keyed hash of the header (a dump of it holds no password) and each entry
//! remembers the password hash it was verified against: a changed password makes it useless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postern_core::mac::SubKey;
use postern_core::users::User;
use tokio::sync::OwnedMutexGuard;

use crate::authorization::basic_pair;
use crate::handlers::credentials::{self, LoginError, Verified};
use crate::state::AppState;
use crate::user_passwords;

/// Entries kept at most; when full, expired ones go first, then a new entry is not cached.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    user: String,
    /// The stamp of the credentials this was verified against (`user_passwords::InForce`).
    verified_hash: String,
    until: Instant,
}

pub struct BasicCache {
    key: SubKey,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// Verifications in progress, by fingerprint (see `turn`). An entry lives only while
    /// requests with those credentials wait or verify, so the map is bounded by them.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to verify one set of credentials; leaving it lets the next request with the same
/// credentials in, and the last one out removes the entry.
struct Turn<'a> {
    cache: &'a BasicCache,
    fingerprint: [u8; 32],
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let lock = Arc::clone(OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's reference and `lock`: nobody else waits for these credentials.
        if Arc::strong_count(&lock) <= 2 {
            in_flight.remove(&self.fingerprint);
        }
    }
}

pub enum BasicOutcome {
    Verified(Arc<User>),
    /// Wrong, unknown, or not allowed for this user: one answer for all.
    Refused,
    Limited {
        retry_after: u64,
    },
    Busy,
    Unavailable(postern_store::StoreError),
}

impl BasicCache {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: SubKey::derive(secret, b"postern basic cache v1"),
            ttl,
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until no other request is verifying the same credentials. Clients send
    /// requests in parallel with one credential (a script, a dashboard's widgets); when the
    /// cache entry is missing or expired, one verification serves them all, instead of each
    /// running argon2 and each taking one of the client's few failure-count reservations
    /// (which would answer the rest 429).
    async fn turn(&self, fingerprint: [u8; 32]) -> Turn<'_> {
        let lock = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(in_flight.entry(fingerprint).or_default())
        };
        Turn {
            cache: self,
            fingerprint,
            guard: Some(lock.lock_owned().await),
        }
    }

    fn fingerprint(&self, encoded: &str) -> [u8; 32] {
        self.key.sign(&[encoded.as_bytes()])
    }

    /// A live entry: the user (still configured, without TOTP) and the hash it was verified
    /// against, which the caller compares with the hash in force.
    fn lookup(&self, state: &AppState, fingerprint: &[u8; 32]) -> Option<(Arc<User>, String)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(fingerprint)?;
        let user = state.user(&entry.user)?;
        (entry.until > Instant::now() && user.totp.is_none())
            .then(|| (user, entry.verified_hash.clone()))
    }

    fn remember(&self, fingerprint: [u8; 32], user: &User, verified_hash: String) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.until > now);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(
                fingerprint,
                Entry {
                    user: user.name.clone(),
                    verified_hash,
                    until: now + self.ttl,
                },
            );
        }
    }
}

/// The cached answer for these credentials, if the cache vouches for them still.
async fn cached(state: &AppState, fingerprint: &[u8; 32]) -> Option<BasicOutcome> {
    let (user, verified_hash) = state.basic_cache.lookup(state, fingerprint)?;
    match user_passwords::in_force(state, &user).await {
        Ok(now) if now.stamp == verified_hash => Some(BasicOutcome::Verified(user)),
        Ok(_) => None, // the password changed: verify again
        Err(err) => Some(BasicOutcome::Unavailable(err)),
    }
}

/// Whether Basic may be used for a request whose original scheme is (or is not) HTTPS.
pub fn allowed(state: &AppState, https: bool) -> bool {
    let api = &state.config.api;
    api.basic_auth && (https || api.allow_insecure_basic)
}

/// `WWW-Authenticate` for Basic (RFC 7617).
pub fn challenge(state: &AppState) -> String {
    format!(
        "Basic realm=\"{}\", charset=\"UTF-8\"",
        state.config.ui.title.replace('"', "")
    )
}

/// Checks a Basic credential (the base64 part of the header) from `client`.
pub async fn verify(state: &AppState, client: IpAddr, encoded: &str) -> BasicOutcome {
    let fingerprint = state.basic_cache.fingerprint(encoded);
    if let Some(known) = cached(state, &fingerprint).await {
        return known;
    }
    let _turn = state.basic_cache.turn(fingerprint).await;
    // The request before this one with the same credentials may have verified them.
    if let Some(known) = cached(state, &fingerprint).await {
        return known;
    }
    // An undecodable credential is counted like a wrong password.
    let (login, password) = basic_pair(encoded).unwrap_or_default();
    // The stamp before the check: if the password changes meanwhile, this entry is stale
    // at once instead of vouching for the old password under the new stamp.
    let known = state.live.load().users.find_for_login(&login).cloned();
    let stamp_before = match &known {
        Some(user) => match user_passwords::in_force(state, user).await {
            Ok(now) => Some(now.stamp),
            Err(err) => return BasicOutcome::Unavailable(err),
        },
        None => None,
    };
    match credentials::authenticate(state, client, &login, password, None).await {
        // A second factor cannot be skipped: same answer as a wrong password, and counted.
        Ok(Verified::PasswordOnly(user, attempt)) => {
            attempt.failed(state, "basic.totp_user", Some(&user.name));
            BasicOutcome::Refused
        }
        Ok(Verified::SignedIn(user)) => {
            if let Some(stamp) = stamp_before {
                state.basic_cache.remember(fingerprint, &user, stamp);
            }
            BasicOutcome::Verified(user)
        }
        Err(LoginError::Invalid) => BasicOutcome::Refused,
        Err(LoginError::Limited { retry_after }) => BasicOutcome::Limited { retry_after },
        Err(LoginError::Busy) => BasicOutcome::Busy,
        Err(LoginError::Unavailable(err)) => BasicOutcome::Unavailable(err),
    }
}
