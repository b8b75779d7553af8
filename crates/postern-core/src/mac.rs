//! The one keyed MAC and the one hex encoder of the workspace. Every secret postern derives
//! (CSRF tokens, device cookies, bearer tokens, the Basic cache's fingerprints) is
//! HMAC-SHA256 under a sub-key of the server secret, so one leaked purpose says nothing about
//! another; every hash written into a store key or a file name is lower-case hex.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// A key for one purpose, derived from the server secret.
#[derive(Clone)]
pub struct SubKey([u8; 32]);

impl SubKey {
    /// HMAC-SHA256(secret, label): one secret, independent keys per purpose. The label names
    /// the purpose and its version (`b"postern csrf v1"`).
    pub fn derive(secret: &[u8], label: &[u8]) -> Self {
        Self(hmac_sha256(secret, &[label]))
    }

    /// The key's bytes, for a library that takes the key itself (the JWT signer).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// HMAC-SHA256 of the parts, written one after the other.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        hmac_sha256(&self.0, parts)
    }

    /// Whether `presented` is the MAC of the parts, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], presented: &[u8]) -> bool {
        let expected = self.sign(parts);
        presented.len() == expected.len() && bool::from(presented.ct_eq(&expected))
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it, and if it ever
    // did, an all-zero MAC verifies nothing a real key signed.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0u8; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    push_hex(&mut text, bytes);
    text
}

/// Appends the lower-case hex of `bytes` to `text` (store keys are built in one buffer).
pub fn push_hex(text: &mut String, bytes: &[u8]) {
    for byte in bytes {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// The `N` bytes written as `2 * N` hex digits (either case); `None` for anything else.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let value = digit(pair[0])? * 16 + digit(pair[1])?;
        *byte = u8::try_from(value).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_sub_key_verifies_only_its_own_mac() {
        let key = SubKey::derive(&[7u8; 32], b"purpose one");
        let other = SubKey::derive(&[7u8; 32], b"purpose two");
        let mac = key.sign(&[b"user", b"\0", b"alice"]);
        assert!(key.verify(&[b"user\0alice"], &mac));
        assert!(!other.verify(&[b"user\0alice"], &mac));
        assert!(!key.verify(&[b"user\0bob"], &mac));
        assert!(!key.verify(&[b"user\0alice"], &mac[..31]));
        assert!(!key.verify(&[b"user\0alice"], b""));
    }

    /// A library given `as_bytes` (the JWT signer) signs with the very key `sign` uses.
    #[test]
    fn as_bytes_is_the_key_that_signs() {
        let key = SubKey::derive(&[7u8; 32], b"purpose one");
        assert_eq!(key.as_bytes(), hmac_sha256(&[7u8; 32], &[b"purpose one"]));
        assert_eq!(
            hmac_sha256(key.as_bytes(), &[b"data"]),
            key.sign(&[b"data"])
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_anything_else() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff];
        assert_eq!(hex(&bytes), "000fa5ff");
        assert_eq!(from_hex::<4>("000fa5ff"), Some(bytes));
        assert_eq!(from_hex::<4>("000FA5FF"), Some(bytes));
        for bad in [
            "",
            "000fa5f",
            "000fa5fff",
            "000fa5fg",
            "+00fa5ff",
            "000fa5é",
        ] {
            assert_eq!(from_hex::<4>(bad), None, "{bad:?}");
        }
    }
}
