//! Two Redis commands of one store call with another replica's write between them, by hand: a
//! TCP relay between the store and redis-server holds the call's second command until the
//! test has made the other write, so the window a race needs is hit every time, not by luck.

use std::sync::Arc;
use std::time::Duration;

use postern_store::Store;
use postern_testkit::RedisServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};

use crate::support::{id, key, record, standalone};

/// Relays to redis-server; once armed, the first chunk the store sends that holds `held` waits
/// until `release` (and `reached` says it came).
struct Relay {
    port: u16,
    armed: Arc<Mutex<Option<&'static [u8]>>>,
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl Relay {
    async fn start(redis_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Self {
            port,
            armed: Arc::default(),
            reached: Arc::default(),
            release: Arc::default(),
        };
        let (armed, reached, release) = (
            relay.armed.clone(),
            relay.reached.clone(),
            relay.release.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect(("127.0.0.1", redis_port)).await.unwrap();
                let (mut from_client, mut to_server) = (client, server);
                let (armed, reached, release) = (armed.clone(), reached.clone(), release.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = from_client.split();
                    let (mut server_read, mut server_write) = to_server.split();
                    let upstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let read = client_read.read(&mut buf).await?;
                            if read == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            let chunk = &buf[..read];
                            let hold = {
                                let mut armed = armed.lock().await;
                                let hit = armed.is_some_and(|held| {
                                    chunk.windows(held.len()).any(|window| window == held)
                                });
                                if hit {
                                    *armed = None;
                                }
                                hit
                            };
                            if hold {
                                reached.notify_one();
                                release.notified().await;
                            }
                            server_write.write_all(chunk).await?;
                        }
                    };
                    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
                    let _ = tokio::join!(upstream, downstream);
                });
            }
        });
        relay
    }

    async fn hold_next(&self, held: &'static [u8]) {
        *self.armed.lock().await = Some(held);
    }
}

/// A check's idle-deadline move (`replace_session_if_present`: `SET … XX`, then the index
/// script) with a sign-out on another replica between its two commands: the session stays
/// gone, and so does its entry in the user's index (the script's `ZADD XX`). Without that
/// guard the index would list a session that no longer exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_between_a_replaces_two_commands_leaves_no_index_entry() {
    let server = RedisServer::start();
    let relay = Relay::start(server.port).await;
    let through_relay = standalone(relay.port);
    let other_replica = standalone(server.port);
    let user = id("user");
    let session = key();
    through_relay
        .put_session(&session, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        through_relay.user_sessions(&user).await.unwrap(),
        vec![session]
    );

    // The index script goes as EVALSHA (or EVAL when Redis lacks it): held either way.
    relay.hold_next(b"EVAL").await;
    let mut moved = record(&user);
    moved.idle_deadline += 100;
    let replace = {
        let store: Store = through_relay.clone();
        tokio::spawn(async move {
            store
                .replace_session_if_present(&session, &moved, Duration::from_secs(60))
                .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), relay.reached.notified())
        .await
        .expect("the index script never came after the SET XX");
    // The SET XX is done (the session was there); the sign-out lands now.
    other_replica.delete_session(&session, &user).await.unwrap();
    assert_eq!(other_replica.get_session(&session).await, Ok(None));
    relay.release.notify_one();
    let replaced = tokio::time::timeout(Duration::from_secs(10), replace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced, Ok(true), "its SET XX ran before the sign-out");
    assert_eq!(other_replica.user_sessions(&user).await.unwrap(), vec![]);
    assert_eq!(
        other_replica.get_session(&session).await,
        Ok(None),
        "{}",
        "the session itself was deleted after its replace"
    );
}

/// A sign-in on another replica while `delete_user_sessions` runs, after it read the user's
/// index: the new session is not ended by this call (it came after it), but it stays in the
/// index, so the next revocation, a password change or the session list still finds it.
/// Deleting the whole index here left it alive and unlisted until its absolute timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_during_a_revocation_stays_in_the_index() {
    let server = RedisServer::start();
    let relay = Relay::start(server.port).await;
    let through_relay = standalone(relay.port);
    let other_replica = standalone(server.port);
    let user = id("user");
    let old = key();
    through_relay
        .put_session(&old, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();

    // The index is read; the first session's DEL waits.
    relay.hold_next(b"DEL").await;
    let revoke = {
        let store: Store = through_relay.clone();
        let user = user.clone();
        tokio::spawn(async move { store.delete_user_sessions(&user).await })
    };
    tokio::time::timeout(Duration::from_secs(10), relay.reached.notified())
        .await
        .expect("the revocation never deleted a session");
    let new = key();
    other_replica
        .put_session(&new, &record(&user), Duration::from_secs(60))
        .await
        .unwrap();
    relay.release.notify_one();
    let ended = tokio::time::timeout(Duration::from_secs(10), revoke)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended, Ok(1), "the session read before the sign-in");
    assert_eq!(other_replica.get_session(&old).await, Ok(None));
    assert_eq!(other_replica.user_sessions(&user).await.unwrap(), vec![new]);
    assert_eq!(other_replica.delete_user_sessions(&user).await, Ok(1));
    assert_eq!(other_replica.get_session(&new).await, Ok(None));
}
