//! What postern adds to an authorization request on its way through the login page (`prompt`
//! itself is dropped there, or the way back would ask for a sign-in again and again): since
//! when a session will do (`prompt=login`, `max_age`, an `id_token_hint` naming another
//! user), which session it replaced, and that the user must be asked for consent again
//! (`prompt=consent`). Each relaxes or stands for a check the request asked for, so they are
//! MAC'd under a sub-key of the server secret: a client, or a browser, that wrote them itself
//! would skip the sign-in or the consent they stand for. Any replica reads them (one secret).

use std::collections::HashMap;

use postern_core::UnixSeconds;
use postern_core::mac::{SubKey, from_hex, hex};

const SIGNED_IN_AFTER: &str = "postern_signed_in_after";
const REPLACED_SESSION: &str = "postern_replaced_session";
const CONSENT: &str = "postern_consent";
const MARK: &str = "postern_mark";

/// The parameters postern writes; a request's own are dropped on the way to the login page.
pub const NAMES: [&str; 4] = [SIGNED_IN_AFTER, REPLACED_SESSION, CONSENT, MARK];

/// The marks of one way back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReturnMarks {
    /// A session started at or after this time satisfies `prompt=login` and `max_age`.
    pub signed_in_after: Option<UnixSeconds>,
    /// The session that was there when the login page was asked for (`session_fingerprint`),
    /// which can never satisfy them, even in the same second.
    pub replaced_session: Option<String>,
    /// `prompt=consent` was asked.
    pub consent: bool,
}

/// The marks were there without their MAC, or with another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Altered;

/// The key the marks are MAC'd with.
pub struct MarkKey(SubKey);

impl MarkKey {
    /// `secret`: the server secret.
    pub fn new(secret: &[u8]) -> Self {
        Self(SubKey::derive(secret, b"postern oidc return marks v1"))
    }

    /// `marks` as query parameters, with their MAC; none when there is nothing to mark.
    pub fn write(&self, marks: &ReturnMarks) -> Vec<(String, String)> {
        if *marks == ReturnMarks::default() {
            return Vec::new();
        }
        let mut params = Vec::new();
        if let Some(after) = marks.signed_in_after {
            params.push((SIGNED_IN_AFTER.to_owned(), after.to_string()));
        }
        if let Some(replaced) = &marks.replaced_session {
            params.push((REPLACED_SESSION.to_owned(), replaced.clone()));
        }
        if marks.consent {
            params.push((CONSENT.to_owned(), "1".to_owned()));
        }
        let mark = hex(&self.0.sign(&[signed_text(marks).as_bytes()]));
        params.push((MARK.to_owned(), mark));
        params
    }

    /// The marks of `params`: none when it has none, `Altered` when they are not the ones
    /// `write` gave (changed, added, or without the MAC).
    pub fn read(&self, params: &HashMap<String, String>) -> Result<ReturnMarks, Altered> {
        if !NAMES.iter().any(|name| params.contains_key(*name)) {
            return Ok(ReturnMarks::default());
        }
        let marks = ReturnMarks {
            signed_in_after: match params.get(SIGNED_IN_AFTER) {
                Some(text) => Some(text.parse().map_err(|_| Altered)?),
                None => None,
            },
            replaced_session: params.get(REPLACED_SESSION).cloned(),
            consent: match params.get(CONSENT).map(String::as_str) {
                None => false,
                Some("1") => true,
                Some(_) => return Err(Altered),
            },
        };
        let presented = params
            .get(MARK)
            .and_then(|mark| from_hex::<32>(mark))
            .ok_or(Altered)?;
        if self.0.verify(&[signed_text(&marks).as_bytes()], &presented) {
            Ok(marks)
        } else {
            Err(Altered)
        }
    }
}

/// What the MAC covers: each mark on a line of its own (none holds a line break).
fn signed_text(marks: &ReturnMarks) -> String {
    format!(
        "{}\n{}\n{}",
        marks
            .signed_in_after
            .map_or_else(String::new, |after| after.to_string()),
        marks.replaced_session.as_deref().unwrap_or(""),
        u8::from(marks.consent)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: Vec<(String, String)>) -> HashMap<String, String> {
        pairs.into_iter().collect()
    }

    #[test]
    fn marks_read_back_as_written_and_not_once_changed() {
        let key = MarkKey::new(&[7u8; 32]);
        let marks = ReturnMarks {
            signed_in_after: Some(1_764_400_000),
            replaced_session: Some("ab12".into()),
            consent: true,
        };
        let written = params(key.write(&marks));
        assert_eq!(key.read(&written), Ok(marks));
        assert_eq!(key.read(&HashMap::new()), Ok(ReturnMarks::default()));
        for (name, value) in [
            (SIGNED_IN_AFTER, "0"),
            (REPLACED_SESSION, "cd34"),
            (CONSENT, "0"),
            (MARK, "00"),
        ] {
            let mut changed = written.clone();
            changed.insert(name.to_owned(), value.to_owned());
            assert_eq!(key.read(&changed), Err(Altered), "{name}");
        }
        let mut without_consent = written.clone();
        without_consent.remove(CONSENT);
        assert_eq!(key.read(&without_consent), Err(Altered));
        let forged = params(vec![(SIGNED_IN_AFTER.to_owned(), "0".to_owned())]);
        assert_eq!(key.read(&forged), Err(Altered));
        let other_key = MarkKey::new(&[8u8; 32]);
        assert_eq!(other_key.read(&written), Err(Altered));
    }
}
