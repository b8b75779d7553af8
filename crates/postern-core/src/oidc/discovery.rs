//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0): where the endpoints
//! are and what the provider supports. Clients find every endpoint here, nowhere else.

use serde::Serialize;

use super::{OidcConfig, SCOPES, TokenAuthMethod, paths};

#[derive(Debug, Serialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub response_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub scopes_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: &'static [&'static str],
    pub prompt_values_supported: &'static [&'static str],
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    /// RFC 9207: every authorization answer carries `iss`, so a client that talks to several
    /// providers can tell which one answered (a mix-up attack sends it another's code).
    pub authorization_response_iss_parameter_supported: bool,
}

pub const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "groups",
];

impl Discovery {
    pub fn of(config: &OidcConfig) -> Self {
        let methods: Vec<&'static str> = TokenAuthMethod::ALL
            .into_iter()
            .map(TokenAuthMethod::name)
            .collect();
        Self {
            issuer: config.issuer.clone(),
            authorization_endpoint: config.endpoint(paths::AUTHORIZE),
            token_endpoint: config.endpoint(paths::TOKEN),
            userinfo_endpoint: config.endpoint(paths::USERINFO),
            jwks_uri: config.endpoint(paths::JWKS),
            revocation_endpoint: config.endpoint(paths::REVOKE),
            introspection_endpoint: config.endpoint(paths::INTROSPECT),
            end_session_endpoint: config.endpoint(paths::END_SESSION),
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: &["authorization_code", "refresh_token"],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: config
                .keys
                .algorithms()
                .into_iter()
                .map(|algorithm| format!("{algorithm:?}"))
                .collect(),
            scopes_supported: SCOPES,
            claims_supported: CLAIMS,
            token_endpoint_auth_methods_supported: methods.clone(),
            revocation_endpoint_auth_methods_supported: methods.clone(),
            introspection_endpoint_auth_methods_supported: methods,
            code_challenge_methods_supported: &["S256"],
            prompt_values_supported: &["none", "login", "consent"],
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
        }
    }
}
