//! The provider's signing keys: PEM files read once (RSA of at least 2048 bits, or P-256),
//! each published in the JWKS under a `kid` that is its RFC 7638 thumbprint, so every replica
//! names the same key the same way without any shared state. The first key signs; the others
//! stay published so tokens they signed still verify during a rotation.
//!
//! PEM framing is the `pem` crate's, the key parsing (and the public numbers the JWKS needs) is
//! ring's, and the signature is `jsonwebtoken`'s: nothing here reads ASN.1 or builds a JWS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;

/// One key: how it signs, and what the JWKS says about it.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    // Never the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from the text of a PEM file: `PRIVATE KEY` (PKCS#8, RSA or P-256) or
    /// `RSA PRIVATE KEY` (PKCS#1). `Err` says what is wrong, for `config check`.
    pub fn from_pem(text: &[u8]) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|err| format!("not a PEM file ({err})"))?;
        let mut private = blocks
            .iter()
            .filter(|block| block.tag().contains("PRIVATE KEY"));
        let (Some(block), None) = (private.next(), private.next()) else {
            return Err("the file must hold exactly one private key".into());
        };
        match block.tag() {
            "PRIVATE KEY" => Self::from_pkcs8(text, block.contents()),
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(block.contents())
                    .map_err(|err| format!("not a usable RSA key ({err})"))?;
                Self::rsa(text, &pair)
            }
            "EC PRIVATE KEY" => Err(
                "an `EC PRIVATE KEY` (SEC1) file: convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`, or make a new key with \
                 `postern oidc generate-key`"
                    .into(),
            ),
            "ENCRYPTED PRIVATE KEY" => Err("the key is encrypted; postern reads unencrypted keys \
                 (protect the file with its permissions)"
                .into()),
            other => Err(format!("a `{other}` is not a signing key")),
        }
    }

    fn from_pkcs8(text: &[u8], der: &[u8]) -> Result<Self, String> {
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            return Self::rsa(text, &pair);
        }
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|_| {
                "neither an RSA key of 2048 bits or more nor a P-256 (prime256v1) key".to_owned()
            })?;
        // The uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key().as_ref();
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            return Err("the P-256 public key has an unexpected length".into());
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        let parameters = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
            key_type: EllipticCurveKeyType::EC,
            curve: EllipticCurve::P256,
            x,
            y,
        });
        Ok(Self {
            jwk: jwk(&kid, KeyAlgorithm::ES256, parameters),
            kid,
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der),
        })
    }

    fn rsa(text: &[u8], pair: &RsaKeyPair) -> Result<Self, String> {
        if pair.public().modulus_len() < MIN_RSA_BYTES {
            return Err("the RSA key is shorter than 2048 bits".into());
        }
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let (n, e) = (
            URL_SAFE_NO_PAD.encode(&public.n),
            URL_SAFE_NO_PAD.encode(&public.e),
        );
        let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        let encoding = EncodingKey::from_rsa_pem(text)
            .map_err(|err| format!("not a usable RSA key ({err})"))?;
        let parameters = AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n,
            e,
        });
        Ok(Self {
            jwk: jwk(&kid, KeyAlgorithm::RS256, parameters),
            kid,
            algorithm: Algorithm::RS256,
            encoding,
        })
    }

    /// The public half, as the JWKS lists it.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// A compact JWS of `claims`, with this key's `alg` and `kid` in the header.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

fn jwk(kid: &str, algorithm: KeyAlgorithm, parameters: AlgorithmParameters) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(algorithm),
            key_id: Some(kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm: parameters,
    }
}

/// RFC 7638: base64url(SHA-256(the required members, sorted, no spaces)).
fn thumbprint(canonical_json: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical_json.as_bytes()))
}

/// The configured keys, in order: the first signs.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    first: SigningKey,
    others: Vec<SigningKey>,
}

impl SigningKeys {
    /// `None` when `keys` is empty: there is no provider without a key.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let mut keys = keys.into_iter();
        let first = keys.next()?;
        Some(Self {
            first,
            others: keys.collect(),
        })
    }

    /// The key that signs what has no algorithm of its own (the identity token).
    pub fn first(&self) -> &SigningKey {
        &self.first
    }

    /// The first key that signs with `algorithm`.
    pub fn for_algorithm(&self, algorithm: Algorithm) -> Option<&SigningKey> {
        self.iter().find(|key| key.algorithm == algorithm)
    }

    /// The algorithms the keys sign with, each once, in the keys' order.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for key in self.iter() {
            if !algorithms.contains(&key.algorithm) {
                algorithms.push(key.algorithm);
            }
        }
        algorithms
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.iter().map(|key| key.jwk.clone()).collect(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.first).chain(&self.others)
    }
}

/// A new P-256 key as PKCS#8 PEM, for `postern oidc generate-key`.
pub fn generate_p256_pem() -> Result<String, String> {
    let document =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "the system's random generator failed".to_owned())?;
    Ok(pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        document.as_ref(),
    )))
}

#[cfg(test)]
mod tests;
