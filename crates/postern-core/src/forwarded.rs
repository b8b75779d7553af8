//! The request a proxy asks about. Each proxy says it differently (ARCHITECTURE.md):
//! traefik and caddy send `X-Forwarded-{Proto,Host,Uri,Method}`; nginx sends `X-Original-URL`
//! (+ `X-Original-Method`), else the same X-Forwarded set; envoy sends the original `Host`,
//! `X-Forwarded-Proto`, and the original path appended to `/api/auth/envoy`.

use http::Method;

use crate::canonical::{self, Ambiguity, CanonicalError, CanonicalPath};
use crate::headers::{self, RequestHeaders};

/// Which proxy protocol an auth request speaks, from the last segment of `/api/auth/{proxy}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Traefik,
    Caddy,
    Nginx,
    Envoy,
}

impl ProxyKind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "traefik" => Some(Self::Traefik),
            "caddy" => Some(Self::Caddy),
            "nginx" => Some(Self::Nginx),
            "envoy" => Some(Self::Envoy),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Traefik => "traefik",
            Self::Caddy => "caddy",
            Self::Nginx => "nginx",
            Self::Envoy => "envoy",
        }
    }
}

/// Why a target could not be read. Answered with 400: the proxy is misconfigured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("header {0} is not valid text")]
    NotText(&'static str),
    #[error("{0} is not http or https")]
    BadScheme(&'static str),
    #[error("X-Original-URL is not an absolute http(s) URL")]
    BadOriginalUrl,
    #[error("{0} is not a valid HTTP method")]
    BadMethod(&'static str),
    #[error("target: {0}")]
    Canonical(#[from] CanonicalError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(text: &str, header: &'static str) -> Result<Self, TargetError> {
        // What every proxy sends, answered before the list is split.
        match text {
            "https" => return Ok(Self::Https),
            "http" => return Ok(Self::Http),
            _ => {}
        }
        // A proxy chain may send "https,http"; the first entry is the client-facing one.
        let first = first_entry(text);
        if first.eq_ignore_ascii_case("https") {
            Ok(Self::Https)
        } else if first.eq_ignore_ascii_case("http") {
            Ok(Self::Http)
        } else {
            Err(TargetError::BadScheme(header))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The original request a proxy asks about, in two forms: as the client wrote it (to send the
/// browser back to exactly that URL after login) and canonical (for every rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub method: Method,
    pub scheme: Scheme,
    /// Canonical host (lower case, no trailing dot, punycode).
    pub host: String,
    pub port: Option<u16>,
    pub path: CanonicalPath,
    /// The host and port as the client sent them.
    pub raw_authority: String,
    /// Path and query as the client sent them.
    pub raw_path_and_query: String,
    /// What the proxy did not say (`X-Forwarded-Uri`, `X-Forwarded-Method` or nginx's
    /// `X-Original-Method` missing or empty), and `/` or `GET` stands in for.
    pub assumed: Assumed,
}

/// The parts of the target a proxy left out. A signed-in user is judged on what stands in
/// for them, but neither lets a request through without a sign-in (`AccessRules::gate`): a
/// proxy config that forgets a header must not turn every path into a public `/`, or every
/// method into one `methods` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Assumed {
    pub path: bool,
    pub method: bool,
}

impl ForwardedRequest {
    /// Whether the host was sent with a trailing dot (`status.example.com.`). postern reads it
    /// as the host without the dot, as nginx and traefik route it, but caddy and envoy route
    /// it as another name (a catch-all site may serve it): so it never passes without a
    /// sign-in (`AccessRules::gate`).
    pub fn host_ends_with_a_dot(&self) -> bool {
        let authority = self.raw_authority.as_str();
        // The host without its port; an IPv6 literal ends with `]`, never a dot.
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        host.ends_with('.')
    }

    /// `scheme://authority/path?query` as the client requested it: where to return after login.
    pub fn original_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.raw_authority,
            self.raw_path_and_query
        )
    }

    /// Reads the target for `kind`. `own_method` is the method of the auth request itself and
    /// `envoy_path` the path and query after `/api/auth/envoy`.
    pub fn from_headers<'h>(
        kind: ProxyKind,
        headers: impl Into<RequestHeaders<'h>>,
        own: &OwnRequest<'_>,
    ) -> Result<Self, TargetError> {
        let sent = Sent::collect(headers.into());
        match kind {
            ProxyKind::Traefik | ProxyKind::Caddy => from_forwarded_set(&sent),
            ProxyKind::Nginx => match text(sent.original_url, X_ORIGINAL_URL)? {
                Some(url) => from_original_url(&sent, url),
                None => from_forwarded_set(&sent),
            },
            ProxyKind::Envoy => from_envoy(&sent, own),
        }
    }
}

/// The auth request itself. Envoy's ext_authz keeps the original method, authority and path
/// on the check request, so its target is read from here.
#[derive(Debug, Clone, Copy)]
pub struct OwnRequest<'a> {
    pub method: &'a Method,
    /// The URI's authority: HTTP/2 carries the host here (`:authority`), not in `Host`.
    pub authority: Option<&'a str>,
    /// The path and query after `/api/auth/envoy`.
    pub envoy_path: &'a str,
}

/// How an error names each header a target is read from.
const X_FORWARDED_PROTO: &str = "X-Forwarded-Proto";
const X_FORWARDED_HOST: &str = "X-Forwarded-Host";
const X_FORWARDED_URI: &str = "X-Forwarded-Uri";
const X_FORWARDED_METHOD: &str = "X-Forwarded-Method";
const X_ORIGINAL_URL: &str = "X-Original-URL";
const X_ORIGINAL_METHOD: &str = "X-Original-Method";
const HOST: &str = "Host";

/// The first value of each header a target may be read from, as `HeaderMap::get` gives it
/// (a test holds the two together for repeated headers), found in one pass over the request's
/// headers. Why one pass: a lookup hashes the whole name (FNV, byte by byte) before it probes,
/// and the four lookups of a traefik check were 800 of its 27,100 instructions under callgrind
/// (docs/performance.md, "The seventeenth session"); comparing the ten or so names a proxy
/// sends, by length first, costs a fraction of that.
#[derive(Default)]
struct Sent<'a> {
    forwarded_proto: Option<&'a [u8]>,
    forwarded_host: Option<&'a [u8]>,
    forwarded_uri: Option<&'a [u8]>,
    forwarded_method: Option<&'a [u8]>,
    original_url: Option<&'a [u8]>,
    original_method: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

impl<'a> Sent<'a> {
    fn collect(headers: RequestHeaders<'a>) -> Self {
        let mut sent = Self::default();
        for (name, value) in headers.lines() {
            if let Some(slot) = sent.slot(name) {
                slot.get_or_insert(value);
            }
        }
        sent
    }

    /// Where the value of `name` (in any case: the check lane keeps names as sent) goes.
    fn slot(&mut self, name: &str) -> Option<&mut Option<&'a [u8]>> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        Some(match name.len() {
            4 if is("host") => &mut self.host,
            14 if is("x-original-url") => &mut self.original_url,
            15 if is("x-forwarded-uri") => &mut self.forwarded_uri,
            16 if is("x-forwarded-host") => &mut self.forwarded_host,
            17 if is("x-forwarded-proto") => &mut self.forwarded_proto,
            17 if is("x-original-method") => &mut self.original_method,
            18 if is("x-forwarded-method") => &mut self.forwarded_method,
            _ => return None,
        })
    }
}

/// A header's value as text: visible ASCII, spaces and tabs (`to_str` refuses anything else),
/// which is why the target is trimmed and searched byte by byte (`trim_ascii`,
/// `position_of_any`).
fn text<'a>(value: Option<&'a [u8]>, label: &'static str) -> Result<Option<&'a str>, TargetError> {
    match value {
        None => Ok(None),
        Some(value) => headers::text(value)
            .map(Some)
            .ok_or(TargetError::NotText(label)),
    }
}

fn required<'a>(value: Option<&'a [u8]>, label: &'static str) -> Result<&'a str, TargetError> {
    match text(value, label)?.map(str::trim_ascii) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(TargetError::Missing(label)),
    }
}

/// The first entry of a comma-separated list, trimmed.
fn first_entry(list: &str) -> &str {
    let end = position_of_any(list, b",").unwrap_or(list.len());
    list[..end].trim_ascii()
}

/// Proxies always call the auth server with GET; the original method rides in a header.
fn method_header(value: Option<&[u8]>, label: &'static str) -> Result<Option<Method>, TargetError> {
    match text(value, label)?.map(str::trim_ascii) {
        Some(value) if !value.is_empty() => Method::from_bytes(value.as_bytes())
            .map(Some)
            .map_err(|_| TargetError::BadMethod(label)),
        _ => Ok(None),
    }
}

fn build(
    (method, scheme): (Method, Scheme),
    authority: &str,
    path_and_query: &str,
    assumed: Assumed,
) -> Result<ForwardedRequest, TargetError> {
    let host_port = canonical::host_port(authority)?;
    let path_end = position_of_any(path_and_query, b"?#").unwrap_or(path_and_query.len());
    let mut path = canonical::path(&path_and_query[..path_end])?;
    if path_and_query[path_end..].starts_with('#') {
        path.ambiguity = path.ambiguity.or(Some(Ambiguity::Fragment));
    }
    Ok(ForwardedRequest {
        method,
        scheme,
        host: host_port.host,
        port: host_port.port,
        path,
        raw_authority: authority.to_owned(),
        raw_path_and_query: path_and_query.to_owned(),
        assumed,
    })
}

fn from_forwarded_set(sent: &Sent<'_>) -> Result<ForwardedRequest, TargetError> {
    let scheme = Scheme::parse(
        required(sent.forwarded_proto, X_FORWARDED_PROTO)?,
        X_FORWARDED_PROTO,
    )?;
    // Chains of proxies may list several hosts; the first is what the client asked for.
    let host = first_entry(required(sent.forwarded_host, X_FORWARDED_HOST)?);
    let uri = text(sent.forwarded_uri, X_FORWARDED_URI)?
        .map(str::trim_ascii)
        .filter(|uri| !uri.is_empty());
    let method = method_header(sent.forwarded_method, X_FORWARDED_METHOD)?;
    let assumed = Assumed {
        path: uri.is_none(),
        method: method.is_none(),
    };
    let method = method.unwrap_or(Method::GET);
    build((method, scheme), host, uri.unwrap_or("/"), assumed)
}

fn from_original_url(sent: &Sent<'_>, url: &str) -> Result<ForwardedRequest, TargetError> {
    // Exactly `http://` or `https://` (any case) first: nothing before the scheme, nothing
    // between it and the authority.
    let (scheme, rest) = url
        .trim_ascii()
        .split_once(':')
        .ok_or(TargetError::BadOriginalUrl)?;
    let rest = rest.strip_prefix("//").ok_or(TargetError::BadOriginalUrl)?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return Err(TargetError::BadOriginalUrl);
    };
    let split_at = position_of_any(rest, b"/?#").unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(split_at);
    if authority.contains('@') {
        return Err(TargetError::BadOriginalUrl);
    }
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query.to_owned()
    } else {
        format!("/{path_and_query}")
    };
    let method = match method_header(sent.original_method, X_ORIGINAL_METHOD)? {
        Some(method) => Some(method),
        None => method_header(sent.forwarded_method, X_FORWARDED_METHOD)?,
    };
    let assumed = Assumed {
        path: false,
        method: method.is_none(),
    };
    let method = method.unwrap_or(Method::GET);
    build((method, scheme), authority, &path_and_query, assumed)
}

fn from_envoy(sent: &Sent<'_>, own: &OwnRequest<'_>) -> Result<ForwardedRequest, TargetError> {
    let scheme = match text(sent.forwarded_proto, X_FORWARDED_PROTO)? {
        Some(proto) => Scheme::parse(proto, X_FORWARDED_PROTO)?,
        None => Scheme::Http,
    };
    let host = match text(sent.host, HOST)?
        .map(str::trim_ascii)
        .filter(|host| !host.is_empty())
    {
        Some(host) => host,
        None => own.authority.ok_or(TargetError::Missing(HOST))?,
    };
    let method = method_header(sent.forwarded_method, X_FORWARDED_METHOD)?
        .unwrap_or_else(|| own.method.clone());
    let path_and_query = match own.envoy_path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    // Envoy's own request carries the original method and path: nothing is assumed.
    build((method, scheme), host, &path_and_query, Assumed::default())
}

/// Where the first of `bytes` (ASCII) is in `text`. A byte search: an ASCII byte never occurs
/// inside a multi-byte character, so the index is a character boundary, and the check path is
/// spared the character decoding of a `[char]` pattern (docs/performance.md).
fn position_of_any(text: &str, bytes: &[u8]) -> Option<usize> {
    text.bytes().position(|byte| bytes.contains(&byte))
}

#[cfg(test)]
mod tests;
