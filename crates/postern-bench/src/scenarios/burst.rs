//! k) A burst of wrong Basic passwords while valid-cookie checks go on. The seeded postern
//! with Basic on; wrk checks valid cookies (as in c) for the whole scenario; one second in,
//! the harness opens one connection per wrong request, then releases them all at once.
//! k1 keeps the default limits and sends everything from one address, as one attacker
//! would. k2 raises the limits and spreads the burst over addresses (through the trusted
//! loopback proxy) and accounts, so no limit refuses any attempt and each one is an argon2
//! verification: the verifier pool alone must keep memory bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use postern_bench::{BENCH_USER, StoreChoice, config_toml, users_toml};

use super::{Bench, CHECK_HEADERS, CHECK_PATH, loopback};
use crate::probe::{self, BurstAnswers};
use crate::procs;
use crate::report::{Burst, Measured, Outcome, Row};
use crate::wrk::Load;

/// Wrong requests in a burst (`--quick`: fewer, so the smoke run stays short).
const BURST: usize = 1_000;
const QUICK_BURST: usize = 100;
/// The cookie checks start this long before the burst, so wrk is at full speed when it comes.
const LEAD: Duration = Duration::from_secs(1);
/// How long wrk runs at least: long enough to cover a burst that queues for the verifiers
/// (postern answers 503 after 10 s in the queue).
const COVER: Duration = Duration::from_secs(15);
const QUICK_COVER: Duration = Duration::from_secs(4);
/// k2 spreads the burst over this many accounts, so each stays within the raised limit.
const ACCOUNTS: usize = 10;
/// k2's limits: the most the configuration accepts.
const RAISED_LIMITS: &str = "[limits]\nmax_failures_per_ip = 100\nmax_failures_per_user = 100\n";

struct Variant {
    key: &'static str,
    title: &'static str,
    /// Every attempt from its own address, over `ACCOUNTS` accounts, with `RAISED_LIMITS`.
    spread: bool,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        key: "k1",
        title: "postern, valid cookie during a burst of wrong Basic passwords, default limits, one address",
        spread: false,
    },
    Variant {
        key: "k2",
        title: "postern, valid cookie during a burst of wrong Basic passwords, limits raised, every attempt verified",
        spread: true,
    },
];

impl Bench<'_> {
    /// k1 and k2: a row each in the throughput table (the cookie checks during the burst) and
    /// in the burst table.
    pub(super) fn burst_rows(&mut self, rows: &mut Vec<Row>, bursts: &mut Vec<Burst>) {
        for variant in &VARIANTS {
            self.note(&format!("{}) {}", variant.key, variant.title));
            let outcome = match self.burst(variant) {
                Ok(burst) => {
                    let measured = Outcome::Measured(burst.cookies.clone());
                    bursts.push(burst);
                    measured
                }
                Err(err) => Outcome::Failed(format!("{err:#}")),
            };
            rows.push(Row {
                key: variant.key,
                title: variant.title,
                outcome,
            });
        }
    }

    fn burst(&mut self, variant: &Variant) -> anyhow::Result<Burst> {
        let size = if self.options.quick {
            QUICK_BURST
        } else {
            BURST
        };
        let accounts: Vec<String> = if variant.spread {
            (1..ACCOUNTS).map(|i| format!("{BENCH_USER}{i}")).collect()
        } else {
            Vec::new()
        };
        let port = postern_testkit::free_port();
        let addr = loopback(port);
        let text = format!(
            "{}\n[api]\nbasic_auth = true\nallow_insecure_basic = true\n\n{}{}",
            config_toml(&addr.to_string(), &StoreChoice::Memory, 0),
            if variant.spread { RAISED_LIMITS } else { "" },
            users_toml(&accounts),
        );
        let name = format!("postern-burst-{}", variant.key);
        let (mut server, cookies) = self.seeded_with(&name, addr, &text)?;
        let mut names = vec![BENCH_USER.to_owned()];
        names.extend(accounts);
        let requests: Vec<String> = (0..size)
            .map(|i| wrong_basic_request(addr, &names, i, variant.spread))
            .collect();
        let pids = procs::with_children(server.pid());
        let before_rss = procs::rss_kib(server.pid())?;
        // Writing 5 to clear_refs resets VmHWM, so the peak read afterwards is the burst's.
        // Where that is not allowed, the peak since the start is still an upper bound.
        if let Err(err) = std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5") {
            self.note(&format!(
                "  cannot reset the peak RSS ({err}): the peak reported is the one since the start"
            ));
        }
        let cover = if self.options.quick {
            QUICK_COVER
        } else {
            COVER
        };
        let load = Load {
            duration: self.options.duration.max(cover),
            ..self.load(true)
        };
        let url = format!("http://{addr}{CHECK_PATH}");
        let ticks_before = procs::total_ticks(&pids);
        let started = Instant::now();
        let (cookie_run, answers) = std::thread::scope(|scope| {
            let wrk = scope.spawn(|| load.run(&url, &CHECK_HEADERS, &cookies));
            std::thread::sleep(LEAD);
            let answers = fire(addr, requests);
            let run = wrk
                .join()
                .map_err(|_| anyhow::anyhow!("the wrk thread panicked"))
                .and_then(|run| run);
            (run, answers)
        });
        let seconds = started.elapsed().as_secs_f64();
        let used = procs::total_ticks(&pids).saturating_sub(ticks_before) as f64 / self.ticks;
        let (cookie_run, answers) = (cookie_run?, answers?);
        let peak_rss = procs::peak_rss_kib(server.pid())?;
        let after_rss = procs::rss_kib(server.pid())?;
        // One more wrong request once the burst is over: the limits see every failure the
        // burst left in the counters by then.
        let after = fire(
            addr,
            vec![wrong_basic_request(addr, &names, size, variant.spread)],
        )?;
        server.alive()?;
        server.stop()?;
        anyhow::ensure!(
            cookie_run.bad_status == 0,
            "{} valid-cookie checks were not answered 2xx/3xx during the burst",
            cookie_run.bad_status
        );
        Ok(Burst {
            key: variant.key,
            title: variant.title,
            size,
            answers,
            next_status: after.statuses.first().map(|(status, _)| *status),
            rss_kib: (before_rss, peak_rss, after_rss),
            cookies: Measured {
                requests_per_sec: cookie_run.requests_per_sec,
                p50_ms: cookie_run.p50_ms,
                p99_ms: cookie_run.p99_ms,
                cpu_percent: 100.0 * used / seconds.max(0.001),
                cpu_us: used * 1e6 / cookie_run.requests.max(1) as f64,
                own_cpu_us: used * 1e6 / cookie_run.requests.max(1) as f64,
                client_cpu_percent: 100.0 * cookie_run.client_cpu_secs / seconds.max(0.001),
                client_cpu_us: cookie_run.client_cpu_secs * 1e6 / cookie_run.requests.max(1) as f64,
                rss_kib: after_rss,
                bad_status: cookie_run.bad_status,
                socket_errors: cookie_run.socket_errors,
                ..Measured::default()
            },
        })
    }
}

/// Runs the burst on a runtime of its own, in this thread.
fn fire(addr: SocketAddr, requests: Vec<String>) -> anyhow::Result<BurstAnswers> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(probe::burst(addr, requests))
}

/// The `number`th wrong request: the check request of every scenario, without a cookie and
/// from a script (no `Accept: text/html`), with Basic credentials whose password is wrong.
/// `spread`: from its own address, and for the next of `names` in turn.
fn wrong_basic_request(addr: SocketAddr, names: &[String], number: usize, spread: bool) -> String {
    let user = match spread {
        true => names
            .get(number % names.len().max(1))
            .map_or(BENCH_USER, String::as_str),
        false => BENCH_USER,
    };
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{user}:wrong password {number}"),
    );
    let mut request = format!(
        "GET {CHECK_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Basic {credentials}\r\n"
    );
    for (name, value) in CHECK_HEADERS.iter().filter(|(name, _)| *name != "Accept") {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if spread {
        request.push_str(&format!(
            "X-Forwarded-For: 10.{}.{}.{}\r\n",
            number / 65_536 % 256,
            number / 256 % 256,
            number % 256
        ));
    }
    request.push_str("\r\n");
    request
}
