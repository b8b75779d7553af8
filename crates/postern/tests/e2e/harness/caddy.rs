//! caddy with deploy/caddy/Caddyfile. The site address becomes plain HTTP on the test port,
//! postern's address comes through the POSTERN_UPSTREAM variable the snippet reads, and a
//! global options block in front keeps this instance private.

use std::process::Command;

use super::deploy::{read, replace_once, uncomment};
use super::peers;
use super::process::Process;
use super::proxy::{APP_HOST, AUTH_HOST, Ports};
use super::scratch::ScratchDir;

/// Test isolation only, not part of what postern ships: no admin endpoint (it would take
/// :2019 and clash between parallel tests), no certificates, loopback only, no saved state.
const GLOBAL_OPTIONS: &str = "\
{
\tadmin off
\tpersist_config off
\tauto_https off
\tdefault_bind 127.0.0.1
\tlog {
\t\toutput stderr
\t\tlevel INFO
\t}
}

";

/// `portal`: with the commented portal site uncommented.
pub fn start(dir: &ScratchDir, ports: &Ports, portal: bool) -> Process {
    let file = "caddy/Caddyfile";
    let mut caddyfile = read(file);
    if portal {
        caddyfile = uncomment(file, &caddyfile, &format!("{AUTH_HOST} {{"));
        caddyfile = replace_once(
            file,
            &caddyfile,
            &format!("{AUTH_HOST} {{"),
            &format!("http://{AUTH_HOST}:{} {{", ports.listen),
        );
    }
    let caddyfile = replace_once(
        file,
        &caddyfile,
        &format!("{APP_HOST} {{"),
        &format!("http://{APP_HOST}:{} {{", ports.listen),
    );
    let caddyfile = replace_once(
        file,
        &caddyfile,
        "reverse_proxy whoami:80",
        &format!("reverse_proxy 127.0.0.1:{}", ports.upstream),
    );
    let config = dir.write("Caddyfile", &format!("{GLOBAL_OPTIONS}{caddyfile}"));

    let mut command = Command::new(peers::caddy());
    command
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--adapter", "caddyfile"])
        .env("POSTERN_UPSTREAM", format!("127.0.0.1:{}", ports.postern))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", dir.path());
    Process::spawn("caddy", command, &dir.join("caddy.log"))
}
