//! A client naming itself: identity headers it sends are replaced (with a session) or never
//! reach the app (without one).

use http::StatusCode;

use super::expect;
use crate::harness::client::Request;
use crate::harness::portal::api_login;
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

/// Both spellings: CGI/WSGI-style apps read `Remote_User` and `Remote-User` as one variable.
const FORGED: &[(&str, &str)] = &[
    ("Remote-User", "mallory"),
    ("Remote-Email", "mallory@evil.example"),
    ("Remote-Name", "Mallory"),
    ("Remote-Groups", "admins,root"),
    ("Remote_User", "mallory"),
    ("Remote_Email", "mallory@evil.example"),
    ("Remote_Name", "Mallory"),
    ("Remote_Groups", "admins,root"),
    // The identity token's header, sent by postern only with `[identity_token]` (off here).
    ("Remote-Jwt", "forged.by.mallory"),
    ("Remote_Jwt", "forged.by.mallory"),
];

fn forged(request: Request) -> Request {
    FORGED.iter().fold(request, |request, (name, value)| {
        request.header(name, value)
    })
}

pub async fn forged_identity_headers_are_replaced_by_postern_s(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let session = api_login(&stack.postern).await;
    let response = stack
        .proxy
        .send(forged(Request::get("/whoami").browser().cookie(&session)))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.describe());
    let echo = Echo::parse(&response.json());
    expect::upstream_saw_alice(&echo);
    // Not even empty: a header postern did not send must not be set from its answer.
    assert_eq!(echo.values("remote-jwt"), Vec::<String>::new());
    assert!(
        !response.text().contains("mallory"),
        "a forged value reached the app: {}",
        response.text()
    );
}

pub async fn forged_identity_headers_without_session_never_reach_the_app(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let browser = stack
        .proxy
        .send(forged(Request::get("/whoami").browser()))
        .await;
    assert_eq!(browser.status, StatusCode::FOUND, "{}", browser.describe());
    let script = stack
        .proxy
        .send(forged(Request::get("/whoami").api_client()))
        .await;
    expect::plain_unauthorized(&script);
    let made_up_session = stack
        .proxy
        .send(forged(
            Request::get("/whoami")
                .api_client()
                .cookie("postern_session=forged"),
        ))
        .await;
    expect::plain_unauthorized(&made_up_session);
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a request without a real session reached the app"
    );
}
