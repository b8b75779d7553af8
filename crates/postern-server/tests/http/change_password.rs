//! `POST /api/change-password`: the users file rewritten in place, the old password, other
//! sessions, tokens and cached Basic credentials ended; refusals; and, with Redis, a change
//! every replica sees at once even when the file cannot be written; with the embedded store,
//! one that outlives a restart.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use postern_server::AppState;
use postern_store::{EmbeddedStore, Store};
use postern_testkit::RedisServer;

use crate::support::*;

const NEW: &str = "a brand new passphrase";

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "postern-pw-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with `users_file` = `file_text`, Basic on, plus `extra` tables.
async fn server_with_file(dir: &Dir, file_name: &str, file_text: &str, extra: &str) -> TestServer {
    let path = dir.0.join(file_name);
    std::fs::write(&path, file_text).unwrap();
    let top = format!("users_file = \"{}\"", path.display());
    let text = format!(
        "{}\n[api]\nbasic_auth = true\n{extra}",
        config_text("https://auth.example.com", &top)
    );
    TestServer::with_config(&text).await
}

fn lines_file() -> String {
    let hash = password_hash();
    format!("# team\ncarol:{hash}\ndave:{hash}\n")
}

async fn login(server: &TestServer, user: &str, password: &str) -> TestResponse {
    server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{password}\"}}"
        ))
        .send()
        .await
}

async fn change(server: &TestServer, cookie: &str, current: &str, new: &str) -> TestResponse {
    let csrf = server.csrf(cookie).await;
    change_request(server, cookie, &csrf, current, new)
        .send()
        .await
}

fn change_request(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    current: &str,
    new: &str,
) -> TestRequest {
    server
        .post("/api/change-password")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&format!(
            "{{\"current_password\":\"{current}\",\"new_password\":\"{new}\"}}"
        ))
}

fn check_basic(server: &TestServer, user: &str, password: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header(
            "authorization",
            &format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        )
}

#[tokio::test]
async fn a_change_rewrites_the_file_and_ends_everything_else() {
    let dir = Dir::new("lines");
    let server = server_with_file(&dir, "users.txt", &lines_file(), "").await;
    let here = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let elsewhere = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let token = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"carol\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        check_basic(&server, "carol", PASSWORD).send().await.status,
        StatusCode::OK,
        "Basic is cached now"
    );

    let ticket = server
        .get("/api/ws-token")
        .header("cookie", &elsewhere)
        .send()
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = change(&server, &here, PASSWORD, NEW).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.json()["sessionsEnded"], 1);

    let file = std::fs::read_to_string(dir.0.join("users.txt")).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines[0], "# team");
    assert!(
        lines[1].starts_with("carol:$argon2id$") && !lines[1].contains(password_hash()),
        "{file}"
    );
    assert_eq!(
        lines[2],
        format!("dave:{}", password_hash()),
        "another line changed"
    );
    assert!(postern_core::password::verify_password(
        lines[1].split_once(':').unwrap().1,
        NEW.as_bytes()
    ));

    assert_eq!(
        login(&server, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&server, "carol", NEW).await.status, StatusCode::OK);
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &here)
            .send()
            .await
            .status,
        StatusCode::OK,
        "the caller's session stays"
    );
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &elsewhere)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let bearer = server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("authorization", &format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(
        bearer.status,
        StatusCode::UNAUTHORIZED,
        "a token from before the change"
    );
    assert_eq!(
        check_basic(&server, "carol", PASSWORD).send().await.status,
        StatusCode::UNAUTHORIZED,
        "the cached Basic credential"
    );
    assert_eq!(
        check_basic(&server, "carol", NEW).send().await.status,
        StatusCode::OK
    );
    // A ticket asked for before the change does not outlive it.
    let redeemed = server
        .post("/api/ticket/redeem")
        .json(&format!("{{\"token\":\"{ticket}\"}}"))
        .send()
        .await;
    assert_eq!(redeemed.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_toml_users_file_is_rewritten_in_place() {
    let dir = Dir::new("toml");
    let hash = password_hash();
    let text = format!(
        "[[users]]\nname = \"carol\"\npassword_hash = \"{hash}\"\nemail = \"carol@example.com\"\n\n[[users]]\nname = \"dave\"\npassword_hash = \"{hash}\"\n"
    );
    let server = server_with_file(&dir, "users.toml", &text, "").await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    assert_eq!(
        change(&server, &cookie, PASSWORD, NEW).await.status,
        StatusCode::OK
    );
    let file = std::fs::read_to_string(dir.0.join("users.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&file).unwrap();
    let carol_hash = parsed["users"][0]["password_hash"].as_str().unwrap();
    assert!(postern_core::password::verify_password(
        carol_hash,
        NEW.as_bytes()
    ));
    assert_eq!(
        parsed["users"][0]["email"].as_str(),
        Some("carol@example.com")
    );
    assert_eq!(parsed["users"][1]["password_hash"].as_str(), Some(hash));
}

#[tokio::test]
async fn refusals_say_why_and_change_nothing() {
    let dir = Dir::new("refusals");
    let server = server_with_file(&dir, "users.txt", &lines_file(), "").await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let before = std::fs::read_to_string(dir.0.join("users.txt")).unwrap();
    for (new, message) in [
        ("short", "at least 8"),
        ("password123", "most common"),
        ("iloveyou", "most common"),
    ] {
        let refused = change(&server, &cookie, PASSWORD, new).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{new}");
        assert!(
            refused.json()["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{}",
            refused.body
        );
    }
    let wrong = change(&server, &cookie, "not it", NEW).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let no_csrf = server
        .post("/api/change-password")
        .header("cookie", &cookie)
        .json(&format!(
            "{{\"current_password\":\"{PASSWORD}\",\"new_password\":\"{NEW}\"}}"
        ))
        .send()
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let anonymous = server
        .post("/api/change-password")
        .json(&format!(
            "{{\"current_password\":\"{PASSWORD}\",\"new_password\":\"{NEW}\"}}"
        ))
        .send()
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        std::fs::read_to_string(dir.0.join("users.txt")).unwrap(),
        before
    );

    // alice is defined in the main config: with the memory store there is nowhere to keep a
    // new hash (409); a durable store keeps it.
    let alice = server.login("alice").await;
    let inline = change(&server, &alice, PASSWORD, NEW).await;
    if redis_instead_of_memory() || embedded_instead_of_memory() {
        assert_eq!(inline.status, StatusCode::OK, "{}", inline.body);
    } else {
        assert_eq!(inline.status, StatusCode::CONFLICT);
        assert!(
            inline.json()["message"]
                .as_str()
                .unwrap()
                .contains("main config"),
            "{}",
            inline.body
        );
    }
}

/// A `users_file` that cannot be read or written any more: with nowhere else to keep the new
/// hash (the memory store), the change fails as the one internal error, a fixed 500 that
/// names neither the file nor the system's error (those go to the log); a durable store keeps
/// the hash instead.
#[tokio::test]
async fn a_users_file_that_cannot_be_written_is_a_500_that_names_nothing() {
    let dir = Dir::new("unwritable");
    let server = server_with_file(&dir, "users.txt", &lines_file(), "").await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    // A folder where the file was: reading it fails, for root too.
    let path = dir.0.join("users.txt");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let failed = change(&server, &cookie, PASSWORD, NEW).await;
    if redis_instead_of_memory() || embedded_instead_of_memory() {
        assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
        return;
    }
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.body
    );
    assert_eq!(
        failed.json()["message"],
        "Internal Server Error",
        "{}",
        failed.body
    );
    for detail in ["users", "directory", "os error", "file"] {
        assert!(
            !failed.body.to_lowercase().contains(detail),
            "the answer names {detail}: {}",
            failed.body
        );
    }
    // Nothing changed: the old password still signs in.
    assert_eq!(
        login(&server, "carol", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_current_passwords_count_toward_the_limits() {
    let dir = Dir::new("limits");
    let server = server_with_file(&dir, "users.txt", &lines_file(), "").await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            change(&server, &cookie, "guess", NEW).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = change(&server, &cookie, PASSWORD, NEW).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn concurrent_wrong_current_passwords_get_five_checks() {
    let dir = Dir::new("burst");
    let server = server_with_file(&dir, "users.txt", &lines_file(), "").await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let csrf = server.csrf(&cookie).await;
    let burst = (0..20).map(|_| change_request(&server, &cookie, &csrf, "guess", NEW));
    assert_eq!(
        all_at_once(burst).await,
        std::collections::BTreeMap::from([(401, 5), (429, 15)])
    );
}

#[tokio::test]
async fn with_redis_every_replica_sees_the_change_at_once_even_from_a_read_only_file() {
    let redis = RedisServer::start();
    let dir = Dir::new("redis");
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    let a = server_with_file(&dir, "users.txt", &lines_file(), &extra).await;
    let b = server_with_file(&dir, "users.txt", &lines_file(), &extra).await;
    let path = dir.0.join("users.txt");
    // Make the folder unwritable even for root (tests may run as root, which ignores
    // permission bits): the immutable attribute, as close to a read-only mount as a test gets.
    let _immutable = Immutable::set(&dir.0);
    let cookie = login(&a, "carol", PASSWORD).await.session_cookie().unwrap();
    let changed = change(&a, &cookie, PASSWORD, NEW).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        lines_file(),
        "the file was not writable"
    );
    assert_eq!(
        login(&b, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&b, "carol", NEW).await.status, StatusCode::OK);
    // An inline user can change too: Redis keeps the hash.
    let alice = a.login("alice").await;
    assert_eq!(
        change(&a, &alice, PASSWORD, NEW).await.status,
        StatusCode::OK
    );
    assert_eq!(login(&b, "alice", NEW).await.status, StatusCode::OK);
}

/// A server on the embedded store in `data`, once the server before has let go of it.
async fn embedded_server(text: &str, data: &std::path::Path) -> TestServer {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let store = loop {
        match EmbeddedStore::open(data, 1000) {
            Ok(store) => break store,
            Err(err) if std::time::Instant::now() < deadline => {
                eprintln!("waiting: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(err) => panic!("{err}"),
        }
    };
    TestServer::with_state(AppState::new(load(text), Store::Embedded(store))).await
}

#[tokio::test]
async fn with_the_embedded_store_a_change_from_a_read_only_file_outlives_a_restart() {
    let dir = Dir::new("embedded");
    let users = dir.0.join("users");
    std::fs::create_dir_all(&users).unwrap();
    let path = users.join("users.txt");
    std::fs::write(&path, lines_file()).unwrap();
    let top = format!("users_file = \"{}\"", path.display());
    let text = format!(
        "{}\n[session]\nstore = \"embedded\"\n",
        config_text("https://auth.example.com", &top)
    );
    let data = dir.0.join("data");
    let before = embedded_server(&text, &data).await;
    let _immutable = Immutable::set(&users);
    let cookie = login(&before, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let changed = change(&before, &cookie, PASSWORD, NEW).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), lines_file());
    let alice = before.login("alice").await;
    assert_eq!(
        change(&before, &alice, PASSWORD, NEW).await.status,
        StatusCode::OK,
        "an inline user can change too: the store keeps the hash"
    );
    drop(before);

    let after = embedded_server(&text, &data).await;
    assert_eq!(
        login(&after, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&after, "carol", NEW).await.status, StatusCode::OK);
    assert_eq!(login(&after, "alice", NEW).await.status, StatusCode::OK);
}

/// A password change clears the account's earlier failures (as a sign-in does): the owner
/// who just changed it is not locked out by the guesses made before.
#[tokio::test]
async fn a_change_clears_the_accounts_failures() {
    let dir = Dir::new("clears");
    let limits = "[limits]\nmax_failures_per_user = 3\n";
    let server = server_with_file(&dir, "users.txt", &lines_file(), limits).await;
    let cookie = login(&server, "carol", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let guess = |n: usize| {
        let request = server
            .post("/api/login")
            .header("x-forwarded-for", &format!("203.0.113.{n}"))
            .json("{\"username\":\"carol\",\"password\":\"a guess\"}");
        async move { request.send().await.status }
    };
    for n in 0..2 {
        assert_eq!(guess(n).await, StatusCode::UNAUTHORIZED);
    }
    let changed = change(&server, &cookie, PASSWORD, NEW).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // Two more guesses: with the first two still counted the second would reach the limit.
    for n in 2..4 {
        assert_eq!(guess(n).await, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    assert_eq!(login(&server, "carol", NEW).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_bcrypt_hash_becomes_argon2id_at_the_first_sign_in() {
    let dir = Dir::new("bcrypt");
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap();
    let server = server_with_file(&dir, "users.txt", &format!("carol:{bcrypt}\n"), "").await;
    assert_eq!(
        login(&server, "carol", PASSWORD).await.status,
        StatusCode::OK
    );
    // The rewrite happens after the answer, off the request path.
    let file = users_file_once(&dir, |file| file.contains("$argon2id$")).await;
    let hash = file.trim().strip_prefix("carol:").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{file}");
    assert!(postern_core::password::verify_password(
        hash,
        PASSWORD.as_bytes()
    ));
    assert_eq!(
        login(&server, "carol", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        login(&server, "carol", "wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// `users.txt` in `dir` once `done` holds for it (the background rewrite is done), or as it is
/// after 30 s (a generous bound for a loaded machine: the wait ends as soon as `done` holds).
async fn users_file_once(dir: &Dir, done: impl Fn(&str) -> bool) -> String {
    let mut file = String::new();
    for _ in 0..600 {
        file = std::fs::read_to_string(dir.0.join("users.txt")).unwrap();
        if done(&file) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    file
}

/// Only a bcrypt hash is rewritten: an argon2id line of `users_file` stays as written. The
/// rewrites run one at a time in the order they were queued, so once the bcrypt line signed in
/// second has been rewritten, a rewrite of the argon2id line signed in first would be done too.
#[tokio::test]
async fn an_argon2id_line_is_not_rewritten_at_a_sign_in() {
    let dir = Dir::new("argon2-stays");
    let argon2 = password_hash();
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap();
    let text = format!("carol:{argon2}\ndave:{bcrypt}\n");
    let server = server_with_file(&dir, "users.txt", &text, "").await;
    for user in ["carol", "dave"] {
        assert_eq!(login(&server, user, PASSWORD).await.status, StatusCode::OK);
    }
    let file = users_file_once(&dir, |file| !file.contains(&bcrypt)).await;
    assert!(
        !file.contains(&bcrypt),
        "dave's line was not rewritten: {file}"
    );
    assert_eq!(
        file.lines().next(),
        Some(format!("carol:{argon2}").as_str())
    );
}

/// A forward-auth check never waits for the bcrypt → argon2id rewrite of `users_file`: here the
/// file has become a FIFO nobody writes to, so a rewrite awaited inside the check would hang it.
#[tokio::test]
async fn a_basic_check_does_not_wait_for_the_bcrypt_rewrite() {
    use std::os::unix::fs::OpenOptionsExt;

    let dir = Dir::new("bcrypt-off-path");
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap();
    let server = server_with_file(&dir, "users.txt", &format!("carol:{bcrypt}\n"), "").await;
    let users_file = dir.0.join("users.txt");
    std::fs::remove_file(&users_file).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&users_file)
        .status()
        .unwrap();
    assert!(made.success());

    let check = server
        .get("/api/auth/traefik")
        .header("accept", "application/json")
        .forwarded("GET", "/")
        .header(
            "authorization",
            &format!("Basic {}", STANDARD.encode(format!("carol:{PASSWORD}"))),
        );
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), check.send())
        .await
        .expect("the check waited for the users_file rewrite");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("remote-user"), Some("carol"));

    // The rewrite did start, in the background: it is reading the FIFO. Give it an end of
    // file so its thread finishes.
    let mut reader_found = false;
    for _ in 0..100 {
        // O_NONBLOCK: opening for writing succeeds only while a reader has it open.
        if std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(0o4000)
            .open(&users_file)
            .is_ok()
        {
            reader_found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        reader_found,
        "the upgrade never tried to rewrite users_file"
    );
}
