//! Requests without a session: browsers go to the login page, scripts get a 401, and nothing
//! reaches the app.

use http::{Method, StatusCode};

use super::expect;
use crate::harness::client::Request;
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;

pub async fn browser_without_session_is_sent_to_login(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let target = "/some/path?x=1&y=a%20b";
    let response = stack.proxy.send(Request::get(target).browser()).await;
    // nginx included: its @postern_login turns postern's 401 + Location into this 302.
    expect::login_redirect(
        &response,
        StatusCode::FOUND,
        &stack.postern,
        &stack.proxy.url(target),
    );
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a request without a session reached the app"
    );
}

pub async fn api_client_without_session_gets_401(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let json_client = stack
        .proxy
        .send(Request::get("/api/items").api_client())
        .await;
    expect::plain_unauthorized(&json_client);
    // Sending Authorization marks a script even when it accepts HTML.
    let with_authorization = stack
        .proxy
        .send(
            Request::get("/api/items")
                .browser()
                .header("Authorization", "Bearer not-a-token"),
        )
        .await;
    expect::plain_unauthorized(&with_authorization);
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a request without a session reached the app"
    );
}

/// After a form POST the login redirect is a 303, so the browser fetches the login page with
/// GET instead of re-posting the form to it. postern learns the method from the proxy
/// (X-Forwarded-Method); nginx's @postern_login always answers 302, which browsers also
/// follow with a GET.
pub async fn form_post_without_session_is_sent_to_login(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let target = "/comments";
    let request = Request::new(Method::POST, target)
        .browser()
        .form(&[("text", "hello")]);
    let response = stack.proxy.send(request).await;
    let status = if kind == ProxyKind::Nginx {
        StatusCode::FOUND
    } else {
        StatusCode::SEE_OTHER
    };
    expect::login_redirect(&response, status, &stack.postern, &stack.proxy.url(target));
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a POST without a session reached the app"
    );
}

/// A client cannot choose the URL or method postern checks by sending the headers the proxy
/// uses to describe the original request.
pub async fn forged_forwarding_headers_do_not_change_the_checked_request(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let target = "/real/page";
    let request = Request::get(target)
        .browser()
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Uri", "/forged")
        .header("X-Forwarded-Method", "POST")
        .header("X-Original-URL", "https://evil.example/forged")
        .header("X-Original-Method", "POST");
    let response = stack.proxy.send(request).await;
    // 302, not 303: postern saw the real GET, not the forged POST.
    expect::login_redirect(
        &response,
        StatusCode::FOUND,
        &stack.postern,
        &stack.proxy.url(target),
    );
}
