//! Where the proxy binaries are. `.ci/install-peers` puts nginx on the system and traefik and
//! caddy into `<workspace>/.peers/bin/`. A missing binary fails the test: skipping silently
//! would let a CI machine without proxies report the proxy configs as tested.

use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn nginx() -> PathBuf {
    find("nginx", &[PathBuf::from("/usr/sbin/nginx")])
}

pub fn traefik() -> PathBuf {
    find("traefik", &[workspace_root().join(".peers/bin/traefik")])
}

pub fn caddy() -> PathBuf {
    find("caddy", &[workspace_root().join(".peers/bin/caddy")])
}

fn find(name: &str, preferred: &[PathBuf]) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    preferred
        .iter()
        .chain(on_path.iter())
        .find(|candidate| candidate.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} not found (looked in {preferred:?} and on PATH). The e2e tests drive real proxies: \
                 run .ci/install-peers from the workspace root to install them."
            )
        })
}
