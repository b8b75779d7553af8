//! nginx in front of several postern replicas, configured from deploy/compose/nginx.conf: one
//! `upstream postern` block listing every replica, used round-robin (no stickiness) by both
//! the auth_request and the login portal. Its access log records which replica answered each
//! auth subrequest, so a test can prove that the checks really were spread.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use url::Url;

use super::client::{self, Request, Response};
use super::deploy::{read, replace_every, replace_once};
use super::nginx::copy_snippets;
use super::peers;
use super::postern::PORTAL_HOST;
use super::process::{PortTaken, Process, wait_until_listening};
use super::proxy::APP_HOST;
use super::scratch::ScratchDir;

const FILE: &str = "compose/nginx.conf";

/// How many replicas deploy/compose/nginx.conf lists (`postern-1` … `postern-3`).
pub const REPLICAS: usize = 3;

/// Stands in for the image's /etc/nginx/nginx.conf. `log_subrequest` puts the auth
/// subrequests into the access log, each with the replica that answered it.
const MAIN_CONF: &str = "\
daemon off;
worker_processes 1;
pid nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    log_subrequest on;
    log_format replica '$uri $status $upstream_addr';
    access_log access.log replica;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include site.conf;
}
";

pub struct Balancer {
    // Before `dir`: nginx stops before its config and logs are removed.
    process: Process,
    port: u16,
    dir: ScratchDir,
}

impl Balancer {
    /// Starts nginx on `port` with the replicas on `replica_ports` (in the file's order) and
    /// the app on `upstream_port`; returns once it holds `port` and both the app and the portal
    /// are routed. `Err` when another process took `port` first.
    pub async fn try_start(
        port: u16,
        replica_ports: &[u16],
        upstream_port: u16,
    ) -> Result<Self, PortTaken> {
        assert_eq!(replica_ports.len(), REPLICAS, "one port per listed replica");
        let dir = ScratchDir::new("nginx-replicas");
        let mut site = read(FILE);
        for (index, replica) in replica_ports.iter().enumerate() {
            let name = format!("server postern-{}:3000;", index + 1);
            site = replace_once(FILE, &site, &name, &format!("server 127.0.0.1:{replica};"));
        }
        let site = replace_every(
            FILE,
            &site,
            "listen 80;",
            &format!("listen 127.0.0.1:{port};"),
            2,
        );
        let site = replace_once(
            FILE,
            &site,
            "listen 80 default_server;",
            &format!("listen 127.0.0.1:{port} default_server;"),
        );
        let site = replace_once(
            FILE,
            &site,
            "proxy_pass http://whoami:80;",
            &format!("proxy_pass http://127.0.0.1:{upstream_port};"),
        );
        dir.write("site.conf", &site);
        copy_snippets(&dir);
        let main_conf = dir.write("nginx.conf", MAIN_CONF);
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp dir");
        let mut command = Command::new(peers::nginx());
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main_conf)
            .args(["-e", "stderr"]);
        let process = Process::spawn("nginx (replicas)", command, &dir.join("nginx.log"));
        let mut balancer = Self { process, port, dir };
        balancer.wait_until_routed().await?;
        Ok(balancer)
    }

    /// The public portal: `http://auth.example.com:<port>`, postern's `app_url`.
    pub fn portal_url(port: u16) -> Url {
        Url::parse(&format!("http://{PORTAL_HOST}:{port}")).expect("portal URL")
    }

    /// `app.example.com:<port>`, the `Host` a browser sends to the app.
    pub fn app_host(&self) -> String {
        format!("{APP_HOST}:{}", self.port)
    }

    /// The absolute app URL a browser would have asked for.
    pub fn app_url(&self, target: &str) -> Url {
        Url::parse(&format!("http://{}{target}", self.app_host())).expect("app URL")
    }

    /// A request to the protected app through nginx.
    pub async fn send(&self, request: Request) -> Response {
        client::send(self.port, &self.app_host(), request).await
    }

    /// How many auth subrequests each replica port answered so far (the last address nginx
    /// tried, when it had to move on from a replica that was down).
    pub fn checks_by_replica(&self) -> BTreeMap<u16, usize> {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in log.lines() {
            let mut fields = line.splitn(3, ' ');
            let (Some("/internal/postern"), Some(_status), Some(addresses)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let last = addresses.rsplit(", ").next().unwrap_or_default();
            if let Some(port) = last.rsplit(':').next().and_then(|p| p.parse().ok()) {
                *counts.entry(port).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Routed when an API client gets postern's 401 from the app and the portal is ready.
    async fn wait_until_routed(&mut self) -> Result<(), PortTaken> {
        let (port, host) = (self.port, self.app_host());
        let portal = format!("{PORTAL_HOST}:{port}");
        wait_until_listening(
            &mut self.process,
            port,
            "nginx routing to the postern replicas",
            Duration::from_secs(20),
            async || {
                let app = client::try_send(port, &host, Request::get("/").api_client()).await;
                let ready = client::try_send(port, &portal, Request::get("/api/ready")).await;
                app.is_ok_and(|r| r.status == StatusCode::UNAUTHORIZED)
                    && ready.is_ok_and(|r| r.status == StatusCode::OK)
            },
        )
        .await
    }
}
