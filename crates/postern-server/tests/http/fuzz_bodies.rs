//! The form and JSON bodies of every endpoint that reads one, fuzzed against the real server
//! over a socket: any content type, any body, with or without a session, is answered with a
//! status below 500; nothing but the right password starts a session; the server keeps
//! serving. `POSTERN_FUZZ_CASES` scales the run (docs/testing.md).

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Method;
use postern_testkit::fuzz_config;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Map, Value};
use tokio::runtime::Runtime;

use crate::support::*;

/// An HTTP round trip costs about as much as a few hundred string parses.
const WEIGHT: u32 = 4;

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/totp"),
    ("POST", "/api/login"),
    ("POST", "/api/logout"),
    ("POST", "/api/totp"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/change-password"),
    ("POST", "/api/ticket/redeem"),
    ("POST", "/api/session/keepalive"),
    ("DELETE", "/api/sessions"),
    ("DELETE", "/api/session"),
    ("POST", "/account/password"),
    ("POST", "/account/end-session"),
    ("POST", "/account/end-other-sessions"),
    ("POST", "/account/reauth"),
    ("POST", "/account/totp-setup"),
    ("POST", "/account/totp-confirm"),
    ("POST", "/account/totp-remove"),
    ("POST", "/account/recovery-codes"),
];

/// Every field name any of those bodies reads.
const FIELDS: &[&str] = &[
    "username",
    "email",
    "password",
    "remember_me",
    "rememberMe",
    "redirect_uri",
    "csrf",
    "code",
    "refresh_token",
    "current_password",
    "new_password",
    "token",
    "id",
    "section",
];

/// One server for the whole target, with limits high enough that the bodies, not the
/// limits, decide the answers. The test owns it (not a static, which is never dropped): with
/// `POSTERN_TEST_STORE=redis` it owns a redis-server, killed when it drops.
fn start_server(runtime: &Runtime) -> TestServer {
    runtime.block_on(TestServer::with_config(&config_text(
        "https://auth.example.com",
        "[limits]\nmax_failures_per_ip = 100\nfailure_window = \"1s\"\n\
         max_failures_per_user = 100\nuser_failure_window = \"1s\"\n\
         api_rate = 100000\napi_burst = 100000\n[api]\nbasic_auth = true\n",
    )))
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("alice".to_owned()),
        Just("alice@example.com".to_owned()),
        Just("bob".to_owned()),
        Just(PASSWORD.to_owned()),
        Just("https://evil.com/".to_owned()),
        Just("//evil.com".to_owned()),
        Just("123456".to_owned()),
        Just(String::new()),
        "[a-zA-Z0-9._=-]{0,40}",
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => text_value().prop_map(Value::String),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..3)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,8}",
    ]
}

fn json_object() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((field(), json_value()), 0..5).prop_map(|pairs| {
        serde_json::to_vec(&Value::Object(pairs.into_iter().collect::<Map<_, _>>())).unwrap()
    })
}

/// Bodies shaped like the real ones: known fields with text values, so the handlers get past
/// deserialising and into their checks.
fn shaped_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((prop::sample::select(FIELDS), text_value()), 1..6).prop_map(
        |pairs| {
            pairs
                .into_iter()
                .map(|(field, value)| (field.to_owned(), value))
                .collect()
        },
    )
}

/// A body and the content type it claims.
fn body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    let shaped_json = shaped_pairs().prop_map(|pairs| {
        let object: Map<String, Value> = pairs
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        (
            Some("application/json"),
            serde_json::to_vec(&object).unwrap(),
        )
    });
    let shaped_form = shaped_pairs().prop_map(|pairs| {
        (
            Some("application/x-www-form-urlencoded"),
            serde_urlencoded::to_string(pairs).unwrap().into_bytes(),
        )
    });
    let form = proptest::collection::vec((field(), text_value()), 0..5)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap().into_bytes());
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        Some("APPLICATION/JSON; charset=utf-8"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        None,
    ]);
    let bytes = prop_oneof![
        3 => json_object(),
        3 => form,
        1 => json_object().prop_flat_map(|bytes| {
            let len = bytes.len();
            (Just(bytes), 0..=len).prop_map(|(bytes, cut)| bytes[..cut].to_vec())
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => Just(b"%%%=%%%&&=".to_vec()),
    ];
    prop_oneof![
        2 => (content_type, bytes),
        2 => shaped_json,
        1 => shaped_form,
    ]
}

/// What the client holds besides its body.
#[derive(Debug, Clone, Copy)]
enum Holding {
    Nothing,
    /// Alice's session cookie and its CSRF token (header and form field).
    Session,
    /// A login form's pre-session cookie and its CSRF token, as a browser has after GET /login.
    LoginForm,
    Forged,
}

fn holding() -> impl Strategy<Value = Holding> {
    prop::sample::select(vec![
        Holding::Nothing,
        Holding::Session,
        Holding::LoginForm,
        Holding::Forged,
    ])
}

/// Alice's session cookie and its CSRF token, signed in once (and again whenever a case
/// ended that session).
struct AliceCookie(RefCell<Option<(String, String)>>);

impl AliceCookie {
    fn get(&self, runtime: &Runtime, server: &TestServer, refresh: bool) -> (String, String) {
        let mut cached = self.0.borrow_mut();
        if refresh || cached.is_none() {
            let cookie = runtime.block_on(server.login("alice"));
            let csrf = runtime.block_on(server.csrf(&cookie));
            *cached = Some((cookie, csrf));
        }
        cached.clone().unwrap()
    }
}

/// A form body gets the token as its `csrf` field too (where the forms carry it).
fn add_csrf_field(bytes: &mut Vec<u8>, content_type: Option<&str>, csrf: &str) {
    if content_type == Some("application/x-www-form-urlencoded") {
        let field = serde_urlencoded::to_string([("csrf", csrf)]).unwrap();
        if !bytes.is_empty() {
            bytes.push(b'&');
        }
        bytes.extend_from_slice(field.as_bytes());
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// One request of a case: where, what body, what the client holds, and how it asks.
type Case = (
    (&'static str, &'static str),
    (Option<&'static str>, Vec<u8>),
    Holding,
    Option<&'static str>,
    bool,
);

/// Written with a `TestRunner` rather than `proptest!`, so that the server is the test's own
/// and ends with it.
#[test]
fn every_body_of_every_endpoint_is_answered_below_500() {
    let runtime = Runtime::new().unwrap();
    let server = start_server(&runtime);
    let alice = AliceCookie(RefCell::new(None));
    let cases = (
        prop::sample::select(ENDPOINTS),
        body(),
        holding(),
        prop::sample::select(vec![
            None,
            None,
            Some("https://auth.example.com"),
            Some("https://evil.com"),
        ]),
        any::<bool>(),
    );
    let config = ProptestConfig {
        // Where the regressions file sits: beside this file, as `proptest!` would put it.
        source_file: Some(file!()),
        ..fuzz_config(WEIGHT)
    };
    let result = TestRunner::new(config).run(&cases, |case| {
        answered_below_500(&runtime, &server, &alice, case)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

fn answered_below_500(
    runtime: &Runtime,
    server: &TestServer,
    alice: &AliceCookie,
    (endpoint, (content_type, bytes), holding, origin, accept_html): Case,
) -> Result<(), TestCaseError> {
    let (method, path) = endpoint;
    let mut request = server.request(Method::from_bytes(method.as_bytes()).unwrap(), path);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if accept_html {
        request = request.browser();
    }
    let mut bytes = bytes;
    match holding {
        Holding::Session => {
            let (cookie, csrf) = alice.get(runtime, server, false);
            request = request
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf);
            add_csrf_field(&mut bytes, content_type, &csrf);
        }
        Holding::LoginForm => {
            let page = runtime.block_on(server.get("/login").browser().send());
            let csrf = page.hidden_field("csrf");
            request = request.header("cookie", &page.cookie("postern_csrf").unwrap());
            add_csrf_field(&mut bytes, content_type, &csrf);
        }
        Holding::Forged => {
            request = request.header("cookie", "postern_session=forged; postern_csrf=x");
        }
        Holding::Nothing => {}
    }
    let response = runtime.block_on(request.raw_body(bytes.clone()).send());
    prop_assert!(
        response.status.as_u16() < 500,
        "{} {} answered {}: {}",
        method,
        path,
        response.status,
        response.body
    );
    if let Some(session) = response.session_cookie() {
        // Only the right password starts a session.
        let form_encoded = serde_urlencoded::to_string([("", PASSWORD)]).unwrap();
        let password_sent = contains(&bytes, PASSWORD.as_bytes())
            || contains(&bytes, form_encoded.trim_start_matches('=').as_bytes());
        prop_assert!(
            password_sent,
            "{} {} started session {}",
            method,
            path,
            session
        );
    }
    if matches!(holding, Holding::Session)
        && response
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("postern_session=;"))
    {
        alice.get(runtime, server, true);
    }
    // Now and then, the server still answers its health check.
    static CASES: AtomicUsize = AtomicUsize::new(0);
    if CASES.fetch_add(1, Ordering::Relaxed).is_multiple_of(32) {
        let health = runtime.block_on(server.get("/api/healthcheck").send());
        prop_assert_eq!(health.status.as_u16(), 200);
    }
    Ok(())
}
