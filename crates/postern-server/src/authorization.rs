//! The `Authorization` header as postern reads it: Basic, Bearer, or something else. Read as
//! bytes, once; the scheme is case-insensitive (RFC 9110) and anything malformed is "other",
//! which no credential check accepts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use postern_core::headers::{self, RequestHeaders};

/// Longer headers are not credentials postern issued or accepts.
const MAX_AUTHORIZATION_BYTES: usize = 4096;

pub enum Presented<'a> {
    None,
    /// The base64 part, undecoded (the Basic cache keys on it).
    Basic(&'a str),
    Bearer(&'a str),
    /// Another scheme, or a malformed header.
    Other,
}

pub fn presented<'a>(headers: impl Into<RequestHeaders<'a>>) -> Presented<'a> {
    let Some(value) = headers.into().first(&AUTHORIZATION) else {
        return Presented::None;
    };
    let Some(text) = headers::text(value) else {
        return Presented::Other;
    };
    if text.len() > MAX_AUTHORIZATION_BYTES {
        return Presented::Other;
    }
    let Some((scheme, rest)) = text.trim().split_once(' ') else {
        return Presented::Other;
    };
    let rest = rest.trim();
    if rest.is_empty() {
        Presented::Other
    } else if scheme.eq_ignore_ascii_case("basic") {
        Presented::Basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer(rest)
    } else {
        Presented::Other
    }
}

/// `user:password` from a Basic credential (RFC 7617: UTF-8; the user name has no colon).
pub fn basic_pair(encoded: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod properties;
