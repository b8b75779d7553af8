//! What postern tells an operator about itself: Prometheus metrics (`[metrics]`, served by
//! `endpoint.rs` on a listener of its own), one log line per check (`[log] checks`), and the
//! store outage summary. docs/metrics.md and docs/logging.md name every metric and field.
//!
//! The check path only touches handles resolved here once, at start (`CheckMetrics`,
//! `StoreMetrics`): an increment and a histogram observation, never a label lookup.

mod check;
mod endpoint;
mod families;
mod histogram;
mod outage;
mod process;
mod stamp;
mod store;

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use check::{CheckClock, CheckMetrics};
pub use endpoint::{MetricsListener, scrape_answer};
pub use stamp::calibrate as calibrate_clock;
pub use store::{MeteredStore, StoreGauges, StoreMetrics};

use self::families::{Label, Labels};
use self::process::ProcessCollector;

/// Bounded label values: the method of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    Password,
    Totp,
    Oauth,
    Token,
    Passkey,
}

impl LoginMethod {
    pub fn label(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::Oauth => "oauth",
            Self::Token => "token",
            Self::Passkey => "passkey",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    Failed,
    Limited,
}

impl LoginOutcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Limited => "limited",
        }
    }
}

/// What a refusal for too many attempts was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The failed-login limits (per client IP, per account), on any sign-in path.
    Login,
    /// The per-client token bucket of the UI and API routes.
    Api,
}

/// Every metric postern exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub checks: CheckMetrics,
    pub store: Arc<StoreMetrics>,
    /// Counted from the audit events (the binary's logging layer holds a clone).
    pub audit: AuditCounters,
    reloads: Family<Label, Counter>,
}

/// `postern_logins_total` and `postern_limited_total`: cheap to clone (shared handles).
#[derive(Clone)]
pub struct AuditCounters {
    logins: Family<Labels, Counter>,
    limited: Family<Label, Counter>,
}

impl AuditCounters {
    pub fn login(&self, method: LoginMethod, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&[("method", method.label()), ("outcome", outcome.label())])
            .inc();
    }

    pub fn limited(&self, kind: LimitKind) {
        let kind = match kind {
            LimitKind::Login => "login",
            LimitKind::Api => "api",
        };
        self.limited.get_or_create(&[("kind", kind)]).inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let checks = CheckMetrics::register(&mut registry);
        let store = Arc::new(StoreMetrics::register(&mut registry));
        let logins = Family::<Labels, Counter>::default();
        registry.register(
            "postern_logins",
            "Sign-in attempts by method (password, totp, oauth, token) and outcome (ok, failed, limited)",
            logins.clone(),
        );
        let limited = Family::<Label, Counter>::default();
        registry.register(
            "postern_limited",
            "Requests refused for too many attempts, by kind (login: the failed-login limits; api: the UI and API rate limit)",
            limited.clone(),
        );
        let reloads = Family::<Label, Counter>::default();
        registry.register(
            "postern_config_reloads",
            "Reloads of the access rules and users (SIGHUP or a changed file), by result (ok, error)",
            reloads.clone(),
        );
        let build_info = Family::<Label, Gauge>::default();
        build_info
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "postern_build_info",
            "Always 1; the label says which postern version runs",
            build_info,
        );
        registry.register_collector(Box::new(ProcessCollector));
        // Start every series at zero, so a dashboard's rate() has a first point.
        for method in [
            LoginMethod::Password,
            LoginMethod::Totp,
            LoginMethod::Oauth,
            LoginMethod::Token,
            LoginMethod::Passkey,
        ] {
            for outcome in [LoginOutcome::Ok, LoginOutcome::Failed] {
                logins
                    .get_or_create(&[("method", method.label()), ("outcome", outcome.label())])
                    .inc_by(0);
            }
        }
        for kind in ["login", "api"] {
            limited.get_or_create(&[("kind", kind)]).inc_by(0);
        }
        for result in ["ok", "error"] {
            reloads.get_or_create(&[("result", result)]).inc_by(0);
        }
        Self {
            registry,
            checks,
            store,
            audit: AuditCounters { logins, limited },
            reloads,
        }
    }

    /// The gauges read at scrape time from the state itself: sessions (memory store), the
    /// Redis client cache, password verifications in flight.
    pub(crate) fn watch(&mut self, gauges: StoreGauges) {
        self.registry.register_collector(Box::new(gauges));
    }

    pub fn config_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&[("result", result)]).inc();
    }

    /// The OpenMetrics text of every metric, as a scrape gets it.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(err) = encode(&mut text, &self.registry) {
            tracing::warn!(error = %err, "cannot encode the metrics");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
