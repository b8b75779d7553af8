//! The binaries the harness measures: built the way postern ships (`deploy/build-pgo`, a
//! profile-guided build) unless `--no-pgo` asks for a plain `cargo build`, and how the ones
//! found were built, for the report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use anyhow::{Context, bail};

/// What `deploy/build-pgo` writes beside the binaries it built: each one's size and
/// modification time, so a later plain build over them is not reported as profile-guided.
const STAMP: &str = "build-pgo.stamp";
/// The binaries the stamp vouches for.
const STAMPED: [&str; 2] = ["postern", "postern-seeded"];

/// The folder of this binary, where the binaries it measures (or trains) are built too.
pub fn own_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .context("no directory for this binary")?
        .to_path_buf())
}

/// Builds postern, the bare-hyper stub and the seeded server into `dir`'s profile.
pub fn build(dir: &Path, pgo: bool) -> anyhow::Result<()> {
    // cargo builds the `dev` profile into debug/, every other profile into its name.
    let profile = match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(name) => name.to_owned(),
        None => "release".to_owned(),
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = if pgo {
        eprintln!(
            "postern-bench: deploy/build-pgo --profile {profile} -p postern -p postern-bench"
        );
        let mut command = Command::new("bash");
        command.arg(workspace.join("deploy/build-pgo"));
        command
    } else {
        eprintln!("postern-bench: cargo build --profile {profile} -p postern -p postern-bench");
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.arg("build");
        command
    };
    // `cargo run` hands its package's CARGO_PKG_* (and friends) to this process; passed on,
    // they make build scripts that watch them (ring's) rerun, and the next plain build redo it
    // all again.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    let status = command
        .current_dir(&workspace)
        .args([
            "--profile",
            &profile,
            "-p",
            "postern",
            "-p",
            "postern-bench",
        ])
        .status()
        .context("cannot start the build")?;
    if !status.success() {
        bail!("the build failed ({status})");
    }
    Ok(())
}

/// "profile-guided" when `dir`'s stamp matches its binaries, else "plain".
pub fn describe(dir: &Path) -> String {
    let profile = dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("?");
    let stamp = std::fs::read_to_string(dir.join(STAMP)).unwrap_or_default();
    if stamp_matches(dir, &stamp) {
        format!("`{profile}` profile, profile-guided (deploy/build-pgo), as postern ships")
    } else {
        format!(
            "`{profile}` profile, plain cargo build (--no-pgo or built by hand): not what ships, which is profile-guided (deploy/build-pgo)"
        )
    }
}

/// Every stamped binary has the size and modification time the stamp recorded.
fn stamp_matches(dir: &Path, stamp: &str) -> bool {
    STAMPED.iter().all(|name| {
        let Ok(meta) = std::fs::metadata(dir.join(name)) else {
            return false;
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_secs());
        let line = format!("{name} {} {modified}", meta.len());
        stamp.lines().any(|stamped| stamped == line)
    })
}
