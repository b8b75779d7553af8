//! How a command that reads or changes stored state (`users ...`, `store ...`) reaches the
//! store: through the admin channel of the postern that serves the embedded store (it holds
//! the data file), or by opening the store itself (Redis, or a stopped postern's data file).
//! The memory store lives inside the running postern and cannot be reached at all.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use postern_core::config::{Config, StoreKind};
use postern_server::admin_channel::{self, CallError};
use postern_store::Store;
use postern_store::embedded::{DATA_FILE, PID_FILE};

use crate::cli::ConfigArgs;
use crate::store::Refused;
use crate::{EXIT_INVALID_CONFIG, config_file};

pub enum Reach {
    /// A running postern serves the data file: ask it.
    Running(UnixStream),
    /// The store, opened here, and the runtime that drives it.
    Direct(Store, Box<tokio::runtime::Runtime>),
}

pub fn load_config(args: &ConfigArgs) -> Result<Config, Refused> {
    config_file::load(args.config.as_deref(), &[]).map_err(|problems| Refused {
        message: problems.to_string(),
        code: EXIT_INVALID_CONFIG,
    })
}

/// The running postern's channel, or the store opened here. `memory_why` is what to say with
/// the memory store.
pub fn reach(config: &Config, memory_why: &str) -> Result<Reach, Refused> {
    if matches!(config.session.store, StoreKind::Memory) {
        return Err(failed(format!(
            "the memory store lives inside the running postern and cannot be reached from here; {memory_why}"
        )));
    }
    if matches!(config.session.store, StoreKind::Embedded) {
        let socket = admin_channel::socket_path(&config.data_dir);
        match admin_channel::connect(&socket) {
            Ok(Some(stream)) => return Ok(Reach::Running(stream)),
            Ok(None) => {}
            Err(err) => {
                return Err(failed(format!(
                    "cannot reach the running postern through {}: {err} (run this as postern's user or root)",
                    socket.display()
                )));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| failed(format!("cannot start: {err}")))?;
    // The Redis client sets itself up inside a runtime.
    let store = {
        let _entered = runtime.enter();
        crate::store::open(config)?
    };
    if matches!(store, Store::Embedded(_)) {
        leave_files_to_folder_owner(&config.data_dir);
    }
    Ok(Reach::Direct(store, Box::new(runtime)))
}

/// A command run as root on a stopped postern's folder may create the data file and writes
/// the PID file, both as root; the postern that starts next runs as the folder's owner and
/// must be able to open them. (As any other user, `chown` fails and the files are already
/// that user's.) Only regular files, and the link itself if one is there (`lchown`): the
/// folder's owner could have put a symlink to a file of root's in their place.
fn leave_files_to_folder_owner(dir: &Path) {
    let Ok(folder) = std::fs::metadata(dir) else {
        return;
    };
    for name in [DATA_FILE, PID_FILE] {
        let path = dir.join(name);
        let Ok(file) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if file.is_file() && file.uid() != folder.uid() {
            let _ = std::os::unix::fs::lchown(&path, Some(folder.uid()), Some(folder.gid()));
        }
    }
}

/// A failure at run time (exit 1).
pub fn failed(message: String) -> Refused {
    Refused { message, code: 1 }
}

impl From<CallError> for Refused {
    fn from(err: CallError) -> Self {
        failed(err.to_string())
    }
}

impl From<postern_store::StoreError> for Refused {
    fn from(err: postern_store::StoreError) -> Self {
        failed(format!("the store did not answer: {err}"))
    }
}

/// Prints the outcome of `command` (`users`, `store`): the message on stdout (or stderr, when
/// stdout carries the command's output), or the refusal on stderr with its exit code.
pub fn finish(command: &str, outcome: Result<String, Refused>, to_stderr: bool) -> ExitCode {
    match outcome {
        Ok(message) if to_stderr => {
            eprintln!("postern {command}: {message}");
            ExitCode::SUCCESS
        }
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(refused) => {
            eprintln!("postern {command}: {}", refused.message);
            ExitCode::from(refused.code)
        }
    }
}
