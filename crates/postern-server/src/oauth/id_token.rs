//! ID token verification: the signature against the provider's key set (RSA and ECDSA with
//! ring; `none` and shared-secret algorithms refused), then `iss`, `aud` (and `azp`), `exp`,
//! `iat` and `nonce`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postern_core::UnixSeconds;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// Clock difference tolerated between postern and the provider.
const LEEWAY_SECS: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the ID token is signed with {0}, which postern does not accept")]
    Algorithm(String),
    #[error("no key in the provider's key set matches the ID token")]
    UnknownKey,
    #[error("the ID token's signature is not valid")]
    Signature,
    #[error("the ID token was issued by {0:?}, not by the configured issuer")]
    Issuer(String),
    #[error("the ID token is for another client (aud/azp)")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
}

/// A provider's key set (`jwks_uri`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeySet {
    #[serde(default)]
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub kid: Option<String>,
    pub alg: Option<String>,
    #[serde(rename = "use")]
    pub usage: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

/// What the token must say.
pub struct Expected<'a> {
    /// Accepted `iss` values (Google sends two spellings).
    pub issuers: &'a [&'a str],
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: UnixSeconds,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Verifies `token` and returns its claims.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("not three dot-separated parts"));
    };
    let header: Header = decode_json(header_b64)?;
    let signature = decode(signature_b64)?;
    let signed = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    let key_type = match header.alg.as_str() {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "RSA",
        "ES256" | "ES384" => "EC",
        other => return Err(IdTokenError::Algorithm(other.to_owned())),
    };
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|key| key.kty == key_type)
        .filter(|key| key.usage.as_deref().is_none_or(|usage| usage == "sig"))
        .filter(|key| key.alg.as_deref().is_none_or(|alg| alg == header.alg))
        .filter(|key| match (&header.kid, &key.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(IdTokenError::UnknownKey);
    }
    if !candidates
        .iter()
        .any(|key| signature_ok(&header.alg, key, signed, &signature))
    {
        return Err(IdTokenError::Signature);
    }
    let claims: Map<String, Value> = decode_json(claims_b64)?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let issuer = text("iss").unwrap_or_default();
    if !expected
        .issuers
        .iter()
        .any(|known| known.trim_end_matches('/') == issuer.trim_end_matches('/'))
    {
        return Err(IdTokenError::Issuer(issuer.to_owned()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    // An authorized party, when named, must be us (OIDC Core 3.1.3.7).
    if text("azp").is_some_and(|azp| azp != expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    match number("exp") {
        Some(exp) if exp.saturating_add(LEEWAY_SECS) > expected.now => {}
        _ => return Err(IdTokenError::Expired),
    }
    if number("iat").is_some_and(|iat| iat > expected.now.saturating_add(LEEWAY_SECS)) {
        return Err(IdTokenError::IssuedInFuture);
    }
    let nonce_ok = text("nonce")
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_ok {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}

fn signature_ok(alg: &str, key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
    let field = |value: &Option<String>| value.as_deref().and_then(|text| decode(text).ok());
    match key.kty.as_str() {
        "RSA" => {
            let (Some(n), Some(e)) = (field(&key.n), field(&key.e)) else {
                return false;
            };
            let params: &signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return false,
            };
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, message, signature)
                .is_ok()
        }
        "EC" => {
            let (Some(x), Some(y)) = (field(&key.x), field(&key.y)) else {
                return false;
            };
            let (algorithm, curve): (&signature::EcdsaVerificationAlgorithm, &str) = match alg {
                "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "P-256"),
                "ES384" => (&signature::ECDSA_P384_SHA384_FIXED, "P-384"),
                _ => return false,
            };
            if key.crv.as_deref() != Some(curve) {
                return false;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(algorithm, point)
                .verify(message, signature)
                .is_ok()
        }
        _ => false,
    }
}

fn decode(text: &str) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| IdTokenError::Malformed("not base64url"))
}

fn decode_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, IdTokenError> {
    serde_json::from_slice(&decode(text)?).map_err(|_| IdTokenError::Malformed("not JSON"))
}

#[cfg(test)]
mod tests;
