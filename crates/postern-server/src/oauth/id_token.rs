//! ID token verification with `jsonwebtoken`: the signature against the provider's key set
//! (RSA and ECDSA; `none` and shared-secret algorithms refused), `aud`, then the OpenID
//! Connect rules the library does not know: `iss` in either spelling, `azp`; `exp`, `iat`
//! (required, OIDC Core 2) and `nbf` (when present) against the caller's `now`; and `nonce`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use postern_core::UnixSeconds;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// Clock difference tolerated between postern and the provider.
const LEEWAY_SECS: u64 = 60;

/// The algorithms an ID token may be signed with: asymmetric only, so the client secret
/// can never serve as a key.
const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

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
    #[error("the ID token has no issue time (iat)")]
    NoIssuedAt,
    #[error("the ID token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
}

/// A provider's key set (`jwks_uri`). Keys postern cannot use (encryption keys, unknown
/// types) are dropped when it is read, so one odd key does not make the set unreadable.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

impl<'de> Deserialize<'de> for KeySet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            keys: Vec<Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let keys = raw
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value(key).ok())
            .collect();
        Ok(Self { keys })
    }
}

/// What the token must say.
pub struct Expected<'a> {
    /// Accepted `iss` values (Google sends two spellings).
    pub issuers: &'a [&'a str],
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: UnixSeconds,
}

/// Verifies `token` and returns its claims.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|err| match err.kind() {
        ErrorKind::Json(_) => match named_algorithm(token) {
            Some(alg) => IdTokenError::Algorithm(alg),
            None => IdTokenError::Malformed("the header is not a JOSE header"),
        },
        _ => IdTokenError::Malformed("not three base64url parts"),
    })?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(IdTokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|key| fits(key, header.alg))
        .filter(|key| match (&header.kid, &key.common.key_id) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(IdTokenError::UnknownKey);
    }
    let mut validation = Validation::new(header.alg);
    // Time is checked below against `now`; the library would read the clock.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_audience(&[expected.client_id]);
    let mut outcome = Err(IdTokenError::Signature);
    for key in candidates {
        let Ok(decoding) = DecodingKey::from_jwk(key) else {
            continue;
        };
        match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
            Ok(data) => {
                outcome = Ok(data.claims);
                break;
            }
            Err(err) => match err.kind() {
                // This key did not sign it; another candidate may have.
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::Crypto(_) => {}
                // The signature held: what is wrong is the content, whichever key is tried.
                ErrorKind::InvalidAudience => return Err(IdTokenError::Audience),
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                    return Err(IdTokenError::Audience);
                }
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => {
                    return Err(IdTokenError::Expired);
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    return Err(IdTokenError::Issuer(String::new()));
                }
                _ => return Err(IdTokenError::Malformed("the claims are not a JSON object")),
            },
        }
    }
    let claims = outcome?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

/// Whether `key` may verify a token signed with `alg`: its type and curve, its `use` and
/// its own `alg`, when it names them.
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    let type_fits = match &key.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(params) => matches!(
            (alg, &params.curve),
            (Algorithm::ES256, EllipticCurve::P256) | (Algorithm::ES384, EllipticCurve::P384)
        ),
        _ => false,
    };
    let use_fits = key
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|usage| *usage == PublicKeyUse::Signature);
    // The library's own mapping (`KeyAlgorithm` prints its JOSE name).
    let alg_fits = key
        .common
        .key_algorithm
        .is_none_or(|key_alg| key_alg.to_string().parse::<Algorithm>().ok() == Some(alg));
    type_fits && use_fits && alg_fits
}

/// The `alg` a header names when it is none `jsonwebtoken` knows (`"none"`), for the error.
fn named_algorithm(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    json.get("alg")?.as_str().map(str::to_owned)
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
    // `aud` names us (the library checked it); an authorized party, when named, must be us
    // too (OIDC Core 3.1.3.7).
    if text("azp").is_some_and(|azp| azp != expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    match number("exp") {
        Some(exp) if exp.saturating_add(LEEWAY_SECS) > expected.now => {}
        _ => return Err(IdTokenError::Expired),
    }
    let latest_start = expected.now.saturating_add(LEEWAY_SECS);
    match number("iat") {
        Some(iat) if iat > latest_start => return Err(IdTokenError::IssuedInFuture),
        Some(_) => {}
        None => return Err(IdTokenError::NoIssuedAt),
    }
    // `nbf` is optional; when the provider sends one, it holds, with the same leeway.
    if let Some(nbf) = claims.get("nbf")
        && nbf.as_u64().is_none_or(|nbf| nbf > latest_start)
    {
        return Err(IdTokenError::NotYetValid);
    }
    let nonce_ok = text("nonce")
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_ok {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
