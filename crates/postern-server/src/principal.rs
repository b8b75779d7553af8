//! Who an `Authorization` header says the caller is: a bearer token, or Basic credentials
//! when `[api] basic_auth` allows them over this scheme. One place for the check path and the
//! API routes alike (which look at the session cookie first).

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use postern_core::session::AuthLevel;
use postern_core::users::User;
use postern_store::StoreError;

use crate::authorization::{self, Presented};
use crate::basic::{self, BasicOutcome};
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;
use crate::tokens;

pub enum Found {
    User(Arc<User>, AuthLevel),
    /// No credential, or one that does not verify.
    Nobody,
    /// Basic credentials hit the failed-login limits.
    Limited {
        retry_after: u64,
    },
    /// Every password verifier is busy.
    Busy,
    Unavailable(StoreError),
}

/// `https`: whether the request the credentials came with was HTTPS (Basic needs it).
pub async fn from_authorization(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    https: bool,
) -> Found {
    match authorization::presented(headers) {
        Presented::Bearer(token) => match tokens::bearer(state, token).await {
            Ok(Some((user, level))) => Found::User(user, level),
            Ok(None) => Found::Nobody,
            Err(err) => Found::Unavailable(err),
        },
        Presented::Basic(encoded) if basic::allowed(state, https) => {
            match basic::verify(state, client, encoded).await {
                BasicOutcome::Verified(user) => Found::User(user, AuthLevel::OneFactor),
                BasicOutcome::Refused => Found::Nobody,
                BasicOutcome::Limited { retry_after } => Found::Limited { retry_after },
                BasicOutcome::Busy => Found::Busy,
                BasicOutcome::Unavailable(err) => Found::Unavailable(err),
            }
        }
        _ => Found::Nobody,
    }
}

/// The caller of an API route: the session cookie first, then `Authorization` (Basic only if
/// the portal is HTTPS, as `app_url` says). `Err` is the answer to give instead: 429, 503.
pub async fn api_caller(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Option<(Arc<User>, AuthLevel)>, HttpResponse> {
    match sessions::current(state, headers).await {
        Ok(Some(session)) => return Ok(Some((session.user, session.record.level))),
        Ok(None) => {}
        Err(err) => return Err(respond::store_unavailable(&err)),
    }
    let https = state.config.app_url.scheme() == "https";
    match from_authorization(state, headers, client, https).await {
        Found::User(user, level) => Ok(Some((user, level))),
        Found::Nobody => Ok(None),
        Found::Limited { retry_after } => Err(respond::limited(
            "Too many failed sign-ins, try again later",
            retry_after,
        )),
        Found::Busy => Err(respond::json_message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins in progress, try again",
        )),
        Found::Unavailable(err) => Err(respond::store_unavailable(&err)),
    }
}
