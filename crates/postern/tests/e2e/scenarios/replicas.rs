//! Several replicas behind one round-robin nginx, sharing one Redis: whichever replica a
//! request lands on, the user's session, sign-out and sign-in limits are the same.

use http::StatusCode;
use http::header::RETRY_AFTER;

use super::expect;
use super::replica_checks::{allowed_on, check_on, login_on};
use crate::harness::balancer::REPLICAS;
use crate::harness::client::{Request, path_and_query};
use crate::harness::portal::{LoginForm, api_login_at, logout_at};
use crate::harness::postern::{ALICE, ALICE_PASSWORD, SESSION_COOKIE};
use crate::harness::replicas::{MAX_FAILURES_PER_IP, ReplicaStack};
use crate::harness::shared_redis::RedisKind;
use crate::harness::upstream::Echo;

const A: usize = 0;
const B: usize = 1;

/// Checks through nginx after the login: enough for every replica to get several.
const CHECKS: usize = 3 * REPLICAS;

/// The browser signs in through nginx (the form may be served by one replica and posted to
/// another), then every check nginx spreads over the replicas lets it through.
pub async fn a_session_made_through_the_proxy_passes_every_replica(kind: RedisKind) {
    let stack = ReplicaStack::start(kind).await;
    let (nginx, a) = (&stack.balancer, stack.replica(A));
    let target = "/private/report";
    let original = nginx.app_url(target);

    let refused = nginx.send(Request::get(target).browser()).await;
    let login_url = expect::login_redirect(&refused, StatusCode::FOUND, a, &original);
    let form = LoginForm::open(&login_url).await;
    let signed_in = form
        .submit_to(&stack.portal_url("/login"), ALICE, ALICE_PASSWORD)
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "login through nginx: {}",
        signed_in.describe()
    );
    let session = signed_in
        .set_cookie(SESSION_COOKIE)
        .expect("login sets the session cookie");
    expect_sentinel_writes_replicated(&stack);

    let before = stack.checks_by_replica();
    for round in 0..CHECKS {
        let app = nginx
            .send(Request::get(target).browser().cookie(&session))
            .await;
        assert_eq!(
            app.status,
            StatusCode::OK,
            "request {round} through nginx: {}",
            app.describe()
        );
        expect::upstream_saw_alice(&Echo::parse(&app.json()));
    }
    let after = stack.checks_by_replica();
    let served: Vec<usize> = (0..REPLICAS).map(|i| after[&i] - before[&i]).collect();
    assert_eq!(
        served.iter().sum::<usize>(),
        CHECKS,
        "nginx's access log lists every check: {served:?}"
    );
    assert!(
        served.iter().all(|&count| count > 0),
        "round-robin left a replica without checks (checks per replica: {served:?})"
    );
    for replica in &stack.replicas {
        allowed_on(replica, &session, "asked directly").await;
    }
    assert_eq!(
        stack.upstream.hits(),
        CHECKS,
        "only signed-in requests reached the app"
    );

    // A form served by A and posted to B: the CSRF token is derived from the shared secret.
    let direct_form = LoginForm::open(&a.direct_url(&path_and_query(&login_url))).await;
    let b = stack.replica(B);
    let on_b = direct_form
        .submit_to(&b.direct_url("/login"), ALICE, ALICE_PASSWORD)
        .await;
    assert_eq!(
        on_b.status,
        StatusCode::SEE_OTHER,
        "a login form from replica A posted to replica B: {}",
        on_b.describe()
    );
}

/// Signing out on B ends the session on A at once: the session lives in Redis only.
pub async fn logout_on_b_ends_the_session_on_a(kind: RedisKind) {
    let stack = ReplicaStack::start(kind).await;
    let (a, b) = (stack.replica(A), stack.replica(B));
    let session = api_login_at(&stack.portal_url("/api/login")).await;
    allowed_on(a, &session, "before the logout").await;
    // With `client_cache`, A's first read starts its subscription; once that is live (well
    // within 300 ms) the next read fills A's cache and the one after is served from it. The
    // sign-out on B must still end the session on A.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    allowed_on(a, &session, "cached on A").await;
    allowed_on(a, &session, "served from A's cache").await;

    let logged_out = logout_at(&b.direct_url("/"), &session).await;
    assert_eq!(
        logged_out.status,
        StatusCode::OK,
        "POST /api/logout on B: {}",
        logged_out.describe()
    );
    for replica in &stack.replicas {
        let after = check_on(replica, &session).await;
        expect::nginx_endpoint_unauthorized(&after);
    }
    let target = "/dashboard";
    let through_nginx = stack
        .balancer
        .send(Request::get(target).browser().cookie(&session))
        .await;
    expect::login_redirect(
        &through_nginx,
        StatusCode::FOUND,
        a,
        &stack.balancer.app_url(target),
    );
    assert_eq!(stack.upstream.hits(), 0, "the old cookie reached the app");
}

/// Failed sign-ins spread over A and B add up to one per-IP count: the sixth attempt is
/// refused with 429 on every replica, even with the right password.
pub async fn failed_logins_on_a_and_b_trip_one_limit(kind: RedisKind) {
    let stack = ReplicaStack::start(kind).await;
    for attempt in 0..MAX_FAILURES_PER_IP {
        let replica = stack.replica(attempt % 2);
        let wrong = login_on(replica, "not-her-password").await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "failed attempt {} (replica on port {}) is still a plain failure: {}",
            attempt + 1,
            replica.port(),
            wrong.describe()
        );
    }
    for replica in &stack.replicas {
        let limited = login_on(replica, ALICE_PASSWORD).await;
        assert_eq!(
            limited.status,
            StatusCode::TOO_MANY_REQUESTS,
            "replica on port {} after {MAX_FAILURES_PER_IP} failures over A and B: {}",
            replica.port(),
            limited.describe()
        );
        let retry_after: u64 = limited
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {:?}", limited.headers));
        assert!(
            (1..=300).contains(&retry_after),
            "Retry-After {retry_after} is not within the 300 s window"
        );
    }
}

/// A rolling restart: while A is down nginx sends every check to the others, and once A is
/// back it knows the session it never saw being made.
pub async fn a_restarted_replica_keeps_the_user_signed_in(kind: RedisKind) {
    let mut stack = ReplicaStack::start(kind).await;
    let session = api_login_at(&stack.portal_url("/api/login")).await;
    allowed_on(stack.replica(A), &session, "before the restart").await;

    stack.replicas[A].stop();
    for round in 0..REPLICAS {
        let app = stack
            .balancer
            .send(Request::get("/inbox").browser().cookie(&session))
            .await;
        assert_eq!(
            app.status,
            StatusCode::OK,
            "request {round} through nginx while A is down: {}",
            app.describe()
        );
    }
    stack.replicas[A].start_again().await;
    for replica in &stack.replicas {
        allowed_on(replica, &session, "after the restart").await;
    }
}

/// With `wait_replicas = 1`, a sign-in answers only once the Redis replica has the session,
/// and no replica had to log that the replica fell short.
fn expect_sentinel_writes_replicated(stack: &ReplicaStack) {
    let Some(on_replica) = stack.redis.sessions_on_the_sentinel_replica() else {
        return;
    };
    assert_eq!(
        on_replica, 1,
        "sessions on the Redis replica right after the sign-in"
    );
    for replica in &stack.replicas {
        let log = replica.log_text();
        assert!(
            !log.contains("too few Redis replicas acknowledged"),
            "replica on port {} could not wait for the Redis replica:\n{log}",
            replica.port()
        );
    }
}
