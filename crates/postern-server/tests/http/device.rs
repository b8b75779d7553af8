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

    // Other cookies of the name sent first (bob's, malformed ones: a sibling host can set
    // them for the parent domain) do not hide alice's own, and junk does not count against
    // the bound on the cookies verified. (A wrong password, so the sign-in does not end the
    // lockout the next step needs.)
    let bob_value = bob_device.split_once('=').unwrap().1;
    let planted = format!(
        "postern_device=junk; postern_device=a.b; postern_device={bob_value}; \
         postern_device=junk2; {device}"
    );
    let behind = login_from(&server, "198.51.100.6", "alice", "typo", Some(&planted)).await;
    assert_eq!(
        behind.status,
        StatusCode::UNAUTHORIZED,
        "counted on alice's device, not on her locked account"
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

/// The failures counted on a browser's device cookie end with a sign-in from it, as the
/// account's do: a user who mistypes now and then is never locked out of their own browser.
#[tokio::test]
async fn a_sign_in_from_a_known_browser_clears_its_failures() {
    let server = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"127.0.0.1/32\"]\n[limits]\nmax_failures_per_user = 3\n",
    ))
    .await;
    let first = login_from(&server, "198.51.100.1", "alice", PASSWORD, None).await;
    let device = first.cookie("postern_device").expect("a device cookie");
    // Each round: two typos (one short of the limit) and the right password, each from an
    // address of its own so that only the device's counter adds up.
    for round in 0..3 {
        for typo in 0..2 {
            let ip = format!("198.51.100.{}", 10 + round * 3 + typo);
            let miss = login_from(&server, &ip, "alice", "typo", Some(&device)).await;
            assert_eq!(miss.status, StatusCode::UNAUTHORIZED, "round {round}");
        }
        let ip = format!("198.51.100.{}", 12 + round * 3);
        let right = login_from(&server, &ip, "alice", PASSWORD, Some(&device)).await;
        assert_eq!(
            right.status,
            StatusCode::OK,
            "round {round}: {}",
            right.body
        );
    }
}

/// A guesser with many addresses and a short `user_failure_window` still gets no more than
/// `max_consecutive_failures_per_user` (default 100) wrong passwords on an account; the owner's browser still signs
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

    // The per-account window passes; the streak does not.
    guess_wrong_from_many_clients(&server, 100).await;
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

/// `max_failures` wrong passwords on alice, each from a client of its own, waiting out the
/// per-account window whenever it is full, as a guesser would.
async fn guess_wrong_from_many_clients(server: &TestServer, max_failures: u64) {
    let mut failures = 0;
    let mut client = 0u32;
    // The per-account window is 1 s: a wait of 15 s in a row means nothing gets through.
    let mut refused_in_a_row = 0;
    while failures < max_failures {
        client += 1;
        let ip = format!("10.{}.{}.1", client / 250, client % 250);
        let guess = login_from(server, &ip, "alice", "guess", None).await;
        match guess.status {
            StatusCode::UNAUTHORIZED => {
                failures += 1;
                refused_in_a_row = 0;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                refused_in_a_row += 1;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            other => panic!("guess {failures}: {other}"),
        }
        assert!(
            refused_in_a_row < 50,
            "the guesses never got through after {failures} failures"
        );
    }
    // Let the per-account window pass, so only the streak can still refuse.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
}

fn streak_config(cap: u64) -> String {
    config_text(
        "https://auth.example.com",
        &format!(
            "trusted_proxies = [\"127.0.0.1/32\"]\n\
             [limits]\nmax_failures_per_user = 10\nuser_failure_window = \"1s\"\n\
             max_consecutive_failures_per_user = {cap}\n"
        ),
    )
}

/// The cap is the config key's: 3 locks alice after 3 failures in a row, and 0 turns the cap
/// off, so 15 failures (past 3, and past the per-account limit of 10) still leave her a way in.
#[tokio::test]
async fn the_cap_of_failures_in_a_row_is_configurable_and_0_turns_it_off() {
    let capped = TestServer::with_config(&streak_config(3)).await;
    guess_wrong_from_many_clients(&capped, 3).await;
    let refused = login_from(&capped, "203.0.113.7", "alice", PASSWORD, None).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );

    let uncapped = TestServer::with_config(&streak_config(0)).await;
    guess_wrong_from_many_clients(&uncapped, 15).await;
    let signed_in = login_from(&uncapped, "203.0.113.7", "alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
}

/// A headless success (Basic here) gives back only its own attempt: it does not end the
/// account's streak, or a script checking in every few minutes would reset a guesser's cap
/// each time. Two wrong passwords, Basic signs in, one more wrong: the cap of 3 is reached.
#[tokio::test]
async fn a_headless_success_does_not_end_the_streak() {
    let server = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"127.0.0.1/32\"]\n\
         [limits]\nmax_failures_per_user = 10\nuser_failure_window = \"1s\"\n\
         max_consecutive_failures_per_user = 3\n[api]\nbasic_auth = true\n",
    ))
    .await;
    guess_wrong_from_many_clients(&server, 2).await;
    let basic = crate::headless::basic("alice", PASSWORD);
    let script = server
        .get("/api/auth/traefik")
        .header("x-forwarded-for", "192.0.2.50")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/")
        .header("authorization", &basic)
        .send()
        .await;
    assert_eq!(script.status, StatusCode::OK, "{}", script.body);
    guess_wrong_from_many_clients(&server, 1).await;
    let capped = login_from(&server, "203.0.113.7", "alice", PASSWORD, None).await;
    assert_eq!(
        capped.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the Basic sign-in ended the streak: {}",
        capped.body
    );
}
