//! Bearer tokens for headless clients: compact JWTs signed with HS256 under a sub-key of the
//! server secret, so every replica can verify them without a store read. Encoding, decoding and
//! the signature are `jsonwebtoken`'s; the algorithm is pinned to HS256, so `none`,
//! RS256-with-the-secret-as-public-key and friends fail before any signature is looked at.
//! Time is checked here against the caller's `now` (the library would read the clock).
//! Revocation is by family (every token of one login shares a `fam`), which the caller
//! checks in the store.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::UnixSeconds;
use crate::mac::SubKey;
use crate::session::AuthLevel;

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

#[derive(Clone)]
pub struct JwtKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// HS256 only; issuer and audience; no clock (see `verify`).
    validation: Validation,
    issuer: String,
}

impl JwtKey {
    pub fn new(secret: &[u8], issuer: &str) -> Self {
        let key = SubKey::derive(secret, b"postern jwt v1");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        Self {
            encoding: EncodingKey::from_secret(key.as_bytes()),
            decoding: DecodingKey::from_secret(key.as_bytes()),
            validation,
            issuer: issuer.to_owned(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 over a struct of strings and numbers cannot fail; if it ever did, the empty
        // token verifies as nothing.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Verifies header, signature, issuer, audience, time and type. The header is read first
    /// so a foreign algorithm or `typ` is refused as such, before the signature.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now: UnixSeconds,
    ) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|err| match err.kind() {
            // Well-formed base64 whose JSON is no header we know (`"alg":"none"`).
            ErrorKind::Json(_) => JwtError::Header,
            _ => JwtError::Malformed,
        })?;
        if header.alg != Algorithm::HS256
            || header
                .typ
                .as_deref()
                .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
        {
            return Err(JwtError::Header);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => JwtError::Signature,
                ErrorKind::InvalidAlgorithm => JwtError::Header,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => JwtError::WrongParty,
                _ => JwtError::Malformed,
            })?
            .claims;
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        if claims.nbf > now {
            return Err(JwtError::NotYetValid);
        }
        if claims.kind != expected {
            return Err(JwtError::WrongType);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
