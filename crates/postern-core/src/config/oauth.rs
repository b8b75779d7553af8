//! `[oauth.<id>]` tables to `OAuthProvider`s: presets for `github` and `google`, discovery for
//! any other id, and every problem reported (a provider nobody may use is one).

use std::collections::BTreeMap;
use std::path::PathBuf;

use url::Url;

use super::raw::RawOAuthProvider;
use crate::oauth::{AllowList, OAuthProvider, ProviderKind, is_safe_endpoint};
use crate::session::OWN_METHODS;

struct Preset {
    label: &'static str,
    kind: ProviderKind,
    issuer: Option<&'static str>,
    auth_url: Option<&'static str>,
    token_url: Option<&'static str>,
    userinfo_url: Option<&'static str>,
    jwks_url: Option<&'static str>,
    scopes: &'static [&'static str],
    groups_claim: Option<&'static str>,
}

const GITHUB: Preset = Preset {
    label: "GitHub",
    kind: ProviderKind::GitHub,
    issuer: None,
    auth_url: Some("https://github.com/login/oauth/authorize"),
    token_url: Some("https://github.com/login/oauth/access_token"),
    userinfo_url: Some("https://api.github.com/user"),
    jwks_url: None,
    scopes: &["read:user", "user:email"],
    groups_claim: None,
};

const GOOGLE: Preset = Preset {
    label: "Google",
    kind: ProviderKind::Google,
    issuer: Some("https://accounts.google.com"),
    auth_url: Some("https://accounts.google.com/o/oauth2/v2/auth"),
    token_url: Some("https://oauth2.googleapis.com/token"),
    userinfo_url: Some("https://openidconnect.googleapis.com/v1/userinfo"),
    jwks_url: Some("https://www.googleapis.com/oauth2/v3/certs"),
    scopes: &["openid", "email", "profile"],
    groups_claim: None,
};

const DISCOVERED: Preset = Preset {
    label: "",
    kind: ProviderKind::Oidc,
    issuer: None,
    auth_url: None,
    token_url: None,
    userinfo_url: None,
    jwks_url: None,
    scopes: &["openid", "email", "profile"],
    groups_claim: Some("groups"),
};

pub(super) fn providers(
    raw: BTreeMap<String, RawOAuthProvider>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Vec<OAuthProvider> {
    raw.into_iter()
        .filter_map(|(id, raw)| provider(id, raw, resolve, problems))
        .collect()
}

fn provider(
    id: String,
    raw: RawOAuthProvider,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<OAuthProvider> {
    let label = format!("[oauth.{id}]");
    let before = problems.len();
    let preset = match id.as_str() {
        "github" => &GITHUB,
        "google" => &GOOGLE,
        _ => &DISCOVERED,
    };
    if preset.kind == ProviderKind::GitHub && raw.issuer.is_some() {
        problems.push(format!(
            "{label}: GitHub is not an OpenID Connect provider; remove `issuer`"
        ));
    }
    if preset.kind == ProviderKind::Oidc && raw.issuer.is_none() {
        problems.push(format!(
            "{label}: `issuer` is required (the provider's URL, found by discovery), or name the table `github` or `google`"
        ));
    }
    let mut url = |key: &str, value: Option<String>, default: Option<&str>| {
        let text = value.or_else(|| default.map(str::to_owned))?;
        endpoint(&label, key, &text, problems)
    };
    let issuer = url("issuer", raw.issuer, preset.issuer);
    let auth_url = url("auth_url", raw.auth_url, preset.auth_url);
    let token_url = url("token_url", raw.token_url, preset.token_url);
    let userinfo_url = url("userinfo_url", raw.userinfo_url, preset.userinfo_url);
    let jwks_url = url("jwks_url", raw.jwks_url, preset.jwks_url);
    let client_id = raw.client_id.unwrap_or_default();
    if client_id.trim().is_empty() {
        problems.push(format!("{label}: `client_id` is required"));
    }
    let client_secret = client_secret(
        &label,
        raw.client_secret,
        raw.client_secret_file,
        resolve,
        problems,
    );
    let scopes = raw
        .scopes
        .unwrap_or_else(|| preset.scopes.iter().map(|s| (*s).to_owned()).collect());
    if preset.kind.is_oidc() && !scopes.iter().any(|scope| scope == "openid") {
        problems.push(format!(
            "{label}: `scopes` must include \"openid\" for an OpenID Connect provider"
        ));
    }
    let allow = AllowList {
        emails: lower(raw.allowed_emails),
        domains: lower(raw.allowed_domains)
            .into_iter()
            .map(|domain| domain.trim_start_matches('@').to_owned())
            .collect(),
        groups: raw.allowed_groups,
        all: raw.allow_all,
    };
    if allow.is_empty() {
        problems.push(format!(
            "{label}: nobody may sign in: set `allowed_emails`, `allowed_domains` or `allowed_groups`, or `allow_all = true` to admit every account the provider has"
        ));
    }
    let label_text = raw.label.unwrap_or_else(|| match preset.label {
        "" => capitalized(&id),
        preset => preset.to_owned(),
    });
    if OWN_METHODS
        .iter()
        .any(|method| method.eq_ignore_ascii_case(label_text.trim()))
    {
        problems.push(format!(
            "{label}: `label` = {label_text:?} names one of postern's own ways in (a session keeps it as how the user signed in); choose another"
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(OAuthProvider {
        id,
        label: label_text,
        kind: preset.kind,
        client_id,
        client_secret: client_secret?,
        scopes,
        issuer,
        auth_url,
        token_url,
        userinfo_url,
        jwks_url,
        groups_claim: raw
            .groups_claim
            .or_else(|| preset.groups_claim.map(str::to_owned)),
        username_claim: raw.username_claim,
        allow,
        link_local_users: raw.link_local_users,
    })
}

/// An endpoint URL: https, or http on a loopback host (local providers and tests).
fn endpoint(label: &str, key: &str, text: &str, problems: &mut Vec<String>) -> Option<Url> {
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(err) => {
            problems.push(format!("{label}: `{key}` = {text:?} is not a URL ({err})"));
            return None;
        }
    };
    if !is_safe_endpoint(&url) {
        problems.push(format!(
            "{label}: `{key}` = {text:?} must be an https:// URL (http:// only on localhost)"
        ));
        return None;
    }
    Some(url)
}

fn client_secret(
    label: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<String> {
    let secret = match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{label}: set `client_secret` or `client_secret_file`, not both"
            ));
            return None;
        }
        (Some(secret), None) => secret,
        (None, Some(path)) => {
            let path = resolve(path);
            match std::fs::read_to_string(&path) {
                Ok(text) => text.trim_end_matches(['\n', '\r']).to_owned(),
                Err(err) => {
                    problems.push(format!(
                        "{label}: `client_secret_file` {}: {err}",
                        path.display()
                    ));
                    return None;
                }
            }
        }
        (None, None) => String::new(),
    };
    if secret.is_empty() {
        problems.push(format!(
            "{label}: `client_secret` (or `client_secret_file`) is required"
        ));
        return None;
    }
    Some(secret)
}

fn lower(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| item.trim().to_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

fn capitalized(id: &str) -> String {
    let mut chars = id.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
