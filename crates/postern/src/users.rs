//! `postern users unlock NAME`, `postern users revoke NAME` and `postern users totp-reset NAME`:
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
    let (args, op) = match action {
        UsersAction::Unlock(args) => (args, Op::UsersUnlock),
        UsersAction::Revoke(args) => (args, Op::UsersRevoke),
        UsersAction::TotpReset(args) => (args, Op::UsersTotpReset),
    };
    let config = admin::load_config(&args.config)?;
    let why = "restart postern to end every session and clear every counter, or use \
               `session.store = \"embedded\"` or `\"redis\"`";
    match admin::reach(&config, why)? {
        Reach::Running(channel) => Ok(admin_channel::call(
            channel,
            &Request::for_user(op, &args.name),
            &[],
            &mut std::io::sink(),
        )?),
        Reach::Direct(store, runtime) => {
            let users = &config.users;
            let name = args.name.as_str();
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
                }
            });
            Ok(done?)
        }
    }
}
