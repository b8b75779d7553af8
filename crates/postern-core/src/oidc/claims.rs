//! The claims postern signs about a user, and the authentication methods (`amr`) a session's
//! level stands for.

use serde::Serialize;

use crate::UnixSeconds;
use crate::identity::Identity;
use crate::session::{AuthLevel, WayIn};

/// How long an identity token for a forward-auth upstream lives.
pub const IDENTITY_TOKEN_TTL: u64 = 60;

/// RFC 8176 method names for how the user signed in: `pwd` the password, `otp` a TOTP code,
/// `hwk` a passkey (a key held by an authenticator), `fed` an upstream provider, and `mfa`
/// beside them whenever two factors signed in. `federated` (the session is a provider's own
/// user) matters only for a way in that was not recorded (`WayIn::Unrecorded`).
pub fn amr(level: AuthLevel, way_in: WayIn, federated: bool) -> Vec<&'static str> {
    let two_factors = level == AuthLevel::TwoFactor;
    let mut methods = match way_in {
        WayIn::Password => vec!["pwd"],
        WayIn::PasswordAndPasskey => vec!["pwd", "hwk"],
        WayIn::Passkey => vec!["hwk"],
        WayIn::Provider => vec!["fed"],
        WayIn::Unrecorded if federated => vec!["fed"],
        WayIn::Unrecorded => vec!["pwd"],
    };
    // The second step after a password is a TOTP code unless it was recorded as a passkey.
    if two_factors && matches!(way_in, WayIn::Password | WayIn::Unrecorded) {
        methods.push("otp");
    }
    if two_factors {
        methods.push("mfa");
    }
    methods
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_names_the_factors_that_signed_in() {
        use AuthLevel::{OneFactor, TwoFactor};
        let cases = [
            (OneFactor, WayIn::Password, vec!["pwd"]),
            (TwoFactor, WayIn::Password, vec!["pwd", "otp", "mfa"]),
            (
                TwoFactor,
                WayIn::PasswordAndPasskey,
                vec!["pwd", "hwk", "mfa"],
            ),
            (OneFactor, WayIn::Passkey, vec!["hwk"]),
            (TwoFactor, WayIn::Passkey, vec!["hwk", "mfa"]),
            (OneFactor, WayIn::Provider, vec!["fed"]),
        ];
        for (level, way_in, expected) in cases {
            // Whether the user is a provider's own does not change a recorded way in: a
            // local user linked to a provider signs in through it too.
            for federated in [false, true] {
                assert_eq!(
                    amr(level, way_in, federated),
                    expected,
                    "{level:?} {way_in:?}"
                );
            }
        }
    }

    #[test]
    fn a_way_in_stored_before_it_was_recorded_reads_as_the_password_or_the_provider() {
        use AuthLevel::{OneFactor, TwoFactor};
        assert_eq!(amr(OneFactor, WayIn::Unrecorded, false), ["pwd"]);
        assert_eq!(
            amr(TwoFactor, WayIn::Unrecorded, false),
            ["pwd", "otp", "mfa"]
        );
        assert_eq!(amr(OneFactor, WayIn::Unrecorded, true), ["fed"]);
    }
}
