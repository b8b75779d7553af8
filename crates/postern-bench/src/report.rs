//! The Markdown report: machine, command, the throughput table with ratios to bare hyper
//! measured in the same run, the memory/startup/size figures, and the targets.

use std::fmt::Write as _;

/// One throughput scenario, summarised over its runs.
#[derive(Debug, Clone)]
pub struct Measured {
    pub requests_per_sec: f64,
    /// Median of (this run ÷ the bare hyper run just before it), when runs were paired.
    pub paired_ratio: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server-side CPU (every server process of the scenario), in % of one core.
    pub cpu_percent: f64,
    /// RSS of the main server process after the runs, in KiB.
    pub rss_kib: u64,
    pub bad_status: u64,
    pub socket_errors: u64,
}

impl Measured {
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.requests_per_sec > 0.0 {
            self.cpu_percent / 100.0 * 1e6 / self.requests_per_sec
        } else {
            0.0
        }
    }
}

pub struct Row {
    pub key: &'static str,
    pub title: &'static str,
    pub outcome: Outcome,
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

/// The ratio to bare hyper: paired when the runs alternated with bare hyper runs, else
/// against scenario a's median.
pub fn ratio_to_bare(measured: &Measured, bare: Option<f64>) -> Option<f64> {
    measured.paired_ratio.or_else(|| {
        bare.filter(|bare| *bare > 0.0)
            .map(|bare| measured.requests_per_sec / bare)
    })
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
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
            "| scenario | req/s | × bare hyper (paired) | p50 | p99 | server CPU | CPU/req | CPU/req ÷ bare | RSS | non-2xx/3xx, socket errors |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        let bare = find(self.rows, "a").map(|bare| bare.requests_per_sec);
        let bare_cpu = find(self.rows, "a").map(Measured::cpu_us_per_request);
        for row in self.rows {
            let line = match &row.outcome {
                Outcome::Measured(m) => format!(
                    "| {}) {} | {:.0} | {} | {:.3} ms | {:.3} ms | {:.0} % | {:.1} µs | {} | {} | {}, {} |",
                    row.key,
                    row.title,
                    m.requests_per_sec,
                    ratio_to_bare(m, bare).map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
                    m.p50_ms,
                    m.p99_ms,
                    m.cpu_percent,
                    m.cpu_us_per_request(),
                    bare_cpu.filter(|bare| *bare > 0.0).map_or_else(
                        || "–".to_owned(),
                        |bare| format!("{:.2}×", m.cpu_us_per_request() / bare)
                    ),
                    mib(m.rss_kib),
                    m.bad_status,
                    m.socket_errors,
                ),
                Outcome::Failed(err) => format!(
                    "| {}) {} | **failed**: {} | | | | | | | | |",
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
