//! `postern store backup|export|import`: a consistent copy of the embedded store's data file,
//! and users' durable data as JSON lines to move between store kinds. Each works while
//! postern runs (through its admin channel) and while it is stopped (on the store itself).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use postern_core::config::StoreKind;
use postern_server::admin_channel::{self, Op, Request};
use postern_server::records_file;
use postern_store::Store;
use postern_store::embedded::BackupError;

use crate::admin::{self, Reach, failed};
use crate::cli::{BackupArgs, ExportArgs, ImportArgs, StoreAction};
use crate::partial::{Output, Partial};
use crate::store::Refused;
use crate::{EXIT_CANT_CREATE, EXIT_DATA_ERR, EXIT_NO_INPUT};

/// What a file argument of `-` means: stdout or stdin.
const STDIO: &str = "-";

pub fn run(action: &StoreAction) -> ExitCode {
    match action {
        StoreAction::Backup(args) => admin::finish("store backup", backup(args), false),
        // The export may go to stdout: the summary goes to stderr.
        StoreAction::Export(args) => admin::finish("store export", export(args), true),
        StoreAction::Import(args) => admin::finish("store import", import(args), false),
    }
}

const MEMORY_WHY: &str = "it keeps nothing once postern stops";

fn backup(args: &BackupArgs) -> Result<String, Refused> {
    let config = admin::load_config(&args.config)?;
    if !matches!(config.session.store, StoreKind::Embedded) {
        return Err(failed(format!(
            "`store backup` copies the embedded store's data file, and this configuration uses the {} store \
             (back Redis up with its own persistence, RDB or AOF; the memory store keeps nothing)",
            config.session.store.name()
        )));
    }
    let partial = Partial::new(&args.file)?;
    let message = match admin::reach(&config, MEMORY_WHY)? {
        Reach::Running(channel) => {
            let mut output = Output::new(&partial)?;
            let sent =
                admin_channel::call(channel, &Request::new(Op::StoreBackup), &[], &mut output);
            match (sent, output.failure) {
                (Ok(message), None) => message,
                (_, Some(cannot_write)) => return Err(cannot_write),
                (Err(err), None) => return Err(err.into()),
            }
        }
        Reach::Direct(Store::Embedded(store), _) => {
            let summary = store.backup_to(partial.path()).map_err(|err| Refused {
                code: match err {
                    BackupError::Destination { .. } => EXIT_CANT_CREATE,
                    BackupError::Source(_) => 1,
                },
                message: err.to_string(),
            })?;
            postern_server::admin::backed_up(&summary)
        }
        Reach::Direct(..) => return Err(failed("not the embedded store".into())),
    };
    let written = partial.commit()?;
    Ok(format!("{message}, written to {}", written.display()))
}

fn export(args: &ExportArgs) -> Result<String, Refused> {
    let config = admin::load_config(&args.config)?;
    let reach = admin::reach(&config, MEMORY_WHY)?;
    let target = args
        .file
        .as_deref()
        .filter(|file| *file != Path::new(STDIO));
    let partial = target.map(Partial::new).transpose()?;
    let (file, message) = match reach {
        Reach::Running(channel) => {
            let mut file = Vec::new();
            let message =
                admin_channel::call(channel, &Request::new(Op::StoreExport), &[], &mut file)?;
            (file, message)
        }
        Reach::Direct(store, runtime) => runtime.block_on(postern_server::admin::export(&store))?,
    };
    match partial {
        Some(partial) => {
            partial.create()?.write_all(&file).map_err(|err| {
                failed(format!("cannot write {}: {err}", partial.path().display()))
            })?;
            let written = partial.commit()?;
            Ok(format!("{message} to {}", written.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&file)
                .and_then(|()| stdout.flush())
                .map_err(|err| failed(format!("cannot write to stdout: {err}")))?;
            Ok(message)
        }
    }
}

fn import(args: &ImportArgs) -> Result<String, Refused> {
    let config = admin::load_config(&args.config)?;
    let file = read_input(&args.file)?;
    // Checked here whole before anything is stored, wherever it goes next.
    let records = records_file::read(file.as_slice()).map_err(|err| Refused {
        message: format!(
            "{} cannot be imported, nothing was: {err}",
            args.file.display()
        ),
        code: EXIT_DATA_ERR,
    })?;
    match admin::reach(&config, MEMORY_WHY)? {
        Reach::Running(channel) => Ok(admin_channel::call(
            channel,
            &Request::new(Op::StoreImport),
            &file,
            &mut std::io::sink(),
        )?),
        Reach::Direct(store, runtime) => Ok(runtime.block_on(postern_server::admin::import(
            &store,
            &config.users,
            records,
        ))?),
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>, Refused> {
    let mut bytes = Vec::new();
    let read = if path == Path::new(STDIO) {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes))
    };
    read.map_err(|err| Refused {
        message: format!("cannot read {}: {err}", path.display()),
        code: EXIT_NO_INPUT,
    })?;
    Ok(bytes)
}
