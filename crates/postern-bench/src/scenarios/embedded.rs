//! c2) The valid-cookie check on the embedded store: the seeded postern with its 100k sessions
//! in a data file (the sessions are served from the in-memory copy; the file is the truth),
//! to compare with c (memory store) in the same run. Its RSS with the 100k sessions and the
//! time to start on that file (open, verify every page, load the live sessions) go in the
//! footprint notes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use postern_bench::{StoreChoice, config_toml};

use super::{Bench, CHECK_HEADERS, CHECK_PATH, loopback};
use crate::probe;
use crate::procs;
use crate::report::{Row, Target};

/// The `listen` address in a `config_toml`.
fn listen_of(config: &str) -> Option<&str> {
    config
        .lines()
        .find_map(|line| line.strip_prefix("listen = \""))
        .and_then(|rest| rest.strip_suffix('"'))
}

impl Bench<'_> {
    pub(super) fn embedded_rows(&mut self, rows: &mut Vec<Row>) {
        if !self.wants("c2") {
            return;
        }
        let data_dir = self.dir.path().join("embedded-data");
        let addr = loopback(postern_testkit::free_port());
        let config = config_toml(
            &addr.to_string(),
            &StoreChoice::Embedded {
                data_dir: &data_dir,
            },
            0,
        );
        let (mut server, cookies) = match self.seeded_with("postern-embedded", addr, &config) {
            Ok(started) => started,
            Err(err) => {
                self.note(&format!("c2) the embedded postern did not start: {err:#}"));
                return;
            }
        };
        self.row(
            rows,
            "c2",
            "postern, valid cookie, embedded store, 100k sessions",
            (addr, CHECK_PATH, &CHECK_HEADERS[..]),
            &cookies,
            200,
            &mut [&mut server],
        );
        if let Ok(rss) = procs::rss_kib(server.pid()) {
            self.note(&format!("c2) RSS with the sessions: {} MiB", rss / 1024));
        }
        drop(server);
        match self.serve_on_the_file(&config, &cookies) {
            Ok(targets) => self.durable_targets.extend(targets),
            Err(err) => self
                .problems
                .push(format!("c2) postern serve on the data file: {err:#}")),
        }
        let file = data_dir.join(postern_store::embedded::DATA_FILE);
        let bytes = std::fs::metadata(&file).map(|meta| meta.len()).unwrap_or(0);
        let started = Instant::now();
        // Wait for the seeded process's lock to go, then time one open.
        let opened = loop {
            match postern_store::EmbeddedStore::open(&data_dir, 100_000) {
                Err(postern_store::embedded::OpenError::Locked { .. })
                    if started.elapsed().as_secs() < 10 =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other,
            }
        };
        drop(opened);
        // Its writer thread lets go of the file once the last handle is gone.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let started = Instant::now();
        let opened = postern_store::EmbeddedStore::open(&data_dir, 100_000);
        let took = started.elapsed();
        match opened {
            Ok(store) => self.note(&format!(
                "c2) start-up on the data file: {} ms for {} sessions, file {} MiB",
                took.as_millis(),
                store.session_count(),
                bytes / (1024 * 1024)
            )),
            Err(err) => self.note(&format!("c2) the data file did not open: {err}")),
        }
    }
    /// The real `postern serve` started on the data file the seeded server left (100k live
    /// sessions): the time until it answers (median of 3), its RSS once it served a check of
    /// one of those sessions.
    fn serve_on_the_file(&self, config: &str, cookies: &Path) -> anyhow::Result<Vec<Target>> {
        let cookie = std::fs::read_to_string(cookies)?
            .lines()
            .next()
            .context("no cookie was seeded")?
            .to_owned();
        let (mut starts, mut cpu) = (Vec::new(), Vec::new());
        let mut rss = 0;
        for attempt in 0..3 {
            let addr = loopback(postern_testkit::free_port());
            let text = config.replace(
                &format!("listen = \"{}\"", listen_of(config).unwrap_or_default()),
                &format!("listen = \"{addr}\""),
            );
            let path = self.dir.write("postern-embedded-serve.toml", &text);
            let started = Instant::now();
            let server = self.spawn(
                "postern-embedded-serve",
                &self.bins.postern,
                &["serve", "--config", &path.display().to_string()],
            )?;
            // Past the lock of the process before, which the kernel frees as it exits.
            probe::wait_for(addr, "/api/health", 200, Duration::from_secs(30))?;
            starts.push(started.elapsed().as_secs_f64() * 1000.0);
            cpu.push(procs::cpu_ticks(server.pid())? as f64 / self.ticks * 1000.0);
            if attempt == 0 {
                let cookie_header = format!("postern_session={cookie}");
                let mut headers = CHECK_HEADERS.to_vec();
                headers.push(("Cookie", &cookie_header));
                let status = probe::get(addr, CHECK_PATH, &headers)?;
                anyhow::ensure!(status == 200, "a seeded session answered {status}");
                std::thread::sleep(Duration::from_millis(300));
                rss = procs::rss_kib(server.pid())?;
            }
            server.stop()?;
        }
        starts.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let median = starts.get(1).copied().unwrap_or(0.0);
        // On a shared machine the wall time is mostly waiting for a core; the CPU time is
        // what the start costs.
        let cpu_median = cpu.get(1).copied().unwrap_or(0.0);
        let load = super::durable::load_average();
        self.note(&format!(
            "c2) postern serve on the file: ready in {median:.0} ms (median of {starts:.0?}; CPU {cpu_median:.0} ms), RSS {} MiB (load {load})",
            rss / 1024
        ));
        Ok(vec![
            Target {
                what: "start-up with 100k sessions on disk, embedded (c2)",
                target: "< 500 ms",
                measured: format!(
                    "{median:.0} ms, median of 3 ({cpu_median:.0} ms of CPU) (load {load})"
                ),
                met: Some(median < 500.0),
            },
            Target {
                what: "RSS with 100k sessions, embedded (c2)",
                target: "≤ 64 MB",
                measured: format!("{:.1} MiB (load {load})", rss as f64 / 1024.0),
                met: Some(rss as f64 / 1024.0 <= 64.0),
            },
        ])
    }
}
