//! The admin channel's server side, in process: what it answers to requests it cannot do
//! (unknown ops, lines too long, missing names, bad import files), and the socket it leaves.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use postern_server::AppState;
use postern_server::admin_channel::{self, CallError, Op, Request};
use postern_store::{EmbeddedStore, Store};
use postern_testkit::TempDir;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// A state on an embedded store in `dir`, with its channel listening.
async fn listening(dir: &TempDir) -> (Arc<AppState>, CancellationToken) {
    let text = format!(
        "data_dir = \"{}\"\n{}",
        dir.path().display(),
        config_text("https://auth.example.com", "")
    );
    let store = EmbeddedStore::open(dir.path(), 1000).unwrap();
    let state = Arc::new(AppState::new(load(&text), Store::Embedded(store)));
    let shutdown = CancellationToken::new();
    let socket = admin_channel::listen(Arc::clone(&state), shutdown.clone())
        .await
        .unwrap();
    assert_eq!(socket, admin_channel::socket_path(dir.path()));
    (state, shutdown)
}

/// Sends raw bytes, returns the raw answer.
async fn raw(dir: &TempDir, bytes: Vec<u8>) -> String {
    let socket = admin_channel::socket_path(dir.path());
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(socket).unwrap();
        let _ = stream.write_all(&bytes);
        // The server may close with part of a refused request unread: the answer comes first,
        // then perhaps a reset instead of the end.
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

async fn call(
    dir: &TempDir,
    request: Request,
    body: Vec<u8>,
) -> Result<(String, Vec<u8>), CallError> {
    let socket = admin_channel::socket_path(dir.path());
    tokio::task::spawn_blocking(move || {
        let stream = admin_channel::connect(&socket).unwrap().unwrap();
        let mut out = Vec::new();
        admin_channel::call(stream, &request, &body, &mut out).map(|message| (message, out))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_it_cannot_do_are_refused_with_the_reason() {
    let dir = TempDir::new("channel-refusals");
    let (_state, _shutdown) = listening(&dir).await;

    let unknown = raw(
        &dir,
        b"{\"op\":\"passkeys-remove\",\"user\":\"alice\"}\n".to_vec(),
    )
    .await;
    assert!(unknown.starts_with("{\"ok\":false,"), "{unknown}");
    assert!(
        unknown.contains("not a request this postern knows"),
        "{unknown}"
    );
    assert!(
        unknown.contains("newer than the running server"),
        "{unknown}"
    );

    let endless = raw(&dir, vec![b'x'; 100 * 1024]).await;
    assert!(endless.contains("missing or too long"), "{endless}");

    let huge = raw(
        &dir,
        b"{\"op\":\"store-import\",\"body\":99999999999}\n".to_vec(),
    )
    .await;
    assert!(huge.contains("body is larger than"), "{huge}");

    let nameless = call(&dir, Request::new(Op::UsersRevoke), Vec::new()).await;
    assert!(
        matches!(&nameless, Err(CallError::Refused(why)) if why.contains("needs a user name")),
        "{nameless:?}"
    );

    let bodied = raw(
        &dir,
        b"{\"op\":\"users-unlock\",\"user\":\"alice\",\"body\":5}\nhello".to_vec(),
    )
    .await;
    assert!(bodied.contains("takes no body"), "{bodied}");

    let bad_file = call(&dir, Request::new(Op::StoreImport), b"not json\n".to_vec()).await;
    assert!(
        matches!(&bad_file, Err(CallError::Refused(why)) if why.contains("nothing imported: line 1")),
        "{bad_file:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_and_a_backup_come_back_as_the_answers_body() {
    let dir = TempDir::new("channel-bodies");
    let (state, _shutdown) = listening(&dir).await;
    let cookie_user = "alice";
    state
        .store
        .put_user_record(
            cookie_user,
            postern_store::RecordKind::Credentials,
            "current",
            b"{}".to_vec(),
        )
        .await
        .unwrap();

    let (message, export) = call(&dir, Request::new(Op::StoreExport), Vec::new())
        .await
        .unwrap();
    assert_eq!(message, "exported 1 user record(s)");
    let export = String::from_utf8(export).unwrap();
    assert!(
        export.starts_with("{\"format\":\"postern-user-records\""),
        "{export}"
    );
    assert!(export.contains("\"user\":\"alice\""), "{export}");

    let (message, backup) = call(&dir, Request::new(Op::StoreBackup), Vec::new())
        .await
        .unwrap();
    assert!(message.contains("1 user record(s)"), "{message}");
    assert!(backup.len() > 4096, "a redb file: {} bytes", backup.len());
    // The copy was sent and removed: nothing is left beside the socket.
    let left: Vec<_> = std::fs::read_dir(admin_channel::socket_dir(dir.path()))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["postern.sock".to_owned()]);
    // The copy opens as a data file with the record in it.
    let restored = TempDir::new("channel-restored");
    std::fs::write(restored.path().join("postern.redb"), &backup).unwrap();
    let copy = Store::Embedded(EmbeddedStore::open(restored.path(), 1000).unwrap());
    assert_eq!(copy.all_user_records().await.unwrap().len(), 1);
}

/// An import that declares more than it sends: answered when the sender closes (cut short),
/// or once nothing came for the stall timeout (10 s), without waiting for the declared bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_come_is_refused() {
    let dir = TempDir::new("channel-short-body");
    let (_state, _shutdown) = listening(&dir).await;
    let socket = admin_channel::socket_path(dir.path());
    let declared = b"{\"op\":\"store-import\",\"body\":200000000}\n{\"format\"";
    let (closed, stalled) = tokio::task::spawn_blocking(move || {
        let ask = |close: bool| {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(declared).unwrap();
            if close {
                stream.shutdown(std::net::Shutdown::Write).unwrap();
            }
            let started = std::time::Instant::now();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            (answer, started.elapsed())
        };
        (ask(true), ask(false))
    })
    .await
    .unwrap();
    assert!(
        closed.0.contains("cut short (9 of 200000000 bytes)"),
        "{closed:?}"
    );
    assert!(closed.1 < std::time::Duration::from_secs(5), "{closed:?}");
    assert!(stalled.0.contains("did not arrive"), "{stalled:?}");
    assert!(
        stalled.1 >= std::time::Duration::from_secs(9)
            && stalled.1 < std::time::Duration::from_secs(30),
        "{stalled:?}"
    );
}

/// Clients that ask for a large answer and never read it hold no place of the channel's:
/// more of them than it serves at once, and another command is still answered at once. Each
/// stuck answer is dropped after the stall timeout (10 s), cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_do_not_hold_the_channel() {
    let dir = TempDir::new("channel-stalled");
    let (state, _shutdown) = listening(&dir).await;
    let records = (0..4000)
        .map(|n| postern_store::UserRecord {
            user: format!("user{n}"),
            kind: postern_store::RecordKind::Credentials,
            id: "current".into(),
            value: vec![b'x'; 1000],
        })
        .collect();
    state.store.put_user_records(records).await.unwrap();
    let socket = admin_channel::socket_path(dir.path());
    let request = b"{\"op\":\"store-export\"}\n";
    let stuck: Vec<UnixStream> = (0..8)
        .map(|_| {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(request).unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let unlocked = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        call(
            &dir,
            Request::for_user(Op::UsersUnlock, "alice"),
            Vec::new(),
        ),
    )
    .await
    .expect("the channel answered no one while stuck clients held it");
    assert!(unlocked.is_ok(), "{unlocked:?}");
    eprintln!("answered after {:?}", started.elapsed());
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let read = tokio::task::spawn_blocking(move || {
        stuck
            .into_iter()
            .map(|mut stream| {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                answer.len()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for length in read {
        assert!(
            length > 0 && length < 4_000_000,
            "an answer of {length} bytes: not cut after the stall"
        );
    }
}

#[tokio::test]
async fn a_file_where_the_socket_goes_is_not_removed() {
    let dir = TempDir::new("channel-not-a-socket");
    std::fs::create_dir_all(admin_channel::socket_dir(dir.path())).unwrap();
    std::fs::write(admin_channel::socket_path(dir.path()), "mine").unwrap();
    let text = format!(
        "data_dir = \"{}\"\n{}",
        dir.path().display(),
        config_text("https://auth.example.com", "")
    );
    let store = EmbeddedStore::open(dir.path(), 1000).unwrap();
    let state = Arc::new(AppState::new(load(&text), Store::Embedded(store)));
    let refused = admin_channel::listen(state, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("is not a socket: move it aside"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(admin_channel::socket_path(dir.path())).unwrap(),
        "mine"
    );
}
