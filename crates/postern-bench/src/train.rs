//! `postern-bench --train DIR`: the training run of the profile-guided build
//! (`deploy/build-pgo`). It starts the `postern` next to this binary (built with
//! `-Cprofile-generate`) once per store and feature set, signs in through `POST /api/login`,
//! and sends each server the requests a deployment sends most: forward-auth checks as
//! traefik, nginx, caddy and envoy send them (a browser's headers plus the proxy's own), the
//! same without a session or with an unknown one, the login page, Basic and bearer checks, the
//! identity token and the OpenID code exchange. Each server writes its profile to DIR when it
//! exits (`LLVM_PROFILE_FILE`).
//!
//! Why every store and feature: LLVM optimises code the profile never saw as cold (laid out
//! apart, inlined less), so a path left out of the training would be slower in the shipped
//! build than in a plain one. The mix weights what every deployment runs (the cookie check)
//! over what some enable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_bench::{BENCH_USER, PASSWORD, StoreChoice, TARGET_HOST, config_toml};
use postern_testkit::{RedisServer, TempDir, free_port};

use crate::probe::{self, KeepAlive};
use crate::procs::{self, Proc};
use crate::scenarios::token_endpoint::{access_token, exchange_once, oidc_client_config, sign_in};

/// Keep-alive connections per server, as a proxy's pool would hold.
const CONNECTIONS: usize = 8;
/// Sessions signed in per server; the checks cycle through them.
const SESSIONS: usize = 8;
/// How long each server is trained by default: 70,000 to 160,000 requests a server here, far
/// more than a branch's ratio needs to settle. A longer training was not measured.
pub const SECONDS_PER_PHASE: u64 = 3;

/// One server of the training run: its store and the config it adds to the base.
struct Phase {
    name: &'static str,
    store: Store,
    /// Basic, bearer, identity token, metrics and the OpenID provider on.
    headless_and_oidc: bool,
}

enum Store {
    Memory,
    Embedded,
    Redis { client_cache: bool },
}

const PHASES: [Phase; 5] = [
    Phase {
        name: "memory",
        store: Store::Memory,
        headless_and_oidc: false,
    },
    Phase {
        name: "embedded",
        store: Store::Embedded,
        headless_and_oidc: false,
    },
    Phase {
        name: "redis",
        store: Store::Redis {
            client_cache: false,
        },
        headless_and_oidc: false,
    },
    Phase {
        name: "redis-client-cache",
        store: Store::Redis { client_cache: true },
        headless_and_oidc: false,
    },
    Phase {
        name: "headless-and-oidc",
        store: Store::Memory,
        headless_and_oidc: true,
    },
];

/// Trains `postern` for `each` per phase; the profiles land in `out`.
pub fn run(postern: &Path, out: &Path, each: Duration) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    let dir = TempDir::new("postern-train");
    for phase in &PHASES {
        let started = Instant::now();
        let before = profiles_in(&out)?;
        let sent = train_one(postern, &out, dir.path(), phase, each)
            .with_context(|| format!("training phase {}", phase.name))?;
        // A server killed after SIGTERM's grace, or not built with -Cprofile-generate, writes
        // nothing; a build on a partial profile would treat the rest as cold.
        if profiles_in(&out)? <= before {
            bail!(
                "training phase {}: {} wrote no profile to {} (built without -Cprofile-generate, or it did not exit on SIGTERM?)",
                phase.name,
                postern.display(),
                out.display()
            );
        }
        eprintln!(
            "postern-bench: trained {}: {sent} requests in {:.1} s",
            phase.name,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn profiles_in(dir: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "profraw"))
        .count())
}

/// Starts one server, sends it the phase's mix for `each`, and stops it with SIGTERM, so it
/// exits normally and writes its profile. Returns how many requests it answered.
fn train_one(
    postern: &Path,
    out: &Path,
    dir: &Path,
    phase: &Phase,
    each: Duration,
) -> anyhow::Result<u64> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let data_dir = dir.join(phase.name);
    std::fs::create_dir_all(&data_dir)?;
    let redis = match phase.store {
        Store::Redis { .. } => Some(RedisServer::start_on_a_free_port(&[])),
        _ => None,
    };
    let redis_url = redis.as_ref().map(RedisServer::url).unwrap_or_default();
    let store = match phase.store {
        Store::Memory => StoreChoice::Memory,
        Store::Embedded => StoreChoice::Embedded {
            data_dir: &data_dir,
        },
        Store::Redis { client_cache } => StoreChoice::Redis {
            url: &redis_url,
            client_cache,
        },
    };
    // The login page is a UI route: its rate limit would refuse the training's share.
    let mut config = format!(
        "{}\n[limits]\napi_rate = 100000\napi_burst = 100000\n",
        config_toml(&addr.to_string(), &store, 10)
    );
    if phase.headless_and_oidc {
        config.push_str(&headless_and_oidc_config(postern, &data_dir)?);
    }
    let config_path = data_dir.join("postern.toml");
    std::fs::write(&config_path, config)?;
    let mut command = procs::command(postern, None);
    command
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("LLVM_PROFILE_FILE", out.join("postern-%p.profraw"));
    let log = data_dir.join("postern.log");
    let server = Proc::spawn(phase.name, command, &log)?;
    if let Err(err) = probe::wait_for(addr, "/api/health", 200, Duration::from_secs(30)) {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        bail!("{err:#}; postern said:\n{said}");
    }
    let cookies = (0..SESSIONS)
        .map(|_| sign_in(addr, PASSWORD))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mix = Mix {
        cookies,
        bearer: if phase.headless_and_oidc {
            Some(access_token(addr, PASSWORD)?)
        } else {
            None
        },
    };
    if phase.headless_and_oidc {
        for _ in 0..50 {
            exchange_once(addr, &mix.cookies[0])?;
        }
    }
    let sent = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|worker| {
                let mix = &mix;
                scope.spawn(move || mix.send_for(addr, worker, each))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a training connection panicked"))?
            })
            .sum::<anyhow::Result<u64>>()
    })?;
    server.stop()?;
    Ok(sent)
}

/// Basic and bearer (`[api]`), metrics, an ES256 identity token, and an OpenID client whose ID
/// tokens are RS256 (the default), each key as `postern oidc generate-key` makes it.
fn headless_and_oidc_config(postern: &Path, dir: &Path) -> anyhow::Result<String> {
    let p256 = dir.join("oidc-p256.pem");
    let rsa = dir.join("oidc-rsa.pem");
    for (key, alg) in [(&p256, "ES256"), (&rsa, "RS256")] {
        let made = std::process::Command::new(postern)
            .args(["oidc", "generate-key", "--alg", alg, "--out"])
            .arg(key)
            .env("LLVM_PROFILE_FILE", "/dev/null")
            .output()
            .context("postern oidc generate-key")?;
        if !made.status.success() {
            bail!("postern oidc generate-key --alg {alg} failed: {made:?}");
        }
    }
    Ok(format!(
        "\n[api]\nbasic_auth = true\nallow_insecure_basic = true\n\n\
         [metrics]\nlisten = \"127.0.0.1:{}\"\n\n\
         [identity_token]\nheader = \"Remote-Jwt\"\n\n{}",
        free_port(),
        oidc_client_config(&[&p256, &rsa])?,
    ))
}

/// What one phase's connections send.
struct Mix {
    cookies: Vec<String>,
    /// An access token from `POST /api/auth/login`, when `[api]` is on.
    bearer: Option<String>,
}

impl Mix {
    /// Keeps one connection busy for `each`; reconnects when the server closes it.
    fn send_for(&self, addr: SocketAddr, worker: usize, each: Duration) -> anyhow::Result<u64> {
        let until = Instant::now() + each;
        let mut sent = 0u64;
        let mut connection = KeepAlive::open(addr)?;
        let mut n = worker;
        while Instant::now() < until {
            let (request, wanted) = self.request(n);
            let status = match connection.send(&request) {
                Ok(status) => status,
                // A redirect or error answer may close the connection: open a new one.
                Err(_) => {
                    connection = KeepAlive::open(addr)?;
                    connection.send(&request)?
                }
            };
            // An unexpected answer would train the wrong path: stop the build instead.
            if !wanted.contains(&status) {
                bail!("answered {status}, not {wanted:?}, to:\n{request}");
            }
            sent += 1;
            n += CONNECTIONS;
        }
        Ok(sent)
    }

    /// The `n`th request and the statuses it may get: mostly signed-in checks, spread over
    /// the four proxies' shapes.
    fn request(&self, n: usize) -> (String, &'static [u16]) {
        const ALLOWED: &[u16] = &[200];
        // A browser is sent to the login page; nginx's endpoint answers 401 and nginx redirects.
        const REFUSED: &[u16] = &[302, 303, 401];
        let cookie = &self.cookies[n % self.cookies.len()];
        match n % 40 {
            0 | 1 => (check(n, Credentials::None), REFUSED),
            2 => (check(n, Credentials::UnknownSession), REFUSED),
            3 => (check(n, Credentials::Json), &[401]),
            4 => (
                format!(
                    "GET /login?rd=https%3A%2F%2F{TARGET_HOST}%2F HTTP/1.1\r\nHost: auth.example.com\r\n{BROWSER}{HTML}\r\n"
                ),
                ALLOWED,
            ),
            5..=9 if self.bearer.is_some() => (check(n, Credentials::Basic), ALLOWED),
            10..=14 => match &self.bearer {
                Some(token) => (check(n, Credentials::Bearer(token)), ALLOWED),
                None => (check(n, Credentials::Session(cookie)), ALLOWED),
            },
            _ => (check(n, Credentials::Session(cookie)), ALLOWED),
        }
    }
}

/// A browser's headers, as every proxy passes them on (`Accept` apart: see `HTML`).
const BROWSER: &str = "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n";
/// What a browser accepts for a page.
const HTML: &str = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";

enum Credentials<'a> {
    None,
    UnknownSession,
    /// No session, and the client asks for JSON: a 401.
    Json,
    Session(&'a str),
    Basic,
    Bearer(&'a str),
}

/// A forward-auth check as one of the four proxies sends it. The proxy changes every 40
/// requests, so each kind of request of `Mix::request` (picked by `n % 40`) comes in every
/// proxy's shape.
fn check(n: usize, credentials: Credentials<'_>) -> String {
    let uri = format!("/docs/page-{}?tab=2", n % 7);
    let proxy = (n / 40) % 4;
    let (path, proxy_headers) = match proxy {
        0 => (
            "/api/auth/traefik".to_owned(),
            format!(
                "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: {TARGET_HOST}\r\nX-Forwarded-Uri: {uri}\r\nX-Forwarded-For: 192.0.2.10\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Server: traefik-1\r\nX-Real-Ip: 192.0.2.10\r\n"
            ),
        ),
        1 => (
            "/api/auth/nginx".to_owned(),
            format!(
                "X-Original-URL: https://{TARGET_HOST}{uri}\r\nX-Original-Method: GET\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: {TARGET_HOST}\r\nX-Forwarded-Uri: {uri}\r\nX-Forwarded-For: 192.0.2.10\r\nX-Real-IP: 192.0.2.10\r\n"
            ),
        ),
        2 => (
            "/api/auth/caddy".to_owned(),
            format!(
                "X-Forwarded-Method: GET\r\nX-Forwarded-Uri: {uri}\r\nX-Forwarded-For: 192.0.2.10\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: {TARGET_HOST}\r\nVia: 1.1 Caddy\r\n"
            ),
        ),
        _ => (
            format!("/api/auth/envoy{uri}"),
            "X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.10\r\nX-Envoy-Expected-Rq-Timeout-Ms: 2000\r\n"
                .to_owned(),
        ),
    };
    let host = if proxy == 3 {
        TARGET_HOST
    } else {
        "auth.example.com"
    };
    let accept = match credentials {
        Credentials::Json => "Accept: application/json\r\n",
        _ => HTML,
    };
    let credentials = match credentials {
        Credentials::None | Credentials::Json => String::new(),
        Credentials::UnknownSession => {
            "Cookie: postern_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n".to_owned()
        }
        Credentials::Session(cookie) => format!("Cookie: _ga=GA1.2.3; {cookie}\r\n"),
        Credentials::Basic => format!(
            "Authorization: Basic {}\r\n",
            STANDARD.encode(format!("{BENCH_USER}:{PASSWORD}"))
        ),
        Credentials::Bearer(token) => format!("Authorization: Bearer {token}\r\n"),
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{BROWSER}{accept}{proxy_headers}{credentials}\r\n"
    )
}

/// Where `--train` looks for `postern`: beside this binary.
pub fn postern_beside_me() -> anyhow::Result<PathBuf> {
    let postern = crate::build::own_dir()?.join("postern");
    if !postern.is_file() {
        bail!("{} is missing: build it first", postern.display());
    }
    Ok(postern)
}
