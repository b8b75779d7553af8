//! Logging out ends access everywhere at once: the proxy's next check with the old cookie
//! fails, because postern deleted the session on its side.

use http::StatusCode;

use super::expect;
use crate::harness::client::Request;
use crate::harness::portal::{api_login, logout};
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;

pub async fn logout_ends_access_through_the_proxy(kind: ProxyKind) {
    let stack = Stack::start(kind).await;
    let session = api_login(&stack.postern).await;
    let target = "/dashboard";

    let before = stack
        .proxy
        .send(Request::get(target).browser().cookie(&session))
        .await;
    assert_eq!(
        before.status,
        StatusCode::OK,
        "signed in: {}",
        before.describe()
    );

    let logged_out = logout(&stack.postern, &session).await;
    assert_eq!(
        logged_out.status,
        StatusCode::OK,
        "POST /api/logout: {}",
        logged_out.describe()
    );

    let after = stack
        .proxy
        .send(Request::get(target).browser().cookie(&session))
        .await;
    expect::login_redirect(
        &after,
        StatusCode::FOUND,
        &stack.postern,
        &stack.proxy.url(target),
    );
    assert_eq!(
        stack.upstream.hits(),
        1,
        "only the request before logout reached the app"
    );
}
