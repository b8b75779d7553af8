//! Every scenario, in the order they run. Servers share one core and wrk gets the other, so a
//! ratio compares what each server does with the same core.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use postern_bench::{
    BENCH_USER, StoreChoice, TARGET_HOST, config_toml, load_config, seed_sessions, unknown_tokens,
};
use postern_core::config::StoreKind;
use postern_store::Store;
use postern_testkit::{RedisServer, TempDir, free_port, redis_cli, require_tool};

use crate::Options;
use crate::build;
use crate::nginx::{self, Site};
use crate::probe;
use crate::procs::{self, Pinning, Proc};
use crate::report::{self, Burst, Footprint, Measured, Outcome, Report, Row, Target};
use crate::wrk::{self, Load, WrkRun, first_line};

mod burst;
mod durable;
mod embedded;
mod identity;
mod proxies;
pub(crate) mod token_endpoint;

/// The traefik endpoint's view of the request being checked, from a browser (so a missing
/// session is a 302 to the login page).
const CHECK_PATH: &str = "/api/auth/traefik";
const HEADLESS_TITLES: [&str; 2] = [
    "postern, Basic auth (cached after the first request)",
    "postern, bearer token",
];
const CHECK_HEADERS: [(&str, &str); 5] = [
    ("Accept", "text/html,application/xhtml+xml"),
    ("X-Forwarded-Proto", "http"),
    ("X-Forwarded-Host", TARGET_HOST),
    ("X-Forwarded-Uri", "/"),
    ("X-Forwarded-Method", "GET"),
];
/// Below this throughput ratio to nginx `return 200`, postern's valid-cookie check has
/// collapsed.
const COLLAPSE_RATIO: f64 = 0.3;

struct Bins {
    postern: PathBuf,
    bare: PathBuf,
    /// The floor stub: httparse on tokio, no hyper (`src/bin/floor.rs`).
    floor: PathBuf,
    seeded: PathBuf,
    /// How they were built: profile-guided (what ships) or plain.
    build: String,
}

struct Bench<'o> {
    options: &'o Options,
    pinning: Pinning,
    bins: Bins,
    wrk: PathBuf,
    dir: TempDir,
    script: PathBuf,
    ticks: f64,
    started: Instant,
    /// Server-side processes that are not ours to stop (redis-server), counted in CPU.
    extra_pids: Vec<u32>,
    /// The reference, nginx `return 200` (its URL and processes): every later scenario's runs
    /// alternate with runs against it under the same client load, so each ratio compares
    /// figures taken seconds apart (m's and c3's with c's instead: `row_against`).
    paired_with: Option<Paired>,
    /// Figures that are not throughput rows: the durable store's (`durable.rs`, and c2's
    /// start-up and RSS) and the token endpoint's (`token_endpoint.rs`).
    durable_targets: Vec<Target>,
    problems: Vec<String>,
}

/// The row a scenario's runs alternate with: its key, URL and server processes, and how many
/// alternations (`Options::runs` against nginx `return 200`, `Options::pairs` behind a proxy
/// and for m against c).
#[derive(Clone)]
struct Paired {
    key: &'static str,
    url: String,
    pids: Vec<u32>,
    runs: usize,
    /// The paired row's server and the cookies it knows, when they are not this row's: m, c3
    /// and c are servers each seeded with sessions of their own. `None`: the row's own cookies.
    own: Option<(SocketAddr, PathBuf)>,
}

/// Runs everything; returns the reasons to fail (empty: success).
pub fn run(options: &Options, args: &[String]) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let bins = binaries(options)?;
    let dir = TempDir::new("bench");
    let script = dir.write("cookies.lua", wrk::COOKIE_SCRIPT);
    let mut bench = Bench {
        options,
        pinning: Pinning::for_cores(cores),
        bins,
        wrk: require_tool("wrk"),
        dir,
        script,
        ticks: procs::ticks_per_second(),
        started,
        extra_pids: Vec::new(),
        paired_with: None,
        durable_targets: Vec::new(),
        problems: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut bursts = Vec::new();
    let mut footprint = Footprint::default();
    if !options.footprint_only && !options.burst_only {
        bench.throughput(&mut rows, &mut footprint)?;
    }
    if !options.footprint_only && (bench.wants("k1") || bench.wants("k2")) {
        bench.burst_rows(&mut rows, &mut bursts);
        rows.sort_by_key(|row| row_order(row.key));
    }
    if !options.footprint_only && !options.burst_only {
        bench.durable_rows();
        bench.token_endpoint_rows();
    }
    if !options.burst_only && options.only.is_none() {
        bench.footprint(&mut footprint);
    }
    for row in &rows {
        if let Outcome::Failed(err) = &row.outcome {
            bench
                .problems
                .push(format!("scenario {}) {}: {err}", row.key, row.title));
        }
    }
    let mut targets = targets(&rows, &footprint);
    targets.extend(bursts.iter().map(burst_target));
    targets.append(&mut bench.durable_targets);
    let nginx = report::find(&rows, "b").map(|nginx| nginx.requests_per_sec);
    let ratio = report::find(&rows, "c").and_then(|c| report::ratio_to_reference(c, nginx));
    if let Some(ratio) = ratio.filter(|ratio| *ratio < COLLAPSE_RATIO) {
        bench.problems.push(format!(
            "ratio collapse: postern valid-cookie check at {ratio:.2}× nginx `return 200` (< {COLLAPSE_RATIO}×)"
        ));
    }
    let date = today();
    let report = Report {
        date: date.clone(),
        command: command_line(args),
        machine: machine(cores, &bench.pinning, &bench.bins.build),
        settings: format!(
            "{} run(s) of {} s per scenario after a {} s warm-up ({} alternated pairs for the rows compared with a stub behind a proxy and for m, c3 and c3u with c, and for h1000 with h1), median reported; wrk 1 thread, {} connections; {} sessions seeded; {}",
            options.runs,
            options.duration.as_secs(),
            options.warmup.as_secs(),
            options.pairs,
            options.connections,
            options.sessions,
            if options.quick { "--quick" } else { "full" }
        ),
        rows: &rows,
        footprint: &footprint,
        bursts: &bursts,
        targets: &targets,
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    let text = report.markdown();
    println!("{text}");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    // Only a full run of every scenario replaces the dated results file.
    let name = if options.quick {
        format!("{date}-quick.md")
    } else if options.only.is_some() || options.footprint_only || options.burst_only {
        format!("{date}-partial.md")
    } else {
        format!("{date}.md")
    };
    std::fs::create_dir_all(&results)?;
    std::fs::write(results.join(&name), &text)?;
    eprintln!("postern-bench: wrote {}", results.join(name).display());
    Ok(bench.problems)
}

impl Bench<'_> {
    /// A progress line on stderr, with the time since the start.
    fn note(&self, what: &str) {
        eprintln!(
            "postern-bench [{:>5.1} s] {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Whether `--only` (if given) asks for row `key`.
    fn wants(&self, key: &str) -> bool {
        key == "a"
            || key == "b"
            || self
                .options
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|wanted| wanted == key))
    }

    /// wrk's load; `rotate` cycles the cookie over the list with Lua (needed wherever the
    /// server looks sessions up: one lookup among 100,000), else one fixed cookie is sent.
    fn load(&self, rotate: bool) -> Load<'_> {
        Load {
            wrk: &self.wrk,
            core: self.pinning.client,
            connections: self.options.connections,
            duration: self.options.duration,
            script: rotate.then_some(self.script.as_path()),
        }
    }

    fn spawn(&self, name: &str, program: &Path, args: &[&str]) -> anyhow::Result<Proc> {
        let mut command = procs::command(program, self.pinning.server);
        command.args(args);
        Proc::spawn(name, command, &self.dir.path().join(format!("{name}.log")))
    }

    fn bare(&self, name: &str) -> anyhow::Result<(Proc, SocketAddr)> {
        self.bare_with(name, &[])
    }

    /// Bare hyper with `bare`'s extra arguments (`identity`: postern's headers).
    fn bare_with(&self, name: &str, extra: &[&str]) -> anyhow::Result<(Proc, SocketAddr)> {
        let port = free_port();
        let port_arg = port.to_string();
        let mut args = vec![port_arg.as_str()];
        args.extend_from_slice(extra);
        let proc = self.spawn(name, &self.bins.bare, &args)?;
        let addr = loopback(port);
        probe::wait_for(addr, "/", 200, Duration::from_secs(10))?;
        Ok((proc, addr))
    }

    /// postern-server in-process with `sessions` seeded sessions and `apps` `[[apps]]`.
    fn seeded(&self, name: &str, apps: usize) -> anyhow::Result<(Proc, SocketAddr, PathBuf)> {
        let addr = loopback(free_port());
        let config = config_toml(&addr.to_string(), &StoreChoice::Memory, apps);
        let (proc, cookies) = self.seeded_with(name, addr, &config)?;
        Ok((proc, addr, cookies))
    }

    /// postern-server in-process on `addr` with the config `text` and `sessions` seeded
    /// sessions, all the bench user's; the file of their cookie values.
    fn seeded_with(
        &self,
        name: &str,
        addr: SocketAddr,
        text: &str,
    ) -> anyhow::Result<(Proc, PathBuf)> {
        self.seeded_as(name, addr, text, &[])
    }

    /// `seeded_with`, the sessions going to `users` in turn (none: the bench user's).
    fn seeded_as(
        &self,
        name: &str,
        addr: SocketAddr,
        text: &str,
        users: &[String],
    ) -> anyhow::Result<(Proc, PathBuf)> {
        let config = self.dir.write(&format!("{name}.toml"), text);
        let cookies = self.dir.path().join(format!("{name}.cookies"));
        let proc = self.spawn(
            name,
            &self.bins.seeded,
            &[
                &config.display().to_string(),
                &self.options.sessions.to_string(),
                &cookies.display().to_string(),
                &users.join(","),
            ],
        )?;
        probe::wait_for(addr, "/api/health", 200, Duration::from_secs(120))
            .with_context(|| format!("{name} did not start; see its log"))?;
        Ok((proc, cookies))
    }

    /// Warm-up, then `runs` wrk runs; CPU is the delta of utime + stime over `pids` (the
    /// first server's own share over `own_pids`), per request completed.
    fn measure(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        cookies: &Path,
        (pids, own_pids): (&[u32], &[u32]),
        rss_pid: u32,
        rotate: bool,
    ) -> anyhow::Result<Measured> {
        let load = self.load(rotate);
        let warmup = Load {
            duration: self.options.warmup,
            ..self.load(rotate)
        };
        warmup.run(url, headers, cookies)?;
        let pair = self.paired_with.as_ref().filter(|pair| pair.url != url);
        // A server with cookies of its own (c, for m and c3) may not have run yet (`--only m`).
        if let Some((pair, (_, own))) = pair.and_then(|pair| Some((pair, pair.own.as_ref()?))) {
            warmup.run(&pair.url, headers, own)?;
        }
        let cpu_us = |used_ticks: u64, run: &WrkRun| {
            used_ticks as f64 / self.ticks * 1e6 / (run.requests.max(1) as f64)
        };
        let mut runs: Vec<Measured> = Vec::new();
        let reference_run = |pair: &Paired| -> anyhow::Result<(f64, f64)> {
            let before = procs::total_ticks(&pair.pids);
            let cookies = pair.own.as_ref().map_or(cookies, |(_, own)| own.as_path());
            let run = load.run(&pair.url, headers, cookies)?;
            let used = procs::total_ticks(&pair.pids).saturating_sub(before);
            Ok((run.requests_per_sec, cpu_us(used, &run)))
        };
        for index in 0..pair.map_or(self.options.runs, |pair| pair.runs) {
            // ABBA: every other pair runs the reference second, so a drift of the machine
            // over the pairs weighs on both sides alike instead of always on this row.
            let reference_first = index % 2 == 0;
            let mut reference = match pair {
                Some(pair) if reference_first => Some(reference_run(pair)?),
                _ => None,
            };
            let (before, own_before) = (procs::total_ticks(pids), procs::total_ticks(own_pids));
            let start = Instant::now();
            let run = load.run(url, headers, cookies)?;
            let seconds = start.elapsed().as_secs_f64().max(0.001);
            let used = procs::total_ticks(pids).saturating_sub(before);
            let own = procs::total_ticks(own_pids).saturating_sub(own_before);
            if let Some(pair) = pair.filter(|_| !reference_first) {
                reference = Some(reference_run(pair)?);
            }
            let measured = Measured {
                requests_per_sec: run.requests_per_sec,
                paired_ratio: reference.map(|(rate, _)| run.requests_per_sec / rate.max(1.0)),
                paired_range: None,
                paired_own_cpu_range: None,
                paired_cpu_ratio: reference.map(|(_, cpu)| cpu_us(used, &run) / cpu.max(1e-9)),
                paired_own_cpu_ratio: reference.map(|(_, cpu)| cpu_us(own, &run) / cpu.max(1e-9)),
                p50_ms: run.p50_ms,
                p99_ms: run.p99_ms,
                cpu_percent: 100.0 * used as f64 / self.ticks / seconds,
                cpu_us: cpu_us(used, &run),
                own_cpu_us: cpu_us(own, &run),
                client_cpu_percent: 100.0 * run.client_cpu_secs / seconds,
                client_cpu_us: run.client_cpu_secs * 1e6 / (run.requests.max(1) as f64),
                rss_kib: 0,
                bad_status: run.bad_status,
                socket_errors: run.socket_errors,
                paired_with: None,
            };
            runs.push(measured);
        }
        let median = |pick: &dyn Fn(&Measured) -> f64| -> f64 {
            let mut values: Vec<f64> = runs.iter().map(pick).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(0.0)
        };
        let paired = |pick: &dyn Fn(&Measured) -> Option<f64>| -> Option<f64> {
            let mut values: Vec<f64> = runs.iter().filter_map(pick).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied()
        };
        Ok(Measured {
            requests_per_sec: median(&|m| m.requests_per_sec),
            paired_with: pair.map(|pair| pair.key),
            paired_ratio: paired(&|m| m.paired_ratio),
            paired_range: pair.and_then(|_| {
                let ratios = runs.iter().filter_map(|m| m.paired_ratio);
                let low = ratios.clone().min_by(f64::total_cmp)?;
                Some((low, ratios.max_by(f64::total_cmp)?, runs.len()))
            }),
            paired_cpu_ratio: paired(&|m| m.paired_cpu_ratio),
            paired_own_cpu_ratio: paired(&|m| m.paired_own_cpu_ratio),
            paired_own_cpu_range: pair.and_then(|_| {
                let ratios = runs.iter().filter_map(|m| m.paired_own_cpu_ratio);
                Some((
                    ratios.clone().min_by(f64::total_cmp)?,
                    ratios.max_by(f64::total_cmp)?,
                ))
            }),
            p50_ms: median(&|m| m.p50_ms),
            p99_ms: median(&|m| m.p99_ms),
            cpu_percent: median(&|m| m.cpu_percent),
            cpu_us: median(&|m| m.cpu_us),
            own_cpu_us: median(&|m| m.own_cpu_us),
            client_cpu_percent: median(&|m| m.client_cpu_percent),
            client_cpu_us: median(&|m| m.client_cpu_us),
            rss_kib: procs::rss_kib(rss_pid).unwrap_or(0),
            bad_status: runs.iter().map(|m| m.bad_status).sum(),
            socket_errors: runs.iter().map(|m| m.socket_errors).sum(),
        })
    }

    /// One row: checks the expected status with a probe first, then measures; a process
    /// that died is a crash.
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        rows: &mut Vec<Row>,
        key: &'static str,
        title: &'static str,
        target: (SocketAddr, &str, &[(&str, &str)]),
        cookies: &Path,
        expect: u16,
        servers: &mut [&mut Proc],
    ) {
        if !self.wants(key) {
            return;
        }
        let (addr, path, headers) = target;
        self.note(&format!("{key}) {title}"));
        let outcome = (|| -> anyhow::Result<Measured> {
            let cookie = first_line(cookies)?;
            let mut probe_headers = headers.to_vec();
            let cookie_header = format!("postern_session={cookie}");
            probe_headers.push(("Cookie", &cookie_header));
            let status = probe::get(addr, path, &probe_headers)?;
            if status != expect {
                bail!("answered {status}, expected {expect}");
            }
            // The same of a paired server sent its own cookies: else a wrong cookie file would
            // pair this row with a cheaper answer (a 302 counts as answered).
            if let Some((pair_addr, pair_cookies)) =
                self.paired_with.as_ref().and_then(|pair| pair.own.as_ref())
            {
                let cookie_header = format!("postern_session={}", first_line(pair_cookies)?);
                let mut probe_headers = headers.to_vec();
                probe_headers.push(("Cookie", &cookie_header));
                let status = probe::get(*pair_addr, path, &probe_headers)?;
                if status != expect {
                    bail!("the paired row's server answered {status}, expected {expect}");
                }
            }
            let pids: Vec<u32> = servers
                .iter()
                .flat_map(|server| procs::with_children(server.pid()))
                .chain(self.extra_pids.iter().copied())
                .collect();
            let rss_pid = servers.first().map_or(0, |server| server.pid());
            let own_pids = procs::with_children(rss_pid);
            let url = format!("http://{addr}{path}");
            // The two baselines need no session lookup: one fixed cookie, no Lua on the client.
            let rotate = !matches!(key, "a" | "a2" | "b");
            let measured =
                self.measure(&url, headers, cookies, (&pids, &own_pids), rss_pid, rotate)?;
            if measured.bad_status > 0 && expect < 400 {
                bail!("{} answers outside 2xx/3xx under load", measured.bad_status);
            }
            Ok(measured)
        })();
        for server in servers.iter_mut() {
            if let Err(err) = server.alive() {
                self.problems.push(format!("crash: {err:#}"));
            }
        }
        rows.push(Row {
            key,
            title,
            outcome: match outcome {
                Ok(measured) => Outcome::Measured(measured),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            },
        });
    }

    /// a2) the floor: postern's answer to a signed-in check from httparse on tokio, no hyper
    /// (`src/bin/floor.rs`), paired with nginx like the postern rows. No target: it shows how
    /// much of a check's CPU hyper's connection machinery takes, which nothing in postern's
    /// own code can win back.
    fn floor_row(&mut self, rows: &mut Vec<Row>, cookies: &Path) {
        if !self.wants("a2") {
            return;
        }
        let title = "the floor: httparse on tokio, no hyper, postern's headers";
        let port = free_port();
        let addr = loopback(port);
        let started = self
            .spawn("floor", &self.bins.floor, &[&port.to_string()])
            .and_then(|proc| {
                probe::wait_for(addr, "/", 200, Duration::from_secs(10))?;
                Ok(proc)
            });
        match started {
            Ok(mut floor) => self.row(
                rows,
                "a2",
                title,
                (addr, CHECK_PATH, &CHECK_HEADERS[..]),
                cookies,
                200,
                &mut [&mut floor],
            ),
            Err(err) => rows.push(Row::failed("a2", title, format!("{err:#}"))),
        }
    }

    /// m) row c with `[metrics] listen` set: every check counted and timed (nobody scrapes).
    /// Its runs alternate with c's (`against_c`, `--pairs` of them): the target is a few per
    /// cent, less than the two rows drift apart when run minutes apart.
    fn metrics_row(&mut self, rows: &mut Vec<Row>, against_c: Paired) {
        if !self.wants("m") {
            return;
        }
        let addr = loopback(free_port());
        let config = config_toml(&addr.to_string(), &StoreChoice::Memory, 0).replacen(
            "[session]",
            &format!(
                "[metrics]\nlisten = \"{}\"\n\n[session]",
                loopback(free_port())
            ),
            1,
        );
        match self.seeded_with("postern-metrics", addr, &config) {
            Ok((mut server, cookies)) => self.row_against(
                against_c,
                rows,
                ("m", "postern, valid cookie, memory store, metrics on"),
                (addr, &cookies),
                &mut server,
            ),
            Err(err) => rows.push(Row::failed(
                "m",
                "postern, valid cookie, memory store, metrics on",
                format!("{err:#}"),
            )),
        }
    }

    /// A valid-cookie check row (`key`, `title`) of its own server at `addr`, sent its own
    /// `cookies`, whose runs alternate with `against`'s instead of nginx's: m and c3 with c,
    /// whose targets are a few per cent, less than two rows drift apart run minutes apart.
    fn row_against(
        &mut self,
        against: Paired,
        rows: &mut Vec<Row>,
        (key, title): (&'static str, &'static str),
        (addr, cookies): (SocketAddr, &Path),
        server: &mut Proc,
    ) {
        let reference = self.paired_with.replace(against);
        self.row(
            rows,
            key,
            title,
            (addr, CHECK_PATH, &CHECK_HEADERS[..]),
            cookies,
            200,
            &mut [server],
        );
        self.paired_with = reference;
    }

    fn throughput(&mut self, rows: &mut Vec<Row>, footprint: &mut Footprint) -> anyhow::Result<()> {
        self.note("starting bare hyper, nginx `return 200` and the seeded postern");
        let (mut bare, bare_addr) = self.bare("bare")?;
        let (mut reference, reference_addr) = self.nginx("b", &Site::Return200)?;
        let (mut memory, memory_addr, valid) = self.seeded("postern-memory", 0)?;
        let invalid = self.dir.path().join("unknown.cookies");
        std::fs::write(&invalid, unknown_tokens(10_000).join("\n") + "\n")?;
        let check = |addr| (addr, CHECK_PATH, &CHECK_HEADERS[..]);

        // The two cheapest answers: 200 with an empty body, no Lua on the client.
        self.row(
            rows,
            "a",
            "bare hyper (empty 200 + one header)",
            check(bare_addr),
            &valid,
            200,
            &mut [&mut bare],
        );
        self.row(
            rows,
            "b",
            "nginx `return 200` (empty body)",
            check(reference_addr),
            &valid,
            200,
            &mut [&mut reference],
        );
        self.paired_with = Some(Paired {
            key: "b",
            url: format!("http://{reference_addr}{CHECK_PATH}"),
            pids: procs::with_children(reference.pid()),
            runs: self.options.runs,
            own: None,
        });
        self.floor_row(rows, &valid);
        self.row(
            rows,
            "c",
            "postern, valid cookie, memory store, 100k sessions",
            check(memory_addr),
            &valid,
            200,
            &mut [&mut memory],
        );
        footprint.sessions_rss_kib = procs::rss_kib(memory.pid()).ok();
        let against_c = Paired {
            key: "c",
            url: format!("http://{memory_addr}{CHECK_PATH}"),
            pids: procs::with_children(memory.pid()),
            runs: self.options.pairs,
            own: Some((memory_addr, valid.clone())),
        };
        self.metrics_row(rows, against_c.clone());
        self.embedded_rows(rows);
        self.identity_token_rows(rows, &against_c);
        self.row(
            rows,
            "e",
            "postern, unknown cookie (302 to login)",
            check(memory_addr),
            &invalid,
            302,
            &mut [&mut memory],
        );
        self.redis_rows(rows);
        self.apps_rows(rows);
        self.headless_rows(rows);

        // Through each proxy: no auth, a stub auth server, postern. The app is bare hyper.
        let (mut app, app_addr) = self.bare("app")?;
        let (mut identity_stub, identity_stub_addr) =
            self.bare_with("identity-stub", &["identity"])?;
        let (mut nginx_stub, nginx_stub_addr) = self.nginx("stub", &Site::Return200)?;
        self.proxy_rows(
            rows,
            &mut proxies::Backends {
                app: (app_addr, &mut app),
                bare_stub: (bare_addr, &mut bare),
                identity_stub: (identity_stub_addr, &mut identity_stub),
                nginx_stub: (nginx_stub_addr, &mut nginx_stub),
                postern: (memory_addr, &mut memory),
                cookies: &valid,
            },
        );
        self.paired_with = None;
        rows.sort_by_key(|row| row_order(row.key));
        for server in [bare, reference, memory, app, nginx_stub, identity_stub] {
            if let Err(err) = server.stop() {
                self.problems.push(format!("crash: {err:#}"));
            }
        }
        Ok(())
    }

    fn nginx(&self, name: &str, site: &Site) -> anyhow::Result<(Proc, SocketAddr)> {
        let nginx_bin = require_tool("nginx");
        let dir = self.dir.path().join(format!("nginx-{name}"));
        std::fs::create_dir_all(&dir)?;
        let snippets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx/snippets");
        let snippets = snippets.canonicalize().context("deploy/nginx/snippets")?;
        let port = free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx::config(&dir, &snippets, port, site))?;
        let mut command = procs::command(&nginx_bin, self.pinning.server);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
        let proc = Proc::spawn(&format!("nginx-{name}"), command, &dir.join("stdout.log"))?;
        let addr = loopback(port);
        wait_listening(addr).with_context(|| {
            format!(
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            )
        })?;
        Ok((proc, addr))
    }

    /// i) Basic and j) bearer tokens: the real `postern serve` (memory store) with Basic on, one
    /// user; wrk sends the same valid credentials on every request, so after the first one
    /// the Basic cache answers (argon2 runs once) and the bearer check is a signature, a user
    /// lookup and one store read.
    fn headless_rows(&mut self, rows: &mut Vec<Row>) {
        const PASSWORD: &str = "bench headless password";
        if !self.wants("i") && !self.wants("j") {
            return;
        }
        let started = (|| -> anyhow::Result<(Proc, SocketAddr, String)> {
            let port = free_port();
            let addr = loopback(port);
            let hash = postern_core::password::hash_password(PASSWORD.as_bytes())
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            let text = config_with_password(
                &config_toml(&addr.to_string(), &StoreChoice::Memory, 0),
                &hash,
            );
            let config = self.dir.write(
                "postern-headless.toml",
                &format!("{text}\n[api]\nbasic_auth = true\nallow_insecure_basic = true\n"),
            );
            let proc = self.spawn(
                "postern-headless",
                &self.bins.postern,
                &["serve", "--config", &config.display().to_string()],
            )?;
            probe::wait_for(addr, "/api/health", 200, Duration::from_secs(10))?;
            let token = token_endpoint::access_token(addr, PASSWORD)?;
            Ok((proc, addr, token))
        })();
        let (mut server, addr, token) = match started {
            Ok(started) => started,
            Err(err) => {
                for (key, title) in [("i", HEADLESS_TITLES[0]), ("j", HEADLESS_TITLES[1])] {
                    rows.push(Row::failed(key, title, format!("{err:#}")));
                }
                return;
            }
        };
        // No session cookie: a value that does not parse costs no store read.
        let no_cookie = self.dir.path().join("no-session.cookies");
        if let Err(err) = std::fs::write(&no_cookie, "none\n") {
            self.problems
                .push(format!("cannot write {}: {err}", no_cookie.display()));
            return;
        }
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{BENCH_USER}:{PASSWORD}")
            )
        );
        let bearer = format!("Bearer {token}");
        for (key, title, authorization) in [
            ("i", HEADLESS_TITLES[0], basic.as_str()),
            ("j", HEADLESS_TITLES[1], bearer.as_str()),
        ] {
            let mut headers: Vec<(&str, &str)> = CHECK_HEADERS.to_vec();
            headers.push(("Authorization", authorization));
            self.row(
                rows,
                key,
                title,
                (addr, CHECK_PATH, &headers),
                &no_cookie,
                200,
                &mut [&mut server],
            );
        }
        if let Err(err) = server.stop() {
            self.problems.push(format!("crash: {err:#}"));
        }
    }

    /// d) the real `postern serve` with store = "redis", sessions seeded through the Store API;
    /// d2) the same with client-side caching (every session is read from Redis once, then
    /// from the replica's cache until Redis says it changed).
    fn redis_rows(&mut self, rows: &mut Vec<Row>) {
        for (key, title, client_cache) in [
            (
                "d",
                "postern, valid cookie, Redis store, 100k sessions",
                false,
            ),
            (
                "d2",
                "postern, valid cookie, Redis store + client-side cache",
                true,
            ),
        ] {
            if self.wants(key) {
                self.redis_row(rows, key, title, client_cache);
            }
        }
    }

    fn redis_row(
        &mut self,
        rows: &mut Vec<Row>,
        key: &'static str,
        title: &'static str,
        client_cache: bool,
    ) {
        let started = (|| -> anyhow::Result<(RedisServer, Proc, SocketAddr, PathBuf)> {
            let redis = RedisServer::start();
            if let (Some(core), Some(pid)) = (self.pinning.server, redis_pid(redis.port)) {
                let _ = Command::new("taskset")
                    .args(["-pc", &core.to_string(), &pid.to_string()])
                    .output();
            }
            let port = free_port();
            let addr = loopback(port);
            let config = self.dir.write(
                &format!("postern-redis-{key}.toml"),
                &config_toml(
                    &addr.to_string(),
                    &StoreChoice::Redis {
                        url: &redis.url(),
                        client_cache,
                    },
                    0,
                ),
            );
            let loaded = load_config(&config)?;
            let StoreKind::Redis(redis_config) = &loaded.session.store else {
                bail!("the generated config has no Redis store");
            };
            let store = Store::redis(redis_config)?;
            self.note("seeding Redis");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let tokens = runtime.block_on(seed_sessions(
                &store,
                loaded.session.policy,
                self.options.sessions,
                &[],
                64,
            ))?;
            let cookies = self
                .dir
                .write(&format!("redis-{key}.cookies"), &(tokens.join("\n") + "\n"));
            let postern = self.spawn(
                &format!("postern-redis-{key}"),
                &self.bins.postern,
                &["serve", "--config", &config.display().to_string()],
            )?;
            probe::wait_for(addr, "/api/ready", 200, Duration::from_secs(10))?;
            Ok((redis, postern, addr, cookies))
        })();
        match started {
            Ok((redis, mut postern, addr, cookies)) => {
                // redis-server's CPU belongs to the server side too.
                self.extra_pids = redis_pid(redis.port).into_iter().collect();
                // Count only the checks' commands, not the seeding's.
                redis_cli(redis.port, &["config", "resetstat"]);
                self.row(
                    rows,
                    key,
                    title,
                    (addr, CHECK_PATH, &CHECK_HEADERS[..]),
                    &cookies,
                    200,
                    &mut [&mut postern],
                );
                self.extra_pids.clear();
                self.note(&redis_batching(redis.port));
                if let Err(err) = postern.stop() {
                    self.problems.push(format!("crash: {err:#}"));
                }
                drop(redis);
            }
            Err(err) => rows.push(Row::failed(key, title, format!("{err:#}"))),
        }
    }

    /// h) 1 `[[apps]]` against 1000, the checked host matched by a wildcard. h1's runs
    /// alternate with nginx's; h1000's with h1's (`--pairs` of them), so their ratio compares
    /// runs seconds apart: the two rows run minutes apart drifted by more than the target's
    /// 10 % on a busy machine (h1000 ÷ h1 0.85× on the twenty-second session's build, 0.99×
    /// on the twentieth's; one session lookup and the same host index walk in each).
    fn apps_rows(&mut self, rows: &mut Vec<Row>) {
        const ONE: (&str, &str) = ("h1", "postern, valid cookie, 1 `[[apps]]` (wildcard match)");
        const MANY: (&str, &str) = (
            "h1000",
            "postern, valid cookie, 1,000 `[[apps]]` (wildcard match)",
        );
        if !self.wants(ONE.0) && !self.wants(MANY.0) {
            return;
        }
        // h1's server runs for h1000's pairs even when only h1000 is asked for.
        let (mut one, one_addr, one_cookies) = match self.seeded("postern-apps1", 1) {
            Ok(started) => started,
            Err(err) => {
                for row in [ONE, MANY] {
                    if self.wants(row.0) {
                        rows.push(Row::failed(row.0, row.1, format!("{err:#}")));
                    }
                }
                return;
            }
        };
        self.row(
            rows,
            ONE.0,
            ONE.1,
            (one_addr, CHECK_PATH, &CHECK_HEADERS[..]),
            &one_cookies,
            200,
            &mut [&mut one],
        );
        if self.wants(MANY.0) {
            let against_one = Paired {
                key: ONE.0,
                url: format!("http://{one_addr}{CHECK_PATH}"),
                pids: procs::with_children(one.pid()),
                runs: self.options.pairs,
                own: Some((one_addr, one_cookies.clone())),
            };
            match self.seeded("postern-apps1000", 1000) {
                Ok((mut many, addr, cookies)) => {
                    self.row_against(against_one, rows, MANY, (addr, &cookies), &mut many);
                    if let Err(err) = many.stop() {
                        self.problems.push(format!("crash: {err:#}"));
                    }
                }
                Err(err) => rows.push(Row::failed(MANY.0, MANY.1, format!("{err:#}"))),
            }
        }
        if let Err(err) = one.stop() {
            self.problems.push(format!("crash: {err:#}"));
        }
    }

    /// Median times of failed `POST /api/login`s, alternating an unknown user and a wrong
    /// password for the real one, from a fresh address each time (through the trusted
    /// loopback proxy) so no limit answers for the password check.
    fn login_timing(&self) -> anyhow::Result<(f64, f64)> {
        let rounds = if self.options.quick { 10 } else { 40 };
        let port = free_port();
        let addr = loopback(port);
        let config = self.dir.write(
            "postern-logins.toml",
            &format!(
                "{}\n[limits]\nmax_failures_per_ip = 100\nmax_failures_per_user = 100\napi_burst = 100000\napi_rate = 100000\n",
                config_toml(&addr.to_string(), &StoreChoice::Memory, 0)
            ),
        );
        let server = self.spawn(
            "postern-logins",
            &self.bins.postern,
            &["serve", "--config", &config.display().to_string()],
        )?;
        probe::wait_for(addr, "/api/health", 200, Duration::from_secs(10))?;
        let mut unknown = Vec::new();
        let mut wrong = Vec::new();
        for round in 0..rounds {
            for (user, times) in [
                (format!("nobody{round}"), &mut unknown),
                (BENCH_USER.to_owned(), &mut wrong),
            ] {
                let body = format!("{{\"username\":\"{user}\",\"password\":\"not the password\"}}");
                let forwarded = format!("10.{}.{}.1", round / 250, round % 250);
                let start = Instant::now();
                let status = probe::post_status(
                    addr,
                    "/api/login",
                    &body,
                    &[("X-Forwarded-For", &forwarded)],
                )?;
                anyhow::ensure!(status == 401, "a failed sign-in answered {status}");
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let _ = server.stop();
        let median = |times: &mut Vec<f64>| {
            times.sort_by(f64::total_cmp);
            times.get(times.len() / 2).copied().unwrap_or(0.0)
        };
        Ok((median(&mut unknown), median(&mut wrong)))
    }

    /// Idle RSS, cold start, 10k idle keep-alive connections (g), binary size.
    fn footprint(&mut self, footprint: &mut Footprint) {
        let config_for = |dir: &TempDir, port: u16| {
            dir.write(
                &format!("serve-{port}.toml"),
                &config_toml(&loopback(port).to_string(), &StoreChoice::Memory, 0),
            )
        };
        self.note("cold start");
        let mut starts = Vec::new();
        for _ in 0..self.options.cold_starts {
            let port = free_port();
            let config = config_for(&self.dir, port);
            let start = Instant::now();
            let started = self
                .spawn(
                    "postern-cold",
                    &self.bins.postern,
                    &["serve", "--config", &config.display().to_string()],
                )
                .and_then(|proc| {
                    probe::wait_for(loopback(port), "/api/health", 200, Duration::from_secs(10))?;
                    Ok(proc)
                });
            match started {
                Ok(proc) => {
                    starts.push(start.elapsed().as_secs_f64() * 1000.0);
                    let _ = proc.stop();
                }
                Err(err) => self.problems.push(format!("cold start: {err:#}")),
            }
        }
        starts.sort_by(f64::total_cmp);
        if let (Some(median), Some(best)) = (starts.get(starts.len() / 2), starts.first()) {
            footprint.cold_start_ms = Some((*median, *best));
        }

        self.note("failed sign-ins: unknown user against wrong password");
        match self.login_timing() {
            Ok(medians) => footprint.login_ms = Some(medians),
            Err(err) => self.problems.push(format!("login timing: {err:#}")),
        }

        self.note(&format!(
            "g) {} idle keep-alive connections",
            self.options.idle_connections
        ));
        let postern = (|| -> anyhow::Result<(u64, (usize, u64, u64))> {
            let port = free_port();
            let config = config_for(&self.dir, port);
            let postern = self.spawn(
                "postern-idle",
                &self.bins.postern,
                &["serve", "--config", &config.display().to_string()],
            )?;
            let addr = loopback(port);
            probe::wait_for(addr, "/api/health", 200, Duration::from_secs(10))?;
            self.idle_connections(postern, addr, "/api/health")
        })();
        match postern {
            Ok((idle_rss, conns)) => {
                footprint.idle_rss_kib = Some(idle_rss);
                footprint.idle_conns = Some(conns);
            }
            Err(err) => self.problems.push(format!("g) idle connections: {err:#}")),
        }
        // The same against bare hyper, to tell postern's share from hyper's and tokio's.
        match self
            .bare("bare-idle")
            .and_then(|(bare, addr)| self.idle_connections(bare, addr, "/"))
        {
            Ok((_, conns)) => footprint.idle_conns_bare = Some(conns),
            Err(err) => self
                .problems
                .push(format!("g) idle connections to bare hyper: {err:#}")),
        }
        self.note("binary size");
        footprint.binary = binary_size(&self.bins.postern, &self.dir);
    }
}

impl Bench<'_> {
    /// RSS of `server` when it settled, then with `idle_connections` idle keep-alive
    /// connections open (each has sent one `GET path`).
    fn idle_connections(
        &self,
        mut server: Proc,
        addr: SocketAddr,
        path: &str,
    ) -> anyhow::Result<(u64, (usize, u64, u64))> {
        std::thread::sleep(Duration::from_millis(300));
        let before = procs::rss_kib(server.pid())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let count = self.options.idle_connections;
        let connections = runtime.block_on(probe::idle_connections(addr, path, count))?;
        self.note(&format!("  {count} connections open to {}", server.name));
        std::thread::sleep(Duration::from_millis(500));
        let after = procs::rss_kib(server.pid())?;
        server.alive()?;
        drop(connections);
        let name = server.name.clone();
        server.stop()?;
        self.note(&format!("  {name} stopped"));
        Ok((before, (count, before, after)))
    }
}

/// `text` (a `config_toml`) with the bench user's password hash replaced by `hash`.
fn config_with_password(text: &str, hash: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("password_hash") {
                format!("password_hash = \"{hash}\"\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// `1.012× the paired row's (0.950–1.081)`: the median per-pair ratio of the row's own CPU
/// per request to its paired row's, and their spread.
fn own_cpu_to_pair(m: &report::Measured) -> String {
    match m.paired_own_cpu_ratio {
        Some(ratio) => format!(
            "{ratio:.3}× the paired row's{}",
            report::cpu_spread(m).map_or_else(String::new, |s| format!(" ({s})"))
        ),
        None => "–".to_owned(),
    }
}

fn row_order(key: &str) -> usize {
    [
        "a", "a2", "b", "c", "c2", "c3", "c3u", "m", "d", "d2", "e", "f1", "f2", "f2i", "f2n",
        "f3", "t1", "t2", "t2i", "t3", "y1", "y2", "y2i", "y3", "h1", "h1000", "i", "j", "k1",
        "k2",
    ]
    .iter()
    .position(|k| *k == key)
    .unwrap_or(usize::MAX)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until something accepts connections on `addr`.
fn wait_listening(addr: SocketAddr) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("nothing listens on {addr}")
}

/// How many commands redis-server ran per socket read since the last `CONFIG RESETSTAT`:
/// above 1 means the
/// multiplexed connection batched concurrent checks into one write.
fn redis_batching(port: u16) -> String {
    let stats = redis_cli(port, &["info", "stats"]);
    let field = |name: &str| -> Option<f64> {
        stats.lines().find_map(|line| {
            line.trim()
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|value| value.parse().ok())
        })
    };
    match (
        field("total_commands_processed"),
        field("total_reads_processed"),
    ) {
        (Some(commands), Some(reads)) if reads > 0.0 => format!(
            "redis-server: {commands} commands in {reads} reads ({:.2} per read)",
            commands / reads
        ),
        _ => "redis-server: no command/read counts in INFO stats".to_owned(),
    }
}

fn redis_pid(port: u16) -> Option<u32> {
    redis_cli(port, &["info", "server"])
        .lines()
        .find_map(|line| line.trim().strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Builds (unless `--no-build`: `build.rs`) and finds the release binaries next to this one.
fn binaries(options: &Options) -> anyhow::Result<Bins> {
    let dir = build::own_dir()?;
    if options.build {
        build::build(&dir, options.pgo)?;
    }
    let bins = Bins {
        postern: dir.join("postern"),
        bare: dir.join("bare"),
        floor: dir.join("floor"),
        seeded: dir.join("postern-seeded"),
        build: build::describe(&dir),
    };
    for bin in [&bins.postern, &bins.bare, &bins.floor, &bins.seeded] {
        if !bin.is_file() {
            bail!("{} is missing: run without --no-build", bin.display());
        }
    }
    Ok(bins)
}

/// The `dist` profile's binary when it exists (fat LTO, stripped), else a stripped copy of
/// the release binary.
fn binary_size(release: &Path, dir: &TempDir) -> Option<(String, u64)> {
    let dist = release.parent()?.parent()?.join("dist/postern");
    if let Ok(meta) = std::fs::metadata(&dist) {
        return Some(("`dist` profile: fat LTO, stripped".to_owned(), meta.len()));
    }
    let copy = dir.path().join("postern-stripped");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(release)
        .status()
        .ok()?;
    if !stripped.success() {
        return None;
    }
    let size = std::fs::metadata(&copy).ok()?.len();
    Some(("`release` profile, stripped with strip(1)".to_owned(), size))
}

fn targets(rows: &[Row], footprint: &Footprint) -> Vec<Target> {
    let nginx_cpu = report::find(rows, "b").map(Measured::cpu_us_per_request);
    let nginx_rate = report::find(rows, "b").map(|m| m.requests_per_sec);
    // CPU per request ÷ nginx `return 200`'s: paired when the runs alternated with b's (the
    // nginx runs seconds apart, under the same load), else against b's row; `own` counts the
    // first server alone (postern without Redis).
    let unpaired_cpu_ratio = |m: &Measured, own: bool| -> Option<f64> {
        let cpu = if own { m.own_cpu_us } else { m.cpu_us };
        nginx_cpu.filter(|n| *n > 0.0).map(|n| cpu / n)
    };
    let cpu_ratio = |m: &Measured, own: bool| -> Option<f64> {
        let paired = if own {
            m.paired_own_cpu_ratio
        } else {
            m.paired_cpu_ratio
        };
        paired
            .filter(|_| m.paired_with == Some("b"))
            .or_else(|| unpaired_cpu_ratio(m, own))
    };
    let mut targets = Vec::new();
    let cpu_target = |what, target, key: &str, max: f64, own: bool, p99: Option<f64>| {
        let row = report::find(rows, key);
        let found = row.and_then(|m| {
            cpu_ratio(m, own).map(|r| (r, m.p99_ms, report::ratio_to_reference(m, nginx_rate)))
        });
        // When paired, b's own row is said beside it: the two read differently when the
        // machine drifted between b's row and this one.
        let against_b = row
            .filter(|m| m.paired_with == Some("b"))
            .and_then(|m| unpaired_cpu_ratio(m, own))
            .map_or_else(String::new, |r| format!(" (paired; {r:.2}× against row b)"));
        Target {
            what,
            target,
            measured: found.map_or_else(
                || "–".to_owned(),
                |(r, p, rate)| {
                    let rate = rate
                        .map_or_else(String::new, |rate| format!(", throughput {rate:.2}× nginx"));
                    match p99 {
                        Some(_) => format!("{r:.2}× CPU/req{against_b}, p99 {p:.3} ms{rate}"),
                        None => format!("{r:.2}× CPU/req{against_b}{rate}"),
                    }
                },
            ),
            met: found.map(|(r, p, _)| r <= max && p99.is_none_or(|limit| p < limit)),
        }
    };
    targets.push(cpu_target(
        "valid cookie, memory store (c)",
        "≤ 1.25× nginx `return 200`'s CPU per request, p99 < 1 ms",
        "c",
        1.25,
        false,
        Some(1.0),
    ));
    targets.push(cpu_target(
        "valid cookie, Redis store (d), postern's own CPU",
        "≤ 2.0× nginx `return 200`'s CPU per request",
        "d",
        2.0,
        true,
        None,
    ));
    targets.push(cpu_target(
        "valid cookie, Redis + client-side cache (d2), postern's own CPU",
        "≤ 1.35× nginx `return 200`'s CPU per request",
        "d2",
        1.35,
        true,
        None,
    ));
    // Paired: f3's runs alternate with f2's (same proxy, same load), and so do f2i's.
    let to_stub = |row: &str, stub: &str| {
        report::find(rows, row).and_then(|m| {
            m.paired_ratio
                .filter(|_| m.paired_with == Some(stub))
                .or_else(|| {
                    report::find(rows, stub)
                        .map(|s| m.requests_per_sec / s.requests_per_sec.max(1.0))
                })
        })
    };
    let shown = |row: &str, ratio: Option<f64>| {
        let spread = report::find(rows, row).and_then(report::spread);
        match (ratio, spread) {
            (Some(r), Some(spread)) => format!("{r:.2}× ({spread})"),
            (Some(r), None) => format!("{r:.2}×"),
            (None, _) => "–".to_owned(),
        }
    };
    for (what, postern, stub, identity_what, identity_stub) in [
        (
            "through nginx: postern ÷ stub (f3 ÷ f2)",
            "f3",
            "f2",
            "through nginx: stub with postern's headers ÷ stub (f2i ÷ f2)",
            "f2i",
        ),
        (
            "through traefik: postern ÷ stub (t3 ÷ t2)",
            "t3",
            "t2",
            "through traefik: stub with postern's headers ÷ stub (t2i ÷ t2)",
            "t2i",
        ),
        (
            "through caddy: postern ÷ stub (y3 ÷ y2)",
            "y3",
            "y2",
            "through caddy: stub with postern's headers ÷ stub (y2i ÷ y2)",
            "y2i",
        ),
    ] {
        let found = to_stub(postern, stub);
        targets.push(Target {
            what,
            target: "≥ 0.95× the throughput with a stub auth server (empty 200)",
            measured: shown(postern, found),
            met: found.map(|r| r >= 0.95),
        });
        targets.push(Target {
            what: identity_what,
            target: "no target: what passing the identity on costs the proxy itself",
            measured: shown(identity_stub, to_stub(identity_stub, stub)),
            met: None,
        });
    }
    // nginx's own `return 200` as the stub: the reference issue #13 first measured the nginx
    // row against. Both rows are paired with f2, so postern against it is their quotient.
    let nginx_stub = to_stub("f2n", "f2");
    let postern_to_nginx_stub = to_stub("f3", "f2")
        .zip(nginx_stub)
        .map(|(postern, stub)| postern / stub.max(1e-9));
    targets.push(Target {
        what: "through nginx: nginx `return 200` stub ÷ stub (f2n ÷ f2)",
        target: "no target: the other cheapest stub; f3 ÷ f2n is f3 ÷ f2 divided by this",
        measured: match postern_to_nginx_stub {
            Some(ratio) => format!("{}; f3 ÷ f2n {ratio:.2}×", shown("f2n", nginx_stub)),
            None => shown("f2n", nginx_stub),
        },
        met: None,
    });
    let rate_ratio =
        |key: &str| report::find(rows, key).and_then(|m| report::ratio_to_reference(m, nginx_rate));
    // h1000's runs alternate with h1's (`apps_rows`): the median of the per-pair ratios.
    let many_paired = report::find(rows, "h1000").filter(|m| m.paired_with == Some("h1"));
    let h1000_over_h1 = many_paired.and_then(|m| m.paired_ratio).or_else(|| {
        rate_ratio("h1000")
            .zip(rate_ratio("h1"))
            .map(|(many, one)| many / one.max(1e-9))
    });
    targets.push(Target {
        what: "1,000 `[[apps]]` against 1 (h1000 ÷ h1)",
        target: "within 10 % (≥ 0.9×)",
        measured: h1000_over_h1.map_or_else(
            || "–".to_owned(),
            |r| match many_paired.and_then(report::spread) {
                // Both rows are often client-bound, which pulls the throughput ratio
                // towards 1: the paired CPU ratio beside it says what the server paid.
                Some(spread) => format!(
                    "{r:.2}× (paired with h1, {spread}); CPU/req {}",
                    many_paired.map_or_else(|| "–".to_owned(), own_cpu_to_pair)
                ),
                None => format!("{r:.2}×"),
            },
        ),
        met: h1000_over_h1.map(|r| r >= 0.9),
    });
    // What metrics and the identity token add to a check (m ÷ c, c3 ÷ c, own CPU): their
    // runs alternate with c's, so the median of the per-pair ratios; the rows' medians beside.
    let against_c = |key: &str| {
        let own_cpu = |key: &str| report::find(rows, key).map(|m| m.own_cpu_us);
        let medians = own_cpu(key)
            .zip(own_cpu("c"))
            .map(|(row, c)| row / c.max(1e-9));
        let paired = report::find(rows, key).filter(|m| m.paired_with == Some("c"));
        let ratio = paired.and_then(|m| m.paired_own_cpu_ratio).or(medians);
        let measured = match (ratio, paired) {
            (Some(r), Some(m)) => format!(
                "{r:.3}× CPU/req (paired with c, median of {} pairs{}{})",
                m.paired_range.map_or(1, |(_, _, pairs)| pairs),
                report::cpu_spread(m).map_or_else(String::new, |s| format!(", {s}")),
                medians.map_or_else(String::new, |x| format!("; rows' medians {x:.3}×")),
            ),
            (Some(r), None) => format!("{r:.3}× CPU/req"),
            (None, _) => "–".to_owned(),
        };
        (ratio, measured)
    };
    for (key, what, target, most) in [
        (
            "m",
            "metrics on, valid cookie (m ÷ c)",
            "≤ 3 % more CPU per check (≤ 1.03×)",
            1.03,
        ),
        (
            "c3",
            "identity_token on, valid cookie, CPU (c3 ÷ c)",
            "≤ 5 % more CPU per check (≤ 1.05×; issue #13)",
            1.05,
        ),
    ] {
        let (cost, measured) = against_c(key);
        targets.push(Target {
            what,
            target,
            measured,
            met: cost.map(|r| r <= most),
        });
    }
    // Row c3's checks are one user's, which each worker thread's last token answers; c3u's
    // interleave eight users, so they go to the token cache's table (scenarios/identity.rs).
    targets.push(Target {
        what: "identity_token on, 8 users' checks interleaved, CPU (c3u ÷ c)",
        target: "no target: the token cache's table, not a thread's last token",
        measured: against_c("c3u").1,
        met: None,
    });
    // Throughput with the token against without (issue #17): paired with c when c3 was.
    let identity_over_memory = report::find(rows, "c3")
        .filter(|m| m.paired_with == Some("c"))
        .and_then(|m| m.paired_ratio)
        .or_else(|| {
            rate_ratio("c3")
                .zip(rate_ratio("c"))
                .map(|(c3, c)| c3 / c.max(1e-9))
        });
    targets.push(Target {
        what: "identity_token on, valid cookie, throughput (c3 ÷ c)",
        target: "≥ 0.85× the check without it (issue #17)",
        measured: identity_over_memory.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
        met: identity_over_memory.map(|r| r >= 0.85),
    });
    let basic_over_memory = rate_ratio("i")
        .zip(rate_ratio("c"))
        .map(|(i, c)| i / c.max(1e-9));
    targets.push(Target {
        what: "Basic auth, cached (i ÷ c)",
        target: "≥ 0.8× the memory-store cookie check",
        measured: basic_over_memory.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
        met: basic_over_memory.map(|r| r >= 0.8),
    });
    let memory = |what, target, kib: Option<u64>, limit_mib: f64| Target {
        what,
        target,
        measured: kib.map_or_else(|| "–".to_owned(), report::mib),
        met: kib.map(|kib| (kib as f64 / 1024.0) < limit_mib),
    };
    targets.push(memory("idle RSS", "< 20 MB", footprint.idle_rss_kib, 20.0));
    targets.push(memory(
        "RSS with 100k sessions",
        "< 48 MB",
        footprint.sessions_rss_kib,
        48.0,
    ));
    targets.push(memory(
        "RSS with 10k idle connections",
        "< 160 MB",
        footprint.idle_conns.map(|(_, _, after)| after),
        160.0,
    ));
    targets.push(Target {
        what: "cold start",
        target: "< 50 ms",
        measured: footprint
            .cold_start_ms
            .map_or_else(|| "–".to_owned(), |(median, _)| format!("{median:.1} ms")),
        met: footprint.cold_start_ms.map(|(median, _)| median < 50.0),
    });
    let login_ratio = footprint
        .login_ms
        .map(|(unknown, wrong)| unknown / wrong.max(1e-9));
    targets.push(Target {
        what: "failed sign-in time, unknown user ÷ wrong password",
        target: "within 10 % (0.9× to 1.1×)",
        measured: login_ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
        met: login_ratio.map(|r| (0.9..=1.1).contains(&r)),
    });
    targets.push(Target {
        what: "binary size, stripped",
        target: "< 15 MB",
        measured: footprint.binary.as_ref().map_or_else(
            || "–".to_owned(),
            |(_, bytes)| format!("{:.2} MiB", *bytes as f64 / 1_048_576.0),
        ),
        met: footprint
            .binary
            .as_ref()
            .map(|(_, bytes)| (*bytes as f64 / 1_048_576.0) < 15.0),
    });
    targets
}

/// The target for a burst of wrong Basic passwords: peak RSS < 256 MB and the
/// valid-cookie checks meanwhile with p99 < 10 ms.
fn burst_target(burst: &Burst) -> Target {
    let peak_mib = burst.rss_kib.1 as f64 / 1024.0;
    Target {
        what: match burst.key {
            "k1" => "burst of wrong Basic passwords, one address (k1)",
            _ => "burst of wrong Basic passwords, every one verified (k2)",
        },
        target: "peak RSS < 256 MB, cookie checks p99 < 10 ms",
        measured: format!(
            "{} wrong: peak {}, p99 {:.3} ms",
            burst.size,
            report::mib(burst.rss_kib.1),
            burst.cookies.p99_ms
        ),
        met: Some(peak_mib < 256.0 && burst.cookies.p99_ms < 10.0),
    }
}

fn machine(cores: usize, pinning: &Pinning, build: &str) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|model| model.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("-v")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    vec![
        ("nproc".to_owned(), cores.to_string()),
        ("CPU".to_owned(), cpu),
        ("kernel".to_owned(), kernel),
        ("load average at start".to_owned(), load),
        ("load generator".to_owned(), wrk),
        ("pinning".to_owned(), pinning.describe()),
        ("build".to_owned(), build.to_owned()),
    ]
}

fn command_line(args: &[String]) -> String {
    let mut command = "cargo run --release -p postern-bench --".to_owned();
    for arg in args {
        command.push(' ');
        command.push_str(arg);
    }
    command
}

/// Today's date (UTC) as YYYY-MM-DD, from `date`.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|date| !date.is_empty())
        .unwrap_or_else(|| "unknown-date".to_owned())
}
