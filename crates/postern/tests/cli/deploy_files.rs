//! The container and orchestration files under deploy/, checked by real tools without a
//! container engine: hadolint lints the Dockerfile, docker-compose (the Python
//! implementation) validates every compose file with `config`, and kubernetes-validate checks
//! every Kubernetes manifest against the Kubernetes JSON schemas. `.ci/install-peers`
//! installs all three into `.peers/`. (No image is built here: see docs/operations.md.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::TempDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peer(path: &str) -> PathBuf {
    let tool = root().join(".peers").join(path);
    assert!(
        tool.exists(),
        "{} is missing: run .ci/install-peers",
        tool.display()
    );
    tool
}

fn run(tool: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn hadolint_passes_the_dockerfile_which_builds_a_static_non_root_image_with_a_healthcheck() {
    let dockerfile = root().join("deploy/docker/Dockerfile");
    let output = run(
        &peer("bin/hadolint"),
        &[dockerfile.to_str().unwrap()],
        &root(),
    );
    assert!(output.status.success(), "hadolint:\n{}", text(&output));
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    assert_eq!(
        text.matches("\nFROM ").count(),
        2,
        "a build stage and a runtime stage"
    );
    assert!(
        text.contains("\nFROM scratch\n"),
        "the runtime stage is empty but for postern"
    );
    assert!(text.contains("+crt-static"), "a static binary");
    assert!(
        text.contains("readelf -d /out/postern"),
        "the build stops if the binary needs a shared library (the empty image has none)"
    );
    assert!(
        text.contains("ca-certificates.crt"),
        "CA certificates for OAuth and webhooks"
    );
    assert!(text.contains("\nUSER 10001:10001\n"));
    assert!(
        text.contains("\"postern\", \"healthcheck\"") || text.contains("postern\", \"healthcheck")
    );
    assert!(text.contains("VOLUME [\"/var/lib/postern\"]"));
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|line| line == "target/"));
}

#[test]
fn docker_compose_config_accepts_every_compose_file_and_each_runs_replicas_with_redis() {
    let compose = peer("compose/bin/docker-compose");
    let dir = root().join("deploy/compose");
    for (file, proxy) in [
        ("docker-compose.yml", "nginx"),
        ("traefik.yml", "traefik"),
        ("caddy.yml", "caddy"),
    ] {
        let output = run(&compose, &["-f", file, "config", "-q"], &dir);
        assert!(output.status.success(), "{file}:\n{}", text(&output));
        let services = run(&compose, &["-f", file, "config", "--services"], &dir);
        let services = String::from_utf8_lossy(&services.stdout).into_owned();
        for service in ["postern-1", "postern-2", "redis", proxy] {
            assert!(
                services.lines().any(|line| line == service),
                "{file} has no {service}: {services}"
            );
        }
    }
    // The validator refuses what is wrong, so its yes above means something.
    let scratch = TempDir::new("compose");
    scratch.write(
        "bad.yml",
        "services:\n  postern:\n    image: postern\n    restart_policy: always\n",
    );
    let output = run(&compose, &["-f", "bad.yml", "config", "-q"], &scratch.0);
    assert!(
        !output.status.success(),
        "an unknown key passed:\n{}",
        text(&output)
    );
}

#[test]
fn every_kubernetes_manifest_matches_the_kubernetes_schemas() {
    let validate = peer("bin/kubernetes-validate");
    let dir = root().join("deploy/k8s");
    let mut manifests: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 6, "{manifests:?}");
    for manifest in &manifests {
        let output = run(&validate, &["--strict", manifest], &dir);
        let report = text(&output);
        assert!(
            output.status.success() && report.contains("passed"),
            "{manifest}:\n{report}"
        );
    }
    // A misspelt field fails, so the passes above are real.
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    let scratch = TempDir::new("k8s");
    scratch.write(
        "broken.yaml",
        &deployment.replacen("terminationGracePeriodSeconds", "terminationGracePeriod", 1),
    );
    let output = run(&validate, &["--strict", "broken.yaml"], &scratch.0);
    assert!(
        !output.status.success(),
        "a misspelt field passed:\n{}",
        text(&output)
    );
}
