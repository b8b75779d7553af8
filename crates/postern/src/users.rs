//! `postern users unlock NAME` and `postern users revoke NAME`: act on the store the
//! configuration names, so every replica sees the change at once: on Redis directly, on the
//! embedded store through the running postern's admin channel or, while it is stopped, on the
//! data file. The memory store is out of reach of another process.

use std::process::ExitCode;

use postern_server::admin_channel::{self, Op, Request};

use crate::admin::{self, Reach};
use crate::cli::UsersAction;
use crate::store::Refused;

pub fn run(action: &UsersAction) -> ExitCode {
    admin::finish("users", act(action), false)
}

fn act(action: &UsersAction) -> Result<String, Refused> {
    let (args, revoke) = match action {
        UsersAction::Unlock(args) => (args, false),
        UsersAction::Revoke(args) => (args, true),
    };
    let op = if revoke {
        Op::UsersRevoke
    } else {
        Op::UsersUnlock
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
            let done = runtime.block_on(async {
                if revoke {
                    postern_server::admin::revoke_user(&store, users, &args.name).await
                } else {
                    postern_server::admin::unlock_user(&store, users, &args.name).await
                }
            });
            Ok(done?)
        }
    }
}
