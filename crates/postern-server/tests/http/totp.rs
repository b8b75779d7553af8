//! The TOTP step: a pending login that is no session, codes that work once, limits, and a
//! two-factor session that `two_factor` apps admit.

use http::StatusCode;
use postern_core::totp::TotpKey;

use crate::support::*;

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn code_at(offset_steps: i64) -> String {
    code_from(unix_now(), offset_steps)
}

/// The code `offset_steps` steps from `base`: a test that compares codes reads the clock once,
/// so a step that ends mid-test cannot turn "an older code" into a fresh one.
fn code_from(base: u64, offset_steps: i64) -> String {
    let at = base as i64 + offset_steps * 30;
    TotpKey::parse(SECRET).unwrap().code_at(at as u64)
}

/// A recovery code of tess's, and its hash (made once per test binary: argon2 is slow).
const RECOVERY: &str = "k3v7q-mz2ha";

fn recovery_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| postern_core::password::hash_password(RECOVERY.as_bytes()).unwrap())
}

async fn server() -> TestServer {
    server_with("").await
}

/// `server` with `top` (TOML) among the top-level keys and tables of the config.
async fn server_with(top: &str) -> TestServer {
    let hash = password_hash();
    let recovery = recovery_hash();
    let extra = format!(
        "[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n\
         [[users]]\nname = \"tess\"\npassword_hash = \"{hash}\"\ntotp_secret = \"{SECRET}\"\n\
         recovery_codes = [\"{recovery}\"]\n"
    );
    // The extra users table must come after the others' keys: append it at the end.
    let text = format!("{}{extra}", config_text("https://auth.example.com", top));
    TestServer::with_config(&text).await
}

/// Password step for tess: returns the pending cookie.
async fn password_step(server: &TestServer) -> String {
    let response = server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"tess\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.json()["totpPending"], true);
    assert!(
        response.session_cookie().is_none(),
        "a session before the code"
    );
    response.cookie("postern_pending").expect("pending cookie")
}

async fn code_step(server: &TestServer, pending: &str, code: &str) -> TestResponse {
    server
        .post("/api/totp")
        .header("cookie", pending)
        .json(&format!("{{\"code\":\"{code}\"}}"))
        .send()
        .await
}

fn vault_check(server: &TestServer, cookie: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("cookie", cookie)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "vault.example.com")
        .header("x-forwarded-uri", "/")
}

/// A browser sends every cookie of a name it holds; a malformed pending cookie first (a
/// sibling host's, set for the parent domain) must not hide the one postern set.
#[tokio::test]
async fn a_malformed_pending_cookie_first_does_not_hide_the_real_one() {
    let server = server().await;
    let pending = password_step(&server).await;
    let both = format!("postern_pending=not-a-token; {pending}");
    let status = server
        .get("/api/status")
        .header("cookie", &both)
        .send()
        .await;
    assert_eq!(status.json()["totpPending"], true);
    let right = code_step(&server, &both, &code_at(0)).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert!(right.session_cookie().is_some());
}

#[tokio::test]
async fn a_pending_login_is_no_session_and_the_right_code_makes_a_two_factor_one() {
    let server = server().await;
    let pending = password_step(&server).await;
    let status = server
        .get("/api/status")
        .header("cookie", &pending)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], false);
    assert_eq!(status.json()["totpPending"], true);
    // The pending cookie opens nothing, even renamed to the session cookie.
    let value = pending.split_once('=').unwrap().1;
    for cookie in [pending.clone(), format!("postern_session={value}")] {
        assert_eq!(
            vault_check(&server, &cookie).send().await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            server
                .get("/api/session")
                .header("cookie", &cookie)
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let wrong = code_step(&server, &pending, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let right = code_step(&server, &pending, &code_at(0)).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    let session = right.session_cookie().expect("session cookie");
    let allowed = vault_check(&server, &session).send().await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("remote-user"), Some("tess"));
    // The pending login is spent.
    assert_eq!(
        code_step(&server, &pending, &code_at(0)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_code_works_once_and_no_older_code_after_it() {
    let server = server().await;
    let base = unix_now();
    let first = password_step(&server).await;
    assert_eq!(
        code_step(&server, &first, &code_from(base, 1)).await.status,
        StatusCode::OK
    );
    let second = password_step(&server).await;
    for code in [code_from(base, 1), code_from(base, 0), code_from(base, -1)] {
        let replay = code_step(&server, &second, &code).await;
        assert_eq!(
            replay.status,
            StatusCode::UNAUTHORIZED,
            "{code}: {}",
            replay.body
        );
    }
}

#[tokio::test]
async fn one_factor_sessions_do_not_reach_two_factor_apps() {
    let server = server().await;
    let alice = server.login("alice").await;
    let refused = vault_check(&server, &alice).send().await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["reason"], "second_factor");
    let browser = vault_check(&server, &alice).browser().send().await;
    assert_eq!(
        browser.header("location"),
        Some(
            "https://auth.example.com/unauthorized?reason=second_factor&app=Vault&redirect_uri=https%3A%2F%2Fvault.example.com%2F"
        )
    );
}

#[tokio::test]
async fn wrong_codes_end_the_pending_login_and_count_as_failures() {
    let server = server().await;
    let pending = password_step(&server).await;
    for attempt in 1..=5 {
        let wrong = code_step(&server, &pending, "123456").await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            wrong.body
        );
        assert_eq!(
            wrong.json()["pendingEnded"],
            attempt == 5,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        code_step(&server, &pending, &code_at(0)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Five failures from this client: the per-IP limit (5) now refuses even the password.
    let limited = server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"tess\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_form_flow_goes_through_the_totp_page_to_the_target() {
    let server = server().await;
    let page = server.get("/login").browser().send().await;
    let csrf = page.hidden_field("csrf");
    let pre_session = page.cookie("postern_csrf").unwrap();
    let submitted = server
        .post("/login")
        .header("cookie", &pre_session)
        .form(&[
            ("username", "tess"),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("redirect_uri", "https://vault.example.com/secrets"),
        ])
        .send()
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    assert_eq!(
        submitted.header("location"),
        Some("https://auth.example.com/totp")
    );
    assert!(submitted.session_cookie().is_none());
    let pending = submitted.cookie("postern_pending").unwrap();
    let totp_page = server
        .get("/totp")
        .header("cookie", &pending)
        .browser()
        .send()
        .await;
    assert_eq!(totp_page.status, StatusCode::OK);
    assert!(totp_page.body.contains("autocomplete=\"one-time-code\""));
    let form_csrf = totp_page.hidden_field("csrf");
    // A forged CSRF token is refused without spending the pending login.
    let forged = server
        .post("/totp")
        .header("cookie", &pending)
        .form(&[("code", &code_at(0)), ("csrf", "forged")])
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A form that does not parse (a field twice) is a 400 that says so, and spends nothing.
    let unreadable = server
        .post("/totp")
        .header("cookie", &pending)
        .form(&[("code", &code_at(0)), ("code", "1"), ("csrf", &form_csrf)])
        .send()
        .await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST);
    assert!(
        unreadable.body.contains("could not be read"),
        "{}",
        unreadable.body
    );
    let done = server
        .post("/totp")
        .header("cookie", &pending)
        .form(&[("code", &code_at(0)), ("csrf", &form_csrf)])
        .send()
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some("https://vault.example.com/secrets")
    );
    assert!(done.session_cookie().is_some());
    // Without a pending login the page sends the browser back to sign in.
    let nothing = server.get("/totp").browser().send().await;
    assert_eq!(nothing.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_recovery_code_works_once_in_place_of_a_code() {
    let server = server().await;
    let pending = password_step(&server).await;
    let used = code_step(&server, &pending, "K3V7Q MZ2HA").await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.body);
    let session = used.session_cookie().unwrap();
    assert_eq!(
        vault_check(&server, &session).send().await.status,
        StatusCode::OK
    );
    let again = password_step(&server).await;
    let reused = code_step(&server, &again, RECOVERY).await;
    assert_eq!(
        reused.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code worked twice"
    );
    let other = code_step(&server, &again, "aaaaa-bbbbb").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

/// A spent recovery code stays spent for ten years (docs/users.md), on every replica: its
/// mark in Redis lives that long, not a day or a year.
#[tokio::test]
async fn a_spent_recovery_code_stays_marked_for_ten_years() {
    let redis = postern_testkit::RedisServer::start();
    let server = server_with(&format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"",
        redis.url()
    ))
    .await;
    let pending = password_step(&server).await;
    let used = code_step(&server, &pending, RECOVERY).await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.body);
    let marks = postern_testkit::redis_cli(redis.port, &["--scan", "--pattern", "*recovery:*"]);
    let marks: Vec<&str> = marks.lines().collect();
    assert_eq!(marks.len(), 1, "{marks:?}");
    let ttl: u64 = postern_testkit::redis_cli(redis.port, &["TTL", marks[0]])
        .parse()
        .unwrap();
    let ten_years = 10 * 365 * 86_400;
    assert!(
        (ten_years - 600..=ten_years).contains(&ttl),
        "the mark lives {ttl} s"
    );
}

/// Wrong codes sent at once, each on a pending sign-in of its own: each is counted before it is
/// checked, so no more than the client's limit (5) are checked. Recovery-code guesses, the
/// slow kind (argon2), so that the checks overlap with the memory store too.
#[tokio::test]
async fn concurrent_wrong_codes_get_five_checks() {
    let server = server().await;
    let mut pending = Vec::new();
    for _ in 0..8 {
        pending.push(password_step(&server).await);
    }
    let burst = pending.iter().map(|cookie| {
        server
            .post("/api/totp")
            .header("cookie", cookie)
            .json("{\"code\":\"aaaaa-bbbbb\"}")
    });
    assert_eq!(
        all_at_once(burst).await,
        std::collections::BTreeMap::from([(401, 5), (429, 3)])
    );
}

/// A TOTP user's right password is counted while it is checked and given back after, on the
/// client and on the account, before the code is asked for.
#[tokio::test]
async fn a_totp_users_right_password_gives_both_counts_back() {
    let server = server().await;
    let login = |client: String, password: &'static str| {
        let request = server
            .post("/api/login")
            .header("x-forwarded-for", &client)
            .json(&format!(
                "{{\"username\":\"tess\",\"password\":\"{password}\"}}"
            ));
        async move { request.send().await.status }
    };
    // The client: four failures, the right password (its count given back), the fifth
    // failure, then limited.
    let client = || "198.51.100.40".to_owned();
    for _ in 0..4 {
        assert_eq!(login(client(), "wrong").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(client(), PASSWORD).await, StatusCode::OK);
    assert_eq!(login(client(), "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(client(), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The account: five failures so far; four more (limit 10), each from a client of its own.
    for host in 1..=4 {
        let wrong = login(format!("192.0.2.{host}"), "wrong").await;
        assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    }
    // The tenth count is taken by the right password (several times), then given back.
    for host in 20..23 {
        let right = login(format!("192.0.2.{host}"), PASSWORD).await;
        assert_eq!(right, StatusCode::OK);
    }
    assert_eq!(
        login("192.0.2.30".into(), "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("192.0.2.31".into(), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
