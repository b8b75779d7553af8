//! The handlers' one error type, and the one place where it becomes an answer. A handler
//! returns `AppResult` and uses `?`; the router turns an `AppError` into JSON, a page or an
//! OAuth error by the route's `Mode`. So each kind of refusal has one status, one shape and
//! one wording, and neither a store outage nor an internal error is detailed to the client
//! (the first is logged once, as an outage; the second where it happened).

use std::borrow::Cow;

use http::StatusCode;
use http::header::{self, HeaderValue};
use postern_store::StoreError;
use serde_json::{Value, json};

use crate::credentials::LoginError;
use crate::pages;
use crate::passwords::Busy;
use crate::respond::{self, HttpResponse};
use crate::state::AppState;

pub type AppResult = Result<HttpResponse, AppError>;

/// How a route answers: JSON for scripts and proxies, a page for a person's browser, and
/// OAuth's JSON (`{"error", "error_description"}`, RFC 6749 5.2) for the OpenID Provider's
/// client endpoints (token, userinfo, revocation, introspection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Json,
    Page,
    OAuth,
}

#[derive(Debug)]
pub enum AppError {
    /// A refusal that is the route's own: its status, message and extra JSON fields (a body
    /// that cannot be read, a weak new password, a 409...).
    Refused {
        status: StatusCode,
        message: Cow<'static, str>,
        fields: Option<Value>,
    },
    /// No credentials, or credentials that do not verify.
    Unauthorized,
    /// A state-changing call without its session's CSRF token.
    BadCsrf,
    /// Too many failed attempts (passwords, codes, refresh tokens) from this client or on
    /// this account.
    Limited { retry_after: u64 },
    /// The client sends requests faster than its allowance (a token bucket).
    RateLimited { retry_after: u64 },
    /// Every password verifier is busy.
    Busy,
    /// The store did not answer, or is full.
    Store(StoreError),
    /// The store did not answer; its error was logged where it was met (the check path).
    Unavailable,
    /// An OAuth error of the provider's client endpoints: its status, its `error` code and
    /// its description.
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: &'static str,
    },
    /// A client of the provider that did not authenticate (`invalid_client`); `challenge`:
    /// it tried the `Authorization` header, so the answer names the Basic scheme.
    InvalidClient { challenge: bool },
    /// An access token of the provider that does not work (`invalid_token`, a Bearer
    /// challenge).
    InvalidToken,
    /// Something that should not fail did: the detail is logged where it happened
    /// (`AppError::internal`), never shown.
    Internal,
}

/// The 429 message of the failure limits, the same for every route that counts failures.
const LIMITED_MESSAGE: &str = "Too many failed attempts, try again later";
const RATE_LIMITED_MESSAGE: &str = "Too many requests, slow down";
const BUSY_MESSAGE: &str = "Too many sign-ins in progress, try again";
const INTERNAL_MESSAGE: &str = "Internal Server Error";

impl AppError {
    /// 400 for a form body that does not parse (a field given twice): said as such, not
    /// read as an empty form that would pass for an expired one.
    pub fn unreadable_form() -> Self {
        Self::refused(StatusCode::BAD_REQUEST, "The form could not be read.")
    }

    pub fn refused(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Refused {
            status,
            message: message.into(),
            fields: None,
        }
    }

    /// A refusal whose JSON carries `fields` besides `status` and `message`.
    pub fn refused_with(
        status: StatusCode,
        message: impl Into<Cow<'static, str>>,
        fields: Value,
    ) -> Self {
        Self::Refused {
            status,
            message: message.into(),
            fields: Some(fields),
        }
    }

    /// An OAuth error: `error` is the RFC's code, `description` a fixed sentence.
    pub fn oauth(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        Self::OAuth {
            status,
            error,
            description,
        }
    }

    /// An unexpected failure: `detail` goes to the log with `context`, the client gets a
    /// fixed 500.
    pub fn internal(context: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %detail, "internal error");
        Self::Internal
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused { status, .. } | Self::OAuth { status, .. } => *status,
            Self::Unauthorized | Self::InvalidClient { .. } | Self::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::BadCsrf => StatusCode::FORBIDDEN,
            Self::Limited { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy | Self::Store(_) | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer for a client in `mode`. Store outages and internal errors are logged here.
    pub fn answer(self, state: &AppState, mode: Mode) -> HttpResponse {
        let retry_after = match &self {
            Self::Limited { retry_after } | Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        self.log();
        let mut response = match mode {
            Mode::Json => self.json(),
            Mode::Page => self.page(state),
            Mode::OAuth => self.oauth_json(),
        };
        if let Some(seconds) = retry_after {
            respond::set_retry_after(&mut response, seconds);
        }
        response
    }

    /// A store that does not answer is logged as an outage (`telemetry/outage.rs`: one line
    /// when it starts, a summary while it lasts), fed by the store call that failed; a line
    /// here too would be one per refused request.
    fn log(&self) {
        match self {
            Self::Store(err @ StoreError::Unavailable(_)) => {
                tracing::debug!(error = %err, "refused: the session store is unavailable");
            }
            Self::Store(err @ StoreError::Full(_)) => {
                tracing::error!(error = %err, "session store full");
            }
            _ => {}
        }
    }

    fn json(self) -> HttpResponse {
        let status = self.status();
        match self {
            Self::Refused {
                message, fields, ..
            } => match fields {
                Some(fields) => respond::json_with(status, &message, fields),
                None => respond::json_message(status, &message),
            },
            Self::Unauthorized => respond::json_message(status, "Unauthorized"),
            Self::BadCsrf => respond::json_message(status, "Invalid CSRF token"),
            Self::Limited { retry_after } => respond::json_with(
                status,
                LIMITED_MESSAGE,
                json!({ "retryAfter": retry_after }),
            ),
            Self::RateLimited { retry_after } => respond::json_with(
                status,
                RATE_LIMITED_MESSAGE,
                json!({ "retryAfter": retry_after }),
            ),
            Self::Busy => respond::json_message(status, BUSY_MESSAGE),
            Self::Store(_) | Self::Unavailable => {
                respond::json_message(status, "Service Unavailable")
            }
            Self::Internal => respond::json_message(status, INTERNAL_MESSAGE),
            Self::OAuth { .. } | Self::InvalidClient { .. } | Self::InvalidToken => {
                self.oauth_json()
            }
        }
    }

    /// OAuth's error JSON, never cached (RFC 6749 5.1). A refusal of the route's own (a body
    /// postern does not read) is the client's `invalid_request`; the failure limits, the rate
    /// limit and busy verifiers are each their own sentence; the store and internal errors
    /// are the server's.
    fn oauth_json(self) -> HttpResponse {
        let status = self.status();
        let challenge = match &self {
            Self::InvalidToken => Some("Bearer error=\"invalid_token\""),
            Self::InvalidClient { challenge: true } => Some("Basic realm=\"postern\""),
            _ => None,
        };
        let (error, description): (&str, Cow<'static, str>) = match self {
            Self::OAuth {
                error, description, ..
            } => (error, description.into()),
            Self::Refused { message, .. } => ("invalid_request", message),
            Self::Unauthorized | Self::BadCsrf | Self::InvalidClient { .. } => {
                ("invalid_client", "client authentication failed".into())
            }
            Self::InvalidToken => (
                "invalid_token",
                "the access token is unknown, expired or revoked".into(),
            ),
            Self::Limited { .. } => ("invalid_request", LIMITED_MESSAGE.into()),
            Self::RateLimited { .. } => ("invalid_request", RATE_LIMITED_MESSAGE.into()),
            Self::Busy => ("temporarily_unavailable", BUSY_MESSAGE.into()),
            Self::Store(_) | Self::Unavailable => (
                "temporarily_unavailable",
                "the session store did not answer".into(),
            ),
            Self::Internal => ("server_error", INTERNAL_MESSAGE.into()),
        };
        let mut response = respond::json(
            status,
            json!({ "error": error, "error_description": description }),
        );
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }

    fn page(self, state: &AppState) -> HttpResponse {
        let status = self.status();
        let page =
            |heading: &str, message: &str| pages::error_page(state, status, heading, message);
        match self {
            Self::Refused { message, .. } => {
                page(status.canonical_reason().unwrap_or("Refused"), &message)
            }
            Self::Unauthorized => page("Sign in again", "Please sign in again."),
            Self::BadCsrf => page(
                "Form expired",
                "This form is no longer valid. Open the page again and retry.",
            ),
            Self::Limited { retry_after } => {
                page("Too many attempts", &limited_sentence(retry_after))
            }
            Self::RateLimited { .. } => page(
                "Too many requests",
                "Too many requests came from your network. Please wait a moment and try again.",
            ),
            Self::Busy => page(
                "Too busy",
                "Too many sign-ins are in progress. Please try again in a moment.",
            ),
            Self::Store(StoreError::Full(_)) => page(
                "Too many sessions",
                "This portal has reached its limit of signed-in sessions. Please try again later.",
            ),
            Self::Store(StoreError::Unavailable(_)) | Self::Unavailable => page(
                "Sign-in is unavailable",
                "postern cannot reach its session store right now. Please try again in a moment.",
            ),
            Self::Internal => page(
                "Something went wrong",
                "postern could not finish this request. Please try again later; if it keeps \
                 happening, your administrator finds the cause in postern's log.",
            ),
            Self::OAuth { description, .. } => {
                page(status.canonical_reason().unwrap_or("Refused"), description)
            }
            Self::InvalidClient { .. } | Self::InvalidToken => {
                page("Sign in again", "Please sign in again.")
            }
        }
    }
}

/// The failure limits said to a person: "Too many failed attempts. Try again in 5 minutes."
/// (the login and TOTP forms show it above the form again).
pub fn limited_sentence(retry_after: u64) -> String {
    format!(
        "Too many failed attempts. Try again in {}.",
        wait_in_words(retry_after)
    )
}

/// "4 minutes", "1 minute", "30 seconds".
fn wait_in_words(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} second{}", if seconds == 1 { "" } else { "s" }),
        _ => {
            let minutes = seconds.div_ceil(60);
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<LoginError> for AppError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::Invalid => Self::Unauthorized,
            LoginError::Limited { retry_after } => Self::Limited { retry_after },
            LoginError::Busy => Self::Busy,
            LoginError::Unavailable(err) => Self::Store(err),
        }
    }
}

impl From<Busy> for AppError {
    fn from(Busy: Busy) -> Self {
        Self::Busy
    }
}

#[cfg(test)]
mod tests {
    use super::wait_in_words;

    #[test]
    fn waits_read_in_whole_units() {
        assert_eq!(wait_in_words(1), "1 second");
        assert_eq!(wait_in_words(30), "30 seconds");
        assert_eq!(wait_in_words(60), "1 minute");
        assert_eq!(wait_in_words(61), "2 minutes");
        assert_eq!(wait_in_words(300), "5 minutes");
    }
}
