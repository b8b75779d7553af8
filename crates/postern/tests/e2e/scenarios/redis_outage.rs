//! Redis goes away under running replicas: they fail closed (a check is never a 200 without
//! the store), say so on /api/ready, and recover by themselves once Redis is back.

use std::time::{Duration, Instant};

use http::StatusCode;

use super::replica_checks::{allowed_on, check_on, ready_on};
use crate::harness::client::Request;
use crate::harness::portal::api_login_at;
use crate::harness::replicas::ReplicaStack;
use crate::harness::shared_redis::RedisKind;

/// How soon after Redis is back every replica must answer checks again, without a restart.
const RECOVERY: Duration = Duration::from_secs(2);

pub async fn a_redis_outage_fails_closed_and_heals() {
    let mut stack = ReplicaStack::start(RedisKind::Standalone).await;
    let session = api_login_at(&stack.portal_url("/api/login")).await;
    for replica in &stack.replicas {
        allowed_on(replica, &session, "before the outage").await;
    }

    stack.redis.standalone_server().stop();
    for replica in &stack.replicas {
        let check = check_on(replica, &session).await;
        assert_eq!(
            check.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a check on port {} without Redis: {}",
            replica.port(),
            check.describe()
        );
        assert_eq!(
            ready_on(replica).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "/api/ready on port {} without Redis",
            replica.port()
        );
    }
    // nginx's auth_request turns any answer but 2xx, 401 and 403 into a 500: refused, as it
    // must be. It must never be a 200.
    for round in 0..2 {
        let app = stack
            .balancer
            .send(Request::get("/inbox").browser().cookie(&session))
            .await;
        assert_eq!(
            app.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "request {round} through nginx without Redis: {}",
            app.describe()
        );
    }
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a request reached the app without Redis"
    );

    stack.redis.standalone_server().resume();
    let back = Instant::now();
    for replica in &stack.replicas {
        loop {
            let check = check_on(replica, &session).await;
            if check.status == StatusCode::OK {
                break;
            }
            assert!(
                back.elapsed() < RECOVERY,
                "replica on port {} still answers {} {:?} after Redis came back",
                replica.port(),
                check.describe(),
                back.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            ready_on(replica).await,
            StatusCode::OK,
            "/api/ready on port {} once Redis is back",
            replica.port()
        );
    }
    eprintln!(
        "every replica answered checks again {:?} after Redis came back",
        back.elapsed()
    );
    allowed_on(stack.replica(1), &session, "after the outage").await;
    let app = stack
        .balancer
        .send(Request::get("/inbox").browser().cookie(&session))
        .await;
    assert_eq!(
        app.status,
        StatusCode::OK,
        "through nginx after the outage: {}",
        app.describe()
    );
}
