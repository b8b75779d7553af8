//! Bearer tokens for headless clients: compact JWTs signed with HS256 under a sub-key of the
//! server secret, so every replica can verify them without a store read. Exactly one header is
//! accepted (`alg` HS256), so `none`, RS256-with-the-secret-as-public-key and friends fail
//! before any signature is looked at. Revocation is by family (every token of one login
//! shares a `fam`), which the caller checks in the store.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::UnixSeconds;
use crate::csrf::derive_subkey;
use crate::session::AuthLevel;

type HmacSha256 = Hmac<Sha256>;

/// The audience every postern token is for.
pub const AUDIENCE: &str = "postern";
/// Longer tokens are refused before decoding: nothing postern signs comes close.
const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: UnixSeconds,
    pub nbf: UnixSeconds,
    pub exp: UnixSeconds,
    pub jti: String,
    #[serde(rename = "type")]
    pub kind: TokenType,
    pub iss: String,
    pub aud: String,
    /// The family: every token issued from one login.
    pub fam: String,
    /// The family's absolute end: refreshing never goes past it.
    pub fam_exp: UnixSeconds,
    /// `true` when the login had a second factor.
    pub mfa: bool,
    /// A stamp of the user's credentials at login: a password change, or `postern users
    /// revoke`, ends the family.
    pub pwd: String,
}

impl Claims {
    pub fn level(&self) -> AuthLevel {
        if self.mfa {
            AuthLevel::TwoFactor
        } else {
            AuthLevel::OneFactor
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token header")]
    Header,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("wrong issuer or audience")]
    WrongParty,
    #[error("wrong token type")]
    WrongType,
}

/// The only header postern writes or reads (its exact base64url bytes).
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
}

#[derive(Clone)]
pub struct JwtKey {
    key: Vec<u8>,
    issuer: String,
}

impl JwtKey {
    pub fn new(secret: &[u8], issuer: &str) -> Self {
        Self {
            key: derive_subkey(secret, b"postern jwt v1"),
            issuer: issuer.to_owned(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{HEADER}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// Verifies signature, header, time, issuer, audience and type.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now: UnixSeconds,
    ) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed)?;
        let parsed: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Malformed)?;
        if parsed.alg != "HS256"
            || parsed
                .typ
                .as_deref()
                .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
        {
            return Err(JwtError::Header);
        }
        let presented = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        let expected_mac = self.mac(&token.as_bytes()[..header.len() + 1 + payload.len()]);
        if presented.len() != expected_mac.len() || !bool::from(presented.ct_eq(&expected_mac)) {
            return Err(JwtError::Signature);
        }
        let payload_bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| JwtError::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&payload_bytes).map_err(|_| JwtError::Malformed)?;
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        if claims.nbf > now {
            return Err(JwtError::NotYetValid);
        }
        if claims.iss != self.issuer || claims.aud != AUDIENCE {
            return Err(JwtError::WrongParty);
        }
        if claims.kind != expected {
            return Err(JwtError::WrongType);
        }
        Ok(claims)
    }

    fn mac(&self, input: &[u8]) -> [u8; 32] {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            // HMAC accepts keys of any length; this branch cannot be taken.
            return [0u8; 32];
        };
        mac.update(input);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests;
