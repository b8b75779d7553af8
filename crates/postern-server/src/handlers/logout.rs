//! Signing out: `POST /api/logout` and `DELETE /api/session` (JSON), `POST /logout` (the
//! logout page's form). The session is deleted on the server, not only forgotten by the
//! browser. Without a live session there is nothing to protect, so those calls simply answer
//! 200 (idempotent); with one, the session's CSRF token is required.

use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::authorization::{self, Presented};
use crate::pages;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;
use crate::tokens;

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    redirect_uri: Option<String>,
}

enum Outcome {
    LoggedOut,
    NoSession,
    BadCsrf,
    StoreDown,
}

/// Shared by every logout route: checks the CSRF token when a session exists, then deletes it.
async fn log_out(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<(Outcome, CsrfForm), HttpResponse> {
    let session = match sessions::current(state, request.headers()).await {
        Ok(session) => session,
        Err(err) => {
            tracing::error!(error = %err, "session store unavailable during logout");
            return Ok((Outcome::StoreDown, CsrfForm::default()));
        }
    };
    let header_token = request::csrf_header(request.headers()).map(str::to_owned);
    let is_form = request::content_type_is(request.headers(), "application/x-www-form-urlencoded");
    let (_, body) = request::read_body(request).await?;
    let form: CsrfForm = if is_form {
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    } else {
        CsrfForm::default()
    };
    let Some(session) = session else {
        return Ok((Outcome::NoSession, form));
    };
    let presented = header_token.as_deref().unwrap_or(&form.csrf);
    if !state.csrf.verify(
        postern_core::csrf::CsrfBinding::Session(&session.key),
        presented,
    ) {
        return Ok((Outcome::BadCsrf, form));
    }
    if let Err(err) = sessions::end(state, &session).await {
        tracing::error!(error = %err, "session store unavailable during logout");
        return Ok((Outcome::StoreDown, form));
    }
    tracing::info!(target: "audit", event = "logout", user = %session.record.user);
    Ok((Outcome::LoggedOut, form))
}

/// `POST /api/logout`, `DELETE /api/session`.
/// A bearer token is revoked with its whole family (no CSRF token: a bearer token is never
/// sent by a browser on its own); Basic has nothing to end, so it is a plain 200.
pub async fn api(state: &AppState, request: Request<Incoming>) -> HttpResponse {
    if let Presented::Bearer(token) = authorization::presented(request.headers()) {
        return match tokens::revoke(state, token).await {
            Ok(true) => respond::json_message(StatusCode::OK, "Logged out"),
            Ok(false) => respond::json_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Err(err) => {
                tracing::error!(error = %err, "session store unavailable during logout");
                respond::json_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
        };
    }
    let outcome = match log_out(state, request).await {
        Ok((outcome, _)) => outcome,
        Err(response) => return response,
    };
    let mut response = match outcome {
        Outcome::LoggedOut | Outcome::NoSession => {
            respond::json_message(StatusCode::OK, "Logged out")
        }
        Outcome::BadCsrf => {
            return respond::json_message(StatusCode::FORBIDDEN, "Invalid CSRF token");
        }
        Outcome::StoreDown => {
            return respond::json_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
    };
    respond::add_cookie(&mut response, &state.session_cookie.expire());
    response
}

/// `POST /logout`: the form on the logout and home pages; lands on the login page.
pub async fn form(state: &AppState, request: Request<Incoming>) -> HttpResponse {
    let (outcome, form) = match log_out(state, request).await {
        Ok(result) => result,
        Err(response) => return response,
    };
    match outcome {
        Outcome::LoggedOut | Outcome::NoSession => {
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
            response
        }
        Outcome::BadCsrf => pages::error_page(
            state,
            StatusCode::FORBIDDEN,
            "Sign-out expired",
            "This sign-out form is no longer valid. Open the sign-out page again.",
        ),
        Outcome::StoreDown => crate::pages::unavailable_page(
            state,
            &postern_store::StoreError::Unavailable("logout".into()),
        ),
    }
}
