//! From an authorization code to what the provider says about the user: the token request
//! (with the PKCE verifier), then the verified ID token and userinfo (OIDC), or GitHub's user
//! and email APIs.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, Client, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeVerifier, RedirectUrl, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use postern_core::UnixSeconds;
use postern_core::oauth::{ProviderClaims, ProviderKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::id_token::{self, Expected, IdTokenError};
use super::provider::{Endpoints, ProviderError, ProviderRuntime};
use super::transaction::Transaction;
use crate::outbound::{FetchError, HttpClient};

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The provider could not be reached or answered nonsense.
    #[error("{0}")]
    Unreachable(String),
    /// The token endpoint refused the code (`invalid_grant` and the like).
    #[error("the provider refused the code: {0}")]
    Refused(String),
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
}

impl From<ProviderError> for ExchangeError {
    fn from(err: ProviderError) -> Self {
        Self::Unreachable(err.to_string())
    }
}

impl From<FetchError> for ExchangeError {
    fn from(err: FetchError) -> Self {
        Self::Unreachable(err.to_string())
    }
}

/// The token answer: OAuth 2.0's, plus OpenID Connect's `id_token`.
type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

/// An `oauth2` client that knows the token endpoint.
type TokenClient = Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub struct Exchange<'a> {
    pub http: &'a HttpClient,
    pub provider: &'a ProviderRuntime,
    pub redirect_uri: &'a str,
    pub now: UnixSeconds,
}

impl Exchange<'_> {
    pub async fn claims(
        &self,
        code: &str,
        transaction: &Transaction,
    ) -> Result<ProviderClaims, ExchangeError> {
        let endpoints = self.provider.endpoints(self.http).await?;
        let tokens = self.tokens(endpoints, code, transaction).await?;
        let access_token = tokens.access_token().secret().as_str();
        if self.provider.config.kind == ProviderKind::GitHub {
            return self.github(endpoints, access_token).await;
        }
        let id_token = tokens
            .extra_fields()
            .id_token
            .as_deref()
            .ok_or(IdTokenError::Malformed("the token answer has no id_token"))?;
        let mut claims = self
            .verified(endpoints, id_token, &transaction.nonce)
            .await?;
        if self.lacks_claims(&claims)
            && let Some(userinfo) = &endpoints.userinfo
        {
            let extra = self.http.get_json(userinfo, Some(access_token)).await?;
            // OIDC Core 5.3.2: userinfo about another subject must not be used.
            if extra.get("sub") == claims.get("sub")
                && let Value::Object(extra) = extra
            {
                for (name, value) in extra {
                    claims.entry(name).or_insert(value);
                }
            }
        }
        Ok(self.read(&claims))
    }

    /// The code and the PKCE verifier for tokens, with `oauth2` over our own client. GitHub
    /// reads the client from the form; OIDC providers all take HTTP Basic.
    async fn tokens(
        &self,
        endpoints: &Endpoints,
        code: &str,
        transaction: &Transaction,
    ) -> Result<TokenAnswer, ExchangeError> {
        let config = &self.provider.config;
        let redirect_uri = RedirectUrl::new(self.redirect_uri.to_owned())
            .map_err(|err| ExchangeError::Unreachable(format!("the callback URL: {err}")))?;
        let auth_type = if config.kind == ProviderKind::GitHub {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let client: TokenClient = Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
            .set_redirect_uri(redirect_uri)
            .set_auth_type(auth_type);
        client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(transaction.pkce_verifier.clone()))
            .request_async(self.http)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(refusal) => {
                    ExchangeError::Refused(refusal.error().to_string())
                }
                RequestTokenError::Request(err) => ExchangeError::Unreachable(err.to_string()),
                // GitHub answers refusals with 200 and an `error`, which is no token answer.
                RequestTokenError::Parse(err, body) => {
                    match serde_json::from_slice::<BasicErrorResponse>(&body) {
                        Ok(refusal) => ExchangeError::Refused(refusal.error().to_string()),
                        Err(_) => ExchangeError::Unreachable(format!("the token answer: {err}")),
                    }
                }
                RequestTokenError::Other(why) => ExchangeError::Unreachable(why),
            })
    }

    async fn verified(
        &self,
        endpoints: &Endpoints,
        token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let jwks = endpoints
            .jwks
            .as_ref()
            .ok_or(ProviderError::Missing("key set (jwks_uri)"))?;
        let issuers = self.provider.accepted_issuers();
        let issuers: Vec<&str> = issuers.iter().map(String::as_str).collect();
        let expected = Expected {
            issuers: &issuers,
            client_id: &self.provider.config.client_id,
            nonce,
            now: self.now,
        };
        let keys = self.provider.keys(self.http, jwks, false).await?;
        match id_token::verify(token, &keys, &expected) {
            // The provider may have rotated its keys since we fetched them.
            Err(IdTokenError::UnknownKey) => {
                let keys = self.provider.keys(self.http, jwks, true).await?;
                Ok(id_token::verify(token, &keys, &expected)?)
            }
            other => Ok(other?),
        }
    }

    fn lacks_claims(&self, claims: &Map<String, Value>) -> bool {
        let config = &self.provider.config;
        ["email", "email_verified", "name"]
            .into_iter()
            .chain(config.groups_claim.as_deref())
            .chain(config.username_claim.as_deref())
            .any(|name| !claims.contains_key(name))
    }

    /// GitHub: the profile from `/user`, and the primary verified address from `/user/emails`
    /// (the profile's `email` is whatever the user made public, and says nothing of
    /// verification).
    async fn github(
        &self,
        endpoints: &Endpoints,
        access_token: &str,
    ) -> Result<ProviderClaims, ExchangeError> {
        let user_url = endpoints
            .userinfo
            .as_ref()
            .ok_or(ProviderError::Missing("userinfo_url"))?;
        let Value::Object(mut profile) = self.http.get_json(user_url, Some(access_token)).await?
        else {
            return Err(ExchangeError::Unreachable(
                "GitHub's /user is not an object".into(),
            ));
        };
        let emails_url = Url::parse(&format!(
            "{}/emails",
            user_url.as_str().trim_end_matches('/')
        ))
        .map_err(|err| ExchangeError::Unreachable(err.to_string()))?;
        let emails = self.http.get_json(&emails_url, Some(access_token)).await?;
        let primary = emails
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry.get("verified") == Some(&Value::Bool(true)))
            .max_by_key(|entry| entry.get("primary") == Some(&Value::Bool(true)))
            .and_then(|entry| entry.get("email").cloned());
        profile.remove("email");
        if let Some(email) = primary {
            profile.insert("email".into(), email);
            profile.insert("email_verified".into(), Value::Bool(true));
        }
        // `groups_claim = "orgs"`: the user's organisations (scope `read:org`) as groups.
        if self.provider.config.groups_claim.as_deref() == Some("orgs") {
            let orgs_url = Url::parse(&format!("{}/orgs", user_url.as_str().trim_end_matches('/')))
                .map_err(|err| ExchangeError::Unreachable(err.to_string()))?;
            let orgs = self.http.get_json(&orgs_url, Some(access_token)).await?;
            let logins: Vec<Value> = orgs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|org| org.get("login").cloned())
                .collect();
            profile.insert("orgs".into(), Value::Array(logins));
        }
        Ok(self.read(&profile))
    }

    fn read(&self, claims: &Map<String, Value>) -> ProviderClaims {
        let config = &self.provider.config;
        let text = |name: &str| match claims.get(name) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        let groups = match config
            .groups_claim
            .as_deref()
            .and_then(|name| claims.get(name))
        {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            // Zitadel's role claim: an object keyed by role name.
            Some(Value::Object(roles)) => roles.keys().cloned().collect(),
            Some(Value::String(list)) => list
                .split(',')
                .map(str::trim)
                .filter(|group| !group.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        ProviderClaims {
            email: text("email"),
            // Some providers send "true" as a string.
            email_verified: matches!(claims.get("email_verified"), Some(Value::Bool(true)))
                || text("email_verified").as_deref() == Some("true"),
            name: text("name"),
            groups,
            username: config.username_claim.as_deref().and_then(text),
        }
    }
}
