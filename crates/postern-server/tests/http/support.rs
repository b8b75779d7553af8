//! `TestServer`: a real postern server on 127.0.0.1:0 with the memory store, stopped when
//! dropped; and a minimal HTTP/1.1 client that never follows redirects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use postern_core::config::{self, Config, NoEnv, Sources, StoreKind};
use postern_server::{AppState, Server};
use postern_store::Store;
use postern_testkit::{RedisServer, TempDir};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery staple";

/// One argon2id hash of PASSWORD for the whole test binary (hashing is the slow part).
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap())
}

/// A config with alice (all identity fields) and bob (name only), plus `extra` TOML.
pub fn config_text(app_url: &str, extra: &str) -> String {
    let hash = password_hash();
    format!(
        "app_url = \"{app_url}\"\nsecret = \"test-secret-that-is-long-enough-for-postern\"\n{extra}\n\
         [server]\nlisten = \"127.0.0.1:0\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nemail = \"alice@example.com\"\n\
         display_name = \"Alice Example\"\ngroups = [\"admins\", \"dev\"]\n\
         [[users]]\nname = \"bob\"\npassword_hash = \"{hash}\"\n"
    )
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The server's state, for tests that reload it the way `postern serve` does.
    pub state: Arc<AppState>,
    shutdown: CancellationToken,
    /// The Redis this server's store lives in, when the suite runs against Redis.
    _redis: Option<RedisServer>,
    /// The data directory of an embedded store.
    _data: Option<TempDir>,
}

/// Tests whose config names no store (the default, embedded) or the memory store run on the
/// memory store; `POSTERN_TEST_STORE=redis` runs them against a real redis-server of their own
/// instead, `POSTERN_TEST_STORE=embedded` on a data file in a directory of their own
/// (`.ci/test` runs the suite all three ways).
pub fn redis_instead_of_memory() -> bool {
    std::env::var("POSTERN_TEST_STORE").is_ok_and(|store| store == "redis")
}

pub fn embedded_instead_of_memory() -> bool {
    std::env::var("POSTERN_TEST_STORE").is_ok_and(|store| store == "embedded")
}

impl TestServer {
    /// A server whose portal is https://auth.example.com (cookie domain example.com).
    pub async fn start() -> Self {
        Self::with_config(&config_text("https://auth.example.com", "")).await
    }

    /// With the store the config names (memory, or Redis for `store = "redis"`).
    pub async fn with_config(text: &str) -> Self {
        let mut config = load(text);
        if matches!(config.session.store, StoreKind::Embedded) {
            config.session.store = StoreKind::Memory;
        }
        let mut redis = None;
        if matches!(config.session.store, StoreKind::Memory) && redis_instead_of_memory() {
            let server = RedisServer::start();
            let with_redis = load(&config_text(
                "https://auth.example.com",
                &format!(
                    "[session]\nstore = \"redis\"\nredis_url = \"{}\"",
                    server.url()
                ),
            ));
            config.session.store = with_redis.session.store;
            redis = Some(server);
        }
        if matches!(config.session.store, StoreKind::Memory) && embedded_instead_of_memory() {
            config.session.store = StoreKind::Embedded;
        }
        let mut data = None;
        let store = match &config.session.store {
            StoreKind::Memory => Store::memory(config.session.max_sessions),
            StoreKind::Redis(redis) => Store::redis(redis).unwrap(),
            StoreKind::Embedded => {
                let dir = TempDir::new("http-embedded");
                let store =
                    postern_store::EmbeddedStore::open(dir.path(), config.session.max_sessions);
                data = Some(dir);
                Store::Embedded(store.unwrap())
            }
        };
        let mut server = Self::with_state(AppState::new(config, store)).await;
        server._redis = redis;
        server._data = data;
        server
    }

    /// `with_config` on a durable store, which the account page's second factors need: an
    /// embedded store in a directory of its own, or Redis with `POSTERN_TEST_STORE=redis`.
    pub async fn durable(text: &str) -> Self {
        if redis_instead_of_memory() {
            return Self::with_config(text).await;
        }
        let mut config = load(text);
        config.session.store = StoreKind::Embedded;
        let dir = TempDir::new("http-durable");
        let store =
            postern_store::EmbeddedStore::open(dir.path(), config.session.max_sessions).unwrap();
        let mut server = Self::with_state(AppState::new(config, Store::Embedded(store))).await;
        server._data = Some(dir);
        server
    }

    pub async fn with_state(state: AppState) -> Self {
        let state = Arc::new(state);
        let server = Server::bind(Arc::clone(&state)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));
        Self {
            addr,
            state,
            shutdown,
            _redis: None,
            _data: None,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            addr: self.addr,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// What `postern serve` does when `users_file` changes: one swap of the users, then those
    /// removed are retired (`postern_server::retirement`). Returns how many were.
    pub async fn reload_users(&self, users: postern_core::users::UserTable) -> usize {
        let before = self.state.users();
        let access = (*self.state.live.load().access).clone();
        self.state.replace_live(access, users.clone());
        postern_server::retirement::retire_removed(&self.state, &before, &users)
            .await
            .unwrap()
    }

    /// The users in force but `name`.
    pub fn users_without(&self, name: &str) -> postern_core::users::UserTable {
        postern_core::users::UserTable::new(
            self.state
                .users()
                .iter()
                .filter(|user| user.name != name)
                .map(|user| (**user).clone()),
        )
    }

    /// Signs alice in through `POST /api/login`; returns the `Cookie` header value.
    pub async fn login(&self, user: &str) -> String {
        let response = self
            .post("/api/login")
            .json(&format!(
                "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}"
            ))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response
            .session_cookie()
            .expect("login sets the session cookie")
    }

    /// `POST /api/logout` with `cookies` and the CSRF token of their session (asserting `200`).
    pub async fn logout(&self, cookies: &str) -> TestResponse {
        let csrf = self.csrf(cookies).await;
        let response = self
            .post("/api/logout")
            .header("cookie", cookies)
            .header("x-csrf-token", &csrf)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response
    }

    /// The CSRF token for a session cookie.
    pub async fn csrf(&self, cookie: &str) -> String {
        let response = self.get("/api/csrf").header("cookie", cookie).send().await;
        assert_eq!(response.status, StatusCode::OK);
        response.json()["csrfToken"].as_str().unwrap().to_owned()
    }

    /// The account page of a session cookie (asserting `200`).
    pub async fn account_page(&self, cookie: &str) -> TestResponse {
        self.account_page_at(cookie, "/account").await
    }

    /// The account page at `path` (`/account?done=...`, where a form sent the browser).
    pub async fn account_page_at(&self, cookie: &str, path: &str) -> TestResponse {
        let page = self
            .get(path)
            .header("cookie", cookie)
            .browser()
            .send()
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page
    }
}

impl TestServer {
    /// Moves the session's start ten minutes back: its sign-in is no longer recent.
    pub async fn age_session(&self, cookie: &str) {
        let key = session_key(cookie);
        let stored = self.state.store.get_session(&key).await.unwrap().unwrap();
        let mut record = Arc::unwrap_or_clone(stored);
        record.created_at -= 600;
        self.state
            .store
            .put_session(&key, &record, std::time::Duration::from_secs(600))
            .await
            .unwrap();
    }
}

impl TestServer {
    /// The stored record of the live session `cookie` names.
    pub async fn session_record(&self, cookie: &str) -> postern_core::session::SessionRecord {
        let stored = self.state.store.get_session(&session_key(cookie)).await;
        Arc::unwrap_or_clone(stored.unwrap().expect("a live session"))
    }
}

/// The store key of the session a `postern_session=<token>` cookie names.
pub fn session_key(cookie: &str) -> postern_core::token::TokenHash {
    let token = cookie.strip_prefix("postern_session=").unwrap();
    postern_core::token::SessionToken::parse(token)
        .unwrap()
        .hash()
}

/// The wall clock in Unix seconds, as the server reads it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn load(text: &str) -> Config {
    config::load(&Sources {
        file: Some((text, Path::new("test.toml"))),
        env: &NoEnv,
        cli: &[],
    })
    .unwrap()
}

pub struct TestRequest {
    addr: SocketAddr,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl TestRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A browser asking for a page.
    pub fn browser(self) -> Self {
        self.header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
    }

    /// The headers traefik sends for `https://app.example.com{uri}`.
    pub fn forwarded(self, method: &str, uri: &str) -> Self {
        self.header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", uri)
            .header("x-forwarded-method", method)
    }

    pub fn json(self, body: &str) -> Self {
        let mut request = self.header("content-type", "application/json");
        request.body = Bytes::from(body.to_owned());
        request
    }

    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let mut request = self.header("content-type", "application/x-www-form-urlencoded");
        request.body = Bytes::from(serde_urlencoded::to_string(pairs).unwrap());
        request
    }

    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.body = Bytes::from(body);
        self
    }

    /// Sends and reports the status, or the transport error (for requests a server may cut off).
    pub async fn send_raw(self) -> Result<StatusCode, hyper::Error> {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header("host", "auth.example.com");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        Ok(sender
            .send_request(builder.body(Full::new(self.body)).unwrap())
            .await?
            .status())
    }

    pub async fn send(self) -> TestResponse {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header("host", "auth.example.com");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let response = sender
            .send_request(builder.body(Full::new(self.body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// Sends every request at once, each on its own connection; how many got each status.
pub async fn all_at_once(
    requests: impl IntoIterator<Item = TestRequest>,
) -> std::collections::BTreeMap<u16, usize> {
    let sent: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(request.send()))
        .collect();
    let mut tally = std::collections::BTreeMap::new();
    for response in sent {
        *tally
            .entry(response.await.unwrap().status.as_u16())
            .or_insert(0) += 1;
    }
    tally
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// `name=value` of the first Set-Cookie for `name`, ready for a Cookie header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("postern_session")
            .filter(|c| c != "postern_session=")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value of `<input ... name="{name}" value="...">` in a page.
    pub fn hidden_field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end]
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    }

    pub fn query_of_location(&self) -> HashMap<String, String> {
        let location = self.header("location").expect("a Location header");
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
        serde_urlencoded::from_str(query).unwrap()
    }
}

/// `chattr +i` on a file or folder for as long as it lives: nothing can write to it, not even
/// root (tests may run as root, which ignores permission bits).
pub struct Immutable(std::path::PathBuf);

impl Immutable {
    pub fn set(path: &std::path::Path) -> Self {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status();
        assert!(
            status.is_ok_and(|status| status.success()),
            "chattr +i failed: this test needs e2fsprogs and a filesystem with the immutable attribute"
        );
        Self(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// A server whose idle connections are closed after `timeout`.
pub async fn server_with_header_read_timeout(timeout: &str) -> TestServer {
    let text = config_text("https://auth.example.com", "").replace(
        "[server]\n",
        &format!("[server]\nheader_read_timeout = \"{timeout}\"\n"),
    );
    TestServer::with_config(&text).await
}
