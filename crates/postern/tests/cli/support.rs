//! Running the real binary: temp dirs, free ports, a guard that stops the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_postern");
/// The password HASH is made from.
pub const PASSWORD: &str = "correct horse battery staple";
/// argon2id of "correct horse battery staple".
pub const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$9L6TfQD05HBXDYqLUnwCqA$1bAzYUU6W3g8pKZcwQb/VboOm0BpiL1ivEGuRWz5UO4";

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("postern-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub use postern_testkit::free_port;

pub fn config(port: u16, extra: &str) -> String {
    format!(
        "app_url = \"http://127.0.0.1:{port}\"\nsecret = \"a-cli-test-secret-that-is-long-enough\"\n{extra}\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_timeout = \"3s\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n"
    )
}

/// Runs the binary; a `serve` or `users` on the default (embedded) store gets a data directory
/// of its own, never the system's.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let scratch = TempDir::new("run");
    run_in(&scratch.0.join("data"), args, stdin)
}

/// `run` with `POSTERN_DATA_DIR` = `data_dir`.
pub fn run_in(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_remove("POSTERN_CONFIG")
        .env("POSTERN_DATA_DIR", data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

enum Ready {
    Yes,
    /// The child could not bind its port: another process took it first.
    PortTaken,
}

/// A running `postern serve`, killed on drop if still running.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Running {
    pub fn start(dir: &TempDir, config_path: &Path, port: u16) -> Self {
        Self::start_with(dir, config_path, &[], port)
    }

    /// With more `serve` flags; `port` is where it will listen. The port came from
    /// `free_port`, so another test may have bound it since: then this child exits with
    /// "address in use", and when the port is the config's own it moves to a fresh one (the
    /// config file is rewritten) and starts again. Ready means this child said it listens on
    /// the port, not just that something there answers.
    pub fn start_with(dir: &TempDir, config_path: &Path, flags: &[&str], port: u16) -> Self {
        Self::start_inner(dir, config_path, flags, port, &[])
    }

    /// `start`, run by `wrapper`: a command that sets something up and then runs the rest of
    /// its arguments (`postern serve ...`) in the same process, e.g. `unshare` with a mount of
    /// the data directory. `child.id()` is then postern's PID.
    pub fn start_under(dir: &TempDir, config_path: &Path, port: u16, wrapper: &[String]) -> Self {
        Self::start_inner(dir, config_path, &[], port, wrapper)
    }

    fn start_inner(
        dir: &TempDir,
        config_path: &Path,
        flags: &[&str],
        port: u16,
        wrapper: &[String],
    ) -> Self {
        let mut port = port;
        for _ in 0..5 {
            let mut running = Self::spawn(dir, config_path, flags, port, wrapper);
            match running.wait_until_ready() {
                Ready::Yes => return running,
                Ready::PortTaken if flags.is_empty() => {
                    let config = std::fs::read_to_string(config_path).unwrap();
                    let fresh = free_port();
                    let moved =
                        config.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{fresh}"));
                    std::fs::write(config_path, moved).unwrap();
                    port = fresh;
                }
                Ready::PortTaken => break,
            }
        }
        panic!("postern could not bind 127.0.0.1:{port}: another process holds it");
    }

    fn spawn(
        dir: &TempDir,
        config_path: &Path,
        flags: &[&str],
        port: u16,
        wrapper: &[String],
    ) -> Self {
        let log = dir.0.join("postern.log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BINARY);
                command
            }
            None => Command::new(BINARY),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(config_path)
            .args(flags)
            .env_remove("POSTERN_CONFIG")
            .env_remove("RUST_LOG")
            .env("POSTERN_DATA_DIR", dir.0.join("data"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, port, log }
    }

    fn wait_until_ready(&mut self) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(30);
        let own_address = format!("127.0.0.1:{}", self.port);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                let log = self.log_text();
                if log.to_ascii_lowercase().contains("in use") {
                    return Ready::PortTaken;
                }
                panic!("postern exited before it was ready; log:\n{log}");
            }
            let said_ready = self
                .log_text()
                .lines()
                .any(|line| line.contains("postern is ready") && line.contains(&own_address));
            if said_ready
                && get(self.port, "/api/healthcheck", &[])
                    .is_ok_and(|answer| answer.starts_with("HTTP/1.1 200"))
            {
                return Ready::Yes;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("postern did not become ready; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 GET; returns the whole answer as text.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// A raw HTTP/1.1 POST of a JSON body; returns the whole answer as text.
pub fn post_json(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// One raw HTTP/1.1 exchange (a body is JSON unless `headers` say otherwise); `None` when the
/// server went away before the status line.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.starts_with("HTTP/1.1 ").then_some(answer)
}

pub fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// `postern_session=<value>` from an answer's `Set-Cookie`.
pub fn session_cookie(answer: &str) -> Option<String> {
    answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"))
}

/// A traefik check of `/` on app.example.com with the session `cookie`; its status (0: no
/// answer).
pub fn check_session(port: u16, cookie: &str) -> u16 {
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("Cookie", cookie),
    ];
    exchange(port, "GET", "/api/auth/traefik", &headers, "").map_or(0, |a| status(&a))
}

/// `postern store import` of `records` (owner, kind, id, value) into the stopped embedded
/// store under `data_dir`, as an export would hold them.
pub fn import_records(data_dir: &Path, config_path: &Path, records: &[(&str, &str, &str, &str)]) {
    use base64::Engine;
    let mut lines = format!(
        "{{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"embedded\",\"records\":{}}}\n",
        records.len()
    );
    for (user, kind, id, value) in records {
        let value = base64::engine::general_purpose::STANDARD.encode(value);
        lines.push_str(&format!(
            "{{\"user\":\"{user}\",\"kind\":\"{kind}\",\"id\":\"{id}\",\"value\":\"{value}\"}}\n"
        ));
    }
    let file = data_dir.with_extension("records.jsonl");
    std::fs::write(&file, lines).unwrap();
    let imported = run_in(
        data_dir,
        &[
            "store",
            "import",
            &file.display().to_string(),
            "--config",
            &config_path.display().to_string(),
        ],
        "",
    );
    assert!(imported.status.success(), "{imported:?}");
}

/// Waits (up to 10 s) for `needle` in the log of `running`.
pub fn wait_for_log(running: &Running, needle: &str) {
    for _ in 0..200 {
        if running.log_text().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {needle:?}: {}", running.log_text());
}

/// The `user.retired` audit lines of `running`'s log.
pub fn retired_lines(running: &Running) -> Vec<String> {
    running
        .log_text()
        .lines()
        .filter(|line| line.contains("user.retired"))
        .map(str::to_owned)
        .collect()
}
