//! Link options for the `postern` executable only (`cargo:rustc-link-arg-bins`): no dependency
//! is rebuilt and no profile changes. Both shrink the file without touching the code it runs
//! (docs/performance.md, "Binary size: where it goes", has the figures):
//!
//! - `--icf=all`: the linker folds functions whose machine code is identical (the same drop
//!   glue, `Debug` or future poll for types of the same layout). Rust gives functions no
//!   address identity (they are `unnamed_addr`), so folding them is allowed.
//! - `-z pack-relative-relocs` (DT_RELR): the position-independent executable's relative
//!   relocations (a pointer in every vtable, string slice table and `&'static` in data) are
//!   stored as a bitmap instead of 24 bytes each. Only glibc >= 2.36 applies them: the linker
//!   then makes the binary require `GLIBC_ABI_DT_RELR`, which an older glibc refuses at start
//!   ("version `GLIBC_ABI_DT_RELR' not found"), and static-pie (the container build's
//!   crt-static) relocates itself with the libc.a it links. So only when this machine's glibc
//!   is >= 2.36 and the build is not a cross build. dpkg's computed `libc6` dependency does
//!   not see that requirement, so the package declares `libc6 (>= 2.36)` itself (Cargo.toml,
//!   docs/operations.md).
//!
//! Only on x86_64-unknown-linux-gnu, where rustc links with its own LLD by default: GNU ld has
//! no `--icf`, and other targets link with the system's linker.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |key: &str| std::env::var(key).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    if var("HOST") == var("TARGET") && host_glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// `getconf GNU_LIBC_VERSION` answers `glibc 2.36`; anything else (musl, no getconf) is "no".
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(found_major), Some(found_minor)) => (found_major, found_minor) >= (major, minor),
        _ => false,
    }
}
