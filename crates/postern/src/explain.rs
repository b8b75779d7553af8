//! `postern explain`: which app a URL matches, each rule's verdict, and the decision, exactly as
//! the check path would decide it (the same core functions, with a tracer that prints).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use postern_core::access::{Gate, Subject, Trace};
use postern_core::forwarded::{ForwardedRequest, OwnRequest, ProxyKind};
use postern_core::session::AuthLevel;

use crate::cli::ExplainArgs;
use crate::{EXIT_INVALID_CONFIG, EXIT_USAGE, config_file};

/// Writes each rule as the core reports it.
struct PrintTrace<'a>(&'a mut String);

impl Trace for PrintTrace<'_> {
    fn rule(&mut self, rule: &str, verdict: &str) {
        outln!(self.0, "  {rule:<26} {verdict}");
    }
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    let config = match config_file::load(args.config.config.as_deref(), &[]) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("postern: {problems}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let target = match target(&args.url, &args.method) {
        Ok(target) => target,
        Err(why) => return usage(&why),
    };
    // Without --ip the client is 0.0.0.0: inside no network but `0.0.0.0/0`.
    let client = match args.ip.as_deref().map(str::parse::<IpAddr>) {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(Ok(ip)) => ip,
        Some(Err(_)) => {
            return usage(&format!(
                "--ip {:?} is not an IP address",
                args.ip.as_deref().unwrap_or("")
            ));
        }
    };
    let user = match args.user.as_deref() {
        None => None,
        Some(name) => match config.users.get(name) {
            Some(user) => Some(user),
            None => return usage(&format!("--user {name:?} is not a configured user")),
        },
    };

    let rules = &config.access;
    let mut out = String::new();
    let app = rules.app_for(&target.host);
    outln!(out, "request:  {} {}", target.method, target.original_url());
    outln!(
        out,
        "          host {}, path {}",
        target.host,
        target.path.path
    );
    outln!(
        out,
        "client:   {client}{}",
        if args.ip.is_none() {
            " (no --ip given)"
        } else {
            ""
        }
    );
    match app {
        Some(app) => outln!(out, "app:      {} (host {})", app.name, app.host),
        None => outln!(
            out,
            "app:      none matches; `access.default_policy` decides"
        ),
    }
    outln!(out, "rules:");
    let decision = match rules.gate(app, &target, client, &mut PrintTrace(&mut out)) {
        Gate::Bypass => "allow without sign-in".to_owned(),
        Gate::Refuse(reason) => format!("refuse ({})", reason.code()),
        Gate::NeedsSession => match user {
            None => "sign-in needed (pass --user NAME to see whether a user may pass)".to_owned(),
            Some(user) => {
                let level = if args.second_factor {
                    AuthLevel::TwoFactor
                } else {
                    AuthLevel::OneFactor
                };
                let subject = Subject {
                    user: &user.name,
                    groups: &user.groups,
                    level,
                    provider: None,
                };
                match rules.admit(app, subject, &mut PrintTrace(&mut out)) {
                    Ok(()) => format!("allow {}", user.name),
                    Err(reason) => format!("refuse {} ({})", user.name, reason.code()),
                }
            }
        },
    };
    outln!(out, "decision: {decision}");
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

/// The URL as nginx would describe it, so it goes through the very parser the check path uses.
fn target(url: &str, method: &str) -> Result<ForwardedRequest, String> {
    let method = Method::from_bytes(method.trim().to_uppercase().as_bytes())
        .map_err(|_| format!("--method {method:?} is not an HTTP method"))?;
    let mut headers = HeaderMap::new();
    let value =
        |text: &str| HeaderValue::from_str(text).map_err(|_| format!("--url {url:?} is not a URL"));
    headers.insert(HeaderName::from_static("x-original-url"), value(url)?);
    headers.insert(
        HeaderName::from_static("x-original-method"),
        value(method.as_str())?,
    );
    let own = OwnRequest {
        method: &method,
        authority: None,
        envoy_path: "",
    };
    ForwardedRequest::from_headers(ProxyKind::Nginx, &headers, &own)
        .map_err(|err| format!("--url {url:?}: {err}"))
}

fn usage(why: &str) -> ExitCode {
    eprintln!("postern explain: {why}");
    ExitCode::from(EXIT_USAGE)
}
