//! What the embedded store's durability costs, beyond the check (c2):
//! - `l`: sign-in latency at 50 sign-ins/s (argon2 + one session write), the real
//!   `postern serve` on the memory store and on the embedded one, in alternating rounds; the
//!   difference of the p99s is what the durable write (an fsync'd commit) adds; then the
//!   session write alone at 50/s, without argon2 around it;
//! - `churn`: the data file's size after a churn of 1,000,000 short sessions (20,000 with
//!   `--quick`) written through the `Store` API, swept at the server's own interval: the sweep
//!   must keep the file bounded, not the churn's total.
//!
//! Each figure carries the load average when it was taken: the machine may be shared.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use postern_bench::{BENCH_USER, StoreChoice, config_toml};
use postern_core::session::{AuthLevel, SessionPolicy};
use postern_core::token::SessionToken;
use postern_store::{EmbeddedStore, Store};
use postern_testkit::free_port;

use super::{Bench, config_with_password, loopback};
use crate::probe;
use crate::procs::{self, Proc};
use crate::report::Target;

/// Sign-ins per second offered (open loop: one every 20 ms, whatever the answers take).
const SIGN_INS_PER_SEC: u64 = 50;
const PASSWORD: &str = "bench sign-in password";
/// A median sign-in slower than this (several argon2 runs) means they queued.
const SATURATED_MS: f64 = 250.0;
/// The server's sweep interval (`postern-server`'s `SWEEP_INTERVAL`).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long each churned session lives.
const CHURN_TTL: Duration = Duration::from_secs(2);

/// The three load averages, for the figure taken now.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub(super) fn percentile(sorted: &[f64], share: f64) -> f64 {
    let index = ((sorted.len() as f64 * share).ceil() as usize).saturating_sub(1);
    sorted.get(index).copied().unwrap_or(0.0)
}

impl Bench<'_> {
    pub(super) fn durable_rows(&mut self) {
        if self.wants("l") {
            self.note("l) sign-in latency at 50/s: memory store against embedded");
            match self.sign_in_latency() {
                Ok(target) => self.durable_targets.push(target),
                Err(err) => self.problems.push(format!("l) sign-in latency: {err:#}")),
            }
        }
        if self.wants("l") {
            self.note("l) the session write alone at 50/s: memory store against embedded");
            match runtime().and_then(|runtime| runtime.block_on(self.write_latency())) {
                Ok(target) => self.durable_targets.push(target),
                Err(err) => self.problems.push(format!("l) write latency: {err:#}")),
            }
        }
        if self.wants("churn") {
            let count = if self.options.quick {
                20_000
            } else {
                1_000_000
            };
            self.note(&format!(
                "churn) {count} short sessions through the embedded store"
            ));
            let churned = runtime().and_then(|runtime| runtime.block_on(self.churn(count)));
            match churned {
                Ok(target) => self.durable_targets.push(target),
                Err(err) => self.problems.push(format!("churn: {err:#}")),
            }
        }
    }

    /// A real `postern serve` on `store`, with a user whose password is `PASSWORD`. Not pinned:
    /// argon2 at 50/s needs more than the one core the throughput rows give a server.
    fn sign_in_server(
        &self,
        name: &str,
        store: &StoreChoice<'_>,
    ) -> anyhow::Result<(Proc, SocketAddr)> {
        let addr = loopback(free_port());
        let hash = postern_core::password::hash_password(PASSWORD.as_bytes())
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let text = config_with_password(&config_toml(&addr.to_string(), store, 0), &hash);
        let config = self.dir.write(
            &format!("{name}.toml"),
            // Each sign-in counts as an attempt while argon2 runs: at 50/s many are in flight.
            &format!(
                "{text}\n[limits]\napi_rate = 100000\napi_burst = 100000\nmax_failures_per_ip = 100\nmax_failures_per_user = 100\n"
            ),
        );
        let proc = Proc::spawn(
            name,
            {
                let mut command = procs::command(&self.bins.postern, None);
                command.args(["serve", "--config", &config.display().to_string()]);
                command
            },
            &self.dir.path().join(format!("{name}.log")),
        )?;
        probe::wait_for(addr, "/api/health", 200, Duration::from_secs(30))?;
        Ok((proc, addr))
    }

    /// Alternating rounds of sign-ins at 50/s against the two servers; the p99 of each and
    /// their difference.
    fn sign_in_latency(&self) -> anyhow::Result<Target> {
        let data_dir = self.dir.path().join("sign-in-data");
        let (memory, memory_addr) =
            self.sign_in_server("postern-sign-in-memory", &StoreChoice::Memory)?;
        let (embedded, embedded_addr) = self.sign_in_server(
            "postern-sign-in-embedded",
            &StoreChoice::Embedded {
                data_dir: &data_dir,
            },
        )?;
        let (rounds, per_round) = if self.options.quick {
            (2, 50)
        } else {
            (5, 100)
        };
        let load_before = load_average();
        let (mut on_memory, mut on_embedded) = (Vec::new(), Vec::new());
        let mut busy = 0;
        for _ in 0..rounds {
            for (addr, times) in [
                (memory_addr, &mut on_memory),
                (embedded_addr, &mut on_embedded),
            ] {
                let (took, refused) = sign_ins(addr, per_round)?;
                times.extend(took);
                busy += refused;
            }
        }
        let load_after = load_average();
        for server in [memory, embedded] {
            server.stop()?;
        }
        for times in [&mut on_memory, &mut on_embedded] {
            times.sort_by(f64::total_cmp);
        }
        let (memory_p99, embedded_p99) =
            (percentile(&on_memory, 0.99), percentile(&on_embedded, 0.99));
        let added = embedded_p99 - memory_p99;
        let summary = format!(
            "{} sign-ins each: memory p50 {:.1} ms, p99 {memory_p99:.1} ms; embedded p50 {:.1} ms, p99 {embedded_p99:.1} ms; added at p99 {added:+.1} ms (load {load_before} before, {load_after} after)",
            on_memory.len(),
            percentile(&on_memory, 0.5),
            percentile(&on_embedded, 0.5),
        );
        // A median far above one argon2 run means the sign-ins queued: the machine could not
        // serve 50/s, and the p99s measure the queue, not the write.
        let saturated = busy > 0 || percentile(&on_memory, 0.5) > SATURATED_MS;
        let summary = if saturated {
            format!("{summary}; {busy} found every verifier busy (503); saturated: no verdict")
        } else {
            summary
        };
        self.note(&format!("l) {summary}"));
        Ok(Target {
            what: "sign-in at 50/s: what the durable write adds at p99 (l)",
            target: "≤ +2 ms",
            measured: summary,
            met: (!saturated).then_some(added <= 2.0),
        })
    }

    /// The session write of a sign-in without the argon2 before it: `put_session` at 50/s,
    /// open loop, through the `Store` API in this process, on the memory store and on the
    /// embedded one (a committed, fsync'd transaction each, unless writes in flight share one).
    async fn write_latency(&self) -> anyhow::Result<Target> {
        let count = if self.options.quick { 100 } else { 500 };
        let data_dir = self.dir.path().join("write-latency-data");
        let load_before = load_average();
        let memory = writes_at_50_per_sec(&Store::memory(100_000), count).await?;
        let embedded = writes_at_50_per_sec(
            &Store::Embedded(EmbeddedStore::open(&data_dir, 100_000)?),
            count,
        )
        .await?;
        let (memory_p99, embedded_p99) = (percentile(&memory, 0.99), percentile(&embedded, 0.99));
        let added = embedded_p99 - memory_p99;
        let summary = format!(
            "{count} writes each: memory p50 {:.3} ms, p99 {memory_p99:.3} ms; embedded p50 {:.3} ms, p99 {embedded_p99:.3} ms; added at p99 {added:+.3} ms (load {load_before} before, {} after)",
            percentile(&memory, 0.5),
            percentile(&embedded, 0.5),
            load_average()
        );
        self.note(&format!("l) {summary}"));
        Ok(Target {
            what: "the session write alone at 50/s: what durability adds at p99 (l)",
            target: "≤ +2 ms",
            measured: summary,
            met: Some(added <= 2.0),
        })
    }

    /// Writes `count` sessions of `CHURN_TTL` through the embedded store (256 in flight, as
    /// concurrent sign-ins would be), sweeping every `SWEEP_EVERY` as the server does, then
    /// once more after the last has expired; answers the file's size then.
    async fn churn(&self, count: usize) -> anyhow::Result<Target> {
        let data_dir = self.dir.path().join("churn-data");
        // Room for every session: how many are live at once depends on the write rate.
        let embedded = EmbeddedStore::open(&data_dir, count)?;
        let store = Store::Embedded(embedded.clone());
        let file = embedded.path().clone();
        let size = |file: &Path| std::fs::metadata(file).map_or(0, |meta| meta.len());
        // The store's TTL decides when a row expires; the record's own deadlines match it.
        let policy = SessionPolicy {
            idle_timeout: CHURN_TTL.as_secs(),
            max_lifetime: CHURN_TTL.as_secs(),
            remember_me_lifetime: CHURN_TTL.as_secs(),
        };
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let started = Instant::now();
        let mut last_sweep = Instant::now();
        let (mut peak_size, mut peak_rows) = (0, 0);
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..count {
            let now = epoch + started.elapsed().as_secs();
            let user = format!("{BENCH_USER}{}", n % 1000);
            let record = policy.new_session(&user, AuthLevel::OneFactor, false, now);
            let hash = SessionToken::generate().hash();
            let writer = store.clone();
            writes.spawn(async move { writer.put_session(&hash, &record, CHURN_TTL).await });
            while writes.len() >= 256 {
                if let Some(done) = writes.join_next().await {
                    done.context("a churn write")??;
                }
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                peak_rows = peak_rows.max(embedded.stored_rows()?);
                peak_size = peak_size.max(size(&file));
                store.sweep_expired();
            }
        }
        while let Some(done) = writes.join_next().await {
            done.context("a churn write")??;
        }
        let wrote_in = started.elapsed();
        peak_rows = peak_rows.max(embedded.stored_rows()?);
        peak_size = peak_size.max(size(&file));
        tokio::time::sleep(CHURN_TTL + Duration::from_millis(200)).await;
        store.sweep_expired();
        // The sweep goes on in batches: wait until it is done.
        let deadline = Instant::now() + Duration::from_secs(600);
        while embedded.stored_rows()? > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let rows_left = embedded.stored_rows()?;
        let final_size = size(&file);
        let peak_rss = procs::peak_rss_kib(std::process::id()).unwrap_or(0);
        let summary = format!(
            "{count} sessions of {} s in {:.0} s; file {:.1} MiB at most, {:.1} MiB after the last sweep ({rows_left} rows left; at most {peak_rows} rows at a sweep); harness peak RSS {:.0} MiB (load {})",
            CHURN_TTL.as_secs(),
            wrote_in.as_secs_f64(),
            peak_size as f64 / 1_048_576.0,
            final_size as f64 / 1_048_576.0,
            peak_rss as f64 / 1024.0,
            load_average()
        );
        self.note(&format!("churn) {summary}"));
        Ok(Target {
            what: "data file after a churn of short sessions (churn)",
            target: "bounded by the sweep (a figure)",
            measured: summary,
            met: None,
        })
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `count` session writes into `store` at `SIGN_INS_PER_SEC`, open loop; their times in
/// milliseconds, sorted.
async fn writes_at_50_per_sec(store: &Store, count: usize) -> anyhow::Result<Vec<f64>> {
    let policy = SessionPolicy {
        idle_timeout: 3600,
        max_lifetime: 3600,
        remember_me_lifetime: 3600,
    };
    let record = policy.new_session(BENCH_USER, AuthLevel::OneFactor, false, 0);
    let mut every = tokio::time::interval(Duration::from_millis(1000 / SIGN_INS_PER_SEC));
    let mut writes = tokio::task::JoinSet::new();
    for _ in 0..count {
        every.tick().await;
        let (store, record) = (store.clone(), record.clone());
        writes.spawn(async move {
            let started = Instant::now();
            store
                .put_session(
                    &SessionToken::generate().hash(),
                    &record,
                    Duration::from_secs(3600),
                )
                .await
                .map(|()| started.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut times = Vec::with_capacity(count);
    while let Some(done) = writes.join_next().await {
        times.push(done.context("a session write")??);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// `count` sign-ins at `SIGN_INS_PER_SEC`, open loop, each on its own connection and thread;
/// the times of those that succeeded, in milliseconds, and how many found every password
/// verifier busy (503: the machine cannot keep up). Any other answer is an error.
fn sign_ins(addr: SocketAddr, count: usize) -> anyhow::Result<(Vec<f64>, usize)> {
    let body = format!("{{\"username\":\"{BENCH_USER}\",\"password\":\"{PASSWORD}\"}}");
    let every = Duration::from_millis(1000 / SIGN_INS_PER_SEC);
    let start = Instant::now();
    let mut threads = Vec::with_capacity(count);
    for n in 0..count {
        let due = start + every * u32::try_from(n).unwrap_or(u32::MAX);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let body = body.clone();
        // From an address of its own (through the trusted loopback proxy): no per-address limit.
        let client = format!("10.{}.{}.{}", n / 62_500, n / 250 % 250, n % 250 + 1);
        threads.push(std::thread::spawn(
            move || -> anyhow::Result<Option<f64>> {
                let sent = Instant::now();
                let forwarded = [("X-Forwarded-For", client.as_str())];
                match probe::post_status(addr, "/api/login", &body, &forwarded)? {
                    200 => Ok(Some(sent.elapsed().as_secs_f64() * 1000.0)),
                    503 => Ok(None),
                    status => anyhow::bail!("a sign-in answered {status}"),
                }
            },
        ));
    }
    let (mut times, mut busy) = (Vec::with_capacity(count), 0);
    for thread in threads {
        let answered = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a sign-in thread panicked"))??;
        match answered {
            Some(took) => times.push(took),
            None => busy += 1,
        }
    }
    Ok((times, busy))
}
