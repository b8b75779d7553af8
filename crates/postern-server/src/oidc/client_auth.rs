//! Who is calling the token, revocation and introspection endpoints: a client, by the method
//! it is registered with (`client_secret_basic`, `client_secret_post`, or `none` for a public
//! client). A secret is verified with argon2 once, on the password pool, then remembered for
//! `[api] basic_cache_ttl` under a keyed hash of (client, secret, stored hash), so the token
//! endpoint costs no argon2 per request and a changed `secret_hash` invalidates the entry.
//! The verification itself is the endpoints' (`handlers::oidc_api`): an attempt under the
//! failed-login limits of the caller's address, so wrong secrets are counted, logged and
//! limited like wrong passwords, and a flood of them cannot keep the verifiers busy.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use postern_core::mac::SubKey;
use postern_core::oidc::{OidcClient, OidcConfig, TokenAuthMethod};

use crate::authorization::{self, Presented};

const MAX_ENTRIES: usize = 1024;

pub struct ClientSecrets {
    key: SubKey,
    ttl: Duration,
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Why a client was not authenticated (answered `invalid_client`, 401).
#[derive(Debug)]
pub enum ClientError {
    Invalid,
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

/// Who a request claims to be, before any secret is verified.
pub enum Claimed<'s> {
    /// Authenticated already: a public client (PKCE binds its codes), or a secret verified
    /// within `[api] basic_cache_ttl`.
    Known(&'s OidcClient),
    /// A confidential client whose secret is to be verified (argon2); the endpoints count
    /// that as an attempt (`handlers::oidc_api`).
    Secret(SecretToVerify<'s>),
}

pub struct SecretToVerify<'s> {
    pub client: &'s OidcClient,
    pub hash: String,
    pub secret: String,
    fingerprint: [u8; 32],
}

impl SecretToVerify<'_> {
    /// After a right secret: remembered, so the next requests cost no argon2.
    pub fn verified(&self, secrets: &ClientSecrets) {
        secrets.remember(self.fingerprint);
    }
}

/// The client of `clients` the request claims to be, by its registered method only.
pub fn claimed<'s>(
    clients: &'s OidcConfig,
    secrets: &ClientSecrets,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Claimed<'s>, ClientError> {
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
        return if client.is_public() {
            Ok(Claimed::Known(client))
        } else {
            Err(ClientError::Invalid)
        };
    };
    let fingerprint = secrets.fingerprint(client, hash, &secret);
    if secrets.remembered(&fingerprint) {
        return Ok(Claimed::Known(client));
    }
    Ok(Claimed::Secret(SecretToVerify {
        client,
        hash: hash.clone(),
        secret,
        fingerprint,
    }))
}
