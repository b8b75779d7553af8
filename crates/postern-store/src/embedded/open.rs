//! Opening the data directory: owner-only permissions, one process per directory (redb's own
//! lock on the file, with our PID beside it so a refusal can name the holder), a damaged or
//! foreign file refused with the way out, and the schema version checked and upgraded.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redb::{Database, DatabaseError, ReadableDatabase as _, ReadableTable as _, StorageError};

use super::tables::{ENTRIES, EXPIRY, META, RECORDS, SCHEMA_VERSION_KEY, SESSIONS, USER_SESSIONS};

pub const DATA_FILE: &str = "postern.redb";
pub const PID_FILE: &str = "postern.pid";
/// The steps from each older layout to the next: `UPGRADES[n - 1]` turns a version `n` file
/// into version `n + 1`. A change to what is stored is one more entry here (and a test that
/// opens a file of the old layout); `SCHEMA_VERSION` follows from it.
const UPGRADES: &[Upgrade] = &[];
/// The layout of the tables this build writes: one more than the steps it carries.
pub const SCHEMA_VERSION: u64 = UPGRADES.len() as u64 + 1;
/// One upgrade step, run inside the transaction that then records the new version.
pub type Upgrade = fn(&redb::WriteTransaction) -> Result<(), redb::Error>;
/// redb's page cache. Sessions are read from memory; this serves counters, marks and values.
const CACHE_BYTES: usize = 8 << 20;
/// After a failed write the file is reopened at most this often.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the data directory {dir} is in use by another postern process (pid {pid}); stop that one, or give this one its own `data_dir`"
    )]
    Locked { dir: PathBuf, pid: String },
    #[error(
        "{file} is damaged or not a postern data file ({detail}): restore a backup (see `postern store backup`) or move the file aside to start with an empty store"
    )]
    Damaged { file: PathBuf, detail: String },
    #[error(
        "{file} was written by a newer postern (schema version {found}; this one reads up to {reads}): run the newer version, or restore a backup made by this one"
    )]
    Newer {
        file: PathBuf,
        found: u64,
        reads: u64,
    },
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
}

/// The data file, reopened in place after an I/O error (redb refuses every operation after
/// one until the database is opened again).
pub struct DataFile {
    pub path: PathBuf,
    db: ArcSwapOption<Database>,
    last_reopen: std::sync::Mutex<Option<Instant>>,
}

impl DataFile {
    pub fn get(&self) -> Option<Arc<Database>> {
        self.db.load_full()
    }

    /// Closes the database and opens it again; at most once per `REOPEN_EVERY`. Only the
    /// writer thread calls this.
    pub fn reopen(&self) -> bool {
        let mut last = crate::memory::lock(&self.last_reopen);
        if last.is_some_and(|at| at.elapsed() < REOPEN_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        if let Some(old) = self.db.swap(None) {
            // Readers hold it for one read; wait for them so the file lock is released.
            let deadline = Instant::now() + Duration::from_secs(1);
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        match builder().open(&self.path) {
            Ok(db) => {
                self.db.store(Some(Arc::new(db)));
                true
            }
            Err(err) => {
                tracing::debug!(error = %err, "the data file does not open yet");
                false
            }
        }
    }
}

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    // Verify every page on open: a file altered outside redb is refused, never trusted.
    builder
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true);
    builder
}

/// Opens (or creates) the data file under `dir`.
pub fn open(dir: &Path) -> Result<DataFile, OpenError> {
    prepare_dir(dir)?;
    let path = dir.join(DATA_FILE);
    let db = open_file(dir, &path)?;
    check_schema(&db, &path)?;
    write_pid(dir);
    Ok(DataFile {
        path,
        db: ArcSwapOption::from_pointee(db),
        last_reopen: std::sync::Mutex::new(None),
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.to_owned();
    move |err| OpenError::Io { path, err }
}

/// Creates `dir` owner-only, or makes an existing one owner-only.
fn prepare_dir(dir: &Path) -> Result<(), OpenError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    restrict(dir, DIR_SHUT).map_err(io(dir))
}

/// Permission bits the folder must not have: others'. Its group may be postern's own (the
/// systemd unit's `StateDirectoryMode=0750`); the file inside is owner-only anyway.
const DIR_SHUT: u32 = 0o007;
/// Permission bits the data file must not have: anyone's but its owner's.
const FILE_SHUT: u32 = 0o077;

/// Takes the `shut` bits off `path`, saying so when there were any.
fn restrict(path: &Path, shut: u32) -> std::io::Result<()> {
    let found = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if found & shut != 0 {
        let now = found & !shut;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(now))?;
        tracing::warn!(path = %path.display(), was = %format!("{found:o}"), now = %format!("{now:o}"), "permissions narrowed: it holds sessions and user data");
    }
    Ok(())
}

/// What is wrong with the permissions under `dir` (for `postern config check`), without
/// changing anything.
pub fn permission_problems(dir: &Path) -> Vec<String> {
    [(dir.to_owned(), DIR_SHUT), (dir.join(DATA_FILE), FILE_SHUT)]
        .into_iter()
        .filter_map(|(path, shut)| {
            let found = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (found & shut != 0).then(|| {
                format!(
                    "{} is mode {found:o}: others may read it; postern makes it {:o} when it starts",
                    path.display(),
                    found & !shut
                )
            })
        })
        .collect()
}

fn open_file(dir: &Path, path: &Path) -> Result<Database, OpenError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => {
            return Err(OpenError::Damaged {
                file: path.to_owned(),
                detail: "it is empty".into(),
            });
        }
        Ok(_) => restrict(path, FILE_SHUT).map_err(io(path))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // Created owner-only before redb writes anything into it.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io(path))?;
            return builder()
                .create(path)
                .map_err(|err| refusal(dir, path, err));
        }
        Err(err) => return Err(io(path)(err)),
    }
    builder().open(path).map_err(|err| refusal(dir, path, err))
}

fn refusal(dir: &Path, path: &Path, err: DatabaseError) -> OpenError {
    match err {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            OpenError::Locked {
                dir: dir.to_owned(),
                pid: std::fs::read_to_string(dir.join(PID_FILE))
                    .map_or_else(|_| "unknown".into(), |pid| pid.trim().to_owned()),
            }
        }
        // Not a redb file, or cut short: damaged, not an I/O problem.
        DatabaseError::Storage(StorageError::Io(err))
            if !matches!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            io(path)(err)
        }
        other => OpenError::Damaged {
            file: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// Writes the schema version into a new file, refuses a newer or foreign one, and upgrades
/// an older one.
fn check_schema(db: &Database, path: &Path) -> Result<(), OpenError> {
    check_schema_with(db, path, UPGRADES)
}

/// `check_schema` with the upgrade steps as a parameter, so the path the next change to the
/// layout will take is tested now, with steps of the test's own. An older file is copied
/// aside first (`postern.redb.v<N>`), so going back to the release before stays possible.
fn check_schema_with(db: &Database, path: &Path, upgrades: &[Upgrade]) -> Result<(), OpenError> {
    let damaged = |err: redb::Error| OpenError::Damaged {
        file: path.to_owned(),
        detail: err.to_string(),
    };
    let newest = upgrades.len() as u64 + 1;
    let found = match stored_version(db).map_err(damaged)? {
        Some(version) => version,
        None if holds_tables(db).map_err(damaged)? => {
            return Err(OpenError::Damaged {
                file: path.to_owned(),
                detail: "a redb file without postern's schema version".into(),
            });
        }
        // A new file: written in the newest layout from the start.
        None => newest,
    };
    if found > newest {
        return Err(OpenError::Newer {
            file: path.to_owned(),
            found,
            reads: newest,
        });
    }
    if found < newest {
        let copy = copy_before_upgrade(path, found)?;
        tracing::warn!(file = %path.display(), from = found, to = newest, copy = %copy.display(), "upgrading the data file's layout; the file as it was is kept beside it");
    }
    let txn = db.begin_write().map_err(|err| damaged(err.into()))?;
    let setup = || -> Result<(), redb::Error> {
        // Version `n` (n >= 1) runs the steps from index `n - 1` on.
        let done = usize::try_from(found.saturating_sub(1)).unwrap_or(usize::MAX);
        for upgrade in upgrades.iter().skip(done) {
            upgrade(&txn)?;
        }
        txn.open_table(META)?.insert(SCHEMA_VERSION_KEY, newest)?;
        txn.open_table(SESSIONS)?;
        txn.open_table(USER_SESSIONS)?;
        txn.open_table(ENTRIES)?;
        txn.open_table(EXPIRY)?;
        txn.open_table(RECORDS)?;
        Ok(())
    };
    setup().map_err(damaged)?;
    txn.commit().map_err(|err| damaged(err.into()))
}

/// The schema version the file records; `None` when it records none (a new or foreign file).
fn stored_version(db: &Database) -> Result<Option<u64>, redb::Error> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    Ok(meta.get(SCHEMA_VERSION_KEY)?.map(|version| version.value()))
}

/// Whether the file holds any table (a file postern just created holds none).
fn holds_tables(db: &Database) -> Result<bool, redb::Error> {
    Ok(db.begin_read()?.list_tables()?.next().is_some())
}

/// Copies the file, as it is before an upgrade, to `postern.redb.v<version>` beside it
/// (owner-only, as the file). No upgrade runs without that copy.
fn copy_before_upgrade(path: &Path, version: u64) -> Result<PathBuf, OpenError> {
    let copy = path.with_extension(format!("redb.v{version}"));
    std::fs::copy(path, &copy).map_err(io(&copy))?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).map_err(io(&copy))?;
    Ok(copy)
}

/// Our PID beside the file, so a second process refused by the lock can name this one.
/// The old file is removed and a new one created where none is (`create_new`, which never
/// follows a symlink): a command run as root on the folder of postern's user must not write
/// through a link that user planted as `postern.pid` (to `/etc/shadow`, say).
fn write_pid(dir: &Path) {
    let path = dir.join(PID_FILE);
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %err, "cannot replace the PID file");
            return;
        }
        _ => {}
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{}", std::process::id()));
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), error = %err, "cannot write the PID file");
    }
}

#[cfg(test)]
mod tests;
