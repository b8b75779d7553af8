//! Signing out: `POST /api/logout` and `DELETE /api/session` (JSON), `POST /logout` (the
//! logout page's form). The session is deleted on the server, not only forgotten by the
//! browser. Without a live session there is nothing to protect, so those calls simply answer
//! 200 (idempotent); with one, the session's CSRF token is required.

use http::{Request, StatusCode};
use serde::Deserialize;

use crate::authorization::{self, Presented};
use crate::error::{AppError, AppResult};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions;
use crate::state::AppState;
use crate::tokens;

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    redirect_uri: Option<String>,
}

/// Shared by every logout route: checks the CSRF token when a session exists, then deletes it.
/// Returns the form the request carried (a logout form's `redirect_uri`).
async fn log_out<B: RequestBody>(
    state: &AppState,
    request: Request<B>,
) -> Result<CsrfForm, AppError> {
    let session = sessions::current(state, request.headers()).await?;
    let named: Vec<_> = sessions::named_sessions(state, request.headers()).collect();
    let header_token = request::csrf_header(request.headers()).map(str::to_owned);
    let is_form = request::content_type_is(request.headers(), "application/x-www-form-urlencoded");
    let (_, body) = request::read_body(request).await?;
    let form: CsrfForm = if is_form {
        // Unreadable reads as empty: a signed-out browser still gets its cookie cleared, and
        // a signed-in one is then refused by the CSRF check (or passes by its header).
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    } else {
        CsrfForm::default()
    };
    let Some(session) = session else {
        return Ok(form);
    };
    let presented = header_token.as_deref().unwrap_or(&form.csrf);
    if !state.csrf.verify(
        postern_core::csrf::CsrfBinding::Session(&session.key),
        presented,
    ) {
        return Err(AppError::BadCsrf);
    }
    // With the session, any other the browser's cookies name: the next would sign it in again.
    let others = sessions::end_named(state, &named).await?.saturating_sub(1);
    tracing::info!(target: "audit", event = "logout", user = %session.record.user, others);
    Ok(form)
}

/// `POST /api/logout`, `DELETE /api/session`.
/// A bearer token is revoked with its whole family (no CSRF token: a bearer token is never
/// sent by a browser on its own); Basic has nothing to end, so it is a plain 200.
pub async fn api<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    if let Presented::Bearer(token) = authorization::presented(request.headers()) {
        return if tokens::revoke(state, token).await? {
            Ok(respond::json_message(StatusCode::OK, "Logged out"))
        } else {
            Err(AppError::Unauthorized)
        };
    }
    log_out(state, request).await?;
    let mut response = respond::json_message(StatusCode::OK, "Logged out");
    respond::add_cookie(&mut response, &state.session_cookie.expire());
    Ok(response)
}

/// `POST /logout`: the form on the logout and home pages; lands on the login page.
pub async fn form<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let form = log_out(state, request).await?;
    let target = match form
        .redirect_uri
        .as_deref()
        .and_then(|raw| state.redirects.validate(raw))
    {
        Some(url) => url.to_string(),
        None => state.config.portal_url("/login?logged_out=1"),
    };
    let mut response = respond::redirect(StatusCode::SEE_OTHER, &target);
    respond::add_cookie(&mut response, &state.session_cookie.expire());
    Ok(response)
}
