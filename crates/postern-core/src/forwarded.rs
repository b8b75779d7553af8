//! The request a proxy asks about. Each proxy says it differently (ARCHITECTURE.md):
//! traefik and caddy send `X-Forwarded-{Proto,Host,Uri,Method}`; nginx sends `X-Original-URL`
//! (+ `X-Original-Method`), else the same X-Forwarded set; envoy sends the original `Host`,
//! `X-Forwarded-Proto`, and the original path appended to `/api/auth/envoy`.

use http::{HeaderMap, HeaderName, Method};

use crate::canonical::{self, Ambiguity, CanonicalError, CanonicalPath};

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
    pub fn from_headers(
        kind: ProxyKind,
        headers: &HeaderMap,
        own: &OwnRequest<'_>,
    ) -> Result<Self, TargetError> {
        match kind {
            ProxyKind::Traefik | ProxyKind::Caddy => from_forwarded_set(headers),
            ProxyKind::Nginx => match text(headers, &X_ORIGINAL_URL)? {
                Some(url) => from_original_url(headers, url),
                None => from_forwarded_set(headers),
            },
            ProxyKind::Envoy => from_envoy(headers, own),
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

/// A header the target is read from: its name, looked up as is (a lookup by `&str` parses the
/// name again on every request), and how an error spells it.
struct Named {
    name: HeaderName,
    label: &'static str,
}

const fn named(name: &'static str, label: &'static str) -> Named {
    Named {
        name: HeaderName::from_static(name),
        label,
    }
}

const X_FORWARDED_PROTO: Named = named("x-forwarded-proto", "X-Forwarded-Proto");
const X_FORWARDED_HOST: Named = named("x-forwarded-host", "X-Forwarded-Host");
const X_FORWARDED_URI: Named = named("x-forwarded-uri", "X-Forwarded-Uri");
const X_FORWARDED_METHOD: Named = named("x-forwarded-method", "X-Forwarded-Method");
const X_ORIGINAL_URL: Named = named("x-original-url", "X-Original-URL");
const X_ORIGINAL_METHOD: Named = named("x-original-method", "X-Original-Method");
const HOST: Named = named("host", "Host");

/// A header's value as text: visible ASCII, spaces and tabs (`to_str` refuses anything else),
/// which is why the target is trimmed and searched byte by byte (`trim_ascii`,
/// `position_of_any`).
fn text<'a>(headers: &'a HeaderMap, header: &Named) -> Result<Option<&'a str>, TargetError> {
    match headers.get(&header.name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| TargetError::NotText(header.label)),
    }
}

fn required<'a>(headers: &'a HeaderMap, header: &Named) -> Result<&'a str, TargetError> {
    match text(headers, header)?.map(str::trim_ascii) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(TargetError::Missing(header.label)),
    }
}

/// The first entry of a comma-separated list, trimmed.
fn first_entry(list: &str) -> &str {
    list.split_once(',')
        .map_or(list, |(first, _)| first)
        .trim_ascii()
}

/// Proxies always call the auth server with GET; the original method rides in a header.
fn method_header(headers: &HeaderMap, header: &Named) -> Result<Option<Method>, TargetError> {
    match text(headers, header)?.map(str::trim_ascii) {
        Some(value) if !value.is_empty() => Method::from_bytes(value.as_bytes())
            .map(Some)
            .map_err(|_| TargetError::BadMethod(header.label)),
        _ => Ok(None),
    }
}

fn build(
    method: Method,
    scheme: Scheme,
    authority: &str,
    path_and_query: &str,
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
    })
}

fn from_forwarded_set(headers: &HeaderMap) -> Result<ForwardedRequest, TargetError> {
    let scheme = Scheme::parse(
        required(headers, &X_FORWARDED_PROTO)?,
        X_FORWARDED_PROTO.label,
    )?;
    // Chains of proxies may list several hosts; the first is what the client asked for.
    let host = first_entry(required(headers, &X_FORWARDED_HOST)?);
    let uri = text(headers, &X_FORWARDED_URI)?
        .map(str::trim_ascii)
        .filter(|uri| !uri.is_empty());
    let method = method_header(headers, &X_FORWARDED_METHOD)?.unwrap_or(Method::GET);
    build(method, scheme, host, uri.unwrap_or("/"))
}

fn from_original_url(headers: &HeaderMap, url: &str) -> Result<ForwardedRequest, TargetError> {
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
    let method = match method_header(headers, &X_ORIGINAL_METHOD)? {
        Some(method) => method,
        None => method_header(headers, &X_FORWARDED_METHOD)?.unwrap_or(Method::GET),
    };
    build(method, scheme, authority, &path_and_query)
}

fn from_envoy(headers: &HeaderMap, own: &OwnRequest<'_>) -> Result<ForwardedRequest, TargetError> {
    let scheme = match text(headers, &X_FORWARDED_PROTO)? {
        Some(proto) => Scheme::parse(proto, X_FORWARDED_PROTO.label)?,
        None => Scheme::Http,
    };
    let host = match text(headers, &HOST)?
        .map(str::trim_ascii)
        .filter(|host| !host.is_empty())
    {
        Some(host) => host,
        None => own.authority.ok_or(TargetError::Missing(HOST.label))?,
    };
    let method = method_header(headers, &X_FORWARDED_METHOD)?.unwrap_or_else(|| own.method.clone());
    let path_and_query = match own.envoy_path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    build(method, scheme, host, &path_and_query)
}

/// Where the first of `bytes` (ASCII) is in `text`. A byte search: an ASCII byte never occurs
/// inside a multi-byte character, so the index is a character boundary, and the check path is
/// spared the character decoding of a `[char]` pattern (docs/performance.md).
fn position_of_any(text: &str, bytes: &[u8]) -> Option<usize> {
    text.bytes().position(|byte| bytes.contains(&byte))
}

#[cfg(test)]
mod tests;
