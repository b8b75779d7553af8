//! What postern adds to an authorization request on its way through the login page (`prompt`
//! itself is dropped there, or the way back would ask for a sign-in again and again): since
//! when a session will do (`prompt=login`, `max_age`, an `id_token_hint` naming another
//! user), which session it replaced, and that the user must be asked for consent again
//! (`prompt=consent`). Each relaxes or stands for a check the request asked for, so they are
//! MAC'd under a sub-key of the server secret: a client, or a browser, that wrote them itself
//! would skip the sign-in or the consent they stand for. The MAC also covers the request they
//! were written for (client, `redirect_uri`, `state`, `nonce`, PKCE challenge) and when, and
//! they are good for `LIFETIME`: marks kept from one sign-in never stand for another request,
//! nor for the same one later. Any replica reads them (one secret).

use std::collections::HashMap;

use postern_core::UnixSeconds;
use postern_core::mac::{SubKey, from_hex, hex};

const SIGNED_IN_AFTER: &str = "postern_signed_in_after";
const REPLACED_SESSION: &str = "postern_replaced_session";
const CONSENT: &str = "postern_consent";
const MARKED_AT: &str = "postern_marked_at";
const MARK: &str = "postern_mark";

/// The parameters postern writes; a request's own are dropped on the way to the login page.
pub const NAMES: [&str; 5] = [SIGNED_IN_AFTER, REPLACED_SESSION, CONSENT, MARKED_AT, MARK];

/// The parameters of the request the marks were written for.
const BOUND_TO: [&str; 5] = [
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
];

/// How long a way back stays good: a sign-in with a password, a second factor and a typo or
/// two, with room to spare (a pending second step itself lasts 5 minutes).
pub const LIFETIME_SECS: u64 = 30 * 60;

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

    /// `marks` as query parameters, with their MAC over them, the request `params` they are
    /// for and `now`; none when there is nothing to mark.
    pub fn write(
        &self,
        marks: &ReturnMarks,
        params: &HashMap<String, String>,
        now: UnixSeconds,
    ) -> Vec<(String, String)> {
        if *marks == ReturnMarks::default() {
            return Vec::new();
        }
        let mut written = Vec::new();
        if let Some(after) = marks.signed_in_after {
            written.push((SIGNED_IN_AFTER.to_owned(), after.to_string()));
        }
        if let Some(replaced) = &marks.replaced_session {
            written.push((REPLACED_SESSION.to_owned(), replaced.clone()));
        }
        if marks.consent {
            written.push((CONSENT.to_owned(), "1".to_owned()));
        }
        written.push((MARKED_AT.to_owned(), now.to_string()));
        let text = signed_text(marks, params, now);
        written.push((MARK.to_owned(), hex(&self.0.sign(&[text.as_bytes()]))));
        written
    }

    /// The marks of `params`: none when it has none, `Altered` when they are not the ones
    /// `write` gave for this request (changed, added, without the MAC, or from another
    /// request), or older than `LIFETIME_SECS`.
    pub fn read(
        &self,
        params: &HashMap<String, String>,
        now: UnixSeconds,
    ) -> Result<ReturnMarks, Altered> {
        if !NAMES.iter().any(|name| params.contains_key(*name)) {
            return Ok(ReturnMarks::default());
        }
        let number = |name: &str| -> Result<Option<u64>, Altered> {
            params
                .get(name)
                .map(|text| text.parse().map_err(|_| Altered))
                .transpose()
        };
        let marks = ReturnMarks {
            signed_in_after: number(SIGNED_IN_AFTER)?,
            replaced_session: params.get(REPLACED_SESSION).cloned(),
            consent: match params.get(CONSENT).map(String::as_str) {
                None => false,
                Some("1") => true,
                Some(_) => return Err(Altered),
            },
        };
        let marked_at = number(MARKED_AT)?.ok_or(Altered)?;
        if now.saturating_sub(marked_at) > LIFETIME_SECS {
            return Err(Altered);
        }
        let presented = params
            .get(MARK)
            .and_then(|mark| from_hex::<32>(mark))
            .ok_or(Altered)?;
        let text = signed_text(&marks, params, marked_at);
        if self.0.verify(&[text.as_bytes()], &presented) {
            Ok(marks)
        } else {
            Err(Altered)
        }
    }
}

/// What the MAC covers: each mark, the request's parameters of `BOUND_TO` and when, on lines
/// of their own (no value holds a line break: each is a query parameter, decoded, that
/// `authorize::check` accepted, and a break in one would only make the MAC fail).
fn signed_text(marks: &ReturnMarks, params: &HashMap<String, String>, at: UnixSeconds) -> String {
    let mut text = format!(
        "{}\n{}\n{}\n{at}",
        marks
            .signed_in_after
            .map_or_else(String::new, |after| after.to_string()),
        marks.replaced_session.as_deref().unwrap_or(""),
        u8::from(marks.consent)
    );
    for name in BOUND_TO {
        text.push('\n');
        text.push_str(params.get(name).map_or("", String::as_str));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = 1_764_400_000;

    fn request(state: &str) -> HashMap<String, String> {
        [
            ("client_id", "app"),
            ("redirect_uri", "https://app/cb"),
            ("state", state),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// The request with `marks` written on it, as the way back carries them.
    fn way_back(key: &MarkKey, marks: &ReturnMarks, state: &str) -> HashMap<String, String> {
        let mut params = request(state);
        let written = key.write(marks, &params, NOW);
        params.extend(written);
        params
    }

    #[test]
    fn marks_read_back_as_written_and_not_once_changed() {
        let key = MarkKey::new(&[7u8; 32]);
        let marks = ReturnMarks {
            signed_in_after: Some(NOW),
            replaced_session: Some("ab12".into()),
            consent: true,
        };
        let written = way_back(&key, &marks, "s1");
        assert_eq!(key.read(&written, NOW + 60), Ok(marks));
        assert_eq!(key.read(&request("s1"), NOW), Ok(ReturnMarks::default()));
        for (name, value) in [
            (SIGNED_IN_AFTER, "0"),
            (REPLACED_SESSION, "cd34"),
            (CONSENT, "0"),
            (MARKED_AT, "1764400001"),
            (MARK, "00"),
            ("state", "s2"),
            ("client_id", "other"),
        ] {
            let mut changed = written.clone();
            changed.insert(name.to_owned(), value.to_owned());
            assert_eq!(key.read(&changed, NOW), Err(Altered), "{name}");
        }
        let mut without_consent = written.clone();
        without_consent.remove(CONSENT);
        assert_eq!(key.read(&without_consent, NOW), Err(Altered));
        let mut forged = request("s1");
        forged.insert(SIGNED_IN_AFTER.to_owned(), "0".to_owned());
        assert_eq!(key.read(&forged, NOW), Err(Altered));
        assert_eq!(MarkKey::new(&[8u8; 32]).read(&written, NOW), Err(Altered));
    }

    #[test]
    fn marks_of_another_request_or_too_old_stand_for_nothing() {
        let key = MarkKey::new(&[7u8; 32]);
        let marks = ReturnMarks {
            signed_in_after: Some(NOW),
            ..ReturnMarks::default()
        };
        let first = way_back(&key, &marks, "s1");
        // The marks of the first request, carried over to another one.
        let mut second = request("s2");
        for name in NAMES {
            if let Some(value) = first.get(name) {
                second.insert(name.to_owned(), value.clone());
            }
        }
        assert_eq!(key.read(&second, NOW), Err(Altered));
        assert_eq!(key.read(&first, NOW + LIFETIME_SECS), Ok(marks));
        assert_eq!(key.read(&first, NOW + LIFETIME_SECS + 1), Err(Altered));
    }
}
