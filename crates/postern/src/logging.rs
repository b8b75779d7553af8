//! Logs go to stderr, as text or JSON lines. `RUST_LOG` (if set) wins over `log.level`, for
//! one-off debugging of a single module. With metrics on, a second layer counts the audit
//! events (`postern_logins_total`, `postern_limited_total`) whatever the log filter keeps:
//! the audit event is the one record of a sign-in, and the metric is a count of it.
//!
//! The filter is a `Targets` list (`target=level,...,level`), not an `EnvFilter`: `RUST_LOG`'s
//! documented form is the same, and `EnvFilter` alone linked a regex DFA builder for span and
//! field directives postern never documented (docs/performance.md, "Binary size").

use std::io::IsTerminal;

use postern_core::config::{LogConfig, LogFormat};
use postern_server::telemetry::{AuditCounters, LimitKind, LoginMethod, LoginOutcome};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

pub fn init(log: &LogConfig, audit: Option<AuditCounters>) {
    let filter = || {
        std::env::var("RUST_LOG")
            .ok()
            .and_then(|directives| directives.parse::<Targets>().ok())
            .unwrap_or_else(|| {
                // The config's validation already refused any other word.
                let level = log.level.parse().unwrap_or(LevelFilter::INFO);
                Targets::new()
                    .with_default(level)
                    .with_target("hyper", Level::WARN)
                    .with_target("rustls", Level::WARN)
            })
    };
    // Colour only for a person at a terminal, never in files or journald.
    let ansi = std::io::stderr().is_terminal();
    let (text, json) = match log.format {
        LogFormat::Text => (
            Some(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .with_target(true),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr)
                    .with_target(true),
            ),
        ),
    };
    let counting = audit.map(|counters| {
        AuditCounting(counters).with_filter(Targets::new().with_target("audit", Level::INFO))
    });
    let result = tracing_subscriber::registry()
        .with(text.with_filter(filter()))
        .with(json.with_filter(filter()))
        .with(counting)
        .try_init();
    if let Err(err) = result {
        eprintln!("postern: logging is already set up: {err}");
    }
}

/// Counts sign-ins from the audit events docs/logging.md documents.
struct AuditCounting(AuditCounters);

impl<S: Subscriber> Layer<S> for AuditCounting {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = AuditFields::default();
        event.record(&mut fields);
        let counted = match (fields.event.as_deref(), fields.factor.as_deref()) {
            (Some("login.ok"), Some("totp")) => (LoginMethod::Totp, LoginOutcome::Ok),
            (Some("login.ok"), Some("oauth")) => (LoginMethod::Oauth, LoginOutcome::Ok),
            (Some("login.ok"), Some("passkey")) => (LoginMethod::Passkey, LoginOutcome::Ok),
            (Some("login.ok"), _) => (LoginMethod::Password, LoginOutcome::Ok),
            (Some("login.failed" | "basic.totp_user"), _) => {
                (LoginMethod::Password, LoginOutcome::Failed)
            }
            (Some("totp.failed"), _) => (LoginMethod::Totp, LoginOutcome::Failed),
            (Some("passkey.failed"), _) => (LoginMethod::Passkey, LoginOutcome::Failed),
            (Some("oauth.refused" | "oauth.failed" | "oauth.refused_by_provider"), _) => {
                (LoginMethod::Oauth, LoginOutcome::Failed)
            }
            (Some("token.issued"), _) => (LoginMethod::Token, LoginOutcome::Ok),
            (Some("login.limited"), _) => {
                self.0.limited(LimitKind::Login);
                (LoginMethod::Password, LoginOutcome::Limited)
            }
            _ => return,
        };
        self.0.login(counted.0, counted.1);
    }
}

#[derive(Default)]
struct AuditFields {
    event: Option<String>,
    factor: Option<String>,
}

impl Visit for AuditFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = Some(value.to_owned()),
            "factor" => self.factor = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}
