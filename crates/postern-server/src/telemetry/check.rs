//! The check path's share: `postern_checks_total{proxy,outcome}` and
//! `postern_check_duration_seconds{proxy}`, every series resolved at start, and the
//! `[log] checks` line. A check with metrics and check logs off reads no clock.

use std::net::IpAddr;

use postern_core::access::App;
use postern_core::config::CheckLogging;
use postern_core::decision::Answer;
use postern_core::forwarded::{ForwardedRequest, ProxyKind};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::families;
use super::histogram::DurationHistogram;
use super::stamp::Stamp;

const PROXIES: [ProxyKind; 4] = [
    ProxyKind::Traefik,
    ProxyKind::Caddy,
    ProxyKind::Nginx,
    ProxyKind::Envoy,
];
const OUTCOMES: [&str; 5] = ["allowed", "login", "denied", "limited", "error"];

pub struct CheckMetrics {
    /// `[proxy][outcome]`, in the order of `PROXIES` and `OUTCOMES`.
    counts: [[Counter; OUTCOMES.len()]; PROXIES.len()],
    durations: [DurationHistogram; PROXIES.len()],
}

impl CheckMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let (counts, durations) = families::counted_and_timed(
            registry,
            (
                "postern_checks",
                "Forward-auth answers by proxy and outcome (allowed, login, denied, limited, error)",
            ),
            (
                "postern_check_duration_seconds",
                "Time to answer a forward-auth request, by proxy",
            ),
        );
        let counter = |proxy: ProxyKind, outcome: &'static str| {
            counts
                .get_or_create(&[("proxy", proxy.name()), ("outcome", outcome)])
                .clone()
        };
        Self {
            counts: PROXIES.map(|proxy| OUTCOMES.map(|outcome| counter(proxy, outcome))),
            durations: PROXIES
                .map(|proxy| durations.get_or_create(&[("proxy", proxy.name())]).clone()),
        }
    }

    fn record(&self, proxy: ProxyKind, outcome: usize, started: Stamp) {
        let proxy = proxy_index(proxy);
        if let Some(counter) = self.counts[proxy].get(outcome) {
            counter.inc();
        }
        self.durations[proxy].observe(started.elapsed());
    }
}

fn proxy_index(proxy: ProxyKind) -> usize {
    match proxy {
        ProxyKind::Traefik => 0,
        ProxyKind::Caddy => 1,
        ProxyKind::Nginx => 2,
        ProxyKind::Envoy => 3,
    }
}

/// When a check started, taken only when something will use it, and where it is counted and
/// logged: the metrics when they are on, and `[log] checks`.
pub struct CheckClock<'a> {
    started: Option<Stamp>,
    metrics: Option<&'a CheckMetrics>,
    log: CheckLogging,
}

impl<'a> CheckClock<'a> {
    pub fn start(metrics: Option<&'a CheckMetrics>, log: CheckLogging) -> Self {
        let wanted = metrics.is_some() || log != CheckLogging::None;
        Self {
            started: wanted.then(Stamp::now),
            metrics,
            log,
        }
    }

    /// A check that never got as far as a decision (no usable target): an `error`.
    pub fn unusable(&self, proxy: ProxyKind) {
        if let (Some(started), Some(metrics)) = (self.started, self.metrics) {
            metrics.record(proxy, ERROR, started);
        }
    }

    /// Counts and times `answer`, and logs it as `[log] checks` asks.
    pub fn answered(
        &self,
        proxy: ProxyKind,
        target: &ForwardedRequest,
        client: IpAddr,
        app: Option<&App>,
        answer: &Answer,
    ) {
        let Some(started) = self.started else { return };
        let (outcome, status, rule, user) = describe(answer);
        if let Some(metrics) = self.metrics {
            metrics.record(proxy, outcome, started);
        }
        let log = match self.log {
            CheckLogging::None => false,
            CheckLogging::Denied => outcome != ALLOWED,
            CheckLogging::All => true,
        };
        if log {
            tracing::info!(
                target: "check",
                proxy = proxy.name(),
                host = %target.host,
                path = target.path.path.as_str(),
                method = %target.method,
                client_ip = %client,
                user,
                outcome = OUTCOMES[outcome],
                status,
                rule,
                app = app.map_or("", |app| app.name.as_str()),
                duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            );
        }
    }
}

const ALLOWED: usize = 0;
const LOGIN: usize = 1;
const DENIED: usize = 2;
const LIMITED: usize = 3;
const ERROR: usize = 4;

/// The outcome (an index into `OUTCOMES`), the status, the rule that decided and the user.
fn describe(answer: &Answer) -> (usize, u16, &'static str, &str) {
    match answer {
        Answer::Allow(identity) if identity.user.is_empty() => (ALLOWED, 200, "bypass", ""),
        Answer::Allow(identity) => (ALLOWED, 200, "signed_in", identity.user.as_str()),
        Answer::RedirectToLogin { status } => (LOGIN, *status, "no_credentials", ""),
        Answer::Unauthorized { .. } => (LOGIN, 401, "no_credentials", ""),
        Answer::RedirectToUnauthorized { status, reason } => (DENIED, *status, reason.code(), ""),
        Answer::Forbidden { reason, .. } => (DENIED, 403, reason.code(), ""),
        Answer::TooManyRequests { .. } => (LIMITED, 429, "failed_logins", ""),
        Answer::Unavailable { .. } => (ERROR, 503, "store_unavailable", ""),
    }
}
