//! A provider at run time: its endpoints (from the config, or found once by OIDC discovery)
//! and its key set (fetched when first needed, again when a token names an unknown key, at
//! most once a minute, and after an hour in any case).

use std::time::{Duration, Instant};

use postern_core::oauth::{OAuthProvider, ProviderKind, is_safe_endpoint};
use serde::Deserialize;
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use super::id_token::KeySet;
use crate::outbound::{FetchError, HttpClient};

const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const KEYS_MIN_REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("discovery at {url}: {source}")]
    Discovery { url: String, source: FetchError },
    #[error("the discovery document's issuer {found:?} is not the configured {configured:?}")]
    IssuerMismatch { found: String, configured: String },
    #[error("the provider has no {0} (neither configured nor discovered)")]
    Missing(&'static str),
    #[error("the discovered endpoint {0} is not https")]
    Insecure(String),
    #[error("fetching the key set: {0}")]
    Keys(FetchError),
    /// `app_url` is validated, so this is a bug, not a provider's fault.
    #[error("the callback URL {0} is not a URL")]
    Callback(String),
}

#[derive(Debug, Clone)]
pub struct Endpoints {
    pub auth: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub jwks: Option<Url>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    userinfo_endpoint: Option<Url>,
    jwks_uri: Option<Url>,
}

struct CachedKeys {
    keys: KeySet,
    fetched: Instant,
}

pub struct ProviderRuntime {
    pub config: OAuthProvider,
    endpoints: OnceCell<Endpoints>,
    keys: Mutex<Option<CachedKeys>>,
}

impl ProviderRuntime {
    pub fn new(config: OAuthProvider) -> Self {
        Self {
            config,
            endpoints: OnceCell::new(),
            keys: Mutex::new(None),
        }
    }

    /// The configured issuer as written (its `iss` spelling), without a trailing `/`.
    pub fn issuer(&self) -> Option<String> {
        self.config
            .issuer
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
    }

    /// The `iss` values an ID token may carry.
    pub fn accepted_issuers(&self) -> Vec<String> {
        let mut issuers: Vec<String> = self.issuer().into_iter().collect();
        if self.config.kind == ProviderKind::Google {
            issuers.push("accounts.google.com".to_owned());
        }
        issuers
    }

    /// Configured endpoints win; a discovered provider fills the rest from its discovery
    /// document, fetched once (a failed fetch is tried again at the next sign-in).
    pub async fn endpoints(&self, http: &HttpClient) -> Result<&Endpoints, ProviderError> {
        self.endpoints
            .get_or_try_init(|| async {
                let config = &self.config;
                let discovered = if config.kind == ProviderKind::Oidc {
                    Some(self.discover(http).await?)
                } else {
                    None
                };
                let pick = |configured: &Option<Url>, found: Option<&Url>| {
                    configured.clone().or_else(|| found.cloned())
                };
                let found =
                    |select: fn(&Discovery) -> Option<&Url>| discovered.as_ref().and_then(select);
                Ok(Endpoints {
                    auth: pick(
                        &config.auth_url,
                        found(|d| d.authorization_endpoint.as_ref()),
                    )
                    .ok_or(ProviderError::Missing("authorization endpoint"))?,
                    token: pick(&config.token_url, found(|d| d.token_endpoint.as_ref()))
                        .ok_or(ProviderError::Missing("token endpoint"))?,
                    userinfo: pick(
                        &config.userinfo_url,
                        found(|d| d.userinfo_endpoint.as_ref()),
                    ),
                    jwks: pick(&config.jwks_url, found(|d| d.jwks_uri.as_ref())),
                })
            })
            .await
    }

    async fn discover(&self, http: &HttpClient) -> Result<Discovery, ProviderError> {
        let issuer = self.issuer().unwrap_or_default();
        let url = format!("{issuer}/.well-known/openid-configuration");
        let fail = |source| ProviderError::Discovery {
            url: url.clone(),
            source,
        };
        let parsed =
            Url::parse(&url).map_err(|err| fail(FetchError::Transport(err.to_string())))?;
        let json = http.get_json(&parsed, None).await.map_err(fail)?;
        let discovery: Discovery = serde_json::from_value(json)
            .map_err(|err| fail(FetchError::NotJson(err.to_string())))?;
        // The client secret and the codes go to these: never over plain http to another host.
        for url in [
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
            &discovery.userinfo_endpoint,
            &discovery.jwks_uri,
        ]
        .into_iter()
        .flatten()
        {
            if !is_safe_endpoint(url) {
                return Err(ProviderError::Insecure(url.to_string()));
            }
        }
        // OIDC Discovery 4.3: the document must name the issuer it was fetched from.
        if discovery.issuer.trim_end_matches('/') != issuer {
            return Err(ProviderError::IssuerMismatch {
                found: discovery.issuer,
                configured: issuer,
            });
        }
        Ok(discovery)
    }

    /// The key set; `refresh` asks for a fresh one (a token named a key we do not have),
    /// which is honoured at most once a minute.
    pub async fn keys(
        &self,
        http: &HttpClient,
        jwks: &Url,
        refresh: bool,
    ) -> Result<KeySet, ProviderError> {
        let mut cached = self.keys.lock().await;
        if let Some(current) = cached.as_ref() {
            let age = current.fetched.elapsed();
            let fresh_enough = age < KEYS_MAX_AGE && !(refresh && age >= KEYS_MIN_REFRESH);
            if fresh_enough {
                return Ok(current.keys.clone());
            }
        }
        let json = http
            .get_json(jwks, None)
            .await
            .map_err(ProviderError::Keys)?;
        let keys: KeySet = serde_json::from_value(json)
            .map_err(|err| ProviderError::Keys(FetchError::NotJson(err.to_string())))?;
        *cached = Some(CachedKeys {
            keys: keys.clone(),
            fetched: Instant::now(),
        });
        Ok(keys)
    }
}
