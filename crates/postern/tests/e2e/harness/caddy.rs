//! caddy with deploy/caddy/Caddyfile. The site address becomes plain HTTP on the test port,
//! postern's address comes through the POSTERN_UPSTREAM variable the snippet reads, and a
//! global options block in front keeps this instance private.

use std::process::Command;

use super::deploy::{read, replace_once, uncomment};
use super::peers;
use super::process::Process;
use super::proxy::{APP_HOST, AUTH_HOST, Ports, Variant};
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

/// `Variant::Portal`: with the commented portal site uncommented.
/// `Variant::TrustingItsClients`: the server trusts the forwarded headers of 127.0.0.1.
pub fn start(dir: &ScratchDir, ports: &Ports, variant: Variant) -> Process {
    let file = "caddy/Caddyfile";
    let mut caddyfile = read(file);
    if variant == Variant::Portal {
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
    let global = match variant {
        Variant::TrustingItsClients => GLOBAL_OPTIONS.replacen(
            "\tadmin off\n",
            "\tadmin off\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n",
            1,
        ),
        _ => GLOBAL_OPTIONS.to_owned(),
    };
    let config = dir.write("Caddyfile", &format!("{global}{caddyfile}"));

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
