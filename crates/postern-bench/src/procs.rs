//! Child processes the harness starts (servers pinned to the server core), and what
//! `/proc` says about them: CPU time (utime + stime) and resident memory (VmRSS).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Which core runs the servers and which runs wrk; `None` when the machine has one core.
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    pub server: Option<usize>,
    pub client: Option<usize>,
}

impl Pinning {
    pub fn for_cores(cores: usize) -> Self {
        if cores >= 2 {
            Self {
                server: Some(0),
                client: Some(1),
            }
        } else {
            Self {
                server: None,
                client: None,
            }
        }
    }

    pub fn describe(&self) -> String {
        match (self.server, self.client) {
            (Some(server), Some(client)) => {
                format!("servers pinned to core {server}, wrk to core {client} (taskset)")
            }
            _ => "no pinning (fewer than 2 cores)".to_owned(),
        }
    }
}

/// `program args…`, under `taskset -c CORE` when a core is given, and under `setpriv
/// --pdeathsig TERM` (util-linux): the kernel sends the server SIGTERM when the harness ends,
/// so a harness stopped by a signal, which runs no destructor, leaves no server running.
/// Both wrappers exec the program, so the child's pid is the program's.
pub fn command(program: &Path, core: Option<usize>) -> Command {
    let mut command = Command::new(postern_testkit::require_tool("setpriv"));
    command.args(["--pdeathsig", "TERM", "--"]);
    if let Some(core) = core {
        command.arg("taskset").arg("-c").arg(core.to_string());
    }
    command.arg(program);
    command
}

/// A running server: stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the process has exited: a crash, as far as the benchmark is concerned.
    pub fn alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("{} exited during the benchmark ({status})", self.name),
            None => Ok(()),
        }
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        let crashed = self.alive();
        self.terminate();
        crashed
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is the state (field 3).
fn stat_fields(pid: u32) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    Ok(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of the whole process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let fields = stat_fields(pid)?;
    let field = |index: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(index)
            .context("short /proc/PID/stat")?
            .parse::<u64>()?)
    };
    // Fields 14 (utime) and 15 (stime) of proc(5).
    Ok(field(11)? + field(12)?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// VmRSS in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// VmHWM in KiB: the peak RSS since the process started, or since `5` was written to its
/// `/proc/PID/clear_refs`.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// A `Name:   1234 kB` field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/PID/status"))
}

/// `pid` and every process whose parent it is (nginx's workers).
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let parent = stat_fields(child)
                .ok()
                .and_then(|fields| fields.get(1).and_then(|ppid| ppid.parse::<u32>().ok()));
            if parent == Some(pid) {
                pids.push(child);
            }
        }
    }
    pids
}

/// Total CPU ticks of `pids` (processes that have gone count as 0).
pub fn total_ticks(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| cpu_ticks(*pid).unwrap_or(0)).sum()
}
