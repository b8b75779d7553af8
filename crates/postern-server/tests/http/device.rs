//! Device cookies: a lockout of an account does not lock out a browser that signed in as that
//! user before; the per-IP limit still applies to it.

use http::StatusCode;

use crate::support::*;

async fn login_from(
    server: &TestServer,
    ip: &str,
    user: &str,
    password: &str,
    cookie: Option<&str>,
) -> TestResponse {
    let mut request = server
        .post("/api/login")
        .header("x-forwarded-for", ip)
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{password}\"}}"
        ));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await
}

#[tokio::test]
async fn a_known_browser_signs_in_while_the_account_is_locked() {
    let server = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"127.0.0.1/32\"]",
    ))
    .await;
    let first = login_from(&server, "198.51.100.1", "alice", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK);
    let device = first.cookie("postern_device").expect("a device cookie");
    let bob_device = login_from(&server, "198.51.100.2", "bob", PASSWORD, None)
        .await
        .cookie("postern_device")
        .unwrap();

    // An attacker spreads ten guesses over ten addresses: the account locks.
    for n in 0..10 {
        let guess = login_from(&server, &format!("203.0.113.{n}"), "alice", "guess", None).await;
        assert_eq!(guess.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let locked = login_from(&server, "198.51.100.3", "alice", PASSWORD, None).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked"
    );
    let wrong_device = login_from(
        &server,
        "198.51.100.3",
        "alice",
        PASSWORD,
        Some(&bob_device),
    )
    .await;
    assert_eq!(
        wrong_device.status,
        StatusCode::TOO_MANY_REQUESTS,
        "bob's device cookie is no key to alice's account"
    );

    let known = login_from(&server, "198.51.100.4", "alice", PASSWORD, Some(&device)).await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.body);

    // The device's own failures are limited too, and the per-IP limit still applies.
    for _ in 0..5 {
        let miss = login_from(&server, "198.51.100.5", "alice", "typo", Some(&device)).await;
        assert_eq!(miss.status, StatusCode::UNAUTHORIZED);
    }
    let per_ip = login_from(&server, "198.51.100.5", "alice", PASSWORD, Some(&device)).await;
    assert_eq!(per_ip.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A guesser with many addresses and a short `user_failure_window` still gets no more than
/// `MAX_CONSECUTIVE_FAILURES` wrong passwords on an account; the owner's browser still signs
/// in, and that sign-in ends the streak.
#[tokio::test]
async fn failures_in_a_row_are_capped_across_clients_and_windows() {
    let server = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"127.0.0.1/32\"]\n\
         [limits]\nmax_failures_per_user = 10\nuser_failure_window = \"1s\"\n",
    ))
    .await;
    let first = login_from(&server, "198.51.100.1", "alice", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK);
    let device = first.cookie("postern_device").expect("a device cookie");

    let cap = postern_core::limits::MAX_CONSECUTIVE_FAILURES;
    let mut failures = 0;
    let mut client = 0u32;
    while failures < cap {
        client += 1;
        let ip = format!("10.{}.{}.1", client / 250, client % 250);
        let guess = login_from(&server, &ip, "alice", "guess", None).await;
        match guess.status {
            StatusCode::UNAUTHORIZED => failures += 1,
            // The short per-account window is full: wait for it to pass, as a guesser would.
            StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            other => panic!("guess {failures}: {other}"),
        }
        assert!(client < 2_000, "the guesses never got through");
    }
    // The per-account window passes; the streak does not.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let capped = login_from(&server, "203.0.113.7", "alice", PASSWORD, None).await;
    assert_eq!(
        capped.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        capped.body
    );
    let retry_after: u64 = capped.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 3_600, "{retry_after}");

    let owner = login_from(&server, "203.0.113.8", "alice", PASSWORD, Some(&device)).await;
    assert_eq!(
        owner.status,
        StatusCode::OK,
        "the device cookie did not let alice in"
    );
    let after = login_from(&server, "203.0.113.9", "alice", PASSWORD, None).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "the sign-in did not end the streak"
    );
}
