//! The small commands: `hash-password` and `config check`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use postern_core::config::StoreKind;

use crate::cli::ConfigArgs;
use crate::{EXIT_INVALID_CONFIG, config_file};

/// Reads one line (without its line ending) and prints the PHC string.
pub fn hash_password() -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (input is visible; pipe it in to avoid that): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    if let Err(err) = stdin.lock().read_line(&mut line) {
        eprintln!("postern: cannot read the password: {err}");
        return ExitCode::FAILURE;
    }
    let password = line
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&line);
    if password.is_empty() {
        eprintln!("postern: the password is empty");
        return ExitCode::FAILURE;
    }
    match postern_core::password::hash_password(password.as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("postern: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 0 and a one-line summary, or exit 64 and every problem.
pub fn config_check(args: &ConfigArgs) -> ExitCode {
    match config_file::load(args.config.as_deref(), &[]) {
        Ok(config) => {
            if let Some(tls) = &config.server.tls
                && let Err(err) = postern_server::check_tls(tls)
            {
                eprintln!("postern: 1 problem(s) in the configuration:\n  - `[server.tls]`: {err}");
                return ExitCode::from(EXIT_INVALID_CONFIG);
            }
            println!(
                "configuration is valid: app_url {}, listen {}, {} user(s), {} store",
                config.app_url,
                config.server.listen,
                config.users.len(),
                config.session.store.name()
            );
            if matches!(config.session.store, StoreKind::Embedded) {
                println!("data_dir: {}", config.data_dir.display());
                // Not a refusal: `serve` makes them owner-only at start.
                for problem in postern_store::embedded::permission_problems(&config.data_dir) {
                    println!("warning: {problem}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("postern: {problems}");
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
    }
}
