//! Who an `Authorization` header says the caller is: a bearer token, or Basic credentials
//! when `[api] basic_auth` allows them over this scheme. One place for the check path and the
//! API routes alike (which look at the session cookie first).

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use postern_core::UnixSeconds;
use postern_core::headers::RequestHeaders;
use postern_core::session::{AuthLevel, Origin, WayIn};
use postern_core::token::TokenHash;
use postern_core::users::User;
use postern_store::StoreError;

use crate::authorization::{self, Presented};
use crate::basic::{self, BasicOutcome};
use crate::clock::now;
use crate::error::AppError;
use crate::request;
use crate::sessions;
use crate::state::AppState;
use crate::tokens;

pub enum Found {
    /// The user, the level, and the sign-in the credential stands for.
    User(Arc<User>, AuthLevel, Origin),
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
    headers: RequestHeaders<'_>,
    client: IpAddr,
    https: bool,
) -> Found {
    match authorization::presented(headers) {
        Presented::Bearer(token) => match tokens::bearer(state, token).await {
            Ok(Some((user, level, origin))) => Found::User(user, level, origin),
            Ok(None) => Found::Nobody,
            Err(err) => Found::Unavailable(err),
        },
        Presented::Basic(encoded) if basic::allowed(state, https) => {
            match basic::verify(state, client, encoded).await {
                BasicOutcome::Verified(user) => {
                    // The password, proved with this request; Basic itself has no end.
                    let origin = Origin {
                        way_in: WayIn::Password,
                        at: now(),
                        ends_by: UnixSeconds::MAX,
                    };
                    Found::User(user, AuthLevel::OneFactor, origin)
                }
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
/// the portal is HTTPS, as `app_url` says), with the session it came with, if any. `Err` is
/// the answer to give instead: 429, 503.
pub async fn api_caller(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Option<Caller>, AppError> {
    if let Some(session) = sessions::current(state, headers).await? {
        return Ok(Some(Caller {
            user: session.user,
            level: session.record.level,
            origin: Origin::of(&session.record),
            session: Some(session.key),
        }));
    }
    let https = state.config.app_url.scheme() == "https";
    match from_authorization(state, headers.into(), client, https).await {
        Found::User(user, level, origin) => Ok(Some(Caller {
            user,
            level,
            origin,
            session: None,
        })),
        Found::Nobody => Ok(None),
        Found::Limited { retry_after } => Err(AppError::Limited { retry_after }),
        Found::Busy => Err(AppError::Busy),
        Found::Unavailable(err) => Err(AppError::Store(err)),
    }
}

/// Who called an API route, and how.
pub struct Caller {
    pub user: Arc<User>,
    pub level: AuthLevel,
    /// The sign-in the session, the bearer token or the Basic credentials stand for.
    pub origin: Origin,
    /// The session cookie's token hash when the caller came with one (state changes then
    /// need that session's CSRF token); `None` for a bearer token or Basic.
    pub session: Option<TokenHash>,
}

impl Caller {
    /// For a session caller, checks the CSRF token the request presents for it. Bearer tokens
    /// and Basic are never sent by a browser on its own, so they need none.
    pub fn check_csrf(&self, state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
        match &self.session {
            Some(session) => request::require_session_csrf(state, headers, session),
            None => Ok(()),
        }
    }
}
