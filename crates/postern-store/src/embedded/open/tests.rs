//! The upgrade path, exercised with steps of the tests' own: the next change to the layout
//! takes exactly this path with a real step in `UPGRADES`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use postern_testkit::TempDir;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{DATA_FILE, OpenError, Upgrade, check_schema_with, stored_version};

/// What the test steps write: each appends its letter, so the order they ran in shows.
const TRAIL: TableDefinition<&str, &str> = TableDefinition::new("test_trail");

fn append(txn: &redb::WriteTransaction, letter: &str) -> Result<(), redb::Error> {
    let mut table = txn.open_table(TRAIL)?;
    let trail = table
        .get("steps")?
        .map(|row| row.value().to_owned())
        .unwrap_or_default();
    table.insert("steps", format!("{trail}{letter}").as_str())?;
    Ok(())
}

fn step_a(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    append(txn, "a")
}

fn step_b(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    append(txn, "b")
}

fn failing_step(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    append(txn, "x")?;
    Err(redb::Error::Corrupted("this step fails".into()))
}

fn trail(db: &Database) -> String {
    let txn = db.begin_read().unwrap();
    match txn.open_table(TRAIL) {
        Ok(table) => table
            .get("steps")
            .unwrap()
            .map(|row| row.value().to_owned())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A data file at `version`: created by a build that carried `version - 1` steps.
fn file_at(dir: &TempDir, version: usize) -> (Database, PathBuf) {
    let path = dir.path().join(DATA_FILE);
    let db = Database::create(&path).unwrap();
    let steps = vec![step_a as Upgrade; version - 1];
    check_schema_with(&db, &path, &steps).unwrap();
    // A file created in the newest layout runs no step: there is nothing older to convert.
    assert_eq!(trail(&db), "");
    (db, path)
}

fn version(db: &Database) -> Option<u64> {
    stored_version(db).unwrap()
}

#[test]
fn an_older_file_is_upgraded_step_by_step_once_and_copied_aside_first() {
    let dir = TempDir::new("schema-upgrade");
    let (db, path) = file_at(&dir, 1);
    assert_eq!(version(&db), Some(1));

    check_schema_with(&db, &path, &[step_a, step_b]).unwrap();
    assert_eq!(version(&db), Some(3));
    assert_eq!(trail(&db), "ab", "both steps, in order");
    let copy = dir.path().join("postern.redb.v1");
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(db);
    let before = Database::open(&copy).unwrap();
    assert_eq!(version(&before), Some(1), "the copy is the file as it was");
    assert_eq!(trail(&before), "");

    // Opened again by the same build: nothing left to do.
    let db = Database::open(&path).unwrap();
    check_schema_with(&db, &path, &[step_a, step_b]).unwrap();
    assert_eq!(trail(&db), "ab", "no step ran twice");
    assert!(!dir.path().join("postern.redb.v3").exists());
}

#[test]
fn a_file_between_versions_runs_only_the_steps_after_its_own() {
    let dir = TempDir::new("schema-middle");
    let (db, path) = file_at(&dir, 2);
    check_schema_with(&db, &path, &[step_a, step_b]).unwrap();
    assert_eq!(version(&db), Some(3));
    assert_eq!(trail(&db), "b");
    assert!(dir.path().join("postern.redb.v2").exists());
}

#[test]
fn a_failing_step_leaves_the_file_at_its_old_version() {
    let dir = TempDir::new("schema-failing");
    let (db, path) = file_at(&dir, 1);
    let Err(err) = check_schema_with(&db, &path, &[step_a, failing_step]) else {
        panic!("a failing step was ignored");
    };
    assert!(err.to_string().contains("this step fails"), "{err}");
    assert_eq!(version(&db), Some(1), "one transaction: all steps or none");
    assert_eq!(trail(&db), "");
}

#[test]
fn a_newer_file_is_refused_naming_both_versions() {
    let dir = TempDir::new("schema-newer");
    let (db, path) = file_at(&dir, 3);
    let Err(err) = check_schema_with(&db, &path, &[step_a]) else {
        panic!("a newer file was opened");
    };
    assert!(
        matches!(
            err,
            OpenError::Newer {
                found: 3,
                reads: 2,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("schema version 3")
            && message.contains("up to 2"),
        "{message}"
    );
    assert_eq!(version(&db), Some(3), "left as it was");
}

/// The folder belongs to postern's user, who could leave a symlink named `postern.pid` to a
/// file of root's: writing the PID replaces the link, never writes through it.
#[test]
fn the_pid_file_replaces_a_symlink_and_never_writes_through_it() {
    let dir = TempDir::new("pid-link");
    let victim = dir.write("victim", "keep me\n");
    std::os::unix::fs::symlink(&victim, dir.path().join(super::PID_FILE)).unwrap();
    super::write_pid(dir.path());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    let pid = dir.path().join(super::PID_FILE);
    assert!(!pid.is_symlink());
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap().trim(),
        std::process::id().to_string()
    );
}
