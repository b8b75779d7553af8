//! Who is calling the token, revocation and introspection endpoints: a client, by the method
//! it is registered with (`client_secret_basic`, `client_secret_post`, or `none` for a public
//! client). A secret is verified with argon2 once, on the password pool, then remembered for
//! `[api] basic_cache_ttl` under a keyed hash of (client, secret, stored hash), so the token
//! endpoint costs no argon2 per request and a changed `secret_hash` invalidates the entry.
//! Every verification is an attempt under the failed-login limits of the caller's address
//! (`credentials::begin_attempt`), so wrong secrets are counted, logged and limited like
//! wrong passwords, and a flood of them cannot keep the verifiers busy.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use std::net::IpAddr;

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use postern_core::limits::LoginLimits;
use postern_core::mac::SubKey;
use postern_core::oidc::{OidcClient, OidcConfig, TokenAuthMethod};
use postern_store::StoreError;

use crate::authorization::{self, Presented};
use crate::credentials::{self, LoginError};
use crate::state::AppState;

const MAX_ENTRIES: usize = 1024;

pub struct ClientSecrets {
    key: SubKey,
    ttl: Duration,
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Why a client was not authenticated (answered `invalid_client`, 401).
pub enum ClientError {
    Invalid,
    /// Every password verifier is busy, or the store did not answer (503), or the caller's
    /// address reached the failed-login limits (429).
    Attempt(LoginError),
}

impl ClientSecrets {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: SubKey::derive(secret, b"postern oidc client secrets"),
            ttl,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, client: &OidcClient, hash: &str, secret: &str) -> [u8; 32] {
        self.key
            .sign(&[client.id.as_bytes(), hash.as_bytes(), secret.as_bytes()])
    }

    fn remembered(&self, fingerprint: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(fingerprint)
            .is_some_and(|until| *until > Instant::now())
    }

    fn remember(&self, fingerprint: [u8; 32]) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if verified.len() >= MAX_ENTRIES {
            verified.retain(|_, until| *until > now);
        }
        if verified.len() < MAX_ENTRIES {
            verified.insert(fingerprint, now + self.ttl);
        }
    }
}

/// The client of `clients` the request from `caller` authenticates as, by its registered
/// method only. A secret is checked against `secrets` first, then verified on the password
/// pool as an attempt of `caller`'s.
pub async fn authenticate<'s>(
    state: &AppState,
    caller: IpAddr,
    clients: &'s OidcConfig,
    secrets: &ClientSecrets,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<&'s OidcClient, ClientError> {
    let (method, id, secret) = match authorization::presented(headers) {
        Presented::Basic(encoded) => {
            let (id, secret) = authorization::basic_pair(encoded).ok_or(ClientError::Invalid)?;
            // RFC 6749 2.3.1: both parts are form-urlencoded before they are joined.
            let decode = |text: &str| {
                percent_decode_str(&text.replace('+', " "))
                    .decode_utf8()
                    .map(|text| text.into_owned())
            };
            let (id, secret) = (decode(&id), decode(&secret));
            let (Ok(id), Ok(secret)) = (id, secret) else {
                return Err(ClientError::Invalid);
            };
            (TokenAuthMethod::ClientSecretBasic, id, Some(secret))
        }
        Presented::None => {
            let id = form.get("client_id").cloned().ok_or(ClientError::Invalid)?;
            match form.get("client_secret") {
                Some(secret) => (TokenAuthMethod::ClientSecretPost, id, Some(secret.clone())),
                None => (TokenAuthMethod::None, id, None),
            }
        }
        _ => return Err(ClientError::Invalid),
    };
    let client = clients.client(&id).ok_or(ClientError::Invalid)?;
    // A `client_id` in the body must name the same client as the header.
    if form
        .get("client_id")
        .is_some_and(|named| *named != client.id)
    {
        return Err(ClientError::Invalid);
    }
    if client.auth_method != method {
        return Err(ClientError::Invalid);
    }
    let (Some(hash), Some(secret)) = (&client.secret_hash, secret) else {
        // A public client: nothing to verify (PKCE binds its codes).
        return if client.is_public() {
            Ok(client)
        } else {
            Err(ClientError::Invalid)
        };
    };
    let fingerprint = secrets.fingerprint(client, hash, &secret);
    if secrets.remembered(&fingerprint) {
        return Ok(client);
    }
    // Counted on the caller's address, and on the client as asked from that network: never
    // on the client alone, or anyone could lock a client (and every sign-in to its app) out.
    let account = format!(
        "oidc-client:{{{}}}:{}",
        client.id,
        LoginLimits::ip_network(caller)
    );
    let attempt = credentials::begin_attempt(state, caller, account)
        .await
        .map_err(ClientError::Attempt)?;
    let Ok(verified) = state.passwords.verify(Some(hash.clone()), secret).await else {
        attempt.give_back(state).await.map_err(attempt_error)?;
        return Err(ClientError::Attempt(LoginError::Busy));
    };
    if verified {
        attempt.give_back(state).await.map_err(attempt_error)?;
        secrets.remember(fingerprint);
        return Ok(client);
    }
    // The audit line (`oidc.client_failed`) names the address and its counts, as a wrong
    // password's does.
    attempt
        .failed(state, "oidc.client_failed", None)
        .await
        .map_err(attempt_error)?;
    Err(ClientError::Invalid)
}

fn attempt_error(err: StoreError) -> ClientError {
    ClientError::Attempt(LoginError::Unavailable(err))
}
