//! The contract on the embedded store (a redb file in a fresh directory per test), and what
//! only it promises: what was acknowledged survives a restart, expiry holds across one, one
//! process per directory, a damaged, foreign or newer file is refused, owner-only files.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use postern_store::embedded::{DATA_FILE, OpenError, SCHEMA_VERSION, permission_problems};
use postern_store::{Change, EmbeddedStore, RecordKind, Store, StoreError};
use postern_testkit::TempDir;

use crate::cases;
use crate::support::{key, record};

macro_rules! embedded_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let dir = TempDir::new("embedded");
                cases::$case(open(dir.path())).await;
            }
        )*
    };
}

cases::every_case!(embedded_cases);

fn open(dir: &Path) -> Store {
    Store::Embedded(EmbeddedStore::open(dir, 1000).unwrap())
}

/// Opens `dir` again once the store dropped before has let go of it (its writer thread ends
/// when the last handle is gone).
fn reopen(dir: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match EmbeddedStore::open(dir, 1000) {
            Ok(store) => return Store::Embedded(store),
            Err(OpenError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => panic!("reopen: {err}"),
        }
    }
}

#[tokio::test]
async fn what_was_acknowledged_is_there_after_a_restart() {
    let dir = TempDir::new("embedded-restart");
    let store = open(dir.path());
    let (kept, ended, short) = (key(), key(), key());
    for hash in [&kept, &ended] {
        store
            .put_session(hash, &record("alice"), Duration::from_secs(600))
            .await
            .unwrap();
    }
    store.delete_session(&ended, "alice").await.unwrap();
    store
        .put_session(&short, &record("alice"), Duration::from_millis(300))
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .count_failure("user:{alice}", Duration::from_secs(600))
            .await
            .unwrap();
    }
    assert!(
        store
            .mark_once("spent", Duration::from_secs(600))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_value("taken", b"t".to_vec(), Duration::from_secs(600))
            .await
            .unwrap()
    );
    store.take_value("taken").await.unwrap();
    store
        .put_value("kept", b"k".to_vec(), Duration::from_secs(600))
        .await
        .unwrap();
    store
        .put_user_record(
            "Alice",
            RecordKind::Credentials,
            "current",
            b"hash".to_vec(),
        )
        .await
        .unwrap();
    drop(store);
    // Stopped for longer than the short session's TTL.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let store = reopen(dir.path());
    assert_eq!(
        store.get_session(&kept).await.unwrap().as_deref(),
        Some(&record("alice"))
    );
    assert_eq!(
        store.get_session(&ended).await,
        Ok(None),
        "a sign-out stays done"
    );
    assert_eq!(
        store.get_session(&short).await,
        Ok(None),
        "expired while stopped"
    );
    assert_eq!(store.user_sessions("alice").await.unwrap(), vec![kept]);
    let failures = store.failures("user:{alice}").await.unwrap();
    assert_eq!(failures.count, 3);
    assert!(
        failures.resets_in > Duration::from_secs(590),
        "{failures:?}"
    );
    assert!(
        !store
            .mark_once("spent", Duration::from_secs(600))
            .await
            .unwrap()
    );
    assert_eq!(
        store.take_value("taken").await,
        Ok(None),
        "a taken value stays taken"
    );
    assert_eq!(store.peek_value("kept").await, Ok(Some(b"k".to_vec())));
    assert_eq!(
        store
            .user_record("alice", RecordKind::Credentials, "current")
            .await
            .unwrap(),
        Some(b"hash".to_vec())
    );
}

#[tokio::test]
async fn the_sweep_removes_expired_rows_from_the_file() {
    let dir = TempDir::new("embedded-sweep");
    let Store::Embedded(embedded) = open(dir.path()) else {
        unreachable!()
    };
    let store = Store::Embedded(embedded.clone());
    for n in 0..200 {
        store
            .put_session(&key(), &record("alice"), Duration::from_millis(50))
            .await
            .unwrap();
        store
            .count_failure(&format!("ip:{n}"), Duration::from_millis(50))
            .await
            .unwrap();
    }
    let lasting = key();
    store
        .put_session(&lasting, &record("bob"), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(embedded.stored_rows().unwrap(), 401);
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.sweep_expired();
    embedded.flush().await.unwrap();
    assert_eq!(embedded.stored_rows().unwrap(), 1);
    assert!(store.get_session(&lasting).await.unwrap().is_some());
}

/// One sweep removes at most a batch of rows per transaction (so sign-ins are not held up),
/// and goes on batch after batch until every expired row is gone: a churn faster than one
/// batch per sweep interval must not grow the file without bound.
#[tokio::test]
async fn one_sweep_goes_on_until_every_expired_row_is_gone() {
    let dir = TempDir::new("embedded-sweep-all");
    let embedded = EmbeddedStore::open(dir.path(), 20_000).unwrap();
    let store = Store::Embedded(embedded.clone());
    let expired = 12_000;
    let mut writes = tokio::task::JoinSet::new();
    for _ in 0..expired {
        let store = store.clone();
        writes.spawn(async move {
            store
                .put_session(&key(), &record("alice"), Duration::from_millis(50))
                .await
        });
        while writes.len() >= 256 {
            writes.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(embedded.stored_rows().unwrap(), expired);
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.sweep_expired();
    let deadline = Instant::now() + Duration::from_secs(20);
    while embedded.stored_rows().unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} rows left after one sweep",
            embedded.stored_rows().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sessions_are_bounded_by_max_sessions() {
    let dir = TempDir::new("embedded-bound");
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 3).unwrap());
    for _ in 0..3 {
        store
            .put_session(&key(), &record("alice"), Duration::from_millis(800))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .put_session(&key(), &record("alice"), Duration::from_secs(60))
            .await,
        Err(StoreError::Full(3))
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    store
        .put_session(&key(), &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
}

/// A sign-in's two writes: its counts (answered before their commit, acknowledged by
/// `committed`) and its settled counts with the session (one step). After a restart both are
/// there; a session refused for `max_sessions` stops the step there, the changes before it
/// stay.
#[tokio::test]
async fn a_sign_ins_writes_survive_a_restart_and_a_full_store_stops_the_step() {
    let dir = TempDir::new("embedded-changes");
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 1).unwrap());
    let counters = [
        ("ip:{192.0.2.1}", Duration::from_secs(600)),
        ("user:{alice}", Duration::from_secs(600)),
    ];
    for _ in 0..2 {
        let (_, pending) = store.count_failures(&counters).await.unwrap();
        store.committed(pending).await.unwrap();
    }
    let signed_in = key();
    let session = |hash| Change::PutSession {
        hash,
        record: record("alice"),
        ttl: Duration::from_secs(600),
    };
    store
        .apply(vec![
            Change::ForgiveFailure("ip:{192.0.2.1}".into()),
            session(signed_in),
        ])
        .await
        .unwrap();
    let refused = store
        .apply(vec![
            Change::ClearFailures("user:{alice}".into()),
            session(key()),
            Change::PutValue {
                id: "after".into(),
                value: b"x".to_vec(),
                ttl: Duration::from_secs(600),
            },
        ])
        .await;
    assert_eq!(refused, Err(StoreError::Full(1)));
    drop(store);
    let store = reopen(dir.path());
    assert!(store.get_session(&signed_in).await.unwrap().is_some());
    assert_eq!(store.failures("ip:{192.0.2.1}").await.unwrap().count, 1);
    assert_eq!(store.failures("user:{alice}").await.unwrap().count, 0);
    assert_eq!(store.peek_value("after").await.unwrap(), None);
}

#[tokio::test]
async fn a_second_open_of_the_directory_is_refused_naming_the_holder() {
    let dir = TempDir::new("embedded-lock");
    let _first = open(dir.path());
    let Err(err) = EmbeddedStore::open(dir.path(), 1000) else {
        panic!("a second open succeeded");
    };
    let message = err.to_string();
    assert!(
        matches!(&err, OpenError::Locked { pid, .. } if *pid == std::process::id().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

fn refused(dir: &Path) -> String {
    match EmbeddedStore::open(dir, 1000) {
        Ok(_) => panic!("a bad file was opened"),
        Err(err @ OpenError::Damaged { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains(&dir.join(DATA_FILE).display().to_string())
                    && message.contains("restore a backup")
                    && message.contains("move the file aside"),
                "{message}"
            );
            message
        }
        Err(other) => panic!("not refused as damaged: {other}"),
    }
}

#[tokio::test]
async fn an_empty_or_foreign_file_is_refused() {
    let dir = TempDir::new("embedded-foreign");
    dir.write(DATA_FILE, "");
    refused(dir.path());
    dir.write(DATA_FILE, &"not a database at all\n".repeat(500));
    refused(dir.path());
    // A redb file of some other program.
    std::fs::remove_file(dir.path().join(DATA_FILE)).unwrap();
    {
        let other = redb::Database::create(dir.path().join(DATA_FILE)).unwrap();
        let txn = other.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, &str>::new("things"))
            .unwrap()
            .insert("a", "b")
            .unwrap();
        txn.commit().unwrap();
    }
    refused(dir.path());
}

#[tokio::test]
async fn a_truncated_or_corrupted_file_is_refused() {
    for damage in ["truncate", "corrupt"] {
        let dir = TempDir::new("embedded-damaged");
        let store = open(dir.path());
        for _ in 0..500 {
            store
                .put_session(&key(), &record("alice"), Duration::from_secs(600))
                .await
                .unwrap();
        }
        drop(store);
        let _ = reopen(dir.path());
        let path = dir.path().join(DATA_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        if damage == "truncate" {
            bytes.truncate(bytes.len() / 2);
        } else {
            // A flipped byte in every 4 KiB page past the header: free pages alone would
            // rightly go unnoticed, so every page is hit.
            for byte in bytes.iter_mut().skip(4096).step_by(4096) {
                *byte ^= 0x5a;
            }
        }
        // Wait for the reopened store to let go first.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            std::fs::write(&path, &bytes).unwrap();
            match EmbeddedStore::open(dir.path(), 1000) {
                Err(OpenError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => break,
            }
        }
        let message = refused(dir.path());
        eprintln!("{damage}: {message}");
    }
}

#[tokio::test]
async fn a_file_from_a_newer_schema_is_refused() {
    let dir = TempDir::new("embedded-newer");
    drop(open(dir.path()));
    let deadline = Instant::now() + Duration::from_secs(5);
    let db = loop {
        match redb::Database::open(dir.path().join(DATA_FILE)) {
            Ok(db) => break db,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(err) => panic!("{err}"),
        }
    };
    let txn = db.begin_write().unwrap();
    txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
        .unwrap()
        .insert("schema_version", 99)
        .unwrap();
    txn.commit().unwrap();
    drop(db);
    let Err(err) = EmbeddedStore::open(dir.path(), 1000) else {
        panic!("a newer file was opened");
    };
    assert!(
        matches!(
            err,
            OpenError::Newer {
                found: 99,
                reads: SCHEMA_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer postern"), "{err}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_directory_and_file_are_owner_only() {
    let parent = TempDir::new("embedded-perms");
    let dir = parent.path().join("data");
    drop(open(&dir));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DATA_FILE)), 0o600);
    // Opened up by hand: reported, then made owner-only again at the next start.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join(DATA_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    let problems = permission_problems(&dir);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[1].contains("644"), "{problems:?}");
    drop(reopen(&dir));
    assert_eq!(
        mode(&dir),
        0o750,
        "a group of its own may stay (systemd's 0750)"
    );
    assert_eq!(mode(&dir.join(DATA_FILE)), 0o600);
    assert!(permission_problems(&dir).is_empty());
}

/// A backup is a data file holding what the store held: sessions (live and expired alike, so
/// expiry still holds), counters, marks and records, under the same schema version.
#[tokio::test]
async fn a_backup_opens_as_a_data_file_with_everything_in_it() {
    let dir = TempDir::new("embedded-backup");
    let Store::Embedded(embedded) = open(dir.path()) else {
        unreachable!()
    };
    let store = Store::Embedded(embedded.clone());
    let (live, short) = (key(), key());
    store
        .put_session(&live, &record("alice"), Duration::from_secs(600))
        .await
        .unwrap();
    store
        .put_session(&short, &record("bob"), Duration::from_millis(50))
        .await
        .unwrap();
    store
        .count_failure("user:{alice}", Duration::from_secs(600))
        .await
        .unwrap();
    store
        .mark_once("step:1", Duration::from_secs(600))
        .await
        .unwrap();
    store
        .put_user_record(
            "alice",
            RecordKind::Credentials,
            "current",
            b"kept".to_vec(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let copies = TempDir::new("embedded-backup-copy");
    let summary = embedded.backup_to(&copies.path().join(DATA_FILE)).unwrap();
    assert_eq!(
        (summary.sessions, summary.records),
        (1, 1),
        "one session still live"
    );
    let mode = std::fs::metadata(copies.path().join(DATA_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Writing over an existing file is refused: the caller picks a fresh name.
    assert!(matches!(
        embedded.backup_to(&copies.path().join(DATA_FILE)),
        Err(postern_store::embedded::BackupError::Destination { .. })
    ));

    let copy = open(copies.path());
    assert_eq!(
        copy.get_session(&live).await.unwrap().unwrap().user,
        "alice"
    );
    assert_eq!(
        copy.get_session(&short).await.unwrap(),
        None,
        "expired stays expired"
    );
    assert_eq!(copy.failures("user:{alice}").await.unwrap().count, 1);
    assert!(copy.is_marked("step:1").await.unwrap());
    assert_eq!(
        copy.user_record("alice", RecordKind::Credentials, "current")
            .await
            .unwrap(),
        Some(b"kept".to_vec())
    );
}
