//! `[oidc]`, `[[oidc.clients]]` and `[identity_token]` to their validated forms. The keys are
//! read and parsed here, so `config check` finds a bad key file before `serve` would. There
//! is no provider without a configured key: postern never signs with a key it made up at
//! start, which would change at every restart and differ between replicas.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;
use url::{Host, Url};

use super::raw::{RawIdentityToken, RawOidc, RawOidcClient};
use crate::access::AccessRules;
use crate::headers::ANSWER_OWN_HEADERS;
use crate::oidc::keys::{SigningKey, SigningKeys};
use crate::oidc::{
    ConsentMode, IdentityTokenConfig, OidcClient, OidcConfig, SCOPES, TokenAuthMethod,
};
use crate::password::{HashKind, hash_kind};
use crate::users::UserTable;

const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "groups"];
const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);
const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(86_400);
const MAX_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(365 * 86_400);

/// Besides the answer's own (`headers::ANSWER_OWN_HEADERS`), headers the identity token may
/// not take: the request's credentials and host, which an upstream reads as the client's.
const REQUEST_HEADERS: &[&str] = &["authorization", "cookie", "host"];

/// What the OIDC clients' rules are checked against.
pub(super) struct Known<'a> {
    pub app_url: Option<&'a Url>,
    pub users: &'a UserTable,
    /// With upstream providers, any user name may be one of theirs.
    pub has_providers: bool,
}

pub(super) fn oidc(
    raw: Option<RawOidc>,
    known: &Known<'_>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<OidcConfig> {
    let raw = raw?;
    let keys = signing_keys(raw.signing_keys.unwrap_or_default(), resolve, problems);
    let issuer = issuer(raw.issuer.as_deref(), known.app_url, problems);
    let mut ids = HashSet::new();
    let require_pkce = raw.require_pkce.unwrap_or(true);
    let clients: Vec<OidcClient> = raw
        .clients
        .into_iter()
        .enumerate()
        .filter_map(|(number, raw)| {
            let label = format!("[[oidc.clients]] #{} (`{}`)", number + 1, raw.id);
            if !ids.insert(raw.id.clone()) {
                problems.push(format!("{label}: another client has the same `id`"));
            }
            client(raw, &label, keys.as_ref(), require_pkce, known, problems)
        })
        .collect();
    Some(OidcConfig {
        issuer: issuer?,
        keys: Arc::new(keys?),
        require_pkce,
        clients,
    })
}

fn signing_keys(
    paths: Vec<PathBuf>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<SigningKeys> {
    if paths.is_empty() {
        problems.push(
            "`[oidc]` needs `signing_keys`: the PEM files the provider signs with (make one with \
             `postern oidc generate-key --out /etc/postern/oidc-key.pem`). postern never signs \
             with a key of its own making, which would change at every restart"
                .into(),
        );
        return None;
    }
    let mut keys = Vec::new();
    let mut kids = HashSet::new();
    for path in paths.into_iter().map(resolve) {
        let loaded = std::fs::read(&path)
            .map_err(|err| err.to_string())
            .and_then(|text| SigningKey::from_pem(&text));
        match loaded {
            Ok(key) if !kids.insert(key.kid.clone()) => problems.push(format!(
                "`oidc.signing_keys`: {} is listed twice (the same key)",
                path.display()
            )),
            Ok(key) => keys.push(key),
            Err(why) => problems.push(format!("`oidc.signing_keys`: {}: {why}", path.display())),
        }
    }
    SigningKeys::new(keys)
}

/// `iss`: an origin, without the trailing slash (`https://auth.example.com`), since postern
/// serves discovery at the root of its host.
fn issuer(raw: Option<&str>, app_url: Option<&Url>, problems: &mut Vec<String>) -> Option<String> {
    let Some(raw) = raw else {
        return app_url.map(|url| url.as_str().trim_end_matches('/').to_owned());
    };
    let fine = Url::parse(raw).is_ok_and(|url| {
        matches!(url.scheme(), "https" | "http")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if !fine {
        problems.push(format!(
            "`oidc.issuer` = {raw:?} must be an https:// origin without a path, query or fragment (discovery is served at its root)"
        ));
        return None;
    }
    Some(raw.trim_end_matches('/').to_owned())
}

/// `require_pkce`: `[oidc] require_pkce`, the default of the client's own.
fn client(
    raw: RawOidcClient,
    label: &str,
    keys: Option<&SigningKeys>,
    require_pkce: bool,
    known: &Known<'_>,
    problems: &mut Vec<String>,
) -> Option<OidcClient> {
    let before = problems.len();
    let mut problem = |text: String| problems.push(format!("{label}: {text}"));
    let id_ok = !raw.id.is_empty()
        && raw.id.len() <= 128
        && raw
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !id_ok {
        problem("`id` must be 1 to 128 letters, digits, '-', '.', '_' or '~'".into());
    }
    match (&raw.secret_hash, raw.public) {
        (Some(_), true) => problem("a `public` client has no `secret_hash`".into()),
        (None, false) => problem(
            "set `secret_hash` (argon2id; `postern hash-password` makes one) or `public = true`"
                .into(),
        ),
        (Some(hash), false) => match hash_kind(hash) {
            Ok(HashKind::Argon2) if hash.starts_with("$argon2id$") => {}
            Ok(_) => problem("`secret_hash` must be an argon2id hash".into()),
            Err(why) => problem(format!("`secret_hash`: {why}")),
        },
        (None, true) => {}
    }
    let default_method = if raw.public {
        TokenAuthMethod::None
    } else {
        TokenAuthMethod::ClientSecretBasic
    };
    let auth_method = match raw.token_endpoint_auth_method.as_deref() {
        None => default_method,
        Some(text) => TokenAuthMethod::parse(text).unwrap_or_else(|| {
            problem(format!(
                "`token_endpoint_auth_method` = {text:?} must be client_secret_basic, client_secret_post or none"
            ));
            default_method
        }),
    };
    if raw.public != (auth_method == TokenAuthMethod::None) {
        problem(
            "`token_endpoint_auth_method = \"none\"` goes with `public = true`, and only with it"
                .into(),
        );
    }
    if raw.redirect_uris.is_empty() {
        problem("`redirect_uris` needs at least one URL".into());
    }
    for (key, uris) in [
        ("redirect_uris", &raw.redirect_uris),
        ("post_logout_redirect_uris", &raw.post_logout_redirect_uris),
    ] {
        for uri in uris {
            if let Err(why) = redirect_uri(uri, known.app_url) {
                problem(format!("`{key}`: {uri:?} {why}"));
            }
        }
    }
    let scopes = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    for scope in scopes
        .iter()
        .filter(|scope| !SCOPES.contains(&scope.as_str()))
    {
        problem(format!(
            "`scopes`: {scope:?} is not one of {}",
            SCOPES.join(", ")
        ));
    }
    if !scopes.iter().any(|scope| scope == "openid") {
        problem("`scopes` must include \"openid\"".into());
    }
    let consent = match raw.consent.as_deref() {
        None | Some("explicit") => ConsentMode::Explicit,
        Some("implicit") => ConsentMode::Implicit,
        Some(other) => {
            problem(format!(
                "`consent` = {other:?} must be \"explicit\" or \"implicit\""
            ));
            ConsentMode::Explicit
        }
    };
    let access_token_ttl = raw
        .access_token_ttl
        .map_or(DEFAULT_ACCESS_TOKEN_TTL, |d| d.0);
    let refresh_token_ttl = raw
        .refresh_token_ttl
        .map_or(DEFAULT_REFRESH_TOKEN_TTL, |d| d.0);
    if access_token_ttl < Duration::from_secs(60) || access_token_ttl > MAX_ACCESS_TOKEN_TTL {
        problem("`access_token_ttl` must be between 1m and 24h".into());
    }
    if refresh_token_ttl < access_token_ttl || refresh_token_ttl > MAX_REFRESH_TOKEN_TTL {
        problem("`refresh_token_ttl` must be between `access_token_ttl` and 365d".into());
    }
    if !known.has_providers {
        for name in raw
            .allow_users
            .iter()
            .filter(|name| known.users.get(name).is_none())
        {
            problem(format!("`allow_users`: user `{name}` does not exist"));
        }
    }
    let id_token_algorithm = match raw.id_token_signed_response_alg.as_deref() {
        None | Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(other) => {
            problem(format!(
                "`id_token_signed_response_alg` = {other:?} must be \"RS256\" or \"ES256\""
            ));
            Algorithm::RS256
        }
    };
    if keys.is_some_and(|keys| keys.for_algorithm(id_token_algorithm).is_none()) {
        let kind = if id_token_algorithm == Algorithm::RS256 {
            "RSA key (`postern oidc generate-key --out /etc/postern/oidc-rsa.pem`)"
        } else {
            "P-256 key (`postern oidc generate-key --alg ES256 --out /etc/postern/oidc-es256.pem`)"
        };
        problem(format!(
            "ID tokens are signed with {id_token_algorithm:?}{}, but `oidc.signing_keys` has no {kind}; add one, or set `id_token_signed_response_alg` to the other algorithm",
            if raw.id_token_signed_response_alg.is_none() {
                " (the default)"
            } else {
                ""
            }
        ));
    }
    // A public client's code is bound to nothing else: without PKCE anyone who sees the code
    // on its way back could redeem it.
    if raw.public && raw.require_pkce == Some(false) {
        problem("a `public` client always needs PKCE: remove `require_pkce = false`".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(OidcClient {
        id: raw.id,
        secret_hash: raw.secret_hash,
        redirect_uris: raw.redirect_uris,
        post_logout_redirect_uris: raw.post_logout_redirect_uris,
        scopes,
        auth_method,
        consent,
        access_token_ttl,
        refresh_token_ttl,
        allow_users: raw.allow_users,
        allow_groups: raw.allow_groups,
        two_factor: raw.two_factor,
        id_token_algorithm,
        require_pkce: raw.public || raw.require_pkce.unwrap_or(require_pkce),
    })
}

/// A registered redirect URI: absolute, without a fragment (RFC 6749 3.1.2), and https, or
/// http on a loopback host or when postern itself is on http (a test or a LAN set-up).
fn redirect_uri(uri: &str, app_url: Option<&Url>) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let postern_on_http = app_url.is_some_and(|url| url.scheme() == "http");
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback || postern_on_http => Ok(()),
        "http" => Err("must be https:// (http:// only on a loopback host)"),
        _ => Err("must be an https:// URL"),
    }
}

/// `[identity_token] header`, checked against the apps that ask for it and the keys that
/// would sign it.
pub(super) fn identity_token(
    raw: RawIdentityToken,
    oidc: Option<&OidcConfig>,
    oidc_configured: bool,
    access: &AccessRules,
    problems: &mut Vec<String>,
) -> Option<IdentityTokenConfig> {
    let header = match raw.header.as_deref().map(str::trim) {
        None => {
            for app in access
                .apps()
                .iter()
                .filter(|app| app.identity_token == Some(true))
            {
                problems.push(format!(
                    "app `{}` asks for `identity_token`, but `[identity_token] header` is not set",
                    app.name
                ));
            }
            return None;
        }
        Some(text) => text,
    };
    let name = match HeaderName::from_bytes(header.as_bytes()) {
        Ok(name)
            if !ANSWER_OWN_HEADERS.contains(&name.as_str())
                && !REQUEST_HEADERS.contains(&name.as_str()) =>
        {
            name
        }
        _ => {
            problems.push(format!(
                "`identity_token.header` = {header:?} must be a header name of its own, such as \"Remote-Jwt\""
            ));
            return None;
        }
    };
    for app in access.apps() {
        if app.headers.iter().any(|(set, _)| *set == name) {
            problems.push(format!(
                "app `{}` sets `{name}` in `headers`, which `[identity_token]` fills",
                app.name
            ));
        }
    }
    if !oidc_configured {
        problems.push(
            "`[identity_token]` is signed with the provider's keys: set `[oidc] signing_keys`"
                .into(),
        );
    }
    oidc.map(|_| IdentityTokenConfig { header: name })
}

#[cfg(test)]
mod tests;
