//! Liveness (`/api/healthcheck` and its aliases) and readiness (`/api/ready`, which asks the
//! store).

use http::StatusCode;
use serde_json::json;

use crate::respond::{self, HttpResponse};
use crate::state::AppState;

pub fn healthy(with_version: bool) -> HttpResponse {
    if with_version {
        respond::json_with(
            StatusCode::OK,
            "OK",
            json!({ "version": env!("CARGO_PKG_VERSION") }),
        )
    } else {
        respond::json_message(StatusCode::OK, "OK")
    }
}

pub async fn ready(state: &AppState) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => respond::json_message(StatusCode::OK, "Ready"),
        Err(err) => {
            tracing::debug!(error = %err, "not ready: the session store does not answer");
            respond::json_message(StatusCode::SERVICE_UNAVAILABLE, "Session store unavailable")
        }
    }
}
