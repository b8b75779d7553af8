//! `postern explain` and the access-rule problems `config check` reports.

use crate::support::*;

const RULES: &str = r#"
[[apps]]
name = "Grafana"
host = "grafana.example.com"
policy = "two_factor"
allow_users = ["alice"]
public_paths = ["/public/.*"]
allow_ips = ["10.0.0.0/8"]
"#;

fn explain(dir: &TempDir, args: &[&str]) -> (Option<i32>, String, String) {
    let path = dir.write("postern.toml", &config(free_port(), RULES));
    let mut all = vec!["explain", "--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = run(&all, "");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn explain_prints_the_app_each_rule_and_the_decision() {
    let dir = TempDir::new("explain");
    let (code, out, err) = explain(
        &dir,
        &[
            "--url",
            "https://GRAFANA.example.com./x",
            "--user",
            "alice",
            "--ip",
            "10.1.1.1",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    for line in [
        "app:      Grafana (host grafana.example.com)",
        "allow_ips                  client is listed",
        "public_paths               the host ends with a dot: never public",
        "allow_users/allow_groups   user is listed",
        "policy two_factor          this session has one factor: refuse",
        "decision: refuse alice (second_factor)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    let (_, out, _) = explain(
        &dir,
        &[
            "--url",
            "https://grafana.example.com/public/../x",
            "--ip",
            "192.0.2.1",
        ],
    );
    assert!(out.contains("path /x"), "{out}");
    assert!(out.contains("decision: refuse (network)"), "{out}");

    let (_, out, _) = explain(
        &dir,
        &[
            "--url",
            "https://grafana.example.com/public/a",
            "--ip",
            "10.0.0.1",
        ],
    );
    assert!(out.contains("decision: allow without sign-in"), "{out}");

    let (_, out, _) = explain(
        &dir,
        &[
            "--url",
            "https://grafana.example.com/",
            "--user",
            "alice",
            "--ip",
            "10.0.0.1",
            "--second-factor",
        ],
    );
    assert!(out.contains("decision: allow alice"), "{out}");
}

#[test]
fn explain_refuses_bad_arguments_clearly() {
    let dir = TempDir::new("explain-bad");
    for (args, expected) in [
        (&["--url", "not a url"][..], "--url"),
        (
            &["--url", "https://a.example.com/", "--ip", "10.0.0"],
            "--ip",
        ),
        (
            &["--url", "https://a.example.com/", "--user", "mallory"],
            "--user",
        ),
        (
            &["--url", "https://a.example.com/", "--method", "GE T"],
            "--method",
        ),
    ] {
        let (code, _, err) = explain(&dir, args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn config_check_reports_rules_that_can_never_match() {
    let dir = TempDir::new("check-rules");
    let rules = r#"
[[apps]]
host = "a.example.com"
allow_users = ["mallory"]
public_paths = ["/broken("]
[[apps]]
host = "b.example.com"
[[apps]]
host = "B.example.com."
"#;
    let path = dir.write("postern.toml", &config(free_port(), rules));
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "user `mallory` does not exist",
        "does not compile",
        "already claimed",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}
