//! The small commands: `hash-password` and `config check`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use postern_core::config::StoreKind;

use crate::cli::ConfigArgs;
use crate::{EXIT_INVALID_CONFIG, config_file};

/// Reads the password and prints the PHC string. On a terminal it is typed twice, without
/// echo; from a pipe it is one line (without its line ending).
pub fn hash_password() -> ExitCode {
    let password = if std::io::stdin().is_terminal() {
        typed_twice()
    } else {
        one_piped_line()
    };
    let password = match password {
        Ok(password) => password,
        Err(why) => {
            eprintln!("postern: {why}");
            return ExitCode::FAILURE;
        }
    };
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

/// Asked twice on the terminal, echo off, so a typo is caught before it becomes the hash.
fn typed_twice() -> Result<String, String> {
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|err| format!("cannot read the password: {err}"))
    };
    let first = read("Password: ")?;
    let second = read("Password again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing was hashed".to_owned());
    }
    Ok(first)
}

fn one_piped_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| format!("cannot read the password: {err}"))?;
    let password = line
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&line);
    Ok(password.to_owned())
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
            for warning in config.warnings() {
                eprintln!("postern: warning: {warning}");
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
