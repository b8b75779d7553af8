//! The claims postern signs about a user, and the authentication methods (`amr`) a session's
//! level stands for.

use serde::Serialize;

use crate::UnixSeconds;
use crate::identity::Identity;
use crate::session::AuthLevel;

/// How long an identity token for a forward-auth upstream lives.
pub const IDENTITY_TOKEN_TTL: u64 = 60;

/// RFC 8176 method names for how the user signed in: `fed` through an upstream provider,
/// else `pwd`, with `otp` for a second factor.
pub fn amr(level: AuthLevel, federated: bool) -> Vec<&'static str> {
    match (federated, level) {
        (true, AuthLevel::OneFactor) => vec!["fed"],
        (true, AuthLevel::TwoFactor) => vec!["fed", "otp"],
        (false, AuthLevel::OneFactor) => vec!["pwd"],
        (false, AuthLevel::TwoFactor) => vec!["pwd", "otp"],
    }
}

/// The JWT in `[identity_token] header`: who the user is, for one app (`aud`), briefly.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub preferred_username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub groups: &'a [String],
    pub amr: Vec<&'static str>,
    pub iat: UnixSeconds,
    pub exp: UnixSeconds,
    pub jti: String,
}

impl<'a> IdentityTokenClaims<'a> {
    /// `sub`: the user's subject id (random, stable, never reused); `aud`: the host the
    /// upstream serves (the canonical host of the checked request).
    pub fn new(
        issuer: &'a str,
        sub: &'a str,
        identity: &'a Identity,
        aud: &'a str,
        amr: Vec<&'static str>,
        now: UnixSeconds,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer,
            sub,
            aud,
            preferred_username: &identity.user,
            email: &identity.email,
            name: &identity.name,
            groups: &identity.groups,
            amr,
            iat: now,
            exp: now.saturating_add(IDENTITY_TOKEN_TTL),
            jti,
        }
    }
}

/// The claims the granted `scopes` release about a user, for the ID token and userinfo:
/// `sub` (the user's subject id, never the name) always; `preferred_username` and `name` with `profile`; `email` and
/// `email_verified` with `email` (postern's users' addresses are set by the operator or
/// verified by the upstream provider); `groups` with `groups`.
pub fn user_claims(
    identity: &Identity,
    sub: &str,
    scopes: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    let has = |scope: &str| scopes.iter().any(|granted| granted == scope);
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), sub.into());
    if has("profile") {
        claims.insert("preferred_username".into(), identity.user.clone().into());
        let name = if identity.name.is_empty() {
            &identity.user
        } else {
            &identity.name
        };
        claims.insert("name".into(), name.clone().into());
    }
    if has("email") && !identity.email.is_empty() {
        claims.insert("email".into(), identity.email.clone().into());
        claims.insert("email_verified".into(), true.into());
    }
    if has("groups") {
        claims.insert("groups".into(), identity.groups.clone().into());
    }
    claims
}

/// `acr`: how strong the sign-in was, in postern's own two values.
pub fn acr(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::OneFactor => "postern:1fa",
        AuthLevel::TwoFactor => "postern:2fa",
    }
}
