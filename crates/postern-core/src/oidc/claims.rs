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
    /// `aud`: the host the upstream serves (the canonical host of the checked request).
    pub fn new(
        issuer: &'a str,
        identity: &'a Identity,
        aud: &'a str,
        amr: Vec<&'static str>,
        now: UnixSeconds,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer,
            sub: &identity.user,
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
