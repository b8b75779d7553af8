use std::cell::Cell;
use std::fs::File;

use postern_testkit::TempDir;

use super::*;

/// A load that counts its calls and reads nothing (what it returns does not matter here).
fn counting(calls: &Cell<usize>) -> impl Fn() -> Result<Config, ConfigProblems> + '_ {
    move || {
        calls.set(calls.get() + 1);
        Err(ConfigProblems(vec!["not read in this test".into()]))
    }
}

fn found(found: &Found) -> &'static str {
    match found {
        Found::Nothing => "nothing",
        Found::AsAtStart(_) => "as at start",
        Found::Changed(_) => "changed",
    }
}

/// A watch over `users.txt` (`text`), settled past its start.
fn settled(dir: &TempDir, text: &str) -> (Watch, PathBuf) {
    let users = dir.write("users.txt", text);
    let mut watch = Watch::new(None, Some(users.clone()));
    assert!(!watch.start_settled());
    let calls = Cell::new(0);
    assert_eq!(found(&watch.check(counting(&calls))), "as at start");
    assert!(watch.start_settled());
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    assert_eq!(calls.get(), 1);
    (watch, users)
}

#[test]
fn a_change_is_read_only_once_it_held_still_for_a_check() {
    let dir = TempDir::new("watch-settle");
    let (mut watch, users) = settled(&dir, "carol:x\n");
    let calls = Cell::new(0);
    std::fs::write(&users, "carol:x\ndave:").unwrap();
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    // Still being written at the next check: not read.
    std::fs::write(&users, "carol:x\ndave:y\n").unwrap();
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    assert_eq!(calls.get(), 0);
    assert_eq!(found(&watch.check(counting(&calls))), "changed");
    assert_eq!(calls.get(), 1);
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
}

#[test]
fn a_rewrite_that_keeps_the_stamp_still_counts_as_a_change() {
    let dir = TempDir::new("watch-same-stamp");
    let (mut watch, users) = settled(&dir, "carol:x\n");
    let calls = Cell::new(0);
    std::fs::write(&users, "carol:x\ndave:y\n").unwrap();
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    // Same size, and the modification time put back: only the contents tell.
    let mtime = std::fs::metadata(&users).unwrap().modified().unwrap();
    std::fs::write(&users, "carol:x\nerin:y\n").unwrap();
    File::options()
        .write(true)
        .open(&users)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    assert_eq!(calls.get(), 0);
    assert_eq!(found(&watch.check(counting(&calls))), "changed");
}

#[test]
fn a_file_that_changes_while_it_is_read_is_not_taken() {
    let dir = TempDir::new("watch-during-read");
    let (mut watch, users) = settled(&dir, "carol:x\n");
    std::fs::write(&users, "carol:x\ndave:y\n").unwrap();
    let calls = Cell::new(0);
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    let writes_meanwhile = || {
        std::fs::write(&users, "carol:x\ndave:y\nerin:z\n").unwrap();
        Err(ConfigProblems(vec!["read while written".into()]))
    };
    assert_eq!(found(&watch.check(writes_meanwhile)), "nothing");
    assert_eq!(found(&watch.check(counting(&calls))), "changed");
}

#[test]
fn the_start_settles_only_once_the_files_held_still_and_were_read_again() {
    let dir = TempDir::new("watch-start");
    let users = dir.write("users.txt", "carol:x\n");
    let mut watch = Watch::new(None, Some(users.clone()));
    std::fs::write(&users, "carol:x\ndave:y\n").unwrap();
    let calls = Cell::new(0);
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
    assert!(!watch.start_settled());
    assert_eq!(found(&watch.check(counting(&calls))), "changed");
    assert!(watch.start_settled());
    // SIGHUP settles it at once.
    let mut watch = Watch::new(None, Some(users));
    watch.read_on_demand();
    assert!(watch.start_settled());
    assert_eq!(found(&watch.check(counting(&calls))), "nothing");
}
