//! Password hashes: argon2id (m=19456 KiB, t=2, p=1, OWASP's minimum) for everything postern
//! writes; bcrypt (`$2a$`, `$2b$`, `$2y$`) verified too, so tinyauth users lists work unchanged.
//! These functions are CPU-heavy and blocking: the server runs them on its bounded pool.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// Which algorithm a stored hash uses, or why it cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Argon2,
    Bcrypt,
}

fn hasher() -> Argon2<'static> {
    // These parameters are constants that `Params::new` accepts; the fallback is never taken.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) with a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&crate::token::random_bytes::<16>())
        .map_err(|err| PasswordError::Hash(err.to_string()))?;
    hasher()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hash(err.to_string()))
}

/// Checks that `stored` is a hash postern can verify, without verifying anything.
pub fn hash_kind(stored: &str) -> Result<HashKind, String> {
    if is_bcrypt(stored) {
        return if stored.len() == 60 {
            Ok(HashKind::Bcrypt)
        } else {
            Err("bcrypt hash has the wrong length".into())
        };
    }
    let parsed =
        PasswordHash::new(stored).map_err(|err| format!("not an argon2 or bcrypt hash ({err})"))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("the argon2 hash has no salt or no hash part".into());
    }
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(HashKind::Argon2),
        other => Err(format!("unsupported hash algorithm `{other}`")),
    }
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// Verifies `password` against `stored`. Comparison is constant-time inside both libraries.
/// Malformed hashes verify as false (config validation reports them at start).
pub fn verify_password(stored: &str, password: &[u8]) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    match PasswordHash::new(stored) {
        // Verification uses the parameters recorded in the hash, so stronger hashes work too.
        Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Working memory for argon2, kept by a verifier thread and reused for every check: argon2id
/// at m=19456 needs 19 MiB per verification, and allocating that afresh each time leaves the
/// allocator holding hundreds of MiB after a burst (measured: 360 MiB after 32 concurrent
/// first Basic requests).
#[derive(Default)]
pub struct VerifierMemory(Vec<Block>);

/// `verify_password`, with argon2 working in `memory` (grown to the hash's cost when needed,
/// never shrunk).
pub fn verify_password_in(memory: &mut VerifierMemory, stored: &str, password: &[u8]) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, Block::default());
    }
    let mut output = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        &mut memory.0[..blocks],
    );
    hashed.is_ok() && bool::from(output.as_slice().ct_eq(expected.as_bytes()))
}

/// A real argon2id hash of a random password, with the same parameters as every hash postern
/// writes. Unknown usernames are verified against it, so they cost the same time as a wrong
/// password and the answer time reveals nothing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&crate::token::random_bytes::<32>())
            .unwrap_or_else(|_| FALLBACK_DUMMY.to_owned())
    })
}

/// Used only if hashing fails at runtime (it cannot with fixed parameters): a valid hash of an
/// unknown password with the same cost.
const FALLBACK_DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_in_reused_memory_agrees_with_the_library() {
        let mut memory = VerifierMemory::default();
        let argon = hash_password(b"correct horse").unwrap();
        let bcrypt = bcrypt::hash("correct horse", 4).unwrap();
        let stronger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32_768, 3, 1, None).unwrap(),
        )
        .hash_password(
            b"correct horse",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
        for stored in [&argon, &bcrypt, &stronger, &argon] {
            assert!(
                verify_password_in(&mut memory, stored, b"correct horse"),
                "{stored}"
            );
            assert!(
                !verify_password_in(&mut memory, stored, b"correct horsE"),
                "{stored}"
            );
        }
        assert!(!verify_password_in(&mut memory, "not a hash", b"x"));
        assert!(!verify_password_in(
            &mut memory,
            &argon.replace("argon2id", "argon2x"),
            b"correct horse"
        ));
    }

    #[test]
    fn hashes_are_argon2id_with_the_documented_cost_and_verify() {
        let hash = hash_password(b"correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, b"correct horse"));
        assert!(!verify_password(&hash, b"correct horsE"));
        assert_eq!(hash_kind(&hash), Ok(HashKind::Argon2));
    }

    #[test]
    fn bcrypt_hashes_from_tinyauth_verify() {
        let hash = bcrypt::hash("password", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &hash[4..]);
            assert!(verify_password(&variant, b"password"), "{variant}");
            assert!(!verify_password(&variant, b"Password"));
            assert_eq!(hash_kind(&variant), Ok(HashKind::Bcrypt));
        }
    }

    #[test]
    fn malformed_hashes_never_verify_and_are_reported() {
        for bad in [
            "",
            "plain",
            "$2b$short",
            "$argon2id$v=19$garbage",
            "$pbkdf2-sha256$i=1$abc$def",
        ] {
            assert!(!verify_password(bad, b"anything"));
            assert!(hash_kind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_dummy_hash_has_the_same_cost() {
        assert!(dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash_kind(FALLBACK_DUMMY).is_ok());
    }
}
