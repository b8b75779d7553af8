//! A child process that is stopped when the test ends, pass or fail. Its stdout and stderr go
//! to a log file, printed when the test panics so a failure shows what the process said.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Self {
        let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some` once the process has exited (it should not, while a test runs).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log when the process died, e.g. while a caller waits for it to be ready.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exit_status() {
            panic!(
                "{} exited early ({status}); its output:\n{}",
                self.name,
                self.log_text()
            );
        }
    }

    /// SIGTERM first, so nginx's master takes its workers down with it and postern shuts down
    /// the way it will in production; SIGKILL if it has not exited after a few seconds.
    pub fn stop(&mut self) {
        if self.exit_status().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM for 5s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- {} output -----\n{}----- end of {} output -----",
                self.name,
                self.log_text(),
                self.name
            );
        }
    }
}

/// A peer exited because another process holds its port.
#[derive(Debug)]
pub struct PortTaken;

/// Polls every 50 ms until `process` itself holds the socket listening on `port` and `probe`
/// returns true: a probe answered by another process that took the port first never counts.
/// `Err(PortTaken)` when the process exited saying its port was taken; panics after
/// `timeout`, or at once when the process dies otherwise, with its log in the message.
pub async fn wait_until_listening(
    process: &mut Process,
    port: u16,
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> bool,
) -> Result<(), PortTaken> {
    let deadline = Instant::now() + timeout;
    loop {
        if process.exit_status().is_some() && postern_testkit::said_port_taken(&process.log_text())
        {
            return Err(PortTaken);
        }
        process.assert_running();
        if postern_testkit::listens_on(process.pid(), port) && probe().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not ready on port {port} after {timeout:?}; {} output:\n{}",
                process.name,
                process.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
