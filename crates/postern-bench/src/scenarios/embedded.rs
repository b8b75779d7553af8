//! c2) The valid-cookie check on the embedded store: the seeded postern with its 100k sessions
//! in a data file (the sessions are served from the in-memory copy; the file is the truth),
//! to compare with c (memory store) in the same run. Its RSS with the 100k sessions and the
//! time to start on that file (open, verify every page, load the live sessions) go in the
//! footprint notes.

use std::time::Instant;

use postern_bench::{StoreChoice, config_toml};

use super::{Bench, CHECK_HEADERS, CHECK_PATH, loopback};
use crate::procs;
use crate::report::Row;

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
}
