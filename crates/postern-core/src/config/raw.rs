//! The config as written: every field optional, unknown fields refused. `validate` turns it
//! into `Config`, applying defaults and collecting every problem.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::access::{RawAccess, RawApp};
use crate::duration::HumanDuration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub app_url: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<String>>,
    pub users_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub users: Vec<RawUser>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub session: RawSession,
    #[serde(default)]
    pub apps: Vec<RawApp>,
    #[serde(default)]
    pub access: RawAccess,
    #[serde(default)]
    pub oauth: BTreeMap<String, RawOAuthProvider>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub ui: RawUi,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub metrics: RawMetrics,
    /// `None`: the provider is off.
    pub oidc: Option<RawOidc>,
    #[serde(default)]
    pub identity_token: RawIdentityToken,
    #[serde(default)]
    pub webauthn: RawWebauthn,
    #[serde(default)]
    pub account: RawAccount,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: String,
    pub password_hash: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    pub totp_secret: Option<String>,
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub shutdown_timeout: Option<HumanDuration>,
    pub header_read_timeout: Option<HumanDuration>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub store: Option<String>,
    pub cookie_name: Option<String>,
    pub cookie_domain: Option<String>,
    pub secure_cookie: Option<bool>,
    pub idle_timeout: Option<HumanDuration>,
    pub max_lifetime: Option<HumanDuration>,
    pub remember_me_lifetime: Option<HumanDuration>,
    pub max_sessions: Option<u64>,
    pub max_sessions_per_user: Option<u64>,
    pub redis_url: Option<String>,
    pub redis: Option<RawRedis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub mode: Option<String>,
    pub nodes: Option<Vec<String>>,
    pub sentinel_master: Option<String>,
    pub key_prefix: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub db: Option<i64>,
    pub tls: Option<bool>,
    pub tls_ca_file: Option<PathBuf>,
    pub timeout: Option<HumanDuration>,
    pub wait_replicas: Option<u32>,
    pub client_cache: Option<bool>,
    pub client_cache_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_failures_per_ip: Option<u64>,
    pub failure_window: Option<HumanDuration>,
    pub max_failures_per_user: Option<u64>,
    pub user_failure_window: Option<HumanDuration>,
    pub max_consecutive_failures_per_user: Option<u64>,
    pub api_rate: Option<u64>,
    pub api_burst: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub webhook_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub basic_auth: Option<bool>,
    pub allow_insecure_basic: Option<bool>,
    pub basic_cache_ttl: Option<HumanDuration>,
    pub access_token_ttl: Option<HumanDuration>,
    pub refresh_token_ttl: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUi {
    pub title: Option<String>,
    pub primary_color: Option<String>,
    pub background_color: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
    pub checks: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub self_service: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebauthn {
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    pub origins: Option<Vec<String>>,
    pub user_verification: Option<String>,
    pub passwordless: Option<bool>,
    pub attestation: Option<String>,
}

/// One `[oauth.<id>]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuthProvider {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub label: Option<String>,
    pub groups_claim: Option<String>,
    pub username_claim: Option<String>,
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub allow_all: bool,
    #[serde(default)]
    pub link_local_users: bool,
}

/// `[oidc]`: postern as an OpenID Provider.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    pub issuer: Option<String>,
    pub signing_keys: Option<Vec<PathBuf>>,
    pub require_pkce: Option<bool>,
    #[serde(default)]
    pub clients: Vec<RawOidcClient>,
}

/// One `[[oidc.clients]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidcClient {
    #[serde(default)]
    pub id: String,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub consent: Option<String>,
    pub access_token_ttl: Option<HumanDuration>,
    pub refresh_token_ttl: Option<HumanDuration>,
    #[serde(default)]
    pub allow_users: Vec<String>,
    #[serde(default)]
    pub allow_groups: Vec<String>,
    #[serde(default)]
    pub two_factor: bool,
    pub id_token_signed_response_alg: Option<String>,
    /// Unset: `[oidc] require_pkce`.
    pub require_pkce: Option<bool>,
}

/// `[identity_token]`: a signed identity for forward-auth upstreams.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityToken {
    pub header: Option<String>,
}
