//! Canonical hosts and paths. Every rule is matched on these forms, never on what the client
//! typed, so `APP.example.com.`, `/public/../admin` and `/%61dmin` all mean what a server
//! would take them to mean.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("the host is empty or not a valid host name")]
    InvalidHost,
    #[error("the port is not a number between 1 and 65535")]
    InvalidPort,
    #[error("the path must start with '/'")]
    RelativePath,
    #[error("the path has invalid percent-encoding or is not UTF-8")]
    InvalidPath,
}

/// A host as rules see it: lower case, no trailing dot, IDNA in ASCII (punycode) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

/// Splits `host[:port]` (with `[v6]:port`) and canonicalises the host.
pub fn host_port(authority: &str) -> Result<HostPort, CanonicalError> {
    let authority = authority.trim_ascii();
    let (host, port) = split_port(authority)?;
    Ok(HostPort {
        host: host_name(host)?,
        port,
    })
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), CanonicalError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or(CanonicalError::InvalidHost)?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(
                after.strip_prefix(':').ok_or(CanonicalError::InvalidPort)?,
            )?),
        };
        // Keep the brackets: the canonical form of an IPv6 host in URLs.
        return Ok((&authority[..inner.len() + 2], port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Ok((host, Some(parse_port(port)?))),
        Some(_) => Err(CanonicalError::InvalidHost), // bare IPv6 without brackets
        None => Ok((authority, None)),
    }
}

fn parse_port(text: &str) -> Result<u16, CanonicalError> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(CanonicalError::InvalidPort),
    }
}

/// Lower case, trailing dot removed, Unicode labels to punycode; IP literals are kept as they
/// are written canonically by the standard library.
pub fn host_name(host: &str) -> Result<String, CanonicalError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return Err(CanonicalError::InvalidHost);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr = inner.parse().map_err(|_| CanonicalError::InvalidHost)?;
        return Ok(format!("[{ip}]"));
    }
    match plain_ascii(host) {
        Plain::Valid => return Ok(host.to_ascii_lowercase()),
        Plain::Invalid => return Err(CanonicalError::InvalidHost),
        Plain::NeedsIdna => {}
    }
    let ascii = idna_to_ascii(host)?;
    let valid = !ascii.is_empty()
        && ascii
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !ascii.split('.').any(str::is_empty);
    if valid {
        Ok(ascii)
    } else {
        Err(CanonicalError::InvalidHost)
    }
}

/// UTS 46 through the `idna` crate: strict first, then the lenient form (which admits `_` and
/// hyphens where STD3 refuses them).
pub fn idna_to_ascii(host: &str) -> Result<String, CanonicalError> {
    idna::domain_to_ascii_strict(host)
        .or_else(|_| idna::domain_to_ascii(host))
        .map_err(|_| CanonicalError::InvalidHost)
}

/// What one pass over a host found.
enum Plain {
    /// Only ASCII letters, digits, `-`, `_` and `.`, no empty label, no label in punycode:
    /// its lower case is its canonical form.
    Valid,
    /// Those bytes only, but an empty label (`a..b`, `.a`, `a.`): no host, with or without
    /// IDNA.
    Invalid,
    /// Anything else: IDNA decides.
    NeedsIdna,
}

/// Whether IDNA has nothing to do to `host`: only ASCII letters, digits, `-`, `_` and `.`, and
/// no label in punycode (`xn--`, which IDNA decodes to check). For such a host UTS 46 only
/// maps upper case to lower case, so its lower case is `idna_to_ascii`'s answer (the property
/// target `fuzz::canonical_access::plain_ascii_hosts_read_as_idna_reads_them` holds them
/// together). Why: IDNA's mapping was 870 of the 31,500 instructions of a whole cookie check
/// under callgrind, and nearly every host a proxy forwards is plain. The empty labels are
/// found in the same pass: checked apart, after it, they made `host_name` 950 instructions
/// for a 20-byte host, 597 with them here (docs/performance.md, "The seventeenth session").
fn plain_ascii(host: &str) -> Plain {
    let bytes = host.as_bytes();
    let mut label_start = 0;
    let mut empty_label = false;
    for (index, &byte) in bytes.iter().enumerate() {
        if !(byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')) {
            return Plain::NeedsIdna;
        }
        if index == label_start {
            if byte == b'.' {
                empty_label = true;
            } else if bytes
                .get(index..index + 4)
                .is_some_and(|head| head.eq_ignore_ascii_case(b"xn--"))
            {
                return Plain::NeedsIdna;
            }
        }
        if byte == b'.' {
            label_start = index + 1;
        }
    }
    if empty_label || label_start == bytes.len() {
        Plain::Invalid
    } else {
        Plain::Valid
    }
}

/// The canonical form of a request path (without its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// Decoded once, dot segments resolved, repeated slashes merged. An encoded slash stays
    /// written as `%2F`, so it can never be mistaken for a separator.
    pub path: String,
    /// The first thing in the raw path that some common server reads differently from this
    /// canonical form. Rules that grant access (public paths) refuse such paths.
    pub ambiguity: Option<Ambiguity>,
}

/// Something in a path that servers disagree on. The canonical form resolves `..` one way;
/// the upstream behind the proxy may resolve it another way and climb out of a public prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguity {
    /// `%2F`: a separator to some servers, data to others.
    EncodedSlash,
    /// `;` (or `%3B`) in a segment: Tomcat, Jetty and Spring strip `;...` as path parameters,
    /// so `/public/..;/admin` is `/admin` to them.
    Semicolon,
    /// `\` (or `%5C`): a separator to IIS and other Windows-minded servers.
    Backslash,
    /// `%25`: a server that decodes twice sees new escapes (`%252e%252e` becomes `..`).
    EncodedPercent,
    /// A control character such as `%00`: C-based servers end the path there.
    ControlCharacter,
    /// A segment of only dots and spaces other than `.` and `..` (`...`, `.. `): Windows
    /// strips trailing dots and spaces, so it may become a dot segment.
    DotLikeSegment,
    /// A `.` or `..` segment (also written `%2e%2e`). The canonical form resolves it, but
    /// nginx and caddy forward the raw path, and routers that match the raw path without
    /// resolving it (Express, Koa) serve `/admin` for `/admin/../public/x`. Browsers never
    /// send dot segments, so refusing them costs real traffic nothing.
    DotSegment,
    /// A raw `#` ending the path: browsers keep the fragment to themselves, but nginx forwards
    /// a client's raw `#` in `$request_uri`, and a server that takes it as text (Go's
    /// `FileServer`, caddy's `file_server`, a hop that escapes it to `%23`) reads the rest as
    /// path: `/public/x#/../../admin` is `/admin` to them, `/public/x` to the rules.
    Fragment,
    /// `%3F` or `%23`: a `?` or `#` that is data in this path, but a hop that decodes the
    /// path once and parses it again (an nginx `rewrite` before `proxy_pass`, a second proxy)
    /// ends the path there: `/admin%3F.js` matches a public `.*\.js` here and is `/admin`
    /// there.
    EncodedDelimiter,
}

impl Ambiguity {
    pub fn describe(self) -> &'static str {
        match self {
            Self::EncodedSlash => "an encoded slash",
            Self::Semicolon => "a `;` (path parameter)",
            Self::Backslash => "a backslash",
            Self::EncodedPercent => {
                "an encoded `%` (read differently by servers that decode twice)"
            }
            Self::ControlCharacter => "a control character",
            Self::DotLikeSegment => "a segment of dots and spaces",
            Self::DotSegment => "a `.` or `..` segment",
            Self::Fragment => "a `#` (a fragment, which browsers never send)",
            Self::EncodedDelimiter => "an encoded `?` or `#`",
        }
    }

    /// What one segment, decoded once, holds that servers disagree on.
    fn of_segment(decoded: &str) -> Option<Self> {
        if matches!(decoded, "." | "..") {
            return Some(Self::DotSegment);
        }
        let dot_like = !decoded.is_empty() && decoded.trim_end_matches(['.', ' ']).is_empty();
        decoded
            .chars()
            .find_map(|ch| match ch {
                '/' => Some(Self::EncodedSlash),
                ';' => Some(Self::Semicolon),
                '\\' => Some(Self::Backslash),
                '%' => Some(Self::EncodedPercent),
                '?' | '#' => Some(Self::EncodedDelimiter),
                ch if ch.is_control() => Some(Self::ControlCharacter),
                _ => None,
            })
            .or(dot_like.then_some(Self::DotLikeSegment))
    }
}

pub fn path(raw: &str) -> Result<CanonicalPath, CanonicalError> {
    if !raw.starts_with('/') {
        return Err(CanonicalError::RelativePath);
    }
    if is_canonical_already(raw) {
        return Ok(CanonicalPath {
            path: raw.to_owned(),
            ambiguity: None,
        });
    }
    resolve(raw)
}

/// Whether `raw` is its own canonical form, as most paths a browser sends
/// are: printable ASCII with nothing to decode or to read two ways (`%`, `;`, `\`, space), no
/// empty segment but a trailing one, no segment of dots. `resolve` would return it unchanged,
/// with no ambiguity (a test checks this on every short path), at one allocation where it
/// makes two plus two per segment.
fn is_canonical_already(raw: &str) -> bool {
    let Some(after_root) = raw.strip_prefix('/') else {
        return false;
    };
    let plain = raw
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b';' | b'\\'));
    if !plain {
        return false;
    }
    let mut segments = after_root.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return false;
        }
        if !segment.is_empty() && segment.bytes().all(|b| b == b'.') {
            return false;
        }
    }
    true
}

/// Decodes each segment once, resolves dot segments and merges repeated slashes.
fn resolve(raw: &str) -> Result<CanonicalPath, CanonicalError> {
    let mut segments: Vec<String> = Vec::new();
    let mut ambiguity = None;
    let raw_segments: Vec<&str> = raw.split('/').skip(1).collect();
    let last_index = raw_segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (index, raw_segment) in raw_segments.iter().enumerate() {
        let decoded = decode_segment(raw_segment)?;
        ambiguity = ambiguity.or_else(|| Ambiguity::of_segment(&decoded));
        let is_last = index == last_index;
        match decoded.as_str() {
            "" => trailing_slash = is_last,
            "." => trailing_slash = is_last,
            ".." => {
                segments.pop();
                trailing_slash = is_last;
            }
            _ => {
                segments.push(escape_segment(&decoded));
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(CanonicalPath { path, ambiguity })
}

/// Percent-decodes one segment once.
fn decode_segment(segment: &str) -> Result<String, CanonicalError> {
    if !segment.contains('%') {
        return Ok(segment.to_owned());
    }
    validate_percent_escapes(segment)?;
    let bytes: Vec<u8> = percent_decode_str(segment).collect();
    String::from_utf8(bytes).map_err(|_| CanonicalError::InvalidPath)
}

/// A decoded `/` is written back as `%2F` (it was data, not a separator) and a decoded `%` as
/// `%25`, so the canonical path reads back unambiguously.
fn escape_segment(decoded: &str) -> String {
    if !decoded.contains(['/', '%']) {
        return decoded.to_owned();
    }
    let mut out = String::with_capacity(decoded.len() + 4);
    for ch in decoded.chars() {
        match ch {
            '/' => out.push_str("%2F"),
            '%' => out.push_str("%25"),
            _ => out.push(ch),
        }
    }
    out
}

fn validate_percent_escapes(segment: &str) -> Result<(), CanonicalError> {
    let bytes = segment.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .ok_or(CanonicalError::InvalidPath)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(CanonicalError::InvalidPath);
            }
            index += 3;
        } else {
            index += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
