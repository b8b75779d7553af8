//! The `postern` binary: parses the command line, loads the config, sets up logging and
//! signals, and hands over to the server. Exit codes: 0 success, 1 runtime failure,
//! 2 usage error (clap), 64 invalid configuration, and for files the `store` commands read or
//! write 65 (bad data), 66 (cannot read), 73 (cannot write), as in sysexits.h.
#![forbid(unsafe_code)]

/// `writeln!` into a `String`, which cannot fail; commands print it in one write at the end,
/// so a closed pipe (`| head`) is not a panic.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = ::std::fmt::Write::write_fmt(&mut $out, format_args!("{}\n", format_args!($($arg)*)));
    }};
}

mod admin;
mod cli;
mod commands;
mod config_file;
mod explain;
mod healthcheck;
mod logging;
mod oidc;
mod partial;
mod reload;
mod serve;
mod store;
mod store_commands;
mod totp;
mod users;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigAction, OidcAction, TotpAction};

/// The configuration is invalid (EX_USAGE).
pub const EXIT_INVALID_CONFIG: u8 = 64;
/// A bad argument (the same code clap uses).
pub const EXIT_USAGE: u8 = 2;
/// A file to import is not what it should be (EX_DATAERR).
pub const EXIT_DATA_ERR: u8 = 65;
/// A file to read cannot be opened (EX_NOINPUT).
pub const EXIT_NO_INPUT: u8 = 66;
/// A file to write cannot be created (EX_CANTCREAT).
pub const EXIT_CANT_CREATE: u8 = 73;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::HashPassword => commands::hash_password(),
        Command::Config {
            action: ConfigAction::Check(args),
        } => commands::config_check(&args),
        Command::Healthcheck(args) => healthcheck::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Users { action } => users::run(&action),
        Command::Store { action } => store_commands::run(&action),
        Command::Totp {
            action: TotpAction::Generate(args),
        } => totp::generate(&args),
        Command::Oidc {
            action: OidcAction::GenerateKey(args),
        } => oidc::generate_key(&args),
    }
}
