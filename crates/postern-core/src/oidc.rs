//! postern as an OpenID Provider: its configuration (`[oidc]`, `[[oidc.clients]]`,
//! `[identity_token]`), its signing keys, its endpoints' paths and the claims it signs.

pub mod claims;
pub mod discovery;
pub mod keys;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;

use keys::SigningKeys;

use crate::access::Subject;
use crate::session::AuthLevel;

/// The provider's endpoints, under the issuer. Discovery lists them; clients find them there.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/oidc/jwks";
    pub const AUTHORIZE: &str = "/oidc/authorize";
    pub const TOKEN: &str = "/oidc/token";
    pub const USERINFO: &str = "/oidc/userinfo";
    pub const REVOKE: &str = "/oidc/revoke";
    pub const INTROSPECT: &str = "/oidc/introspect";
    pub const END_SESSION: &str = "/oidc/logout";
    /// The consent page's form posts here (postern's own page, not a protocol endpoint).
    pub const CONSENT: &str = "/oidc/consent";
}

/// The scopes postern knows; a client asks for any of those its `scopes` allow.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];

/// `[oidc]`: present when the provider is on (it has at least one key).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `iss` of every token, without a trailing slash: `app_url` unless `[oidc] issuer` says.
    pub issuer: String,
    pub keys: Arc<SigningKeys>,
    /// PKCE for every client that does not say otherwise (public clients always need it):
    /// the default of `OidcClient::require_pkce`.
    pub require_pkce: bool,
    pub clients: Vec<OidcClient>,
}

impl OidcConfig {
    /// `issuer` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn client(&self, id: &str) -> Option<&OidcClient> {
        self.clients.iter().find(|client| client.id == id)
    }
}

/// One `[[oidc.clients]]` table, validated.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub id: String,
    /// argon2id of the client secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// What the client may ask for, a subset of `SCOPES`.
    pub scopes: Vec<String>,
    pub auth_method: TokenAuthMethod,
    pub consent: ConsentMode,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub allow_users: Vec<String>,
    pub allow_groups: Vec<String>,
    pub two_factor: bool,
    pub id_token_algorithm: Algorithm,
    /// The authorization request must carry a PKCE challenge: always for a public client,
    /// else `require_pkce` of the client, else of `[oidc]`.
    pub require_pkce: bool,
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether the client's `allow_users`, `allow_groups` and `two_factor` let `subject` in,
    /// by the rules of an app's (a provider's user's groups count only as
    /// `<provider>:<group>`).
    pub fn admits(&self, subject: &Subject<'_>) -> bool {
        let strong_enough = !self.two_factor || subject.level == AuthLevel::TwoFactor;
        strong_enough && subject.is_listed(&self.allow_users, &self.allow_groups)
    }
}

/// `token_endpoint_auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenAuthMethod {
    pub const ALL: [Self; 3] = [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None];

    pub fn name(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.name() == text)
    }
}

/// `consent`: ask the user once per scope set (`explicit`), or never (`implicit`, for the
/// operator's own apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMode {
    Explicit,
    Implicit,
}

/// `[identity_token]`: the header that carries a signed identity to forward-auth upstreams.
#[derive(Debug, Clone)]
pub struct IdentityTokenConfig {
    pub header: HeaderName,
}
