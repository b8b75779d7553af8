//! Real redis-server processes on loopback: one server, a master + replica + sentinel trio,
//! or a three-master cluster. Every process is stopped when its guard drops.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// One redis-server process (foreground, killed on drop).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    args: Vec<String>,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_on_a_free_port(&[])
    }

    /// On a port `free_port` found free. Another test may bind it before this server does:
    /// then the server exits (or someone else answers there) and it starts again elsewhere.
    pub fn start_on_a_free_port(extra: &[&str]) -> Self {
        let mut why = String::new();
        for _ in 0..5 {
            let mut server = Self::configured(free_port(), extra);
            match server.launch() {
                Ok(()) => return server,
                Err(failed) => why = failed,
            }
        }
        panic!("redis-server did not start on any of five free ports: {why}");
    }

    /// Starts `redis-server` on `port` with extra arguments (`--requirepass x`, ...).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        let mut server = Self::configured(port, extra);
        server.resume();
        server
    }

    fn configured(port: u16, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("postern-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        args.extend(["--dir".to_owned(), dir.display().to_string()]);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        Self {
            port,
            child: None,
            args,
            dir,
        }
    }

    fn spawn(&self) -> Child {
        Command::new(require_tool("redis-server"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// A server that speaks only TLS on its port, with a certificate from `ca`.
    pub fn start_tls(ca: &TestCa) -> Self {
        let port = free_port();
        let (cert, key) = ca.issue_files("redis", &["localhost", "127.0.0.1"]);
        let dir =
            std::env::temp_dir().join(format!("postern-redis-tls-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-cert-file",
            &cert.display().to_string(),
            "--tls-key-file",
            &key.display().to_string(),
            "--tls-ca-cert-file",
            &ca.cert_path().display().to_string(),
            "--tls-auth-clients",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        let server = Self {
            port,
            child: None,
            args,
            dir,
        };
        let mut server = server;
        server.child = Some(server.spawn());
        wait_for("redis-server (TLS)", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server
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

    /// Starts the process again on the same port.
    pub fn resume(&mut self) {
        if let Err(why) = self.launch() {
            panic!("redis-server on port {}: {why}", self.port);
        }
    }

    /// Spawns the process and waits until it answers as itself: its own pid in `INFO
    /// server`, so a readiness probe never mistakes another test's process on the port for
    /// this one. `Err` when the child exits first (its port was taken) or never answers.
    fn launch(&mut self) -> Result<(), String> {
        let mut child = self.spawn();
        let itself = format!("process_id:{}", child.id());
        let mut args: Vec<&str> = Vec::new();
        if let Some(pair) = self.args.windows(2).find(|pair| pair[0] == "--requirepass") {
            args.extend(["--no-auth-warning", "-a", pair[1].as_str()]);
        }
        args.extend(["info", "server"]);
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("it exited ({status}): port {} taken?", self.port));
            }
            if redis_cli(self.port, &args).contains(&itself) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                return Err("it did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
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
        let sentinel_port = free_port();
        let config = dir.write(
            "sentinel.conf",
            &format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {} 1000\nsentinel failover-timeout {} 5000\n",
                dir.path().display(),
                Self::MASTER_NAME,
                master.port,
                Self::MASTER_NAME,
                Self::MASTER_NAME,
            ),
        );
        let sentinel = Command::new(require_tool("redis-server"))
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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
            .map(|index| {
                let port = cluster_port();
                let conf = dir
                    .path()
                    .join(format!("nodes-{index}.conf"))
                    .display()
                    .to_string();
                RedisServer::start_with(
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf,
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
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

/// A port whose cluster bus port (+10000) is free as well.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
