//! `o`: the OpenID token endpoint, code → tokens, at a steady 50 exchanges a second (open
//! loop), against the real `postern serve` on the memory store. A confidential client
//! (`client_secret_basic`, an argon2id `secret_hash`) redeems codes its signed-in user got from
//! `/oidc/authorize` (PKCE S256, scopes `openid profile email offline_access`): each answer is
//! an access token, a refresh token and an RS256 ID token signed with the RSA 3072 key
//! `postern oidc generate-key` makes (the slowest signature postern makes by default). The
//! client's secret is verified with argon2 once, before the measured exchanges, and then comes
//! from the server's cache, as Basic credentials do; the user's subject id likewise. The
//! target: p99 < 10 ms.
//!
//! Each exchange is timed from the connect to the last byte of the answer; the authorization
//! request before it (which issues the code) is timed apart.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use postern_bench::{BENCH_USER, StoreChoice, config_toml};
use postern_testkit::free_port;
use sha2::{Digest, Sha256};

use super::durable::{load_average, percentile};
use super::{Bench, config_with_password, loopback};
use crate::probe;
use crate::procs::{self, Proc};
use crate::report::Target;

const EXCHANGES_PER_SEC: u64 = 50;
const PASSWORD: &str = "bench token-endpoint password";
const CLIENT_ID: &str = "bench-rp";
const CLIENT_SECRET: &str = "bench-rp-client-secret";
const REDIRECT_URI: &str = "https://rp.example.com/callback";
const SCOPE: &str = "openid%20profile%20email%20offline_access";

impl Bench<'_> {
    pub(super) fn token_endpoint_rows(&mut self) {
        if !self.wants("o") {
            return;
        }
        self.note("o) OpenID token endpoint: code -> tokens at 50/s, confidential client");
        match self.token_endpoint() {
            Ok(target) => self.durable_targets.push(target),
            Err(err) => self.problems.push(format!("o) token endpoint: {err:#}")),
        }
    }

    /// A real `postern serve` with `[oidc]` and one confidential client.
    fn provider_server(&self) -> anyhow::Result<(Proc, SocketAddr)> {
        let addr = loopback(free_port());
        let hash = |secret: &str| {
            postern_core::password::hash_password(secret.as_bytes())
                .map_err(|err| anyhow::anyhow!("{err}"))
        };
        let rsa = self.dir.path().join("oidc-rsa.pem");
        let made = procs::command(&self.bins.postern, None)
            .args(["oidc", "generate-key", "--out", &rsa.display().to_string()])
            .output()
            .context("postern oidc generate-key")?;
        if !made.status.success() {
            bail!("postern oidc generate-key failed: {made:?}");
        }
        let text = config_with_password(
            &config_toml(&addr.to_string(), &StoreChoice::Memory, 0),
            &hash(PASSWORD)?,
        );
        let config = self.dir.write(
            "postern-oidc.toml",
            &format!(
                "{text}\n[limits]\napi_rate = 100000\napi_burst = 100000\n\n{}",
                oidc_client_config(&[&rsa])?
            ),
        );
        let proc = Proc::spawn(
            "postern-oidc",
            {
                let mut command = procs::command(&self.bins.postern, None);
                command.args(["serve", "--config", &config.display().to_string()]);
                command
            },
            &self.dir.path().join("postern-oidc.log"),
        )?;
        probe::wait_for(addr, "/api/health", 200, Duration::from_secs(30))?;
        Ok((proc, addr))
    }

    fn token_endpoint(&self) -> anyhow::Result<Target> {
        let (server, addr) = self.provider_server()?;
        let cookie = sign_in(addr, PASSWORD)?;
        // The first exchange verifies the client secret (argon2) and draws the subject id.
        exchange_once(addr, &cookie).context("the warm-up exchange")?;
        let count = if self.options.quick { 100 } else { 500 };
        let load_before = load_average();
        let timed = exchanges_at_a_steady_rate(addr, &cookie, count);
        let load_after = load_average();
        server.stop()?;
        let (mut authorize, mut token) = timed?;
        authorize.sort_by(f64::total_cmp);
        token.sort_by(f64::total_cmp);
        let p99 = percentile(&token, 0.99);
        let summary = format!(
            "{count} exchanges at {EXCHANGES_PER_SEC}/s: token p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms; the authorization request before each p50 {:.2} ms, p99 {:.2} ms (load {load_before} before, {load_after} after)",
            percentile(&token, 0.5),
            token.last().copied().unwrap_or(0.0),
            percentile(&authorize, 0.5),
            percentile(&authorize, 0.99),
        );
        self.note(&format!("o) {summary}"));
        Ok(Target {
            what: "OpenID token endpoint, code -> tokens, secret cached (o)",
            target: "p99 < 10 ms",
            measured: summary,
            met: Some(p99 < 10.0),
        })
    }
}

/// `[oidc]` with the keys at `keys` (the first signs) and one confidential client, whose secret is `CLIENT_SECRET`
/// (hashed here, with argon2).
pub(crate) fn oidc_client_config(keys: &[&Path]) -> anyhow::Result<String> {
    let secret_hash = postern_core::password::hash_password(CLIENT_SECRET.as_bytes())
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(format!(
        "[oidc]\nsigning_keys = {:?}\n\n\
         [[oidc.clients]]\nid = \"{CLIENT_ID}\"\nsecret_hash = \"{secret_hash}\"\n\
         redirect_uris = [\"{REDIRECT_URI}\"]\nconsent = \"implicit\"\n\
         scopes = [\"openid\", \"profile\", \"email\", \"offline_access\"]\n",
        keys.iter()
            .map(|key| key.display().to_string())
            .collect::<Vec<_>>(),
    ))
}

/// Signs the bench user in with `password`; the `Cookie` header value of the session.
pub(crate) fn sign_in(addr: SocketAddr, password: &str) -> anyhow::Result<String> {
    let body = format!("{{\"username\":\"{BENCH_USER}\",\"password\":\"{password}\"}}");
    let answer = probe::exchange(
        addr,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .filter(|cookie| cookie.starts_with("postern_session="))
        .map(str::to_owned)
        .with_context(|| format!("the sign-in set no session cookie: {answer}"))
}

/// An access token for the bench user from the token login (`POST /api/auth/login`).
pub(crate) fn access_token(addr: SocketAddr, password: &str) -> anyhow::Result<String> {
    let body = format!("{{\"username\":\"{BENCH_USER}\",\"password\":\"{password}\"}}");
    let answer = probe::post_json(addr, "/api/auth/login", &body)?;
    serde_json::from_str::<serde_json::Value>(&answer)?["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token in the token login's answer")
}

/// One authorization request and the code's exchange: the time each took, in ms.
pub(crate) fn exchange_once(addr: SocketAddr, cookie: &str) -> anyhow::Result<(f64, f64)> {
    let verifier = postern_core::token::random_text::<32>();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let started = Instant::now();
    let answer = probe::exchange(
        addr,
        &format!(
            "GET /oidc/authorize?client_id={CLIENT_ID}&redirect_uri={REDIRECT_URI}&response_type=code&scope={SCOPE}&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
        ),
    )?;
    let authorize_ms = started.elapsed().as_secs_f64() * 1000.0;
    let code = answer
        .lines()
        .find_map(|line| line.strip_prefix("location: "))
        .and_then(|location| {
            location
                .split(['?', '&'])
                .find_map(|pair| pair.strip_prefix("code="))
        })
        .with_context(|| format!("the authorization request gave no code: {answer}"))?
        .trim()
        .to_owned();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_URI}&code_verifier={verifier}"
    );
    let basic = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let started = Instant::now();
    let answer = probe::exchange(
        addr,
        &format!(
            "POST /oidc/token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )?;
    let token_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !answer.starts_with("HTTP/1.1 200") || !answer.contains("\"id_token\"") {
        bail!("the token endpoint answered: {answer}");
    }
    Ok((authorize_ms, token_ms))
}

/// `count` authorization requests and exchanges started at `EXCHANGES_PER_SEC`, open loop,
/// each on a thread of its own; the times of each kind, in ms. Any failure is an error.
fn exchanges_at_a_steady_rate(
    addr: SocketAddr,
    cookie: &str,
    count: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let every = Duration::from_millis(1000 / EXCHANGES_PER_SEC);
    let start = Instant::now();
    let mut threads = Vec::with_capacity(count);
    for n in 0..count {
        let due = start + every * u32::try_from(n).unwrap_or(u32::MAX);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let cookie = cookie.to_owned();
        threads.push(std::thread::spawn(move || exchange_once(addr, &cookie)));
    }
    let (mut authorize, mut token) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for thread in threads {
        let (authorize_ms, token_ms) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("an exchange thread panicked"))??;
        authorize.push(authorize_ms);
        token.push(token_ms);
    }
    Ok((authorize, token))
}
