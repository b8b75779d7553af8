//! `postern users unlock NAME`, `postern users revoke NAME` and `postern users totp-reset NAME`:
//! act on the store the configuration names, so every replica sees the change at once. The memory store lives
//! inside the running postern, out of reach of another process: these commands need Redis or
//! the embedded store (whose file they open directly while postern is stopped).

use std::process::ExitCode;

use postern_core::config::StoreKind;

use crate::cli::UsersAction;
use crate::{EXIT_INVALID_CONFIG, config_file};

pub fn run(action: &UsersAction) -> ExitCode {
    let args = match action {
        UsersAction::Unlock(args) | UsersAction::Revoke(args) | UsersAction::TotpReset(args) => {
            args
        }
    };
    let config = match config_file::load(args.config.config.as_deref(), &[]) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("postern: {problems}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    if matches!(config.session.store, StoreKind::Memory) {
        eprintln!(
            "postern users: the memory store lives inside the running postern and cannot be reached \
             from here. Restart postern to end every session and clear every counter, or use \
             `session.store = \"embedded\"` or `\"redis\"`."
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("postern users: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The Redis client sets itself up inside a runtime.
    let _entered = runtime.enter();
    let store = match crate::store::open(&config) {
        Ok(store) => store,
        Err(refused) => {
            eprintln!("postern users: {}", refused.message);
            return ExitCode::from(refused.code);
        }
    };
    let name = config
        .users
        .get(&args.name)
        .map_or(args.name.clone(), |user| user.name.clone());
    let done = runtime.block_on(async {
        match action {
            UsersAction::Revoke(_) => {
                let ended = postern_server::admin::revoke(&store, &name).await?;
                Ok::<_, postern_store::StoreError>(format!(
                    "revoked {name}: {ended} session(s) ended; every bearer token and cached Basic credential no longer works"
                ))
            }
            UsersAction::Unlock(_) => {
                postern_server::admin::unlock(&store, &name).await?;
                Ok(format!("unlocked {name}: the failed sign-in counter is cleared"))
            }
            UsersAction::TotpReset(_) => totp_reset(&store, &config, &name).await,
        }
    });
    match done {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("postern users: the store did not answer: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Removes the TOTP the user set up themselves; says what stays (a secret in the config).
async fn totp_reset(
    store: &postern_store::Store,
    config: &postern_core::config::Config,
    name: &str,
) -> Result<String, postern_store::StoreError> {
    let Some(user) = config.users.get(name) else {
        return Ok(format!(
            "{name} is no local user: only local users have TOTP here; nothing to reset"
        ));
    };
    let removed = postern_server::admin::totp_reset(store, user).await?;
    let mut message = if removed {
        format!(
            "reset TOTP of {name}: the secret and recovery codes they set up are removed; \
             their bearer tokens and cached Basic credentials no longer work"
        )
    } else {
        format!("{name} had set up no TOTP of their own: nothing removed")
    };
    if user.totp.is_some() {
        message.push_str(
            "; their TOTP secret in the config or users_file stays in force: remove it there",
        );
    }
    Ok(message)
}
