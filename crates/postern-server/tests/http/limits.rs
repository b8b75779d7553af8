//! Failed-login limits: per client IP and per account, 429 with Retry-After, and nothing that
//! tells known usernames from unknown ones.

use std::collections::BTreeMap;

use http::StatusCode;

use crate::support::*;

fn attempt(
    server: &TestServer,
    user: &str,
    password: &str,
    client: &str,
) -> crate::support::TestRequest {
    attempt_at(server, "/api/login", user, password, client)
}

/// The sign-ins that take a JSON username and password: the session's and the token pair's.
const JSON_SIGN_INS: [&str; 2] = ["/api/login", "/api/auth/login"];

fn attempt_at(
    server: &TestServer,
    path: &str,
    user: &str,
    password: &str,
    client: &str,
) -> crate::support::TestRequest {
    server
        .post(path)
        .header("x-forwarded-for", client)
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{password}\"}}"
        ))
}

#[tokio::test]
async fn five_failures_from_one_ip_refuse_even_the_right_password() {
    let server = TestServer::start().await;
    for _ in 0..5 {
        assert_eq!(
            attempt(&server, "alice", "wrong", "198.51.100.1")
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attempt(&server, "alice", PASSWORD, "198.51.100.1")
        .send()
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((290..=300).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.json()["retryAfter"], retry_after);
    assert!(limited.session_cookie().is_none());
    // Another client is not affected.
    assert_eq!(
        attempt(&server, "alice", PASSWORD, "198.51.100.2")
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_form_says_when_to_try_again() {
    let server = TestServer::start().await;
    for _ in 0..5 {
        attempt(&server, "bob", "wrong", "127.0.0.1").send().await;
    }
    let page = server.get("/login").browser().send().await;
    let pre_session = page.cookie("postern_csrf").unwrap();
    let csrf = page.hidden_field("csrf");
    let response = server
        .post("/login")
        .header("cookie", &pre_session)
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response
            .body
            .contains("Too many failed attempts. Try again in 5 minutes."),
        "{}",
        response.body
    );
    assert!(response.header("retry-after").is_some());
}

#[tokio::test]
async fn an_account_is_limited_across_clients_and_unknown_names_alike() {
    let text = config_text(
        "https://auth.example.com",
        "[limits]\nmax_failures_per_user = 3\n",
    );
    let server = TestServer::with_config(&text).await;
    for (index, user) in ["alice", "nobody"].into_iter().enumerate() {
        for attempt_number in 0..3 {
            let client = format!("203.0.113.{}", index * 10 + attempt_number);
            attempt(&server, user, "wrong", &client).send().await;
        }
        let limited = attempt(&server, user, "wrong", "203.0.113.99").send().await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{user}");
        assert!(
            limited
                .header("retry-after")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 800
        );
    }
    // By email too: the email shares its user's counter.
    let by_email = server
        .post("/api/login")
        .header("x-forwarded-for", "203.0.113.77")
        .json(&format!(
            "{{\"email\":\"alice@example.com\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(by_email.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt(&server, "bob", PASSWORD, "203.0.113.99")
            .send()
            .await
            .status,
        StatusCode::OK,
        "other accounts are unaffected"
    );
}

/// Two wrong passwords for alice from two addresses of their own (`round` keeps them apart).
async fn two_failures(server: &TestServer, round: usize) {
    for step in 0..2 {
        let client = format!("192.0.2.{}", round * 2 + step);
        attempt(server, "alice", "wrong", &client).send().await;
    }
}

#[tokio::test]
async fn a_successful_sign_in_clears_its_accounts_failures() {
    let text = config_text(
        "https://auth.example.com",
        "[limits]\nmax_failures_per_user = 3\n",
    );
    let server = TestServer::with_config(&text).await;
    for round in 0..3 {
        two_failures(&server, round).await;
        let client = format!("192.0.2.{}", 100 + round);
        let ok = attempt(&server, "alice", PASSWORD, &client).send().await;
        assert_eq!(ok.status, StatusCode::OK, "round {round}");
    }
}

/// A client with no session (Basic on the check path, `POST /api/auth/login`) that signs in
/// gives back only its own counts: a script checking in every minute would otherwise wipe a
/// guesser's count on its account each time, and the per-account limits would bound nothing.
#[tokio::test]
async fn a_headless_success_leaves_the_accounts_failures_counted() {
    let text = config_text(
        "https://auth.example.com",
        "[limits]\nmax_failures_per_user = 3\n[api]\nbasic_auth = true\n",
    );
    let basic = crate::headless::basic("alice", PASSWORD);
    for headless in ["basic", "/api/auth/login"] {
        let server = TestServer::with_config(&text).await;
        two_failures(&server, 0).await;
        let ok = match headless {
            "basic" => {
                server
                    .get("/api/auth/traefik")
                    .header("x-forwarded-for", "192.0.2.100")
                    .header("x-forwarded-proto", "https")
                    .header("x-forwarded-host", "app.example.com")
                    .header("x-forwarded-uri", "/")
                    .header("authorization", &basic)
                    .send()
                    .await
            }
            path => {
                attempt_at(&server, path, "alice", PASSWORD, "192.0.2.100")
                    .send()
                    .await
            }
        };
        assert_eq!(ok.status, StatusCode::OK, "{headless}: {}", ok.body);
        two_failures(&server, 1).await;
        // Four failures on the account: the right password is refused too, from anywhere.
        let refused = attempt(&server, "alice", PASSWORD, "192.0.2.101")
            .send()
            .await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{headless}");
    }
}

#[tokio::test]
async fn ipv6_clients_are_limited_by_their_slash_64() {
    let server = TestServer::start().await;
    for host in 1..=5 {
        attempt(
            &server,
            "alice",
            "wrong",
            &format!("2001:db8:7:7::{host:x}"),
        )
        .send()
        .await;
    }
    let limited = attempt(&server, "bob", PASSWORD, "2001:db8:7:7:ffff::1")
        .send()
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt(&server, "bob", PASSWORD, "2001:db8:7:8::1")
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_that_is_not_a_trusted_proxy_cannot_choose_its_ip() {
    let text = config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"10.0.0.0/8\"]",
    );
    let server = TestServer::with_config(&text).await;
    for forged in 1..=5 {
        attempt(&server, "alice", "wrong", &format!("198.51.100.{forged}"))
            .send()
            .await;
    }
    let limited = attempt(&server, "alice", PASSWORD, "198.51.100.200")
        .send()
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "all five counted against 127.0.0.1"
    );
}

/// A burst of wrong passwords sent at once from one client: each attempt is counted before its
/// password is checked, so only `max_failures_per_ip` (5) of them reach argon2.
#[tokio::test]
async fn a_concurrent_burst_from_one_ip_gets_five_password_checks() {
    for path in JSON_SIGN_INS {
        let server = TestServer::start().await;
        let burst = (0..50).map(|_| {
            server
                .post(path)
                .header("x-forwarded-for", "198.51.100.7")
                .json("{\"username\":\"alice\",\"password\":\"wrong\"}")
        });
        assert_eq!(
            all_at_once(burst).await,
            BTreeMap::from([(401, 5), (429, 45)]),
            "{path}"
        );
        let limited = attempt(&server, "alice", PASSWORD, "198.51.100.7")
            .send()
            .await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        // The refused attempts were not charged to the account (10 would lock it everywhere).
        assert_eq!(
            attempt(&server, "alice", PASSWORD, "198.51.100.8")
                .send()
                .await
                .status,
            StatusCode::OK,
            "{path}"
        );
    }
}

/// The same for a burst spread over many names, known and not: the IP's limit holds alike.
#[tokio::test]
async fn a_concurrent_burst_over_many_names_gets_five_password_checks() {
    let server = TestServer::start().await;
    let burst = (0..40).map(|index| {
        let user = match index % 4 {
            0 => "alice".to_owned(),
            1 => "bob".to_owned(),
            _ => format!("nobody{index}"),
        };
        attempt(&server, &user, "wrong", "198.51.100.9")
    });
    assert_eq!(
        all_at_once(burst).await,
        BTreeMap::from([(401, 5), (429, 35)])
    );
}

/// A right password is counted while it is checked and given back after: it neither uses up
/// one of the client's five failures nor clears the ones before it.
#[tokio::test]
async fn a_right_password_gives_its_count_back() {
    for path in JSON_SIGN_INS {
        let server = TestServer::start().await;
        let client = "198.51.100.20";
        let status = |user: &'static str, password: &'static str| {
            let request = attempt_at(&server, path, user, password, client);
            async move { request.send().await.status }
        };
        for _ in 0..6 {
            assert_eq!(status("alice", PASSWORD).await, StatusCode::OK, "{path}");
        }
        for _ in 0..4 {
            assert_eq!(status("alice", "wrong").await, StatusCode::UNAUTHORIZED);
        }
        // The fifth count is taken by a right password, then given back.
        assert_eq!(status("bob", PASSWORD).await, StatusCode::OK, "{path}");
        assert_eq!(status("bob", "wrong").await, StatusCode::UNAUTHORIZED);
        // Five failures now: limited, even the right password.
        assert_eq!(status("bob", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    }
}

/// An attempt refused because the limit is already reached is refused before it is counted:
/// it writes nothing to the store (on the embedded store each count and each give-back is a
/// durable commit, which a client at its limit must not be able to make at will).
#[tokio::test]
async fn an_attempt_refused_at_the_limit_writes_nothing_to_the_store() {
    let server = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "[metrics]\nlisten = \"127.0.0.1:0\"",
    ))
    .await;
    let client = "198.51.100.30";
    for _ in 0..5 {
        let guess = attempt(&server, "alice", "wrong", client).send().await;
        assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
    }
    let metrics = server.state.metrics.as_ref().expect("metrics are on");
    let writes = |op: &str| {
        let series = format!("postern_store_operations_total{{op=\"{op}\",result=\"ok\"}} ");
        metrics
            .encode()
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = (writes("count_failures"), writes("apply"));
    assert_eq!(before.0, 5, "each wrong password was counted once");
    for _ in 0..3 {
        let refused = attempt(&server, "alice", PASSWORD, client).send().await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!((writes("count_failures"), writes("apply")), before);
}

/// The same for a TOTP user's token login: the right password and code give back only that
/// attempt's counts, and the account's earlier failures stay.
#[tokio::test]
async fn a_headless_totp_success_leaves_the_accounts_failures_counted() {
    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let text = format!(
        "{}[[users]]\nname = \"tess\"\npassword_hash = \"{}\"\ntotp_secret = \"{SECRET}\"\n",
        config_text(
            "https://auth.example.com",
            "[limits]\nmax_failures_per_user = 3\n"
        ),
        password_hash()
    );
    let server = TestServer::with_config(&text).await;
    let wrong_twice = |round: usize| {
        let server = &server;
        async move {
            for step in 0..2 {
                let client = format!("192.0.2.{}", round * 2 + step);
                // 401, or 429 once the account's count is past the limit.
                let wrong = attempt(server, "tess", "wrong", &client).send().await;
                assert_ne!(wrong.status, StatusCode::OK, "{}", wrong.body);
            }
        }
    };
    let code = postern_core::totp::TotpKey::parse(SECRET)
        .unwrap()
        .code_at(unix_now());
    let with_code =
        format!("{{\"username\":\"tess\",\"password\":\"{PASSWORD}\",\"code\":\"{code}\"}}");
    let token_login = |client: &'static str| {
        server
            .post("/api/auth/login")
            .header("x-forwarded-for", client)
            .json(&with_code)
            .send()
    };
    wrong_twice(0).await;
    let ok = token_login("192.0.2.100").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    wrong_twice(1).await;
    // Four failures on the account: refused before the password is read. (Had the sign-in
    // cleared them, this would get as far as the code, spent above, and be a 401.)
    let refused = token_login("192.0.2.101").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
}
