//! The whole browser journey: refused, login form, back to the app as alice.

use http::StatusCode;
use http::header::SET_COOKIE;

use super::expect;
use crate::harness::client::Request;
use crate::harness::portal::LoginForm;
use crate::harness::postern::{ALICE, ALICE_PASSWORD, SESSION_COOKIE};
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

pub async fn browser_login_reaches_the_app_as_alice(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let (postern, proxy) = (&stack.postern, &stack.proxy);
    let target = "/private/report?year=2026&q=a%2Fb";
    let original = proxy.url(target);

    let refused = proxy.send(Request::get(target).browser()).await;
    let login_url = expect::login_redirect(&refused, StatusCode::FOUND, postern, &original);

    let form = LoginForm::open(&login_url).await;
    assert_eq!(
        form.redirect_uri,
        original.as_str(),
        "the form carries the original URL"
    );

    let wrong = form.submit(postern, ALICE, "not-her-password").await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "wrong password: {}",
        wrong.describe()
    );
    assert!(
        wrong.set_cookie(SESSION_COOKIE).is_none(),
        "a wrong password must not start a session"
    );
    let form = LoginForm::read(&wrong, Some(&form.csrf_cookie));

    let signed_in = form.submit(postern, ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "login: {}",
        signed_in.describe()
    );
    assert_eq!(
        signed_in.location().as_ref(),
        Some(&original),
        "login sends the browser back where it started"
    );
    let session = signed_in
        .set_cookie(SESSION_COOKIE)
        .expect("login sets the session cookie");
    let raw_cookie = signed_in
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{SESSION_COOKIE}=")))
        .expect("raw session Set-Cookie")
        .to_ascii_lowercase();
    for attribute in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            raw_cookie.contains(attribute),
            "session cookie lacks {attribute}: {raw_cookie}"
        );
    }

    let app = proxy
        .send(Request::get(target).browser().cookie(&session))
        .await;
    assert_eq!(
        app.status,
        StatusCode::OK,
        "with a session the app answers: {}",
        app.describe()
    );
    let echo = Echo::parse(&app.json());
    expect::upstream_saw_alice(&echo);
    assert_eq!(echo.method(), "GET");
    assert_eq!(
        stack.upstream.hits(),
        1,
        "only the signed-in request reached the app"
    );
}
