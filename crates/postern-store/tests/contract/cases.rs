//! The cases every backend must pass. Each uses fresh random keys, so several can share a store.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use postern_core::session::WayIn;
use postern_store::{Change, Counter, RecordKind, Store, UserRecord};

pub use crate::locks::{
    an_owned_value_is_taken_only_with_its_token, concurrent_releases_have_one_winner,
};
use crate::support::{id, key, record};

pub type Case = fn(Store) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case, by name, for the backends that run the list in one test.
pub const ALL: &[(&str, Case)] = &[
    ("a_session_reads_back_and_deletes", |s| {
        Box::pin(a_session_reads_back_and_deletes(s))
    }),
    ("a_put_replaces_the_record", |s| {
        Box::pin(a_put_replaces_the_record(s))
    }),
    (
        "a_replace_if_present_never_brings_back_a_deleted_session",
        |s| Box::pin(a_replace_if_present_never_brings_back_a_deleted_session(s)),
    ),
    (
        "a_replace_if_present_replaces_a_live_session_with_its_ttl",
        |s| Box::pin(a_replace_if_present_replaces_a_live_session_with_its_ttl(s)),
    ),
    ("sessions_expire_with_their_ttl", |s| {
        Box::pin(sessions_expire_with_their_ttl(s))
    }),
    ("sessions_are_independent", |s| {
        Box::pin(sessions_are_independent(s))
    }),
    ("a_users_sessions_are_listed", |s| {
        Box::pin(a_users_sessions_are_listed(s))
    }),
    ("log_out_everywhere_ends_every_session", |s| {
        Box::pin(log_out_everywhere_ends_every_session(s))
    }),
    ("failures_count_within_their_window", |s| {
        Box::pin(failures_count_within_their_window(s))
    }),
    ("a_forgiven_failure_keeps_its_window", |s| {
        Box::pin(a_forgiven_failure_keeps_its_window(s))
    }),
    ("a_token_bucket_allows_its_burst_then_refills", |s| {
        Box::pin(a_token_bucket_allows_its_burst_then_refills(s))
    }),
    ("a_mark_is_set_once", |s| Box::pin(a_mark_is_set_once(s))),
    ("concurrent_marks_have_one_winner", |s| {
        Box::pin(concurrent_marks_have_one_winner(s))
    }),
    ("a_value_is_taken_once", |s| {
        Box::pin(a_value_is_taken_once(s))
    }),
    ("ping_answers", |s| Box::pin(ping_answers(s))),
    ("user_records_are_kept_by_kind_and_id", |s| {
        Box::pin(user_records_are_kept_by_kind_and_id(s))
    }),
    ("every_user_record_is_listed_for_export", |s| {
        Box::pin(every_user_record_is_listed_for_export(s))
    }),
    ("changes_apply_together_in_order", |s| {
        Box::pin(changes_apply_together_in_order(s))
    }),
    ("failures_count_together", |s| {
        Box::pin(failures_count_together(s))
    }),
    ("an_owned_value_is_taken_only_with_its_token", |s| {
        Box::pin(an_owned_value_is_taken_only_with_its_token(s))
    }),
    ("concurrent_releases_have_one_winner", |s| {
        Box::pin(concurrent_releases_have_one_winner(s))
    }),
];

/// Calls `$backend!` with the name of every case, so a backend that runs each case as its own
/// test gets every case (`every_case_is_run_on_every_backend` checks this list against `ALL`).
macro_rules! every_case {
    ($backend:ident) => {
        $backend!(
            a_session_reads_back_and_deletes,
            a_put_replaces_the_record,
            a_replace_if_present_never_brings_back_a_deleted_session,
            a_replace_if_present_replaces_a_live_session_with_its_ttl,
            sessions_expire_with_their_ttl,
            sessions_are_independent,
            a_users_sessions_are_listed,
            log_out_everywhere_ends_every_session,
            failures_count_within_their_window,
            a_forgiven_failure_keeps_its_window,
            a_token_bucket_allows_its_burst_then_refills,
            a_mark_is_set_once,
            concurrent_marks_have_one_winner,
            a_value_is_taken_once,
            ping_answers,
            user_records_are_kept_by_kind_and_id,
            every_user_record_is_listed_for_export,
            changes_apply_together_in_order,
            failures_count_together,
            an_owned_value_is_taken_only_with_its_token,
            concurrent_releases_have_one_winner,
        );
    };
}
pub(crate) use every_case;

pub async fn run_all(store: &Store) {
    for (name, case) in ALL {
        eprintln!("contract case: {name}");
        case(store.clone()).await;
    }
}

pub async fn a_session_reads_back_and_deletes(store: Store) {
    let key = key();
    assert_eq!(store.get_session(&key).await, Ok(None));
    store
        .put_session(&key, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&key).await.unwrap().as_deref(),
        Some(&record("alice"))
    );
    store.delete_session(&key, "alice").await.unwrap();
    assert_eq!(store.get_session(&key).await, Ok(None));
    store.delete_session(&key, "alice").await.unwrap();
}

pub async fn a_put_replaces_the_record(store: Store) {
    let key = key();
    store
        .put_session(&key, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    let mut moved = record("alice");
    moved.idle_deadline += 100;
    // Every field is kept, the way in too (stores that serialize the record).
    moved.way_in = WayIn::PasswordAndPasskey;
    store
        .put_session(&key, &moved, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&key).await.unwrap().as_deref(),
        Some(&moved)
    );
}

/// A check's late idle-deadline move after a sign-out: nothing is written, not even an entry
/// in the user's index.
pub async fn a_replace_if_present_never_brings_back_a_deleted_session(store: Store) {
    let user = id("user");
    let key = key();
    store
        .put_session(&key, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();
    store.delete_session(&key, &user).await.unwrap();
    let mut moved = record(&user);
    moved.idle_deadline += 100;
    // One signed out, and one that was never stored.
    for hash in [key, crate::support::key()] {
        assert_eq!(
            store
                .replace_session_if_present(&hash, &moved, Duration::from_secs(60))
                .await,
            Ok(false)
        );
        assert_eq!(store.get_session(&hash).await, Ok(None));
        assert_eq!(store.user_sessions(&user).await.unwrap(), vec![]);
    }
}

pub async fn a_replace_if_present_replaces_a_live_session_with_its_ttl(store: Store) {
    let user = id("user");
    let key = key();
    store
        .put_session(&key, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();
    // Read once, so a cached copy (Redis client cache) must be dropped by the replace.
    assert!(store.get_session(&key).await.unwrap().is_some());
    let mut moved = record(&user);
    moved.idle_deadline += 100;
    assert_eq!(
        store
            .replace_session_if_present(&key, &moved, Duration::from_millis(80))
            .await,
        Ok(true)
    );
    assert_eq!(
        store.get_session(&key).await.unwrap().as_deref(),
        Some(&moved)
    );
    assert_eq!(store.user_sessions(&user).await.unwrap(), vec![key]);
    // The TTL given, not the one it was stored with: gone, and off the user's list.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.get_session(&key).await, Ok(None));
    assert_eq!(store.user_sessions(&user).await.unwrap(), vec![]);
}

pub async fn sessions_expire_with_their_ttl(store: Store) {
    let key = key();
    store
        .put_session(&key, &record("alice"), Duration::from_millis(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.get_session(&key).await, Ok(None));
}

pub async fn sessions_are_independent(store: Store) {
    let (a, b) = (key(), key());
    store
        .put_session(&a, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    store
        .put_session(&b, &record("bob"), Duration::from_secs(60))
        .await
        .unwrap();
    store.delete_session(&a, "alice").await.unwrap();
    assert_eq!(
        store.get_session(&b).await.unwrap().map(|r| r.user.clone()),
        Some("bob".to_owned())
    );
}

pub async fn a_users_sessions_are_listed(store: Store) {
    let user = id("user");
    let (a, b, c) = (key(), key(), key());
    for hash in [&a, &b] {
        store
            .put_session(hash, &record(&user), Duration::from_secs(60))
            .await
            .unwrap();
    }
    store
        .put_session(&c, &record(&user), Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let mut listed = store.user_sessions(&user.to_uppercase()).await.unwrap();
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(
        listed, expected,
        "live sessions only, any spelling of the name"
    );
    store.delete_session(&a, &user).await.unwrap();
    assert_eq!(store.user_sessions(&user).await.unwrap(), vec![b]);
}

pub async fn log_out_everywhere_ends_every_session(store: Store) {
    let user = id("user");
    let other = key();
    store
        .put_session(&other, &record("someone-else"), Duration::from_secs(60))
        .await
        .unwrap();
    let mine: Vec<_> = (0..3).map(|_| key()).collect();
    for hash in &mine {
        store
            .put_session(hash, &record(&user), Duration::from_secs(60))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user_sessions(&user).await.unwrap(), 3);
    for hash in &mine {
        assert_eq!(store.get_session(hash).await, Ok(None));
    }
    assert!(store.get_session(&other).await.unwrap().is_some());
    assert_eq!(store.user_sessions(&user).await.unwrap(), vec![]);
}

pub async fn failures_count_within_their_window(store: Store) {
    let counter = id("ip");
    assert_eq!(store.failures(&counter).await.unwrap(), Counter::ZERO);
    for expected in 1..=3 {
        let counted = store
            .count_failure(&counter, Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(counted.count, expected);
        assert!(
            counted.resets_in <= Duration::from_secs(300)
                && counted.resets_in > Duration::from_secs(290),
            "{counted:?}"
        );
    }
    assert_eq!(store.failures(&counter).await.unwrap().count, 3);
    store.clear_failures(&counter).await.unwrap();
    assert_eq!(store.failures(&counter).await.unwrap(), Counter::ZERO);
    let short = a_counter_whose_window_ended(&store).await;
    assert_eq!(
        store
            .count_failure(&short, Duration::from_millis(80))
            .await
            .unwrap()
            .count,
        1,
        "a new window starts from zero"
    );
}

pub async fn a_forgiven_failure_keeps_its_window(store: Store) {
    let counter = id("ip");
    // Nothing to forgive: no counter appears, and none goes below zero.
    store.forgive_failure(&counter).await.unwrap();
    assert_eq!(store.failures(&counter).await.unwrap(), Counter::ZERO);
    for _ in 0..3 {
        store
            .count_failure(&counter, Duration::from_secs(300))
            .await
            .unwrap();
    }
    store.forgive_failure(&counter).await.unwrap();
    let left = store.failures(&counter).await.unwrap();
    assert_eq!(left.count, 2);
    assert!(
        left.resets_in <= Duration::from_secs(300) && left.resets_in > Duration::from_secs(290),
        "the window goes on: {left:?}"
    );
    for _ in 0..3 {
        store.forgive_failure(&counter).await.unwrap();
    }
    assert_eq!(store.failures(&counter).await.unwrap().count, 0);
    let again = store
        .count_failure(&counter, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(again.count, 1, "counting starts again from zero");
    assert!(
        again.resets_in <= Duration::from_secs(300),
        "within the window it started in: {again:?}"
    );
    // A window that ended is not brought back by a late give-back.
    let short = a_counter_whose_window_ended(&store).await;
    store.forgive_failure(&short).await.unwrap();
    assert_eq!(store.failures(&short).await.unwrap(), Counter::ZERO);
}

/// A failure counter with a window of 80 ms, after the window ended.
async fn a_counter_whose_window_ended(store: &Store) -> String {
    let counter = id("ip");
    store
        .count_failure(&counter, Duration::from_millis(80))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(160)).await;
    counter
}

/// The arithmetic is pinned in `postern_core::limits`; here each backend keeps its buckets.
/// Timing-free where it can be: a bucket refilled once a minute cannot refill during the test
/// however slow the machine, and the refill is waited for, with a generous bound.
pub async fn a_token_bucket_allows_its_burst_then_refills(store: Store) {
    let slow = id("slow-bucket");
    let per_minute = 1.0 / 60.0;
    for _ in 0..5 {
        assert_eq!(store.take_token(&slow, per_minute, 5).await.unwrap(), None);
    }
    let wait = store
        .take_token(&slow, per_minute, 5)
        .await
        .unwrap()
        .expect("the burst is spent");
    // Tokens never go below zero, so the next one is at most a whole refill away.
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(
        store
            .take_token(&slow, per_minute, 5)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.take_token(&id("other"), per_minute, 5).await.unwrap(),
        None,
        "buckets are per key"
    );

    let fast = id("fast-bucket");
    assert_eq!(store.take_token(&fast, 20.0, 1).await.unwrap(), None);
    let started = std::time::Instant::now();
    while store.take_token(&fast, 20.0, 1).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not refilled at 20/s after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn a_mark_is_set_once(store: Store) {
    let mark = id("mark");
    assert!(!store.is_marked(&mark).await.unwrap());
    assert!(
        store
            .mark_once(&mark, Duration::from_millis(500))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_once(&mark, Duration::from_millis(500))
            .await
            .unwrap()
    );
    assert!(store.is_marked(&mark).await.unwrap());
    // Long enough for a durable store's two commits on a busy machine.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!store.is_marked(&mark).await.unwrap());
    assert!(
        store
            .mark_once(&mark, Duration::from_secs(10))
            .await
            .unwrap()
    );
}

pub async fn concurrent_marks_have_one_winner(store: Store) {
    let mark = id("mark");
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let mark = mark.clone();
            tokio::spawn(async move {
                store
                    .mark_once(&mark, Duration::from_secs(10))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        winners += usize::from(attempt.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn a_value_is_taken_once(store: Store) {
    let value = id("value");
    assert!(
        store
            .put_value(&value, b"state".to_vec(), Duration::from_secs(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_value(&value, b"other".to_vec(), Duration::from_secs(10))
            .await
            .unwrap(),
        "no overwrite"
    );
    // A peek reads without taking.
    for _ in 0..2 {
        assert_eq!(
            store.peek_value(&value).await.unwrap(),
            Some(b"state".to_vec())
        );
    }
    assert_eq!(
        store.take_value(&value).await.unwrap(),
        Some(b"state".to_vec())
    );
    assert_eq!(store.take_value(&value).await.unwrap(), None);
    assert_eq!(store.peek_value(&value).await.unwrap(), None);
    // A set replaces.
    let replaced = id("value");
    for text in [&b"one"[..], b"two"] {
        store
            .set_value(&replaced, text.to_vec(), Duration::from_secs(10))
            .await
            .unwrap();
    }
    assert_eq!(
        store.peek_value(&replaced).await.unwrap(),
        Some(b"two".to_vec())
    );
    let short = id("value");
    store
        .put_value(&short, b"x".to_vec(), Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.take_value(&short).await.unwrap(), None);
}

pub async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
}

pub async fn user_records_are_kept_by_kind_and_id(store: Store) {
    let user = id("user");
    let kind = RecordKind::Credentials;
    assert_eq!(store.user_record(&user, kind, "current").await, Ok(None));
    store
        .put_user_record(&user, kind, "current", b"one".to_vec())
        .await
        .unwrap();
    store
        .put_user_record(&user.to_uppercase(), kind, "current", b"two".to_vec())
        .await
        .unwrap();
    store
        .put_user_record(&user, kind, "other", b"three".to_vec())
        .await
        .unwrap();
    // Another user is another namespace, even one whose name starts the same.
    store
        .put_user_record(&format!("{user}z"), kind, "current", b"y".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store.user_record(&user, kind, "current").await.unwrap(),
        Some(b"two".to_vec()),
        "a put replaces, whatever the spelling of the name"
    );
    assert_eq!(
        store.user_records(&user, kind).await.unwrap(),
        vec![
            ("current".to_owned(), b"two".to_vec()),
            ("other".to_owned(), b"three".to_vec())
        ]
    );
    store
        .delete_user_record(&user, kind, "current")
        .await
        .unwrap();
    assert_eq!(store.user_record(&user, kind, "current").await, Ok(None));
    assert_eq!(
        store
            .user_record(&format!("{user}z"), kind, "current")
            .await
            .unwrap(),
        Some(b"y".to_vec())
    );
}

/// Export lists every record of every user, and import (many records at once) puts them back:
/// what moves a user's durable data from one store kind to another.
pub async fn every_user_record_is_listed_for_export(store: Store) {
    let (first, second) = (id("owner").to_lowercase(), id("owner").to_lowercase());
    let kind = RecordKind::Credentials;
    let record = |user: &str, id: &str, value: &[u8]| UserRecord {
        user: user.to_owned(),
        kind,
        id: id.to_owned(),
        value: value.to_vec(),
    };
    store
        .put_user_record(&first.to_uppercase(), kind, "current", b"one".to_vec())
        .await
        .unwrap();
    store
        .put_user_records(vec![
            record(&second, "current", b"two"),
            record(&second, "other", b"\x00\xff"),
        ])
        .await
        .unwrap();
    // The case may share the store with others: look at its own users only.
    let mut mine: Vec<UserRecord> = store
        .all_user_records()
        .await
        .unwrap()
        .into_iter()
        .filter(|found| found.user == first || found.user == second)
        .collect();
    mine.sort_by(|a, b| (&a.user, &a.id).cmp(&(&b.user, &b.id)));
    let mut expected = vec![
        record(&first, "current", b"one"),
        record(&second, "current", b"two"),
        record(&second, "other", b"\x00\xff"),
    ];
    expected.sort_by(|a, b| (&a.user, &a.id).cmp(&(&b.user, &b.id)));
    assert_eq!(mine, expected, "names in lower case, every kind and id");
    assert_eq!(
        store.user_record(&second, kind, "other").await.unwrap(),
        Some(b"\x00\xff".to_vec())
    );
}

/// A sign-in's changes in one step: its counts settled, the old session ended, the new one
/// and its details stored; each means what its single call means.
pub async fn changes_apply_together_in_order(store: Store) {
    let (forgiven, cleared, value) = (id("ip"), id("user"), id("device"));
    for counter in [&forgiven, &cleared] {
        for _ in 0..3 {
            store
                .count_failure(counter, Duration::from_secs(300))
                .await
                .unwrap();
        }
    }
    let (old, new) = (key(), key());
    let user = id("user");
    store
        .put_session(&old, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();
    store
        .put_value(&value, b"first".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    let changes = vec![
        Change::ForgiveFailure(forgiven.clone()),
        Change::ClearFailures(cleared.clone()),
        Change::DeleteSession {
            hash: old,
            user: user.clone(),
        },
        Change::PutSession {
            hash: new,
            record: record(&user),
            ttl: Duration::from_secs(60),
        },
        // Already there: kept, and no error.
        Change::PutValue {
            id: value.clone(),
            value: b"second".to_vec(),
            ttl: Duration::from_secs(60),
        },
    ];
    store.apply(changes).await.unwrap();
    assert_eq!(store.failures(&forgiven).await.unwrap().count, 2);
    assert_eq!(store.failures(&cleared).await.unwrap(), Counter::ZERO);
    assert!(store.get_session(&old).await.unwrap().is_none());
    assert_eq!(store.get_session(&new).await.unwrap().unwrap().user, user);
    assert_eq!(store.user_sessions(&user).await.unwrap(), vec![new]);
    assert_eq!(
        store.peek_value(&value).await.unwrap().as_deref(),
        Some(b"first".as_slice())
    );
    store.apply(Vec::new()).await.unwrap();
}

/// An attempt's counters, counted in one step: each answers its own count and window, and
/// once committed they read back like single counts.
pub async fn failures_count_together(store: Store) {
    let (ip, account) = (id("ip"), id("user"));
    for expected in 1..=2 {
        let counters = [
            (ip.as_str(), Duration::from_secs(300)),
            (account.as_str(), Duration::from_secs(900)),
        ];
        let (counts, pending) = store.count_failures(&counters).await.unwrap();
        store.committed(pending).await.unwrap();
        let [by_ip, by_account] = counts.as_slice() else {
            panic!("two counters, two counts: {counts:?}");
        };
        assert_eq!((by_ip.count, by_account.count), (expected, expected));
        assert!(by_ip.resets_in <= Duration::from_secs(300), "{by_ip:?}");
        assert!(
            by_account.resets_in > Duration::from_secs(800),
            "{by_account:?}"
        );
    }
    assert_eq!(store.failures(&ip).await.unwrap().count, 2);
    assert_eq!(store.failures(&account).await.unwrap().count, 2);
}
