//! `[[apps]]` and `[access]` from the config file to `AccessRules`, with every problem
//! reported: bad patterns, regexes that do not compile, rules that can never match, and hosts
//! claimed twice with the same specificity.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue, Method};
use ipnet::IpNet;
use regex::RegexSetBuilder;
use serde::Deserialize;

use super::hosts::HostIndex;
use super::{AccessRules, App, Policy};
use crate::canonical;
use crate::headers::ANSWER_OWN_HEADERS;
use crate::users::UserTable;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub name: Option<String>,
    #[serde(default)]
    pub host: String,
    pub policy: Option<String>,
    #[serde(default)]
    pub allow_users: Vec<String>,
    #[serde(default)]
    pub deny_users: Vec<String>,
    #[serde(default)]
    pub allow_groups: Vec<String>,
    #[serde(default)]
    pub allow_ips: Vec<String>,
    #[serde(default)]
    pub deny_ips: Vec<String>,
    #[serde(default)]
    pub bypass_ips: Vec<String>,
    #[serde(default)]
    pub public_paths: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    pub upstream_basic_auth: Option<RawBasicAuth>,
    /// Send this app the `[identity_token]` header (on by default once the header is set).
    pub identity_token: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    pub default_policy: Option<String>,
}

/// A public path pattern may be long, but not a denial of service in itself.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// `providers`: the ids of the `[oauth.<id>]` providers. Their users are not in `users`, and
/// their groups are named `<id>:<group>` in rules.
pub fn build(
    apps: Vec<RawApp>,
    access: &RawAccess,
    users: &UserTable,
    providers: &[&str],
    base_dir: Option<&Path>,
    problems: &mut Vec<String>,
) -> AccessRules {
    let default_allows = match access.default_policy.as_deref().unwrap_or("allow") {
        "allow" => true,
        "deny" => false,
        other => {
            problems.push(format!(
                "`access.default_policy` = {other:?} must be \"allow\" or \"deny\""
            ));
            true
        }
    };
    let known_groups: HashSet<&str> = users
        .iter()
        .flat_map(|user| user.groups.iter().map(String::as_str))
        .collect();
    let mut rules = AccessRules {
        apps: Vec::new(),
        index: HostIndex::default(),
        default_allows,
    };
    for (number, raw) in apps.into_iter().enumerate() {
        let label = format!(
            "[[apps]] #{} (`{}`)",
            number + 1,
            raw.name.as_deref().unwrap_or(&raw.host)
        );
        let before = problems.len();
        let app = compile(
            raw,
            &label,
            default_allows,
            Known {
                users,
                groups: &known_groups,
                providers,
            },
            base_dir,
            problems,
        );
        if problems.len() != before {
            continue;
        }
        let index = rules.apps.len();
        if let Some(other) = rules.index.insert(&app.host, index) {
            let other_name = rules.apps.get(other).map_or("", |app| app.name.as_str());
            problems.push(format!(
                "{label}: host `{}` is already claimed by `{other_name}` with the same specificity",
                app.host
            ));
            continue;
        }
        rules.apps.push(app);
    }
    rules
}

/// Who rules may name.
#[derive(Clone, Copy)]
struct Known<'a> {
    users: &'a UserTable,
    groups: &'a HashSet<&'a str>,
    providers: &'a [&'a str],
}

fn compile(
    raw: RawApp,
    label: &str,
    default_allows: bool,
    known: Known<'_>,
    base_dir: Option<&Path>,
    problems: &mut Vec<String>,
) -> App {
    let mut problem = |text: String| problems.push(format!("{label}: {text}"));
    let host = host_pattern(&raw.host).unwrap_or_else(|why| {
        problem(why);
        String::new()
    });
    let policy = raw.policy.as_deref().map(|text| {
        Policy::parse(text).unwrap_or_else(|| {
            problem(format!(
                "`policy` = {text:?} must be bypass, one_factor, two_factor or deny"
            ));
            Policy::Deny
        })
    });
    let has_subject_rules =
        !raw.allow_users.is_empty() || !raw.deny_users.is_empty() || !raw.allow_groups.is_empty();
    if policy == Some(Policy::Bypass) && has_subject_rules {
        problem("user and group rules can never apply to a `bypass` app (nobody signs in)".into());
    }
    if policy == Some(Policy::Deny)
        && (!raw.public_paths.is_empty()
            || !raw.methods.is_empty()
            || !raw.bypass_ips.is_empty()
            || has_subject_rules)
    {
        problem("a `deny` app refuses everyone: its other rules can never match".into());
    }
    if policy.is_none()
        && !default_allows
        && (has_subject_rules || !raw.public_paths.is_empty() || !raw.methods.is_empty())
    {
        problem(
            "no `policy`, so `access.default_policy = \"deny\"` refuses everyone: its user, \
             group, path and method rules can never match (set `policy = \"one_factor\"`)"
                .into(),
        );
    }
    // A provider's users are known only when they sign in: with providers, any name may be one.
    if known.providers.is_empty() {
        for name in raw.allow_users.iter().chain(&raw.deny_users) {
            if known.users.get(name).is_none() {
                problem(format!(
                    "user `{name}` does not exist: the rule can never match"
                ));
            }
        }
    }
    for group in &raw.allow_groups {
        let provider_group = group.split_once(':').is_some_and(|(provider, name)| {
            !name.is_empty() && known.providers.contains(&provider)
        });
        if !provider_group && !known.groups.contains(group.as_str()) {
            problem(format!(
                "no user is in group `{group}`, and it names no `<provider>:<group>`: the rule can never match"
            ));
        }
    }
    let mut networks = |key: &str, entries: &[String]| -> Vec<IpNet> {
        entries
            .iter()
            .filter_map(|entry| {
                match entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                {
                    Ok(net) => Some(unmapped(net.trunc())),
                    Err(_) => {
                        problem(format!(
                            "`{key}`: {entry:?} is not an IP address or CIDR network"
                        ));
                        None
                    }
                }
            })
            .collect()
    };
    let allow_ips = networks("allow_ips", &raw.allow_ips);
    let deny_ips = networks("deny_ips", &raw.deny_ips);
    let bypass_ips = networks("bypass_ips", &raw.bypass_ips);
    let public_paths = public_paths(&raw.public_paths, &mut problem);
    let methods = raw
        .methods
        .iter()
        .filter_map(
            |text| match Method::from_bytes(text.trim().to_uppercase().as_bytes()) {
                Ok(method) => Some(method),
                Err(_) => {
                    problem(format!("`methods`: {text:?} is not an HTTP method"));
                    None
                }
            },
        )
        .collect();
    let mut headers = extra_headers(&raw.headers, &mut problem);
    if let Some(basic) = &raw.upstream_basic_auth
        && let Some(header) = basic_auth(basic, base_dir, &mut problem)
    {
        headers.push(header);
    }
    App {
        name: raw.name.clone().unwrap_or_else(|| raw.host.clone()),
        host,
        policy,
        allow_users: raw.allow_users,
        deny_users: raw.deny_users,
        allow_groups: raw.allow_groups,
        allow_ips,
        deny_ips,
        bypass_ips,
        public_paths,
        methods,
        headers,
        identity_token: raw.identity_token,
    }
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: clients are compared as IPv4 once unmapped, so a
/// mapped network must be too, or it would never match anyone.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

/// `grafana.example.com` or `*.dev.example.com`, canonical like request hosts; no port.
fn host_pattern(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("`host` is required".into());
    }
    let (wildcard, name) = match raw.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if name.contains(':') && !name.starts_with('[') {
        return Err(format!(
            "`host` = {raw:?}: leave the port out (rules ignore it)"
        ));
    }
    if name.contains('*') {
        return Err(format!("`host` = {raw:?}: only a leading `*.` is allowed"));
    }
    let canonical =
        canonical::host_name(name).map_err(|_| format!("`host` = {raw:?} is not a host name"))?;
    Ok(if wildcard {
        format!("*.{canonical}")
    } else {
        canonical
    })
}

fn public_paths(patterns: &[String], problem: &mut impl FnMut(String)) -> Option<regex::RegexSet> {
    if patterns.is_empty() {
        return None;
    }
    // Anchored, so `/public` cannot match `/admin?x=/public` or `/x/public`.
    let anchored: Vec<String> = patterns
        .iter()
        .map(|pattern| format!("^(?:{pattern})$"))
        .collect();
    match RegexSetBuilder::new(&anchored)
        .size_limit(MAX_REGEX_BYTES)
        .build()
    {
        Ok(set) => Some(set),
        Err(_) => {
            for pattern in patterns {
                if let Err(err) = regex::Regex::new(pattern) {
                    problem(format!(
                        "`public_paths`: {pattern:?} does not compile: {err}"
                    ));
                }
            }
            problem("`public_paths` could not be compiled".into());
            None
        }
    }
}

fn extra_headers(
    raw: &HashMap<String, String>,
    problem: &mut impl FnMut(String),
) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in raw {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .ok()
            .zip(HeaderValue::from_str(value).ok());
        match parsed {
            Some((name, _)) if ANSWER_OWN_HEADERS.contains(&name.as_str()) => problem(format!(
                "`headers`: `{name}` is set by postern or the proxy, not by a rule"
            )),
            Some(header) => headers.push(header),
            None => problem(format!(
                "`headers`: {name:?} is not a valid header name and value"
            )),
        }
    }
    headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    headers
}

fn basic_auth(
    raw: &RawBasicAuth,
    base_dir: Option<&Path>,
    problem: &mut impl FnMut(String),
) -> Option<(HeaderName, HeaderValue)> {
    if raw.username.is_empty() || raw.username.contains(':') {
        problem("`upstream_basic_auth.username` is required and may not contain ':'".into());
        return None;
    }
    let path = match base_dir {
        Some(dir) if raw.password_file.is_relative() => dir.join(&raw.password_file),
        _ => raw.password_file.clone(),
    };
    let password = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim_end_matches(['\n', '\r']).to_owned(),
        Err(err) => {
            problem(format!(
                "`upstream_basic_auth.password_file` {}: {err}",
                path.display()
            ));
            return None;
        }
    };
    let credentials = STANDARD.encode(format!("{}:{password}", raw.username));
    let mut value = HeaderValue::from_str(&format!("Basic {credentials}")).ok()?;
    value.set_sensitive(true);
    Some((http::header::AUTHORIZATION, value))
}
