//! A file a command writes (a backup, an export) goes first to a hidden sibling and is renamed
//! into place once complete and on disk, so a failed or interrupted command never leaves a
//! half-written file under the name asked for. Both are owner-only: they hold password hashes.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::EXIT_CANT_CREATE;
use crate::store::Refused;

pub struct Partial {
    target: PathBuf,
    partial: PathBuf,
    committed: bool,
}

fn cannot_write(path: &Path, err: impl std::fmt::Display) -> Refused {
    Refused {
        message: format!("cannot write {}: {err}", path.display()),
        code: EXIT_CANT_CREATE,
    }
}

impl Partial {
    /// Makes room for the sibling of `target` (a leftover of an interrupted run goes).
    pub fn new(target: &Path) -> Result<Self, Refused> {
        let name = target
            .file_name()
            .ok_or_else(|| cannot_write(target, "it names no file"))?;
        let partial = target.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        // Checked before any store is opened or asked.
        let folder = target.parent().filter(|dir| !dir.as_os_str().is_empty());
        if let Some(folder) = folder
            && !folder.is_dir()
        {
            return Err(cannot_write(
                target,
                format!("{} is not a folder", folder.display()),
            ));
        }
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(cannot_write(&partial, err)),
        }
        Ok(Self {
            target: target.to_owned(),
            partial,
            committed: false,
        })
    }

    /// Where to write (for writers that create the file themselves).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    pub fn create(&self) -> Result<File, Refused> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.partial)
            .map_err(|err| cannot_write(&self.partial, err))
    }

    /// Flushes the written file to disk and renames it to the target.
    pub fn commit(mut self) -> Result<PathBuf, Refused> {
        let synced = File::open(&self.partial).and_then(|file| file.sync_all());
        synced.map_err(|err| cannot_write(&self.partial, err))?;
        std::fs::rename(&self.partial, &self.target)
            .map_err(|err| cannot_write(&self.target, err))?;
        self.committed = true;
        // The rename itself is on disk once the folder is.
        if let Some(dir) = self
            .target
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
        {
            let _ = File::open(dir).and_then(|dir| dir.sync_all());
        }
        Ok(self.target.clone())
    }
}

/// The partial file as a writer that remembers its own failure, so a command tells "cannot
/// write FILE" (73) apart from a failure of where the bytes come from.
pub struct Output {
    file: File,
    path: PathBuf,
    pub failure: Option<Refused>,
}

impl Output {
    pub fn new(partial: &Partial) -> Result<Self, Refused> {
        Ok(Self {
            file: partial.create()?,
            path: partial.partial.clone(),
            failure: None,
        })
    }
}

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write(bytes).inspect_err(|err| {
            self.failure = Some(cannot_write(&self.path, err));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
