//! Maps keyed by `TokenHash` need no hasher of their own: a key is the SHA-256 of a token
//! postern made from 32 random bytes, so eight of its bytes spread the entries as well as
//! SipHash would, at no cost. A client picks the tokens it sends, but only postern inserts
//! entries (a lookup of a missing key probes a table of random keys), so it cannot crowd one
//! bucket. Bytes 8..16, not the first ones: the first byte picks the shard, so within one
//! shard it is the same for every key.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use postern_core::token::TokenHash;

pub type TokenMap<V> = HashMap<TokenHash, V, BuildHasherDefault<TokenHasher>>;

#[derive(Default)]
pub struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let part = bytes.get(8..16).unwrap_or(bytes);
        let len = part.len().min(8);
        word[..len].copy_from_slice(&part[..len]);
        self.0 ^= u64::from_le_bytes(word);
    }

    /// The length `[u8; 32]` hashes before its bytes: always 32, so it adds nothing.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_token_hash_hashes_to_its_bytes_8_to_16() {
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = i as u8;
        }
        let hashed = BuildHasherDefault::<TokenHasher>::default().hash_one(TokenHash(bytes));
        assert_eq!(hashed, u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
    }
}
