//! The handlers' one error type, and the one place where it becomes an answer. A handler
//! returns `AppResult` and uses `?`; the router turns an `AppError` into JSON or a page by the
//! route's `Mode`. So each kind of refusal has one status, one shape and one wording, and a
//! store outage is never detailed to the client (it is logged once, as an outage).

use std::borrow::Cow;

use http::StatusCode;
use postern_store::StoreError;
use serde_json::{Value, json};

use crate::credentials::LoginError;
use crate::pages;
use crate::passwords::Busy;
use crate::respond::{self, HttpResponse};
use crate::state::AppState;

pub type AppResult = Result<HttpResponse, AppError>;

/// How a route answers: JSON for scripts and proxies, a page for a person's browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Json,
    Page,
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
}

/// The 429 message of the failure limits, the same for every route that counts failures.
const LIMITED_MESSAGE: &str = "Too many failed attempts, try again later";
const RATE_LIMITED_MESSAGE: &str = "Too many requests, slow down";
const BUSY_MESSAGE: &str = "Too many sign-ins in progress, try again";

impl AppError {
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

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused { status, .. } => *status,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadCsrf => StatusCode::FORBIDDEN,
            Self::Limited { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy | Self::Store(_) | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
        }
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
