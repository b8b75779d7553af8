//! postern as an OpenID Provider: the documents it publishes (discovery, JWKS), rendered once
//! at start, and the signed identity for forward-auth upstreams (`identity_token`).

pub mod authorize;
pub mod client_auth;
pub mod consents;
pub mod grants;
pub mod identity_token;
pub mod return_marks;
pub mod subjects;
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
    /// Users' subject ids (`sub`) this process has read or drawn.
    pub subjects: subjects::SubjectIds,
    /// The key of what the way back from the login page carries.
    pub return_marks: return_marks::MarkKey,
}

impl Provider {
    /// `secret`: the server secret (the cache of client secrets and the return marks key on
    /// it); `ttl`: how long
    /// a verified client secret is remembered.
    pub fn new(config: OidcConfig, secret: &[u8], ttl: std::time::Duration) -> Self {
        let discovery = serde_json::to_vec(&Discovery::of(&config)).unwrap_or_default();
        let jwks = serde_json::to_vec(&config.keys.jwks()).unwrap_or_default();
        Self {
            config,
            discovery: Bytes::from(discovery),
            jwks: Bytes::from(jwks),
            client_secrets: client_auth::ClientSecrets::new(secret, ttl),
            subjects: subjects::SubjectIds::default(),
            return_marks: return_marks::MarkKey::new(secret),
        }
    }

    /// The subject id of `user` if this process read it lately (`subjects::CACHED_FOR`; no
    /// store call): for the check path only, everything else reads the store.
    pub fn cached_subject(
        &self,
        user: &str,
        oauth_provider: Option<&str>,
    ) -> Option<std::sync::Arc<str>> {
        self.subjects
            .cached(&subjects::SubjectOwner::new(user, oauth_provider))
    }

    /// The subject id of `user` as the store has it (`oauth_provider`: the `[oauth.<id>]` of
    /// a provider's user without a `[[users]]` entry).
    pub async fn subject(
        &self,
        store: &postern_store::Store,
        user: &str,
        oauth_provider: Option<&str>,
    ) -> Result<std::sync::Arc<str>, postern_store::StoreError> {
        self.subjects
            .of(store, &subjects::SubjectOwner::new(user, oauth_provider))
            .await
    }
}
