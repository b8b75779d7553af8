//! HTTP Basic for headless clients: opt-in (`[api] basic_auth`), over HTTPS only unless
//! `allow_insecure_basic`, never for a TOTP user, and argon2 only on a cache miss. The cache
//! is keyed by a keyed hash of the header (a dump of it holds no password) and each entry
//! remembers the password hash it was verified against: a changed password makes it useless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use postern_core::csrf::derive_subkey;
use postern_core::users::User;
use sha2::Sha256;

use crate::authorization::basic_pair;
use crate::handlers::credentials::{self, LoginError, Verified};
use crate::state::AppState;
use crate::user_passwords;

type HmacSha256 = Hmac<Sha256>;

/// Entries kept at most; when full, expired ones go first, then a new entry is not cached.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    user: String,
    /// The stamp of the credentials this was verified against (`user_passwords::InForce`).
    verified_hash: String,
    until: Instant,
}

pub struct BasicCache {
    key: Vec<u8>,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
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
            key: derive_subkey(secret, b"postern basic cache v1"),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, encoded: &str) -> [u8; 32] {
        match HmacSha256::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(encoded.as_bytes());
                mac.finalize().into_bytes().into()
            }
            Err(_) => [0u8; 32],
        }
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
    if let Some((user, verified_hash)) = state.basic_cache.lookup(state, &fingerprint) {
        match user_passwords::in_force(state, &user).await {
            Ok(now) if now.stamp == verified_hash => return BasicOutcome::Verified(user),
            Ok(_) => {} // the password changed: verify again
            Err(err) => return BasicOutcome::Unavailable(err),
        }
    }
    // An undecodable credential is counted like a wrong password.
    let (login, password) = basic_pair(encoded).unwrap_or_default();
    // The stamp before the check: if the password changes meanwhile, this entry is stale
    // at once instead of vouching for the old password under the new stamp.
    let known = state.users.load().find_for_login(&login).cloned();
    let stamp_before = match &known {
        Some(user) => match user_passwords::in_force(state, user).await {
            Ok(now) => Some(now.stamp),
            Err(err) => return BasicOutcome::Unavailable(err),
        },
        None => None,
    };
    match credentials::authenticate(state, client, &login, password, None).await {
        // A second factor cannot be skipped: same answer as a wrong password, and counted.
        Ok(Verified::PasswordOnly(_, attempt)) => {
            attempt.failed(state, "basic.totp_user", true);
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
