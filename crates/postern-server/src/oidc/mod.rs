//! postern as an OpenID Provider: the documents it publishes (discovery, JWKS), rendered once
//! at start, and the signed identity for forward-auth upstreams (`identity_token`).

pub mod authorize;
pub mod client_auth;
pub mod consents;
pub mod grants;
pub mod identity_token;
pub mod tokens;

use bytes::Bytes;
use postern_core::oidc::OidcConfig;
use postern_core::oidc::discovery::Discovery;

/// The provider's state shared by every request.
pub struct Provider {
    pub config: OidcConfig,
    /// `/.well-known/openid-configuration`, serialised once.
    pub discovery: Bytes,
    /// The JWKS, serialised once: the keys change only with a restart.
    pub jwks: Bytes,
    /// Client secrets verified lately.
    pub client_secrets: client_auth::ClientSecrets,
}

impl Provider {
    /// `secret`: the server secret (the cache of client secrets keys on it); `ttl`: how long
    /// a verified client secret is remembered.
    pub fn new(config: OidcConfig, secret: &[u8], ttl: std::time::Duration) -> Self {
        let discovery = serde_json::to_vec(&Discovery::of(&config)).unwrap_or_default();
        let jwks = serde_json::to_vec(&config.keys.jwks()).unwrap_or_default();
        Self {
            config,
            discovery: Bytes::from(discovery),
            jwks: Bytes::from(jwks),
            client_secrets: client_auth::ClientSecrets::new(secret, ttl),
        }
    }
}
