//! Sign-in through OAuth 2.0 / OpenID Connect providers: the providers at run time, the
//! per-sign-in transaction, the code exchange and ID token checks (over `outbound`'s client).
//! Who the user becomes is decided in `postern_core::oauth`; the routes are in
//! `handlers::oauth`.

mod exchange;
mod id_token;
mod provider;
pub mod registry;
pub mod transaction;

use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, RedirectUrl, Scope};
use postern_core::config::Config;
use url::Url;

pub use exchange::{Exchange, ExchangeError};
pub use provider::{ProviderError, ProviderRuntime};

/// `<app_url>/api/oauth/callback/<id>`: where the provider sends the browser back. It must be
/// registered with the provider exactly so.
pub fn callback_url(config: &Config, provider: &str) -> String {
    config.portal_url(&format!("/api/oauth/callback/{provider}"))
}

/// The provider's authorization URL for one transaction: `oauth2`'s, with the PKCE challenge
/// and the state from `transaction::start`, and the OIDC nonce.
pub fn authorization_url(
    auth: &Url,
    provider: &ProviderRuntime,
    redirect_uri: &str,
    started: &transaction::Started,
) -> Result<Url, ProviderError> {
    let config = &provider.config;
    let client = BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(auth.clone()))
        .set_redirect_uri(redirect_url(redirect_uri)?);
    let state = started.state.clone();
    let mut request = client
        .authorize_url(move || state)
        .add_scopes(config.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(started.pkce_challenge.clone());
    if config.kind.is_oidc() {
        request = request.add_extra_param("nonce", &started.nonce);
    }
    Ok(request.url().0)
}

/// The callback URL as `oauth2` takes it.
fn redirect_url(redirect_uri: &str) -> Result<RedirectUrl, ProviderError> {
    RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|err| ProviderError::Callback(format!("{redirect_uri}: {err}")))
}
