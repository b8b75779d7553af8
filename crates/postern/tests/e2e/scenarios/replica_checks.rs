//! Asking one replica directly, bypassing nginx: proves what that replica knows on its own,
//! whichever replica made the session.

use http::StatusCode;

use crate::harness::client::{Request, Response, send_to};
use crate::harness::postern::Postern;
use crate::harness::proxy::APP_HOST;

/// `GET /api/auth/nginx` on `replica` itself, as nginx's auth subrequest would send it, in API
/// mode (401 without a session, never a redirect).
pub async fn check_on(replica: &Postern, session: &str) -> Response {
    let request = Request::get("/api/auth/nginx")
        .api_client()
        .cookie(session)
        .header("X-Original-URL", &format!("http://{APP_HOST}/report"))
        .header("X-Original-Method", "GET");
    send_to(&replica.direct_url("/api/auth/nginx"), request).await
}

/// The replica lets the session through as alice.
pub async fn allowed_on(replica: &Postern, session: &str, when: &str) {
    let response = check_on(replica, session).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{when}: replica on port {} refused the session: {}",
        replica.port(),
        response.describe()
    );
    assert_eq!(
        response
            .headers
            .get("remote-user")
            .and_then(|v| v.to_str().ok()),
        Some("alice"),
        "{when}: replica on port {} answered without alice's identity",
        replica.port()
    );
}

/// `POST /api/login` on `replica` itself.
pub async fn login_on(replica: &Postern, password: &str) -> Response {
    let body = serde_json::json!({ "username": "alice", "password": password });
    send_to(
        &replica.direct_url("/api/login"),
        Request::post("/api/login").api_client().json(&body),
    )
    .await
}

/// `GET /api/ready` on `replica` itself.
pub async fn ready_on(replica: &Postern) -> StatusCode {
    send_to(
        &replica.direct_url("/api/ready"),
        Request::get("/api/ready").api_client(),
    )
    .await
    .status
}
