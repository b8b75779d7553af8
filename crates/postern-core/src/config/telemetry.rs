//! `[metrics]` and `[log] checks`: what postern tells an operator about itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::raw::RawMetrics;

/// `[metrics]`: the Prometheus endpoint, on a listener of its own. Off unless `listen` is set.
#[derive(Clone, Default)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
    /// The bearer token a scrape must send, read from `token_file` at start.
    pub token: Option<Vec<u8>>,
}

impl std::fmt::Debug for MetricsConfig {
    // Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `[log] checks`: which forward-auth answers get a log line of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckLogging {
    #[default]
    None,
    /// Everything but a 200: login redirects, 401, 403, 429, 503.
    Denied,
    All,
}

/// The shortest token a scrape may be asked for: anything shorter is guessable.
const MIN_TOKEN_BYTES: usize = 16;

pub(super) fn metrics(
    raw: RawMetrics,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> MetricsConfig {
    let listen = raw
        .listen
        .and_then(|text| match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                "`metrics.listen` = {text:?} is not an address such as 127.0.0.1:9464 or [::]:9464"
            ));
                None
            }
        });
    let token = raw.token_file.map(resolve).and_then(|path| {
        match std::fs::read_to_string(&path) {
            // Files written by `echo` end with a newline that is not part of the token.
            Ok(text) => {
                let token = text.trim_end_matches(['\n', '\r']);
                if token.len() < MIN_TOKEN_BYTES {
                    problems.push(format!(
                        "`metrics.token_file` {}: the token is {} bytes long; it must be at least {MIN_TOKEN_BYTES} (try `openssl rand -hex 32`)",
                        path.display(),
                        token.len()
                    ));
                }
                Some(token.as_bytes().to_vec())
            }
            Err(err) => {
                problems.push(format!("`metrics.token_file` {}: {err}", path.display()));
                None
            }
        }
    });
    MetricsConfig { listen, token }
}

pub(super) fn check_logging(raw: Option<&str>, problems: &mut Vec<String>) -> CheckLogging {
    match raw.unwrap_or("none") {
        "none" => CheckLogging::None,
        "denied" => CheckLogging::Denied,
        "all" => CheckLogging::All,
        other => {
            problems.push(format!(
                "`log.checks` = {other:?} must be \"none\", \"denied\" or \"all\""
            ));
            CheckLogging::None
        }
    }
}
