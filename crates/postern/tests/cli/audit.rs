//! The audit log as docs/security.md promises it, from a real `postern serve`: failures name
//! the account when it exists, limits carry the client IP, a client spraying unknown names
//! raises one `auth.suspicious`, not one per attempt. The lines it produces are then fed to
//! the shipped fail2ban filter through Debian's `fail2ban-regex`, which must find a ban-worthy
//! failure in each of them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const TOTP_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// A raw HTTP/1.1 POST of JSON from `client` (through `X-Forwarded-For`; 127.0.0.1 is a
/// trusted proxy by default); returns the whole answer.
fn post_from(port: u16, client: &str, path: &str, cookie: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Forwarded-For: {client}\r\n\
         Cookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn login(port: u16, client: &str, user: &str, password: &str) -> String {
    post_from(
        port,
        client,
        "/api/login",
        "",
        &format!("{{\"username\":\"{user}\",\"password\":\"{password}\"}}"),
    )
}

fn status(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or_default()
}

/// The audit lines of one event, in the text or the JSON format.
fn events<'a>(log: &'a str, event: &str) -> Vec<&'a str> {
    let text = format!("event=\"{event}\"");
    let json = format!("\"event\":\"{event}\"");
    log.lines()
        .filter(|line| line.contains(&text) || line.contains(&json))
        .collect()
}

/// Runs the sign-ins whose audit lines the tests read; returns the log text.
fn produce_audit_log(dir: &TempDir, format: &str) -> String {
    let port = free_port();
    let extra = format!(
        "[limits]\nmax_failures_per_ip = 20\nmax_failures_per_user = 5\n[log]\nformat = \"{format}\"\n"
    );
    let text = config(port, &extra)
        + &format!(
            "[[users]]\nname = \"tess\"\npassword_hash = \"{HASH}\"\ntotp_secret = \"{TOTP_SECRET}\"\n"
        );
    let path = dir.write("postern.toml", &text);
    let server = Running::start(dir, &path, port);

    // Five wrong passwords on alice from one client, then a sixth, refused by the limit.
    for _ in 0..5 {
        assert_eq!(status(&login(port, "203.0.113.9", "alice", "wrong")), "401");
    }
    assert_eq!(status(&login(port, "203.0.113.9", "alice", "wrong")), "429");
    // Another client sprays twelve attempts over six names nobody has.
    for round in 0..2 {
        for name in ["root", "admin", "test", "guest", "oracle", "pi"] {
            let answer = login(port, "198.51.100.7", name, &format!("guess{round}"));
            assert_eq!(status(&answer), "401", "{answer}");
        }
    }
    // A right password for tess, then a wrong code.
    let pending = login(port, "192.0.2.44", "tess", PASSWORD);
    let cookie = pending
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap_or_else(|| panic!("no pending cookie: {pending}"));
    let wrong_code = post_from(
        port,
        "192.0.2.44",
        "/api/totp",
        cookie,
        "{\"code\":\"000000\"}",
    );
    assert_eq!(status(&wrong_code), "401", "{wrong_code}");
    // Then the right one: the sign-in's `login.ok` names its second factor.
    let code = postern_core::totp::TotpKey::parse(TOTP_SECRET)
        .unwrap()
        .code_at(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        );
    let right_code = post_from(
        port,
        "192.0.2.44",
        "/api/totp",
        cookie,
        &format!("{{\"code\":\"{code}\"}}"),
    );
    assert_eq!(status(&right_code), "200", "{right_code}");
    std::thread::sleep(Duration::from_millis(200));
    server.log_text()
}

#[test]
fn audit_lines_name_the_account_carry_the_ip_and_aggregate_a_spray() {
    let dir = TempDir::new("audit");
    let log = produce_audit_log(&dir, "text");

    let failed = events(&log, "login.failed");
    assert_eq!(failed.len(), 17, "{log}");
    for line in &failed[..5] {
        assert!(
            line.contains("user=\"alice\"")
                && line.contains("known_user=true")
                && line.contains("ip=203.0.113.9"),
            "{line}"
        );
    }
    assert!(
        failed[5..]
            .iter()
            .all(|line| line.contains("known_user=false") && line.contains("ip=198.51.100.7")),
        "{log}"
    );
    let limited = events(&log, "login.limited");
    assert_eq!(limited.len(), 1, "{log}");
    assert!(limited[0].contains("ip=203.0.113.9"), "{}", limited[0]);
    let totp = events(&log, "totp.failed");
    assert_eq!(totp.len(), 1, "{log}");
    assert!(
        totp[0].contains("user=\"tess\"") && totp[0].contains("ip=192.0.2.44"),
        "{}",
        totp[0]
    );

    let signed_in = events(&log, "login.ok");
    assert_eq!(signed_in.len(), 1, "{log}");
    assert!(
        signed_in[0].contains("user=tess")
            && signed_in[0].contains("ip=192.0.2.44")
            && signed_in[0].contains("factor=\"totp\""),
        "{}",
        signed_in[0]
    );

    let suspicious = events(&log, "auth.suspicious");
    assert_eq!(
        suspicious.len(),
        2,
        "one for alice's account, one for the spraying client:\n{log}"
    );
    assert!(
        suspicious[0].contains("WARN")
            && suspicious[0].contains("scope=\"account\"")
            && suspicious[0].contains("user=\"alice\"")
            && suspicious[0].contains("ip=203.0.113.9"),
        "{}",
        suspicious[0]
    );
    assert!(
        suspicious[1].contains("WARN")
            && suspicious[1].contains("scope=\"client\"")
            && suspicious[1].contains("ip=198.51.100.7")
            && suspicious[1].contains("from one client"),
        "{}",
        suspicious[1]
    );
}

/// `fail2ban-regex <log> <filter>` with the shipped filter; returns its report.
fn fail2ban_regex(log: &Path) -> String {
    let filter =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/fail2ban/filter.d/postern.conf");
    let output = Command::new("fail2ban-regex")
        .arg("--print-all-matched")
        .arg(log)
        .arg(&filter)
        .output()
        .expect("fail2ban-regex (Debian's fail2ban package) is needed: run .ci/install-peers");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

/// How many lines the filter matched, as fail2ban-regex reports it (`Lines: N lines, 0
/// ignored, M matched, K missed`).
fn matched(report: &str) -> usize {
    report
        .lines()
        .find(|line| line.starts_with("Lines:"))
        .and_then(|line| line.split(", ").find(|part| part.ends_with(" matched")))
        .and_then(|part| part.trim_end_matches(" matched").trim().parse().ok())
        .unwrap_or_else(|| panic!("no Lines: summary in\n{report}"))
}

#[test]
fn the_shipped_fail2ban_filter_bans_on_failures_limits_and_suspicious_events() {
    for format in ["text", "json"] {
        let dir = TempDir::new(&format!("fail2ban-{format}"));
        let log = produce_audit_log(&dir, format);
        let audit: Vec<&str> = [
            "login.failed",
            "login.limited",
            "totp.failed",
            "auth.suspicious",
        ]
        .iter()
        .flat_map(|event| events(&log, event))
        .collect();
        assert_eq!(audit.len(), 21, "{log}");
        let path = dir.write("audit.log", &log);
        let report = fail2ban_regex(&path);
        assert_eq!(matched(&report), audit.len(), "{format}:\n{report}");
        for ip in ["203.0.113.9", "198.51.100.7", "192.0.2.44"] {
            assert!(
                report.contains(ip),
                "{format}: {ip} never matched\n{report}"
            );
        }
        // Nothing else in the log is a failure: start-up, a sign-in, a right password.
        let quiet = dir.write(
            "quiet.log",
            &log.lines()
                .filter(|line| !audit.contains(line))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        assert_eq!(matched(&fail2ban_regex(&quiet)), 0, "{format}");
    }
}

/// The shipped jail loads in fail2ban beside Debian's stock configuration (its own jails left
/// out: they need logs this machine may not have).
#[test]
fn the_shipped_fail2ban_jail_passes_fail2ban_s_configuration_test() {
    let dir = TempDir::new("fail2ban-jail");
    let conf = dir.0.join("fail2ban");
    let copied = Command::new("cp")
        .args(["-r", "/etc/fail2ban"])
        .arg(&conf)
        .status()
        .expect("fail2ban (Debian's package) is needed: run .ci/install-peers");
    assert!(
        copied.success(),
        "/etc/fail2ban is missing: run .ci/install-peers"
    );
    for entry in std::fs::read_dir(conf.join("jail.d")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/fail2ban");
    for file in ["filter.d/postern.conf", "jail.d/postern.conf"] {
        std::fs::copy(deploy.join(file), conf.join(file)).unwrap();
    }
    let test = Command::new("fail2ban-client")
        .arg("-c")
        .arg(&conf)
        .arg("-t")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "{said}");
    let dump = Command::new("fail2ban-client")
        .arg("-c")
        .arg(&conf)
        .arg("-d")
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("['add', 'postern',") && dump.contains("'postern', 'addfailregex'"),
        "{dump}"
    );
}

/// `login.ok` is written once the session is stored, never for a sign-in whose session
/// write failed: the store full of sessions (`max_sessions = 1`) refuses the second sign-in
/// with a 503 after its password was right, on the memory and on the embedded store.
#[test]
fn a_sign_in_whose_session_was_not_stored_is_not_audited_as_one() {
    for store in ["memory", "embedded"] {
        let dir = TempDir::new("audit-full");
        let port = free_port();
        let extra = format!(
            "data_dir = \"{}\"\n[session]\nstore = \"{store}\"\nmax_sessions = 1\n[log]\nformat = \"json\"\n",
            dir.0.join("data").display()
        );
        let path = dir.write("postern.toml", &config(port, &extra));
        let server = Running::start(&dir, &path, port);
        let first = login(port, "192.0.2.10", "alice", PASSWORD);
        assert_eq!(status(&first), "200", "{store}: {first}");
        let refused = login(port, "192.0.2.11", "alice", PASSWORD);
        assert_eq!(status(&refused), "503", "{store}: {refused}");
        std::thread::sleep(Duration::from_millis(200));
        let log = server.log_text();
        let signed_in = events(&log, "login.ok");
        assert_eq!(signed_in.len(), 1, "{store}: one stored session:\n{log}");
        assert!(signed_in[0].contains("192.0.2.10"), "{}", signed_in[0]);
    }
}
