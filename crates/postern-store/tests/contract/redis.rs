//! The contract on real Redis processes: standalone (each case alone), Sentinel and Cluster
//! (the whole list), plus what only a network store must do: fail closed and recover.

use std::time::{Duration, Instant};

use postern_core::config::RedisMode;
use postern_store::{Store, StoreError};
use postern_testkit::{RedisCluster, RedisSentinel, RedisServer, redis_cli};

use crate::cases;
use crate::support::{cached_standalone, key, record, redis_config, standalone};

macro_rules! standalone_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let server = RedisServer::start();
                cases::$case(standalone(server.port)).await;
            }
        )*
    };
}

#[tokio::test]
async fn with_the_client_cache_standalone_passes_the_contract() {
    let server = RedisServer::start();
    cases::run_all(&cached_standalone(server.port)).await;
}

cases::every_case!(standalone_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_passes_the_contract_and_keeps_a_users_index_on_one_slot() {
    let cluster = RedisCluster::start();
    let store = Store::redis(&redis_config(RedisMode::Cluster, &cluster.seeds())).unwrap();
    cases::run_all(&store).await;
    let slot = |key: &str| redis_cli(cluster.nodes[0].port, &["cluster", "keyslot", key]);
    assert_eq!(
        slot("postern-test:user:{alice}:sessions"),
        slot("postern-test:fail:user:{alice}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_passes_the_contract_and_survives_a_failover() {
    let mut trio = RedisSentinel::start();
    let mut config = redis_config(
        RedisMode::Sentinel {
            master: RedisSentinel::MASTER_NAME.into(),
        },
        &[format!("127.0.0.1:{}", trio.sentinel_port)],
    );
    config.wait_replicas = 1;
    config.timeout = Duration::from_secs(1);
    let store = Store::redis(&config).unwrap();
    cases::run_all(&store).await;

    // Acknowledged by the replica before put_session returned (wait_replicas = 1) ...
    let before = key();
    store
        .put_session(&before, &record("alice"), Duration::from_secs(600))
        .await
        .unwrap();
    trio.fail_over();
    // ... so it is on the promoted replica. The store finds the new master by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        match store.get_session(&before).await {
            Ok(found) => break found,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("the store did not follow the failover: {err}"),
        }
    };
    assert_eq!(found.as_deref(), Some(&record("alice")));
    let after = key();
    store
        .put_session(&after, &record("bob"), Duration::from_secs(600))
        .await
        .unwrap();
    assert!(
        store.get_session(&after).await.unwrap().is_some(),
        "writes go to the new master"
    );
}

#[tokio::test]
async fn an_outage_fails_closed_and_recovery_needs_no_restart() {
    let mut server = RedisServer::start();
    let store = standalone(server.port);
    let hash = key();
    store
        .put_session(&hash, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    server.stop();
    let started = Instant::now();
    assert!(matches!(
        store.get_session(&hash).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    // Two calls with a 1 s timeout each: ten seconds only catches a call that hangs.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "errors come within the timeout, took {:?}",
        started.elapsed()
    );
    server.resume();
    let back = Instant::now();
    loop {
        if store.ping().await.is_ok() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not recovered 10 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The data went with the process (no persistence); new writes work.
    store
        .put_session(&hash, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(store.get_session(&hash).await.unwrap().is_some());
}

#[tokio::test]
async fn a_store_that_was_never_reachable_connects_when_redis_appears() {
    // The store is configured before the server exists, so the port is fixed first; when
    // another process takes it meanwhile (it answers, or the server cannot bind), the test
    // moves to a fresh port.
    for _ in 0..5 {
        let port = postern_testkit::free_port();
        let store = standalone(port);
        if store.ping().await.is_ok() {
            continue;
        }
        let Ok(_server) = RedisServer::try_start_on(port, &[]) else {
            continue;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.ping().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "did not connect after Redis started"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return;
    }
    panic!("five free ports were taken before redis-server could bind them");
}

#[tokio::test]
async fn keys_carry_the_prefix_and_hold_no_token() {
    let server = RedisServer::start();
    let store = standalone(server.port);
    let token = postern_core::token::SessionToken::generate();
    store
        .put_session(&token.hash(), &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    let keys = redis_cli(server.port, &["keys", "*"]);
    assert!(
        keys.lines().all(|key| key.starts_with("postern-test:")),
        "{keys}"
    );
    assert!(keys.contains(&token.hash().to_hex()));
    let dump = redis_cli(
        server.port,
        &[
            "get",
            &format!("postern-test:session:{}", token.hash().to_hex()),
        ],
    );
    assert!(
        !keys.contains(token.as_str()) && !dump.contains(token.as_str()),
        "only the hash is stored"
    );
}

#[tokio::test]
async fn password_and_acl_users_authenticate() {
    let server = RedisServer::start_on_a_free_port(&["--requirepass", "s3cret-pass"]);
    let mut config = redis_config(
        RedisMode::Standalone,
        &[format!("127.0.0.1:{}", server.port)],
    );
    assert!(
        Store::redis(&config).unwrap().ping().await.is_err(),
        "no password: refused"
    );
    config.password = Some("s3cret-pass".into());
    Store::redis(&config).unwrap().ping().await.unwrap();
    let acl = [
        "--no-auth-warning",
        "-a",
        "s3cret-pass",
        "acl",
        "setuser",
        "postern",
        "on",
        ">user-pass",
        "~postern-test:*",
        "+@all",
    ];
    assert_eq!(redis_cli(server.port, &acl), "OK");
    config.username = Some("postern".into());
    config.password = Some("user-pass".into());
    let store = Store::redis(&config).unwrap();
    cases::a_session_reads_back_and_deletes(store.clone()).await;
    config.password = Some("wrong".into());
    assert!(Store::redis(&config).unwrap().ping().await.is_err());
}

#[tokio::test]
async fn rediss_verifies_the_server_certificate() {
    let ca = postern_testkit::TestCa::new();
    let server = RedisServer::start_tls(&ca);
    let mut config = redis_config(
        RedisMode::Standalone,
        &[format!("localhost:{}", server.port)],
    );
    config.tls = true;
    assert!(
        Store::redis(&config).unwrap().ping().await.is_err(),
        "an unknown CA is refused"
    );
    config.tls_ca_file = Some(ca.cert_path());
    let store = Store::redis(&config).unwrap();
    cases::a_session_reads_back_and_deletes(store.clone()).await;
    config.tls = false;
    assert!(
        Store::redis(&config).unwrap().ping().await.is_err(),
        "plain text to a TLS port fails"
    );
}
