//! Real redis-server processes on loopback: one server, a master + replica + sentinel trio,
//! or a three-master cluster. Every process is stopped when its guard drops.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{TempDir, TestCa, free_port, require_tool};

/// Runs `redis-cli -p PORT ARGS...` and returns its output (trimmed).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(require_tool("redis-cli"))
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `redis_cli`, given up after `limit` (empty output then): whatever holds a taken port may
/// accept the connection and never answer, and redis-cli 7.0 has no timeout of its own.
fn redis_cli_within(port: u16, args: &[&str], limit: Duration) -> String {
    let mut cli = Command::new(require_tool("redis-cli"))
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + limit;
    while cli.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = cli.kill();
            let _ = cli.wait();
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // INFO's few hundred bytes fit the pipe, so the child could exit before they were read.
    let mut output = String::new();
    if let Some(mut stdout) = cli.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut output);
    }
    output.trim().to_owned()
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} was not ready within {deadline:?}");
}

/// How many fresh ports a start tries before it gives up.
const ATTEMPTS: usize = 5;

/// One redis-server process (foreground, killed on drop).
///
/// redis-server cannot take a listening socket from its parent, so it gets a port that
/// `free_port` found free a moment earlier, and another test may bind that port in between.
/// So a start waits until the process answers `INFO server` with its own pid (never taking
/// another process on the port for this one), and starts again on a fresh port when its child
/// exits because the port was taken.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    args: Vec<String>,
    /// The redis-cli options that reach this server: its password, or TLS.
    probe: Vec<String>,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_on_a_free_port(&[])
    }

    /// With extra arguments (`--requirepass x`, ...), on a port found free.
    pub fn start_on_a_free_port(extra: &[&str]) -> Self {
        Self::start_retrying("redis-server", free_port, |port| {
            Self::configured(port, extra)
        })
    }

    /// On `port` exactly, for a client configured before the server exists. `Err` when the
    /// process could not take the port (another holds it): the caller picks another port.
    pub fn try_start_on(port: u16, extra: &[&str]) -> Result<Self, String> {
        let mut server = Self::configured(port, extra);
        server.launch()?;
        Ok(server)
    }

    /// A server that speaks only TLS on its port, with a certificate from `ca`.
    pub fn start_tls(ca: &TestCa) -> Self {
        let (cert, key) = ca.issue_files("redis", &["localhost", "127.0.0.1"]);
        let files = [
            "--tls-cert-file".to_owned(),
            cert.display().to_string(),
            "--tls-key-file".to_owned(),
            key.display().to_string(),
            "--tls-ca-cert-file".to_owned(),
            ca.cert_path().display().to_string(),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        Self::start_retrying("redis-server (TLS)", free_port, |port| {
            let mut server = Self::listening(port, &["--port", "0", "--tls-port"]);
            server.args.extend(files.iter().cloned());
            // The probe asks who answers, it does not judge the certificate (the tests do,
            // through postern's own client; redis-cli's OpenSSL answered "certificate verify
            // failed" to the test CA's chain).
            server.probe = vec!["--tls".to_owned(), "--insecure".to_owned()];
            server
        })
    }

    /// Configures a server on a port from `pick_port` and launches it; on failure (the port
    /// was taken) tries again on another, `ATTEMPTS` times in all.
    fn start_retrying(
        what: &str,
        pick_port: impl Fn() -> u16,
        configure: impl Fn(u16) -> Self,
    ) -> Self {
        let mut why = String::new();
        for _ in 0..ATTEMPTS {
            let mut server = configure(pick_port());
            match server.launch() {
                Ok(()) => return server,
                Err(failed) => why = failed,
            }
        }
        panic!("{what} did not start on any of {ATTEMPTS} free ports: {why}");
    }

    /// A plain (non-TLS) server on `port` with `extra` arguments.
    fn configured(port: u16, extra: &[&str]) -> Self {
        let mut server = Self::listening(port, &["--port"]);
        server
            .args
            .extend(extra.iter().map(|arg| (*arg).to_owned()));
        if let Some(pair) = extra.windows(2).find(|pair| pair[0] == "--requirepass") {
            server.probe = ["--no-auth-warning", "-a", pair[1]]
                .map(str::to_owned)
                .to_vec();
        }
        server
    }

    /// The arguments every server shares; `port_flag` is what precedes the port number.
    fn listening(port: u16, port_flag: &[&str]) -> Self {
        // Unique per server: a failed start on a port that a live server of this process
        // holds must not remove that server's directory when it drops.
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "postern-redis-{port}-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<String> = port_flag.iter().map(|arg| (*arg).to_owned()).collect();
        args.push(port.to_string());
        args.extend(
            [
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ]
            .map(str::to_owned),
        );
        args.push(dir.display().to_string());
        Self {
            port,
            child: None,
            args,
            probe: Vec::new(),
            dir,
        }
    }

    /// Kills the process (the data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for("the redis port to close", Duration::from_secs(5), || {
            TcpListener::bind(("127.0.0.1", self.port)).is_ok()
        });
    }

    /// Starts the process again on the same port (its clients know no other). The port was
    /// free when `stop` returned, but anything may hold it a moment later (another test's
    /// listener, a client's ephemeral port): the start is tried again for a while.
    pub fn resume(&mut self) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(why) if Instant::now() > until => {
                    panic!("redis-server on port {}: {why}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let child = Command::new(require_tool("redis-server"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(answering_as_itself(child, self.port, &self.probe)?);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// Waits until the process on `port` answers `INFO server` (through redis-cli with `probe`'s
/// options) with `child`'s own pid, so a readiness probe never takes another test's process on
/// the port for this one. `Err` when the child exits first (its port was taken) or never
/// answers; the child is then gone.
fn answering_as_itself(mut child: Child, port: u16, probe: &[String]) -> Result<Child, String> {
    let itself = format!("process_id:{}", child.id());
    let mut args: Vec<&str> = probe.iter().map(String::as_str).collect();
    args.extend(["info", "server"]);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("it exited ({status}): port {port} taken?"));
        }
        if redis_cli_within(port, &args, Duration::from_secs(2)).contains(&itself) {
            return Ok(child);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("it did not answer on port {port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A master, one replica and one sentinel (quorum 1) watching `mymaster`.
pub struct RedisSentinel {
    pub master: RedisServer,
    pub replica: RedisServer,
    pub sentinel_port: u16,
    sentinel: Child,
    _dir: TempDir,
}

impl RedisSentinel {
    pub const MASTER_NAME: &'static str = "mymaster";

    pub fn start() -> Self {
        let master = RedisServer::start();
        let replica = RedisServer::start_on_a_free_port(&[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
        ]);
        wait_for("replication", Duration::from_secs(10), || {
            redis_cli(replica.port, &["info", "replication"]).contains("master_link_status:up")
        });
        let dir = TempDir::new("sentinel");
        let (sentinel, sentinel_port) = start_sentinel(&dir, master.port);
        wait_for("redis sentinel", Duration::from_secs(10), || {
            redis_cli(
                sentinel_port,
                &["sentinel", "get-master-addr-by-name", Self::MASTER_NAME],
            )
            .contains(&master.port.to_string())
        });
        // The sentinel learns about the replica from the master's INFO; wait so a failover can happen.
        wait_for(
            "the sentinel to see the replica",
            Duration::from_secs(15),
            || {
                redis_cli(sentinel_port, &["sentinel", "replicas", Self::MASTER_NAME])
                    .contains(&replica.port.to_string())
            },
        );
        Self {
            master,
            replica,
            sentinel_port,
            sentinel,
            _dir: dir,
        }
    }

    /// Kills the master and waits until the sentinel has promoted the replica.
    pub fn fail_over(&mut self) {
        self.master.stop();
        let replica = self.replica.port.to_string();
        wait_for("the failover", Duration::from_secs(30), || {
            redis_cli(
                self.sentinel_port,
                &["sentinel", "get-master-addr-by-name", Self::MASTER_NAME],
            )
            .contains(&replica)
        });
    }
}

/// A sentinel watching the master on `master_port`, on a port found free (a fresh port and
/// config file again when the port was taken: see `RedisServer`).
fn start_sentinel(dir: &TempDir, master_port: u16) -> (Child, u16) {
    let name = RedisSentinel::MASTER_NAME;
    let mut why = String::new();
    for _ in 0..ATTEMPTS {
        let port = free_port();
        let config = dir.write(
            &format!("sentinel-{port}.conf"),
            &format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {name} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {name} 1000\nsentinel failover-timeout {name} 5000\n",
                dir.path().display(),
            ),
        );
        let child = Command::new(require_tool("redis-server"))
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match answering_as_itself(child, port, &[]) {
            Ok(child) => return (child, port),
            Err(failed) => why = failed,
        }
    }
    panic!("redis sentinel did not start on any of {ATTEMPTS} free ports: {why}");
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.sentinel.kill();
        let _ = self.sentinel.wait();
    }
}

/// Three masters, no replicas, all 16384 slots covered.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = TempDir::new("cluster");
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_retrying("a cluster node", cluster_port, |port| {
                    // A config file per port: a node that lost its port never shares it.
                    let conf = dir.path().join(format!("nodes-{port}.conf"));
                    RedisServer::configured(
                        port,
                        &[
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            &conf.display().to_string(),
                            "--cluster-node-timeout",
                            "2000",
                        ],
                    )
                })
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let mut create = Command::new(require_tool("redis-cli"));
        create.args(["--cluster", "create"]).args(&addresses).args([
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]);
        let output = create.output().unwrap();
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        for node in &nodes {
            wait_for("cluster_state:ok", Duration::from_secs(20), || {
                redis_cli(node.port, &["cluster", "info"]).contains("cluster_state:ok")
            });
        }
        Self { nodes, _dir: dir }
    }

    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect()
    }
}

/// A port whose cluster bus port (+10000) is free as well (a node that cannot bind either
/// exits, and `start_retrying` picks again).
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_whose_port_is_taken_by_another_redis_fails_to_start_instead_of_taking_it_over() {
        let first = RedisServer::start();
        let second = RedisServer::try_start_on(first.port, &[]);
        assert!(
            second.is_err(),
            "the second server claimed a port it never bound"
        );
        assert_eq!(redis_cli(first.port, &["ping"]), "PONG");
    }

    #[test]
    fn a_server_whose_port_is_held_by_any_listener_fails_to_start() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        assert!(RedisServer::try_start_on(port, &[]).is_err());
    }

    #[test]
    fn a_resumed_server_answers_as_itself_on_its_old_port() {
        let mut server = RedisServer::start();
        let port = server.port;
        server.stop();
        server.resume();
        assert_eq!(server.port, port);
        assert_eq!(redis_cli(port, &["ping"]), "PONG");
    }
}
