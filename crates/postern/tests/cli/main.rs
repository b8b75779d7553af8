//! The `postern` binary as an operator uses it: commands, exit codes, signals, logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod support;

mod audit;
mod cargo_install;
mod commands;
mod deploy_files;
mod deploy_variants;
mod disk_faults;
mod docs;
mod embedded;
mod explain;
mod import_retired;
mod kill9;
mod metrics;
mod oidc;
mod passkeys;
mod reload;
mod secrets_in_logs;
mod serve;
mod shipped_configs;
mod store_commands;
mod store_outage;
mod systemd_unit;
mod terminal;
mod totp_reset;
mod users;
