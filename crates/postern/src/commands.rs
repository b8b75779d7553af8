//! The small commands: `hash-password`, `config check`, `healthcheck`.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{ConfigArgs, HealthcheckArgs};
use crate::{EXIT_INVALID_CONFIG, config_file};

/// Reads one line (without its line ending) and prints the PHC string.
pub fn hash_password() -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (input is visible; pipe it in to avoid that): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    if let Err(err) = stdin.lock().read_line(&mut line) {
        eprintln!("postern: cannot read the password: {err}");
        return ExitCode::FAILURE;
    }
    let password = line
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&line);
    if password.is_empty() {
        eprintln!("postern: the password is empty");
        return ExitCode::FAILURE;
    }
    match postern_core::password::hash_password(password.as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("postern: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 0 and a one-line summary, or exit 64 and every problem.
pub fn config_check(args: &ConfigArgs) -> ExitCode {
    match config_file::load(args.config.as_deref(), &[]) {
        Ok(config) => {
            println!(
                "configuration is valid: app_url {}, listen {}, {} user(s), {} store",
                config.app_url,
                config.server.listen,
                config.users.len(),
                config.session.store.name()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("postern: {problems}");
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
    }
}

const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A plain HTTP/1.1 GET with a timeout; healthy means status 200.
pub fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| default_health_url(&args.config));
    match probe(&url) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("postern: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(why) => {
            eprintln!("postern: {url}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `/api/healthcheck` on the configured listen address (unspecified addresses become loopback).
fn default_health_url(args: &ConfigArgs) -> String {
    let listen = config_file::load(args.config.as_deref(), &[])
        .map(|config| config.server.listen)
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 3000)));
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        ip if ip.is_ipv6() => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}/api/healthcheck", listen.port())
}

fn probe(url: &str) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported (point --url at a plain listener)")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = authority
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {authority}: {err}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, HEALTHCHECK_TIMEOUT).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(HEALTHCHECK_TIMEOUT))
        .map_err(|err| err.to_string())?;
    stream
        .set_write_timeout(Some(HEALTHCHECK_TIMEOUT))
        .map_err(|err| err.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .map_err(|err| err.to_string())?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|err| err.to_string())?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())
}
