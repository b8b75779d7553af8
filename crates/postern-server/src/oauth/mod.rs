//! Sign-in through OAuth 2.0 / OpenID Connect providers: the providers at run time, the
//! per-sign-in transaction, the code exchange and ID token checks (over `outbound`'s client).
//! Who the user becomes is decided in `postern_core::oauth`; the routes are in
//! `handlers::oauth`.

mod exchange;
mod id_token;
mod provider;
pub mod registry;
pub mod transaction;

use postern_core::config::Config;
use url::Url;

pub use exchange::{Exchange, ExchangeError};
pub use provider::{ProviderError, ProviderRuntime};

/// `<app_url>/api/oauth/callback/<id>`: where the provider sends the browser back. It must be
/// registered with the provider exactly so.
pub fn callback_url(config: &Config, provider: &str) -> String {
    config.portal_url(&format!("/api/oauth/callback/{provider}"))
}

/// The provider's authorization URL for one transaction.
pub fn authorization_url(
    auth: &Url,
    provider: &ProviderRuntime,
    redirect_uri: &str,
    started: &transaction::Started,
) -> Url {
    let config = &provider.config;
    let mut url = auth.clone();
    let scopes = config.scopes.join(" ");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes)
            .append_pair("state", &started.state)
            .append_pair("code_challenge", &started.pkce_challenge)
            .append_pair("code_challenge_method", "S256");
        if config.kind.is_oidc() {
            query.append_pair("nonce", &started.nonce);
        }
    }
    url
}
