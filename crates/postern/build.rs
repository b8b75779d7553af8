//! Link options for the `postern` executable only (`cargo:rustc-link-arg-bins`): no dependency
//! is rebuilt and no profile changes. Both shrink the file without touching the code it runs
//! (docs/performance.md, "Binary size: where it goes", has the figures):
//!
//! - `-z pack-relative-relocs` (DT_RELR): the position-independent executable's relative
//!   relocations (a pointer in every vtable, string slice table and `&'static` in data) are
//!   stored as a bitmap instead of 24 bytes each. glibc >= 2.36 applies them (the binary then
//!   names `GLIBC_ABI_DT_RELR`, so an older glibc refuses it at start with a clear message,
//!   and cargo-deb's dependency reads libc6 >= 2.36); static-pie (the container build's
//!   crt-static) relocates itself the same way.
//! - `--icf=all`: the linker folds functions whose machine code is identical (the same drop
//!   glue, `Debug` or future poll for types of the same layout). Rust gives functions no
//!   address identity (they are `unnamed_addr`), so folding them is allowed.
//!
//! Only on x86_64-unknown-linux-gnu, where rustc links with its own LLD by default: GNU ld has
//! no `--icf`, and other targets link with the system's linker.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && target("CARGO_CFG_TARGET_OS") == "linux"
        && target("CARGO_CFG_TARGET_ENV") == "gnu"
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
