//! The rows users feel: a request through nginx, traefik or caddy, with no auth, with a stub
//! auth server that answers 200 with an empty body (bare hyper; for nginx also nginx's own
//! `return 200`), and with postern. Each proxy runs the shipped config from `deploy/` with
//! only the addresses changed. The postern row's runs alternate with the bare-hyper-stub
//! row's runs, so its ratio to the stub is measured seconds apart, under the same load.
//! A third stub row (f2i, t2i, y2i) answers with postern's own headers (the four `Remote-*`
//! and `Cache-Control`), its runs also alternating with the plain stub's: its ratio is what
//! passing an identity on costs the proxy, whichever auth server sends it, so the postern
//! row's gap to the stub splits into that and postern's own cost. nginx's `return 200` stub
//! row (f2n, the reference issue #13 first measured the nginx row against) alternates with
//! the bare stub's too, so postern's row can be set against either stub.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use postern_bench::TARGET_HOST;
use postern_testkit::{free_port, require_tool};

use super::{Bench, Paired, loopback, wait_listening};
use crate::nginx::Site;
use crate::probe;
use crate::procs::{self, Proc};
use crate::report::Row;

/// What a browser sends through the proxy (plus the rotating session cookie).
pub const PROXY_HEADERS: [(&str, &str); 2] = [
    ("Host", TARGET_HOST),
    ("Accept", "text/html,application/xhtml+xml"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Traefik,
    Caddy,
}

/// The auth servers and the app the proxies are put in front of.
pub struct Backends<'p> {
    pub app: (SocketAddr, &'p mut Proc),
    pub bare_stub: (SocketAddr, &'p mut Proc),
    /// Bare hyper answering postern's headers (`bare PORT identity`).
    pub identity_stub: (SocketAddr, &'p mut Proc),
    pub nginx_stub: (SocketAddr, &'p mut Proc),
    pub postern: (SocketAddr, &'p mut Proc),
    pub cookies: &'p Path,
}

/// Which auth server a proxy row asks.
#[derive(Clone, Copy)]
enum Auth {
    None,
    BareStub,
    IdentityStub,
    NginxStub,
    Postern,
}

impl Auth {
    /// Whether the row's runs alternate with the bare stub's (`Paired`): every auth server
    /// that a ratio to the stub is printed for.
    fn is_paired(&self) -> bool {
        matches!(self, Self::Postern | Self::IdentityStub | Self::NginxStub)
    }
}

struct Variant {
    key: &'static str,
    title: &'static str,
    auth: Auth,
}

fn variants(kind: ProxyKind) -> Vec<Variant> {
    let v = |key, title, auth| Variant { key, title, auth };
    match kind {
        ProxyKind::Nginx => vec![
            v("f1", "nginx → app, no auth", Auth::None),
            v(
                "f2",
                "nginx + auth_request → bare hyper stub (empty 200) → app",
                Auth::BareStub,
            ),
            v(
                "f2i",
                "nginx + auth_request → bare hyper stub with postern's headers (empty 200) → app",
                Auth::IdentityStub,
            ),
            v(
                "f2n",
                "nginx + auth_request → nginx `return 200` stub → app",
                Auth::NginxStub,
            ),
            v(
                "f3",
                "nginx + auth_request → postern (memory) → app",
                Auth::Postern,
            ),
        ],
        ProxyKind::Traefik => vec![
            v("t1", "traefik → app, no auth", Auth::None),
            v(
                "t2",
                "traefik + forwardAuth → bare hyper stub (empty 200) → app",
                Auth::BareStub,
            ),
            v(
                "t2i",
                "traefik + forwardAuth → bare hyper stub with postern's headers (empty 200) → app",
                Auth::IdentityStub,
            ),
            v(
                "t3",
                "traefik + forwardAuth → postern (memory) → app",
                Auth::Postern,
            ),
        ],
        ProxyKind::Caddy => vec![
            v("y1", "caddy → app, no auth", Auth::None),
            v(
                "y2",
                "caddy + forward_auth → bare hyper stub (empty 200) → app",
                Auth::BareStub,
            ),
            v(
                "y2i",
                "caddy + forward_auth → bare hyper stub with postern's headers (empty 200) → app",
                Auth::IdentityStub,
            ),
            v(
                "y3",
                "caddy + forward_auth → postern (memory) → app",
                Auth::Postern,
            ),
        ],
    }
}

impl Bench<'_> {
    /// Every proxy row that `--only` asks for. The reference pairing is restored afterwards.
    pub(super) fn proxy_rows(&mut self, rows: &mut Vec<Row>, backends: &mut Backends<'_>) {
        let reference = self.paired_with.take();
        for kind in [ProxyKind::Nginx, ProxyKind::Traefik, ProxyKind::Caddy] {
            // The stub row stays up while the postern row runs: their runs alternate.
            let mut stub: Option<(Proc, Paired)> = None;
            // The stub row also runs when only its postern row is wanted: they are paired.
            let postern_wanted = variants(kind)
                .iter()
                .any(|v| v.auth.is_paired() && self.wants(v.key));
            for variant in variants(kind) {
                let needed = matches!(variant.auth, Auth::BareStub) && postern_wanted;
                if !self.wants(variant.key) && !needed {
                    continue;
                }
                let started = self.start_proxy(kind, variant.key, variant.auth, backends);
                let (mut proxy, addr) = match started {
                    Ok(started) => started,
                    Err(err) => {
                        rows.push(Row::failed(variant.key, variant.title, format!("{err:#}")));
                        continue;
                    }
                };
                self.paired_with = if variant.auth.is_paired() {
                    stub.as_ref().map(|(_, paired)| paired.clone())
                } else {
                    None
                };
                let target = (addr, "/", &PROXY_HEADERS[..]);
                let Backends {
                    app,
                    bare_stub,
                    identity_stub,
                    nginx_stub,
                    postern,
                    cookies,
                } = backends;
                let mut servers: Vec<&mut Proc> = vec![&mut proxy];
                match variant.auth {
                    Auth::None => {}
                    Auth::BareStub => servers.push(&mut *bare_stub.1),
                    Auth::IdentityStub => servers.push(&mut *identity_stub.1),
                    Auth::NginxStub => servers.push(&mut *nginx_stub.1),
                    Auth::Postern => servers.push(&mut *postern.1),
                }
                servers.push(&mut *app.1);
                // row() skips a row `--only` left out; a stub started for its pair still serves.
                self.row(
                    rows,
                    variant.key,
                    variant.title,
                    target,
                    cookies,
                    200,
                    &mut servers,
                );
                self.paired_with = None;
                if matches!(variant.auth, Auth::BareStub) {
                    let pids = [
                        proxy.pid(),
                        backends.bare_stub.1.pid(),
                        backends.app.1.pid(),
                    ]
                    .into_iter()
                    .flat_map(procs::with_children)
                    .collect();
                    let paired = Paired {
                        key: variant.key,
                        url: format!("http://{addr}/"),
                        pids,
                        runs: self.options.pairs,
                        own: None,
                    };
                    stub = Some((proxy, paired));
                } else if let Err(err) = proxy.stop() {
                    self.problems.push(format!("crash: {err:#}"));
                }
            }
            if let Some((proxy, _)) = stub
                && let Err(err) = proxy.stop()
            {
                self.problems.push(format!("crash: {err:#}"));
            }
        }
        self.paired_with = reference;
    }

    fn start_proxy(
        &self,
        kind: ProxyKind,
        name: &str,
        auth: Auth,
        backends: &Backends<'_>,
    ) -> anyhow::Result<(Proc, SocketAddr)> {
        let auth_port = match auth {
            Auth::None => None,
            Auth::BareStub => Some(backends.bare_stub.0.port()),
            Auth::IdentityStub => Some(backends.identity_stub.0.port()),
            Auth::NginxStub => Some(backends.nginx_stub.0.port()),
            Auth::Postern => Some(backends.postern.0.port()),
        };
        let app = backends.app.0.port();
        let (proc, addr) = match kind {
            ProxyKind::Nginx => {
                let site = match auth_port {
                    None => Site::NoAuth { app },
                    Some(auth) => Site::AuthRequest { auth, app },
                };
                self.nginx(name, &site)?
            }
            ProxyKind::Traefik => self.traefik(name, auth_port, app)?,
            ProxyKind::Caddy => self.caddy(name, auth_port, app)?,
        };
        wait_routed(addr, backends.cookies)?;
        Ok((proc, addr))
    }

    /// traefik with deploy/traefik/postern.yml (or, without auth, a router straight to the app).
    fn traefik(
        &self,
        name: &str,
        auth: Option<u16>,
        app: u16,
    ) -> anyhow::Result<(Proc, SocketAddr)> {
        let dir = self.dir.path().join(format!("traefik-{name}"));
        std::fs::create_dir_all(&dir)?;
        let dynamic = match auth {
            Some(auth) => {
                let shipped = read_deploy("traefik/postern.yml")?;
                let shipped = replace(
                    "traefik",
                    &shipped,
                    // forwardAuth's address and the (unused) portal service.
                    ("http://postern:3000", 2),
                    &format!("http://127.0.0.1:{auth}"),
                )?;
                let shipped = replace(
                    "traefik",
                    &shipped,
                    ("http://whoami:80", 1),
                    &format!("http://127.0.0.1:{app}"),
                )?;
                replace(
                    "traefik",
                    &shipped,
                    ("Host(`app.example.com`)", 1),
                    &format!("Host(`{TARGET_HOST}`)"),
                )?
            }
            None => format!(
                "http:\n  routers:\n    app:\n      rule: \"Host(`{TARGET_HOST}`)\"\n      service: app\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:{app}\"\n"
            ),
        };
        let file = dir.join("dynamic.yml");
        std::fs::write(&file, dynamic)?;
        let port = free_port();
        let mut command = procs::command(&require_tool("traefik"), self.pinning.server);
        command
            .arg("--global.checkNewVersion=false")
            .arg("--global.sendAnonymousUsage=false")
            .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
            .arg(format!("--providers.file.filename={}", file.display()))
            .arg("--providers.file.watch=false")
            .arg("--log.level=ERROR");
        let proc = Proc::spawn(
            &format!("traefik-{name}"),
            command,
            &dir.join("traefik.log"),
        )?;
        Ok((proc, loopback(port)))
    }

    /// caddy with deploy/caddy/Caddyfile (or, without auth, a site straight to the app).
    fn caddy(&self, name: &str, auth: Option<u16>, app: u16) -> anyhow::Result<(Proc, SocketAddr)> {
        let dir = self.dir.path().join(format!("caddy-{name}"));
        std::fs::create_dir_all(&dir)?;
        let port = free_port();
        let site = format!("http://{TARGET_HOST}:{port} {{");
        let caddyfile = match auth {
            Some(_) => {
                let shipped = read_deploy("caddy/Caddyfile")?;
                let shipped = replace("caddy", &shipped, ("app.example.com {", 1), &site)?;
                replace(
                    "caddy",
                    &shipped,
                    ("reverse_proxy whoami:80", 1),
                    &format!("reverse_proxy 127.0.0.1:{app}"),
                )?
            }
            None => format!("{site}\n\treverse_proxy 127.0.0.1:{app}\n}}\n"),
        };
        let options = "{\n\tadmin off\n\tpersist_config off\n\tauto_https off\n\tlog {\n\t\toutput stderr\n\t\tlevel ERROR\n\t}\n}\n\n";
        let file = dir.join("Caddyfile");
        std::fs::write(&file, format!("{options}{caddyfile}"))?;
        let mut command = procs::command(&require_tool("caddy"), self.pinning.server);
        command
            .arg("run")
            .arg("--config")
            .arg(&file)
            .args(["--adapter", "caddyfile"])
            .env(
                "POSTERN_UPSTREAM",
                format!("127.0.0.1:{}", auth.unwrap_or(0)),
            )
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("HOME", &dir);
        let proc = Proc::spawn(&format!("caddy-{name}"), command, &dir.join("caddy.log"))?;
        Ok((proc, loopback(port)))
    }
}

/// Ready once a request with a session cookie travels the whole way and gets the app's 200:
/// traefik answers 404 until its file provider has loaded the routers.
fn wait_routed(addr: SocketAddr, cookies: &Path) -> anyhow::Result<()> {
    wait_listening(addr)?;
    let cookie = format!("postern_session={}", crate::wrk::first_line(cookies)?);
    let mut headers = PROXY_HEADERS.to_vec();
    headers.push(("Cookie", &cookie));
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(20) {
        match probe::get(addr, "/", &headers) {
            Ok(200) => return Ok(()),
            other => last = Some(other),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the proxy on {addr} did not pass a signed-in request to the app: {last:?}")
}

fn read_deploy(relative: &str) -> anyhow::Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(relative);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// `text` with `from` replaced by `to` on the lines outside comments that hold it, which must
/// be `times` lines, so a changed deploy file cannot leave the benchmark pointing elsewhere.
fn replace(
    file: &str,
    text: &str,
    (from, times): (&str, usize),
    to: &str,
) -> anyhow::Result<String> {
    let is_comment = |line: &str| line.trim_start().starts_with('#');
    let hits = text
        .lines()
        .filter(|line| !is_comment(line) && line.contains(from))
        .count();
    if hits != times {
        bail!("deploy/{file}: expected `{from}` on {times} line(s) outside comments, found {hits}");
    }
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !is_comment(line) && line.contains(from) {
                line.replacen(from, to, 1)
            } else {
                line.to_owned()
            }
        })
        .collect();
    Ok(lines.join("\n") + "\n")
}
