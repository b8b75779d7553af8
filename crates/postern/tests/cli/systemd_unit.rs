//! deploy/systemd/postern.service: `systemd-analyze` accepts it and scores it as well
//! hardened, `systemctl reload` reaches postern's SIGHUP reload, and its writable state
//! directory is where the packaged config keeps `users_file`. (The .deb test runs the installed
//! binary as the `postern` user on that exact layout: crates/postern/tests/package/.)

use std::process::Command;

use crate::support::{BINARY, TempDir};

const UNIT: &str = include_str!("../../../../deploy/systemd/postern.service");
const PACKAGED_CONFIG: &str = include_str!("../../../../deploy/debian/postern.toml");

/// The highest exposure `systemd-analyze security` may give the unit (0 best, 10 worst).
const MAX_EXPOSURE: f64 = 2.0;

fn systemd_analyze() -> Command {
    let path = "/usr/bin/systemd-analyze";
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: install Debian's `systemd` package (.ci/install-peers does)"
    );
    Command::new(path)
}

/// The values of `key=` lines in the unit, in order.
fn directives<'a>(key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    UNIT.lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

#[test]
fn systemd_analyze_security_scores_the_unit_at_most_2_0() {
    let output = systemd_analyze()
        .args(["security", "--offline=true", "--no-pager"])
        .arg(env!("CARGO_MANIFEST_DIR").to_owned() + "/../../deploy/systemd/postern.service")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let exposure: f64 = stdout
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for postern.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}:\n{stdout}"
    );
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    // verify insists that ExecStart's binary exists: point it at the one just built.
    let dir = TempDir::new("unit");
    let unit = dir.write("postern.service", &UNIT.replace("/usr/bin/postern", BINARY));
    let output = systemd_analyze().arg("verify").arg(&unit).output().unwrap();
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {}\n{complaints}",
        output.status
    );
}

/// `systemctl reload postern` must send SIGHUP, which `reload.rs` in this suite shows postern
/// reloading on.
#[test]
fn systemctl_reload_sends_sighup() {
    assert_eq!(directives("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
}

#[test]
fn users_file_of_the_packaged_config_sits_in_the_units_writable_state_directory() {
    assert_eq!(directives("ProtectSystem"), ["strict"]);
    assert_eq!(directives("StateDirectory"), ["postern"]);
    assert!(directives("ReadOnlyPaths").is_empty() && directives("DynamicUser").is_empty());
    let users_file = PACKAGED_CONFIG.lines().find_map(|line| {
        let value = line
            .strip_prefix("users_file")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"'))
    });
    assert_eq!(users_file, Some("/var/lib/postern/users"));
}

#[test]
fn the_unit_runs_as_the_packages_postern_user_and_takes_the_secret_as_a_credential() {
    assert_eq!(directives("User"), ["postern"]);
    assert_eq!(directives("Group"), ["postern"]);
    assert_eq!(directives("LoadCredential"), ["secret:/etc/postern/secret"]);
    assert_eq!(directives("Environment"), ["POSTERN_SECRET_FILE=%d/secret"]);
    let postinst = include_str!("../../../../deploy/debian/postinst");
    assert!(postinst.contains("adduser --system --group"));
    assert!(postinst.contains("chmod 0640 /etc/postern/postern.toml"));
}
