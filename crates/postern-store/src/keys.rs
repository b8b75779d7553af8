//! Every store key, named in one place. Keys carry the configured prefix so several postern
//! installations can share one Redis. Sessions are keyed by token hash (the check path knows
//! only the token, so they spread over cluster slots); everything about one user sits under a
//! `{user}` hash tag, on one slot.

use postern_core::token::TokenHash;

/// What a key holds. Each kind has its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Failed-login counters (per IP, per account).
    Failures,
    /// Token buckets for request rates.
    Bucket,
    /// Single-use marks: TOTP steps, spent refresh tokens, revoked token ids.
    Mark,
    /// Single-use values: OAuth transactions, one-time tickets.
    Value,
}

impl Kind {
    fn namespace(self) -> &'static str {
        match self {
            Self::Failures => "fail",
            Self::Bucket => "bucket",
            Self::Mark => "mark",
            Self::Value => VALUE_NAMESPACE.trim_end_matches(':'),
        }
    }
}

/// How a value's key begins, before its id (`value:<id>`).
pub(crate) const VALUE_NAMESPACE: &str = "value:";

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `<prefix>session:<64 hex digits>`, built in one allocation: every Redis check builds one.
    pub fn session(&self, hash: &TokenHash) -> String {
        let mut key = String::with_capacity(self.prefix.len() + "session:".len() + 64);
        key.push_str(&self.prefix);
        key.push_str("session:");
        postern_core::mac::push_hex(&mut key, &hash.0);
        key
    }

    /// The start of every session key (what the client-side cache subscribes to).
    pub fn session_prefix(&self) -> String {
        format!("{}session:", self.prefix)
    }

    /// The token hash in a session key; `None` for any other key.
    pub fn session_hash(&self, key: &[u8]) -> Option<TokenHash> {
        let hex = key
            .strip_prefix(self.prefix.as_bytes())?
            .strip_prefix(b"session:".as_slice())?;
        TokenHash::from_hex(std::str::from_utf8(hex).ok()?)
    }

    /// The sorted set of a user's session hashes, scored by expiry.
    pub fn user_sessions(&self, user: &str) -> String {
        format!("{}user:{{{}}}:sessions", self.prefix, user.to_lowercase())
    }

    /// The hash of `user`'s durable records of one kind (field: the record id).
    pub fn user_records(&self, user: &str, kind: &str) -> String {
        format!("{}records:{{{}}}:{kind}", self.prefix, user.to_lowercase())
    }

    /// The set of users (in lower case) who have or had durable records: what export walks,
    /// since no command lists keys on every Cluster node at once.
    pub fn record_owners(&self) -> String {
        format!("{}record-owners", self.prefix)
    }

    /// A key of `kind` for `id`. Ids that name a user should start with `user:` so callers
    /// can keep one user's state together; this function does not interpret them.
    pub fn other(&self, kind: Kind, id: &str) -> String {
        format!("{}{}:{}", self.prefix, kind.namespace(), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_keys_share_a_hash_tag() {
        let keys = Keys::new("postern:");
        assert_eq!(keys.user_sessions("Alice"), "postern:user:{alice}:sessions");
        assert!(
            keys.session(&TokenHash::of(b"x"))
                .starts_with("postern:session:")
        );
        assert_eq!(
            keys.other(Kind::Failures, "ip:10.0.0.1"),
            "postern:fail:ip:10.0.0.1"
        );
    }

    #[test]
    fn a_session_key_is_the_prefix_and_the_hash_in_lower_case_hex() {
        let hash = TokenHash::of(b"x");
        assert_eq!(
            Keys::new("p:").session(&hash),
            format!("p:session:{}", hash.to_hex())
        );
    }

    #[test]
    fn a_session_key_gives_back_its_hash_and_no_other_key_does() {
        let keys = Keys::new("p:");
        let hash = TokenHash::of(b"x");
        assert_eq!(
            keys.session_hash(keys.session(&hash).as_bytes()),
            Some(hash)
        );
        assert!(keys.session_prefix().starts_with("p:session:"));
        assert_eq!(keys.session_hash(b"q:session:00"), None);
        assert_eq!(keys.session_hash(keys.user_sessions("a").as_bytes()), None);
    }
}
