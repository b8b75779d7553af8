//! Access rules per app: who may reach what. Decided here, in the pure core, on the canonical
//! host and path, in two phases: what needs no session (IP rules, `bypass`/`deny` policies,
//! public paths, methods) before the store is read, so a bypassed request costs no store
//! read; then what needs the signed-in user (users, groups, second factor).

mod build;
mod hosts;

use std::net::IpAddr;

pub use build::{RawAccess, RawApp, RawBasicAuth, build};
use hosts::HostIndex;
use http::{HeaderName, HeaderValue, Method};
use ipnet::IpNet;
use regex::RegexSet;

use crate::forwarded::ForwardedRequest;
use crate::session::AuthLevel;

/// Authelia's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No sign-in needed.
    Bypass,
    /// Signed in with a password (or an external provider).
    OneFactor,
    /// Signed in with a second factor too.
    TwoFactor,
    /// Nobody.
    Deny,
}

impl Policy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "bypass" => Some(Self::Bypass),
            "one_factor" => Some(Self::OneFactor),
            "two_factor" => Some(Self::TwoFactor),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::OneFactor => "one_factor",
            Self::TwoFactor => "two_factor",
            Self::Deny => "deny",
        }
    }
}

/// One `[[apps]]` table, compiled.
#[derive(Debug, Clone)]
pub struct App {
    /// Shown on `/unauthorized`; the host pattern when no `name` is given.
    pub name: String,
    pub host: String,
    /// `None`: the app abstains and `[access] default_policy` decides.
    pub policy: Option<Policy>,
    pub allow_users: Vec<String>,
    pub deny_users: Vec<String>,
    pub allow_groups: Vec<String>,
    pub allow_ips: Vec<IpNet>,
    pub deny_ips: Vec<IpNet>,
    pub bypass_ips: Vec<IpNet>,
    /// Anchored: each pattern must match the whole canonical path.
    pub public_paths: Option<RegexSet>,
    pub methods: Vec<Method>,
    /// Extra response headers for the upstream (including `upstream_basic_auth`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `identity_token`: `None` follows `[identity_token]` (on when its header is set).
    pub identity_token: Option<bool>,
}

/// All the rules, with the host index built once.
#[derive(Debug, Clone)]
pub struct AccessRules {
    apps: Vec<App>,
    index: HostIndex,
    /// `[access] default_policy`: `allow` (= one_factor, any user) or `deny`.
    default_allows: bool,
}

/// Why a request is refused. The codes go into `/unauthorized?reason=`; none of them names
/// another rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The app (or the default policy) refuses everyone.
    Denied,
    /// The client's network may not reach the app.
    Network,
    /// This user may not reach the app.
    User,
    /// The app needs a second factor this session does not have.
    SecondFactor,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Network => "network",
            Self::User => "user",
            Self::SecondFactor => "second_factor",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Denied, Self::Network, Self::User, Self::SecondFactor]
            .into_iter()
            .find(|reason| reason.code() == code)
    }
}

/// The first phase's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Let it through without a session.
    Bypass,
    /// Refuse, whoever it is.
    Refuse(Reason),
    /// A session is needed; then `AccessRules::admit` decides.
    NeedsSession,
}

/// Who is asking, for the second phase.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub level: AuthLevel,
    /// The OAuth provider the user signed in with, if they are a provider's user: their
    /// groups then match only rules that name them `<provider>:<group>`, so a group someone
    /// can create at a provider never passes for a local group of the same name.
    pub provider: Option<&'a str>,
}

/// Receives each rule's verdict; `postern explain` prints them, the check path ignores them.
pub trait Trace {
    fn rule(&mut self, rule: &str, verdict: &str);
}

/// The check path's tracer: does nothing, costs nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    fn rule(&mut self, _rule: &str, _verdict: &str) {}
}

impl Subject<'_> {
    /// Whether `allow_users` and `allow_groups` (of an app or an OpenID client) let the
    /// subject in: both empty, the name listed, or a group it holds listed.
    pub fn is_listed(&self, users: &[String], groups: &[String]) -> bool {
        users.is_empty() && groups.is_empty()
            || users.iter().any(|listed| self.is_named(listed))
            || groups.iter().any(|listed| self.holds(listed))
    }

    /// Whether `listed` names the subject: user names match without regard to case, as the
    /// user table looks them up (`str::to_lowercase`, so `Émile` is `émile` and `ΟΔΥΣΣΕΥΣ`
    /// is `οδυσσευς`, final sigma and all). ASCII names, the usual ones, are compared without
    /// a copy.
    fn is_named(&self, listed: &str) -> bool {
        if listed.is_ascii() && self.user.is_ascii() {
            return listed.eq_ignore_ascii_case(self.user);
        }
        listed.to_lowercase() == self.user.to_lowercase()
    }

    fn holds(&self, rule_group: &str) -> bool {
        match self.provider {
            None => self.groups.iter().any(|group| group == rule_group),
            Some(provider) => rule_group
                .strip_prefix(provider)
                .and_then(|rest| rest.strip_prefix(PROVIDER_GROUP_SEPARATOR))
                .is_some_and(|name| self.groups.iter().any(|group| group == name)),
        }
    }
}

const PROVIDER_GROUP_SEPARATOR: char = ':';

/// A provider's user's groups under the names postern gives them outside the provider:
/// `<provider id>:<group>`, as app and client rules list them (`Subject::holds`) and as the
/// tokens postern signs carry them (ID tokens, userinfo, the identity token). A relying party
/// that maps `groups` to roles then never reads a group someone can create upstream (a GitHub
/// organisation named `admins`) as the local group of that name. `Remote-Groups` keeps the
/// provider's names as they are (docs/oauth.md).
pub fn provider_groups(provider: &str, groups: &[String]) -> Vec<String> {
    groups
        .iter()
        .map(|group| format!("{provider}{PROVIDER_GROUP_SEPARATOR}{group}"))
        .collect()
}

impl AccessRules {
    /// No apps, `default_policy = "allow"`: every signed-in user reaches every host.
    pub fn allow_all() -> Self {
        Self {
            apps: Vec::new(),
            index: HostIndex::default(),
            default_allows: true,
        }
    }

    /// The most specific app for a canonical host (port ignored).
    pub fn app_for(&self, host: &str) -> Option<&App> {
        self.index.find(host).and_then(|index| self.apps.get(index))
    }

    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// Phase one: what can be decided without a session.
    pub fn gate(
        &self,
        app: Option<&App>,
        target: &ForwardedRequest,
        client: IpAddr,
        trace: &mut impl Trace,
    ) -> Gate {
        let Some(app) = app else {
            let verdict = if self.default_allows {
                Gate::NeedsSession
            } else {
                Gate::Refuse(Reason::Denied)
            };
            trace.rule(
                "default_policy",
                if self.default_allows {
                    "allow: sign-in needed"
                } else {
                    "deny"
                },
            );
            return verdict;
        };
        if !app.deny_ips.is_empty() {
            if contains(&app.deny_ips, client) {
                trace.rule("deny_ips", "client matches: refuse");
                return Gate::Refuse(Reason::Network);
            }
            trace.rule("deny_ips", "client does not match");
        }
        if !app.bypass_ips.is_empty() {
            if contains(&app.bypass_ips, client) {
                trace.rule("bypass_ips", "client matches: no sign-in needed");
                return Gate::Bypass;
            }
            trace.rule("bypass_ips", "client does not match");
        }
        if !app.allow_ips.is_empty() {
            if !contains(&app.allow_ips, client) {
                trace.rule("allow_ips", "client is not listed: refuse");
                return Gate::Refuse(Reason::Network);
            }
            trace.rule("allow_ips", "client is listed");
        }
        match app.policy {
            Some(Policy::Deny) => {
                trace.rule("policy", "deny");
                return Gate::Refuse(Reason::Denied);
            }
            Some(Policy::Bypass) if target.host_ends_with_a_dot() => {
                trace.rule(
                    "policy",
                    "bypass, but the host ends with a dot: sign-in needed",
                );
                return Gate::NeedsSession;
            }
            Some(Policy::Bypass) => {
                trace.rule("policy", "bypass: no sign-in needed");
                return Gate::Bypass;
            }
            Some(policy) => trace.rule("policy", policy.name()),
            None if self.default_allows => {
                trace.rule("policy", "not set: default_policy allow (one_factor)");
            }
            None => {
                trace.rule("policy", "not set: default_policy deny");
                return Gate::Refuse(Reason::Denied);
            }
        }
        let grants = app.public_paths.is_some() || !app.methods.is_empty();
        if grants && target.host_ends_with_a_dot() {
            // Nothing below lets anyone through to another name than the one routed.
            trace.rule("public_paths", "the host ends with a dot: never public");
            return Gate::NeedsSession;
        }
        if let Some(set) = &app.public_paths {
            // A path that other servers read differently is never public (canonical.rs), nor
            // the `/` that stands in for one the proxy did not send.
            if target.assumed.path {
                trace.rule("public_paths", "the proxy sent no path: never public");
            } else if let Some(ambiguity) = target.path.ambiguity {
                trace.rule(
                    "public_paths",
                    &format!("path has {}: never public", ambiguity.describe()),
                );
            } else if set.is_match(&target.path.path) {
                trace.rule("public_paths", "path matches: no sign-in needed");
                return Gate::Bypass;
            } else {
                trace.rule("public_paths", "path does not match");
            }
        }
        if !app.methods.is_empty() {
            if target.assumed.method {
                trace.rule("methods", "the proxy sent no method: never exempt");
            } else if app.methods.contains(&target.method) {
                trace.rule("methods", "method is listed: no sign-in needed");
                return Gate::Bypass;
            }
            trace.rule("methods", "method is not listed");
        }
        Gate::NeedsSession
    }

    /// Phase two: may this signed-in subject pass?
    pub fn admit(
        &self,
        app: Option<&App>,
        subject: Subject<'_>,
        trace: &mut impl Trace,
    ) -> Result<(), Reason> {
        let Some(app) = app else {
            trace.rule("default_policy", "allow: any signed-in user");
            return Ok(());
        };
        let is = |listed: &String| subject.is_named(listed);
        if !app.deny_users.is_empty() {
            if app.deny_users.iter().any(is) {
                trace.rule("deny_users", "user is listed: refuse");
                return Err(Reason::User);
            }
            trace.rule("deny_users", "user is not listed");
        }
        if !app.allow_users.is_empty() || !app.allow_groups.is_empty() {
            let by_user = app.allow_users.iter().any(is);
            let by_group = app.allow_groups.iter().any(|group| subject.holds(group));
            if !by_user && !by_group {
                trace.rule("allow_users/allow_groups", "user is in neither: refuse");
                return Err(Reason::User);
            }
            trace.rule(
                "allow_users/allow_groups",
                if by_user {
                    "user is listed"
                } else {
                    "a group is listed"
                },
            );
        }
        if app.policy == Some(Policy::TwoFactor) {
            if subject.level != AuthLevel::TwoFactor {
                trace.rule("policy two_factor", "this session has one factor: refuse");
                return Err(Reason::SecondFactor);
            }
            trace.rule("policy two_factor", "this session has a second factor");
        }
        Ok(())
    }
}

impl AccessRules {
    /// The `two_factor` apps `subject` may reach (with a second factor): while there is one,
    /// the user must keep a second factor, so the account page never lets them remove the
    /// last. `subject.level` is not read.
    pub fn two_factor_apps_for(&self, subject: Subject<'_>) -> Vec<&str> {
        let subject = Subject {
            level: AuthLevel::TwoFactor,
            ..subject
        };
        self.apps
            .iter()
            .filter(|app| app.policy == Some(Policy::TwoFactor))
            .filter(|app| self.admit(Some(app), subject, &mut NoTrace).is_ok())
            .map(|app| app.name.as_str())
            .collect()
    }
}

fn contains(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    networks.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests;
