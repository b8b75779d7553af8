//! `cargo install --locked --path crates/postern`, as the README tells users, into a
//! throwaway root: the lock file is complete and current (`--locked` refuses otherwise), the
//! installed binary names its release and accepts the example config.
//!
//! It installs a dev build (`--debug`) into the workspace's own target directory: the same
//! package, lock file and features as the release install, without a second, optimised build
//! of every dependency inside the test run (the Debian package test makes the same choice).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::TempDir;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn succeeded(what: &str, output: Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn cargo_install(root: &Path) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .current_dir(workspace())
        .args(["install", "--locked", "--debug", "--path", "crates/postern"])
        .arg("--root")
        .arg(root)
        .arg("--target-dir")
        .arg(workspace().join("target"))
        .env_remove("CARGO_INSTALL_ROOT")
        .output()
        .unwrap()
}

#[test]
fn cargo_install_locked_gives_a_binary_that_checks_the_example_config() {
    let root = TempDir::new("cargo-install");
    succeeded("cargo install --locked", cargo_install(&root.0));
    let installed = root.0.join("bin/postern");
    assert!(installed.is_file(), "no {}", installed.display());

    let version = succeeded(
        "postern --version",
        Command::new(&installed).arg("--version").output().unwrap(),
    );
    assert_eq!(
        version.trim(),
        format!("postern {}", env!("CARGO_PKG_VERSION"))
    );

    let example = workspace().join("examples/quickstart.toml");
    let check = Command::new(&installed)
        .args(["config", "check", "--config"])
        .arg(&example)
        .env_remove("POSTERN_CONFIG")
        .output()
        .unwrap();
    let report = succeeded("postern config check examples/quickstart.toml", check);
    assert!(
        report.contains("configuration is valid") && report.contains("1 user(s), memory store"),
        "{report}"
    );
}
