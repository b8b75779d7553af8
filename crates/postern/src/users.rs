//! `postern users unlock NAME`, `postern users revoke NAME`, `postern users totp-reset NAME` and
//! `postern users consents NAME [--revoke CLIENT]` and `postern users passkeys NAME [--remove ID]`:
//! act on the store the configuration names, so every replica sees the change at once: on Redis
//! directly, on the embedded store through the running postern's admin channel or, while it is
//! stopped, on the data file. The memory store is out of reach of another process.

use std::process::ExitCode;

use postern_server::admin_channel::{self, Op, Request};

use crate::admin::{self, Reach};
use crate::cli::UsersAction;
use crate::store::Refused;

pub fn run(action: &UsersAction) -> ExitCode {
    admin::finish("users", act(action), false)
}

fn act(action: &UsersAction) -> Result<String, Refused> {
    let (name, config_args, op, id) = match action {
        UsersAction::Unlock(args) => (&args.name, &args.config, Op::UsersUnlock, None),
        UsersAction::Revoke(args) => (&args.name, &args.config, Op::UsersRevoke, None),
        UsersAction::TotpReset(args) => (&args.name, &args.config, Op::UsersTotpReset, None),
        UsersAction::Consents(consents) => {
            let op = if consents.revoke.is_some() {
                Op::UsersConsentRevoke
            } else {
                Op::UsersConsents
            };
            (&consents.user.name, &consents.user.config, op, None)
        }
        UsersAction::Passkeys(args) => (
            &args.name,
            &args.config,
            Op::UsersPasskeys,
            args.remove.clone(),
        ),
    };
    let config = admin::load_config(config_args)?;
    let why = "restart postern to end every session and clear every counter, or use \
               `session.store = \"embedded\"` or `\"redis\"`";
    match admin::reach(&config, why)? {
        Reach::Running(channel) => Ok(admin_channel::call(
            channel,
            &Request {
                client: match action {
                    UsersAction::Consents(consents) => consents.revoke.clone(),
                    _ => None,
                },
                id: id.clone(),
                ..Request::for_user(op, name)
            },
            &[],
            &mut std::io::sink(),
        )?),
        Reach::Direct(store, runtime) => {
            let users = &config.users;
            let name = name.as_str();
            let done = runtime.block_on(async {
                match action {
                    UsersAction::Unlock(_) => {
                        postern_server::admin::unlock_user(&store, users, name).await
                    }
                    UsersAction::Revoke(_) => {
                        postern_server::admin::revoke_user(&store, users, name).await
                    }
                    UsersAction::TotpReset(_) => {
                        postern_server::admin::totp_reset_user(&store, users, name).await
                    }
                    UsersAction::Consents(consents) => match &consents.revoke {
                        Some(client) => {
                            postern_server::admin::revoke_consent_user(&store, users, name, client)
                                .await
                        }
                        None => postern_server::admin::consents_user(&store, users, name).await,
                    },
                    UsersAction::Passkeys(_) => {
                        postern_server::admin::passkeys_user(&store, users, name, id.as_deref())
                            .await
                    }
                }
            });
            Ok(done?)
        }
    }
}
