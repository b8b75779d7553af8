//! The Markdown report: machine, command, the throughput table with CPU per request and
//! ratios to nginx `return 200` measured in the same run, the memory/startup/size figures,
//! and the targets.

use std::fmt::Write as _;

/// One throughput scenario, summarised over its runs (each figure is the median over them).
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub requests_per_sec: f64,
    /// The row whose runs alternated with this one's: nginx `return 200` (b) for the checks,
    /// c for m, c3 and c3u, h1 for h1000, the bare hyper stub behind the same proxy for the
    /// postern-behind-a-proxy rows.
    pub paired_with: Option<&'static str>,
    /// Median of (this run's req/s ÷ the paired row's run beside it), with the same requests
    /// and the same client load.
    pub paired_ratio: Option<f64>,
    /// The lowest and highest of those per-run ratios, and how many runs there were.
    pub paired_range: Option<(f64, f64, usize)>,
    /// Median of (this run's CPU per request ÷ the reference run's), when paired.
    pub paired_cpu_ratio: Option<f64>,
    /// The same with the first server's own CPU (postern without redis-server).
    pub paired_own_cpu_ratio: Option<f64>,
    /// The lowest and highest of those per-run own-CPU ratios.
    pub paired_own_cpu_range: Option<(f64, f64)>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server-side CPU (every server process of the scenario), in % of one core.
    pub cpu_percent: f64,
    /// Server-side CPU time per completed request (utime + stime over the run ÷ requests).
    pub cpu_us: f64,
    /// The same for the scenario's first server alone (postern without redis-server, the
    /// proxy without its auth server and app).
    pub own_cpu_us: f64,
    /// wrk's CPU, in % of its core: near 100 % the client, not the server, caps req/s.
    pub client_cpu_percent: f64,
    /// wrk's CPU time per request.
    pub client_cpu_us: f64,
    /// RSS of the main server process after the runs, in KiB.
    pub rss_kib: u64,
    pub bad_status: u64,
    pub socket_errors: u64,
}

/// From this wrk CPU share on, a row says its client core was saturated.
pub const CLIENT_SATURATED_PERCENT: f64 = 90.0;

impl Measured {
    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu_us
    }

    pub fn client_saturated(&self) -> bool {
        self.client_cpu_percent >= CLIENT_SATURATED_PERCENT
    }
}

pub struct Row {
    pub key: &'static str,
    pub title: &'static str,
    pub outcome: Outcome,
}

impl Row {
    /// A row that could not be measured, and why: the report says so instead of "not
    /// measured".
    pub fn failed(key: &'static str, title: &'static str, why: String) -> Self {
        Self {
            key,
            title,
            outcome: Outcome::Failed(why),
        }
    }
}

pub enum Outcome {
    Measured(Measured),
    Failed(String),
}

#[derive(Default)]
pub struct Footprint {
    pub idle_rss_kib: Option<u64>,
    pub sessions_rss_kib: Option<u64>,
    /// (connections, RSS before, RSS with them open), in KiB.
    pub idle_conns: Option<(usize, u64, u64)>,
    pub idle_conns_bare: Option<(usize, u64, u64)>,
    pub cold_start_ms: Option<(f64, f64)>,
    pub binary: Option<(String, u64)>,
    /// Median `POST /api/login` time for an unknown user and for a wrong password, in ms.
    pub login_ms: Option<(f64, f64)>,
}

/// A burst of wrong Basic passwords fired while wrk checks valid cookies.
pub struct Burst {
    pub key: &'static str,
    pub title: &'static str,
    /// How many wrong requests, all in flight at once.
    pub size: usize,
    pub answers: crate::probe::BurstAnswers,
    /// The status of one more wrong request sent after the burst.
    pub next_status: Option<u16>,
    /// VmRSS before the burst, the peak (VmHWM, reset just before it), and VmRSS after, in KiB.
    pub rss_kib: (u64, u64, u64),
    /// The valid-cookie checks that ran meanwhile.
    pub cookies: Measured,
}

pub struct Target {
    pub what: &'static str,
    pub target: &'static str,
    pub measured: String,
    pub met: Option<bool>,
}

pub struct Report<'a> {
    pub date: String,
    pub command: String,
    pub machine: Vec<(String, String)>,
    pub settings: String,
    pub rows: &'a [Row],
    pub footprint: &'a Footprint,
    pub bursts: &'a [Burst],
    pub targets: &'a [Target],
    pub elapsed_secs: f64,
}

pub fn find<'r>(rows: &'r [Row], key: &str) -> Option<&'r Measured> {
    rows.iter()
        .find(|row| row.key == key)
        .and_then(|row| match &row.outcome {
            Outcome::Measured(measured) => Some(measured),
            _ => None,
        })
}

/// The throughput ratio to the reference (nginx `return 200`): paired when the runs
/// alternated with reference runs, else against the reference row's median.
pub fn ratio_to_reference(measured: &Measured, reference: Option<f64>) -> Option<f64> {
    // A row paired with another (m with c, h1000 with h1) has its ratio to that row, not b.
    let to_b = measured
        .paired_ratio
        .filter(|_| measured.paired_with == Some("b"));
    to_b.or_else(|| {
        reference
            .filter(|reference| *reference > 0.0)
            .map(|reference| measured.requests_per_sec / reference)
    })
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `0.91–1.04 in 7 pairs`: how far the per-run ratios behind a median spread, when there was
/// more than one run.
pub fn spread(m: &Measured) -> Option<String> {
    match m.paired_range {
        Some((low, high, runs)) if runs > 1 => Some(format!("{low:.2}–{high:.2} in {runs} pairs")),
        _ => None,
    }
}

/// `0.97–1.06`: how far the per-run own-CPU ratios behind a paired median spread.
pub fn cpu_spread(m: &Measured) -> Option<String> {
    m.paired_own_cpu_range
        .map(|(low, high)| format!("{low:.3}–{high:.3}"))
}

/// Server CPU per request; when the first server is not the only one, its own share too.
fn cpu_cell(m: &Measured) -> String {
    if (m.own_cpu_us - m.cpu_us).abs() < 0.05 {
        format!("{:.1} µs", m.cpu_us)
    } else {
        format!("{:.1} µs ({:.1} µs first server)", m.cpu_us, m.own_cpu_us)
    }
}

impl Report<'_> {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# postern benchmark, {}\n", self.date);
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        for (name, value) in &self.machine {
            let _ = writeln!(out, "- {name}: {value}");
        }
        let _ = writeln!(out, "- settings: {}", self.settings);
        let _ = writeln!(out, "- harness run time: {:.0} s\n", self.elapsed_secs);
        let _ = writeln!(
            out,
            "| scenario | CPU/req | CPU/req ÷ nginx | req/s | req/s ÷ paired row | CPU/req ÷ bare hyper | p50 | p99 | server CPU | wrk CPU (µs/req) | RSS | non-2xx/3xx, socket errors |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        let cpu_of = |key| find(self.rows, key).map(Measured::cpu_us_per_request);
        let (nginx_cpu, bare_cpu) = (cpu_of("b"), cpu_of("a"));
        let ratio = |value: f64, reference: Option<f64>| {
            reference.filter(|reference| *reference > 0.0).map_or_else(
                || "–".to_owned(),
                |reference| format!("{:.2}×", value / reference),
            )
        };
        for row in self.rows {
            let line = match &row.outcome {
                Outcome::Measured(m) => format!(
                    "| {}) {} | {} | {} | {:.0} | {} | {} | {:.3} ms | {:.3} ms | {:.0} % | {:.0} % ({:.1} µs){} | {} | {}, {} |",
                    row.key,
                    row.title,
                    cpu_cell(m),
                    match (m.paired_with, m.paired_cpu_ratio) {
                        (Some("b"), Some(r)) => format!("{r:.2}× (paired)"),
                        _ => ratio(m.cpu_us, nginx_cpu),
                    },
                    m.requests_per_sec,
                    match (m.paired_with, m.paired_ratio) {
                        (Some(with), Some(r)) => match spread(m) {
                            Some(spread) => format!("{r:.2}× (÷ {with}; {spread})"),
                            None => format!("{r:.2}× (÷ {with})"),
                        },
                        _ => "–".to_owned(),
                    },
                    ratio(m.cpu_us, bare_cpu),
                    m.p50_ms,
                    m.p99_ms,
                    m.cpu_percent,
                    m.client_cpu_percent,
                    m.client_cpu_us,
                    if m.client_saturated() {
                        " **client-bound**"
                    } else {
                        ""
                    },
                    mib(m.rss_kib),
                    m.bad_status,
                    m.socket_errors,
                ),
                Outcome::Failed(err) => format!(
                    "| {}) {} | **failed**: {} | | | | | | | | | | |",
                    row.key,
                    row.title,
                    err.replace('\n', " ").replace('|', "/")
                ),
            };
            let _ = writeln!(out, "{line}");
        }
        self.bursts_table(&mut out);
        let f = self.footprint;
        let _ = writeln!(out, "\n| footprint | value |\n| --- | ---: |");
        let opt = |value: Option<String>| value.unwrap_or_else(|| "not measured".to_owned());
        let _ = writeln!(
            out,
            "| idle RSS (`postern serve`, memory store, after /api/health) | {} |",
            opt(f.idle_rss_kib.map(mib))
        );
        let _ = writeln!(
            out,
            "| RSS with 100k sessions (memory store, after the load) | {} |",
            opt(f.sessions_rss_kib.map(mib))
        );
        let conns = |conns: Option<(usize, u64, u64)>| {
            opt(conns.map(|(count, before, after)| {
                format!(
                    "{} with {count} open (from {}; {:.1} KiB per connection)",
                    mib(after),
                    mib(before),
                    after.saturating_sub(before) as f64 / count.max(1) as f64
                )
            }))
        };
        let _ = writeln!(
            out,
            "| g) RSS with idle keep-alive connections, postern | {} |",
            conns(f.idle_conns)
        );
        let _ = writeln!(
            out,
            "| g) the same, bare hyper (reference) | {} |",
            conns(f.idle_conns_bare)
        );
        let _ = writeln!(
            out,
            "| cold start, spawn → first `/api/health` 200 | {} |",
            opt(f
                .cold_start_ms
                .map(|(median, best)| format!("{median:.1} ms median ({best:.1} ms best)")))
        );
        let _ = writeln!(
            out,
            "| failed `POST /api/login`, median: unknown user / wrong password | {} |",
            opt(f
                .login_ms
                .map(|(unknown, wrong)| format!("{unknown:.1} ms / {wrong:.1} ms")))
        );
        let _ = writeln!(
            out,
            "| binary size | {} |",
            opt(f
                .binary
                .as_ref()
                .map(|(how, bytes)| format!("{:.2} MiB ({how})", *bytes as f64 / 1_048_576.0)))
        );
        let _ = writeln!(
            out,
            "\n| target | wanted | measured | |\n| --- | --- | --- | --- |"
        );
        for target in self.targets {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None if target.measured != "–" => "–",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                target.what, target.target, target.measured
            );
        }
        out
    }
}

impl Report<'_> {
    /// k) How the wrong Basic passwords were answered, what they cost in memory, and what the
    /// valid-cookie checks saw meanwhile.
    fn bursts_table(&self, out: &mut String) {
        if self.bursts.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n| burst | wrong requests | answers | took | the next one after it | RSS before / peak / after | cookie checks meanwhile: req/s, p99 |\n| --- | ---: | --- | ---: | ---: | --- | --- |"
        );
        for burst in self.bursts {
            let mut answers: Vec<String> = burst
                .answers
                .statuses
                .iter()
                .map(|(status, count)| format!("{count} × {status}"))
                .collect();
            if burst.answers.failed > 0 {
                answers.push(format!("{} without an answer", burst.answers.failed));
            }
            let (before, peak, after) = burst.rss_kib;
            let _ = writeln!(
                out,
                "| {}) {} | {} | {} | {:.2} s | {} | {} / {} / {} | {:.0}, {:.3} ms |",
                burst.key,
                burst.title,
                burst.size,
                answers.join(", "),
                burst.answers.took.as_secs_f64(),
                burst
                    .next_status
                    .map_or_else(|| "no answer".to_owned(), |status| status.to_string()),
                mib(before),
                mib(peak),
                mib(after),
                burst.cookies.requests_per_sec,
                burst.cookies.p99_ms,
            );
        }
    }
}
