//! `postern-bench [--quick]`: postern against bare hyper and nginx under wrk, on loopback,
//! with the servers and wrk on separate cores. Prints a Markdown report and writes it to
//! `crates/postern-bench/results/<date>.md`. Exits 1 on a crash, a scenario that could not
//! run, or a ratio collapse (postern's valid-cookie check below 0.3× nginx `return 200`);
//! never on absolute figures. See docs/performance.md.
#![forbid(unsafe_code)]

mod build;
mod nginx;
mod probe;
mod procs;
mod report;
mod scenarios;
mod train;
mod wrk;

use std::process::ExitCode;
use std::time::Duration;

/// How long and how often each scenario runs.
pub struct Options {
    pub quick: bool,
    pub build: bool,
    /// Build the way postern ships (`deploy/build-pgo`); `--no-pgo`: a plain `cargo build`.
    pub pgo: bool,
    /// Only the footprint figures (idle RSS, cold start, idle connections, size).
    pub footprint_only: bool,
    /// `--only c,d`: run just these throughput rows (bare hyper and nginx `return 200`, rows
    /// a and b, always run: every ratio needs them); the footprint figures are skipped.
    pub only: Option<Vec<String>>,
    /// Only the bursts of wrong Basic passwords (k1, k2).
    pub burst_only: bool,
    pub runs: usize,
    /// Alternations of a row behind a proxy with the stub row behind the same proxy: a
    /// proxied request moves more between runs than a check does, so these rows take more.
    pub pairs: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub sessions: usize,
    pub idle_connections: usize,
    pub cold_starts: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = Self {
            quick,
            build: true,
            pgo: true,
            footprint_only: false,
            only: None,
            burst_only: false,
            runs: if quick { 1 } else { 3 },
            pairs: if quick { 1 } else { 7 },
            duration: Duration::from_secs(if quick { 2 } else { 10 }),
            warmup: Duration::from_secs(if quick { 1 } else { 2 }),
            connections: 32,
            sessions: 100_000,
            idle_connections: 10_000,
            cold_starts: if quick { 3 } else { 10 },
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Result<u64, String> {
                args.next()
                    .and_then(|value| value.parse().ok())
                    .ok_or_else(|| format!("{name} needs a number"))
            };
            match arg.as_str() {
                "--quick" => {}
                "--no-build" => options.build = false,
                "--no-pgo" => options.pgo = false,
                "--footprint-only" => options.footprint_only = true,
                "--only" => {
                    let keys = args
                        .next()
                        .ok_or("--only needs row keys, e.g. --only c,d")?;
                    options.only = Some(keys.split(',').map(str::to_owned).collect());
                }
                "--burst-only" => options.burst_only = true,
                "--runs" => options.runs = number("--runs")?.max(1) as usize,
                "--pairs" => options.pairs = number("--pairs")?.max(1) as usize,
                "--duration" => {
                    options.duration = Duration::from_secs(number("--duration")?.max(1))
                }
                "--connections" => options.connections = number("--connections")?.max(1) as usize,
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

const USAGE: &str = "usage: postern-bench [--quick] [--no-pgo] [--no-build] [--footprint-only] [--only KEYS] [--burst-only] [--runs N] [--pairs N] [--duration SECS] [--connections N]\n\
  --quick        1 run of 2 s per scenario (under 3 minutes); exits 1 only on a crash or a ratio collapse\n\
  --no-build     use the release binaries already built next to this one\n\
  --no-pgo       build with a plain `cargo build`, not the profile-guided build postern ships (deploy/build-pgo)\n\
 --footprint-only  skip the wrk scenarios: idle RSS, cold start, idle connections, size\n\
  --only KEYS    only these rows, comma-separated (e.g. c,d,f3; c,c2,l,churn for the embedded store; o for the OpenID token endpoint); a and b always run; no footprint\n\
  --burst-only   only k1 and k2: wrong Basic passwords in a burst (100 with --quick, else 1,000) during cookie checks\n\
  --runs N       runs per scenario (default 3, 1 with --quick); m, c3, c3u and h1000 run --pairs times\n\
  --pairs N      alternations of each postern and identity-stub row behind a proxy with the stub row, of m, c3 and c3u with c, and of h1000 with h1 (default 7, 1 with --quick)\n\
  --duration S   seconds per run (default 10, 2 with --quick)\n\
  --connections  wrk connections (default 32, one wrk thread)\n\
usage: postern-bench --train DIR [--duration SECS]\n\
  the profile-guided build's training run (deploy/build-pgo): starts the `postern` beside this binary on each store and writes its profiles to DIR (SECS per server, default 3)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, out, rest @ ..] = args.as_slice()
        && flag == "--train"
    {
        return train(out, rest);
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(64);
        }
    };
    match scenarios::run(&options, &args) {
        Ok(verdict) if verdict.is_empty() => ExitCode::SUCCESS,
        Ok(verdict) => {
            for problem in verdict {
                eprintln!("postern-bench: FAILED: {problem}");
            }
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("postern-bench: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// `--train DIR [--duration SECS]`: the profile-guided build's training run (`train.rs`).
fn train(out: &str, rest: &[String]) -> ExitCode {
    let each = match rest {
        [] => Duration::from_secs(train::SECONDS_PER_PHASE),
        [flag, secs] if flag == "--duration" => match secs.parse() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                eprintln!("--duration needs a number");
                return ExitCode::from(64);
            }
        },
        _ => {
            eprintln!("usage: postern-bench --train DIR [--duration SECS]");
            return ExitCode::from(64);
        }
    };
    let trained = train::postern_beside_me()
        .and_then(|postern| train::run(&postern, std::path::Path::new(out), each));
    match trained {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("postern-bench: training failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
