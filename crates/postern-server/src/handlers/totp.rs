//! The second step of a TOTP user's login: `GET /totp` (the page), `POST /totp` (its form) and
//! `POST /api/totp` (JSON, tinyauth's shape). A right code turns the pending login into a
//! two-factor session; a wrong one counts against the failed-login limits and the pending
//! login, which ends after `pending::MAX_CODE_FAILURES` of them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use postern_core::csrf::CsrfBinding;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token::SessionToken;
use postern_core::totp as recovery_code;
use postern_core::users::User;
use postern_store::StoreError;
use serde::Deserialize;

use super::login::{self, SignIn};
use crate::clock::now;
use crate::credentials::{self, LoginError};
use crate::error::{self, AppError, AppResult};
use crate::pages::{self, PageContext, TotpPage};
use crate::pending::{self, PendingLogin};
use crate::request::{self, RequestBody};
use crate::respond::{self, HttpResponse};
use crate::sessions::Authentication;
use crate::state::AppState;
use crate::{user_factors, user_passwords};

/// A used step, and the two before it, stay marked this long: past the ±1 step window.
const REPLAY_MARK_TTL: Duration = Duration::from_secs(120);
/// A spent recovery code stays spent this long (ten years).
const RECOVERY_MARK_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct CodeJson {
    #[serde(default)]
    code: String,
}

enum CodeError {
    /// No pending login (none, expired, already used, or ended by too many wrong codes).
    NoPending,
    /// Wrong, or already used, code. `ended`: that was the last try.
    Wrong {
        ended: bool,
    },
    Limited {
        retry_after: u64,
    },
    Unavailable(StoreError),
}

impl From<StoreError> for CodeError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(err)
    }
}

/// `GET /totp`: the second step (the code form, the passkey button, or both), or back to the
/// login page when there is nothing pending.
pub async fn page<B>(state: &AppState, request: &Request<B>) -> AppResult {
    Ok(match pending::cookie_token(request.headers()) {
        Some(token) => {
            let choices = Choices::of(state, &token).await?;
            render(state, &token, choices, None, StatusCode::OK)
        }
        None => respond::redirect(StatusCode::SEE_OTHER, &state.login_url),
    })
}

/// Which second steps the page offers: the pending user's.
#[derive(Clone, Copy)]
struct Choices {
    code: bool,
    passkey: bool,
}

impl Choices {
    /// For a pending login that is gone (expired, used), the code form, as before: its
    /// submission then says to sign in again.
    async fn of(state: &AppState, token: &SessionToken) -> Result<Self, StoreError> {
        let user = pending::peek(state, token)
            .await?
            .and_then(|record| state.user(&record.user));
        let Some(user) = user else {
            return Ok(Self {
                code: true,
                passkey: false,
            });
        };
        // With the user's own TOTP secret, when one is in force.
        let user = user_passwords::in_force(state, &user)
            .await?
            .factors
            .applied_to(&user);
        Ok(Self {
            code: user.totp.is_some(),
            passkey: crate::webauthn::records::registered(&state.store, &user.name).await?,
        })
    }
}

/// `POST /totp`: the form. 303 to the target on success.
pub async fn submit_form<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::read_body(request).await?;
    let Some(token) = pending::cookie_token(&parts.headers) else {
        return Ok(restart_page(state));
    };
    let choices = Choices::of(state, &token).await?;
    let form: CodeForm =
        serde_urlencoded::from_bytes(&body).map_err(|_| AppError::unreadable_form())?;
    if !state
        .csrf
        .verify(CsrfBinding::PreSession(token.as_str()), &form.csrf)
    {
        return Ok(render(
            state,
            &token,
            choices,
            Some("Your form expired. Please enter the code again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let (user, record) = match verify(state, client, &token, &form.code).await {
        Ok(verified) => verified,
        Err(CodeError::NoPending | CodeError::Wrong { ended: true }) => {
            return Ok(restart_page(state));
        }
        Err(CodeError::Wrong { ended: false }) => {
            return Ok(render(
                state,
                &token,
                choices,
                Some("That code is not right, or was already used. Enter the current code."),
                StatusCode::UNAUTHORIZED,
            ));
        }
        Err(CodeError::Limited { retry_after }) => {
            let mut response = render(
                state,
                &token,
                choices,
                Some(&error::limited_sentence(retry_after)),
                StatusCode::TOO_MANY_REQUESTS,
            );
            respond::set_retry_after(&mut response, retry_after);
            return Ok(response);
        }
        Err(CodeError::Unavailable(err)) => return Err(err.into()),
    };
    let target = state
        .redirects
        .target_or_home(record.redirect_uri.as_deref());
    let answer = respond::redirect(StatusCode::SEE_OTHER, target.as_str());
    two_factor_session(
        state,
        &parts.headers,
        client,
        &user,
        &record,
        answer,
        SecondStep::Totp,
    )
    .await
}

/// `POST /api/totp` `{"code"}`: JSON in and out, session cookie on success.
pub async fn submit_json<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<CodeJson, _>(state, request).await?;
    let no_pending = || {
        AppError::refused(
            StatusCode::UNAUTHORIZED,
            "No pending login: sign in with the password first",
        )
    };
    let token = pending::cookie_token(&parts.headers).ok_or_else(no_pending)?;
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let (user, record) = match verify(state, client, &token, &body.code).await {
        Ok(verified) => verified,
        Err(CodeError::NoPending) => return Err(no_pending()),
        Err(CodeError::Wrong { ended }) => {
            return Err(AppError::refused_with(
                StatusCode::UNAUTHORIZED,
                "Invalid code",
                serde_json::json!({ "pendingEnded": ended }),
            ));
        }
        Err(CodeError::Limited { retry_after }) => return Err(AppError::Limited { retry_after }),
        Err(CodeError::Unavailable(err)) => return Err(err.into()),
    };
    let answer = respond::json_message(StatusCode::OK, "Logged in");
    two_factor_session(
        state,
        &parts.headers,
        client,
        &user,
        &record,
        answer,
        SecondStep::Totp,
    )
    .await
}

/// The second step a two-factor session was started by.
#[derive(Clone, Copy)]
pub(super) enum SecondStep {
    Totp,
    Passkey,
}

impl SecondStep {
    /// How the session signed in, as the account page shows it.
    fn method(self) -> &'static str {
        match self {
            Self::Totp => "password and TOTP",
            Self::Passkey => "password and passkey",
        }
    }

    /// Which factors signed in, for `amr`.
    fn way_in(self) -> WayIn {
        match self {
            Self::Totp => WayIn::Password,
            Self::Passkey => WayIn::PasswordAndPasskey,
        }
    }

    /// The `factor` of its `login.ok` audit line.
    fn factor(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }
}

/// After a right code (or passkey): starts the two-factor session and adds its cookies to
/// `answer`, clearing `postern_pending`; then the audit line, the session being stored.
pub(super) async fn two_factor_session(
    state: &AppState,
    headers: &http::HeaderMap,
    client: IpAddr,
    user: &Arc<User>,
    record: &PendingLogin,
    mut answer: HttpResponse,
    step: SecondStep,
) -> AppResult {
    let how = SignIn {
        user,
        level: AuthLevel::TwoFactor,
        authentication: Authentication::Now(step.way_in()),
        remember: record.remember,
        method: step.method(),
        settles: None,
    };
    let cookies = login::sign_in(state, headers, client, how).await?;
    let factor = step.factor();
    tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client, factor);
    respond::add_cookies(&mut answer, &cookies);
    respond::add_cookie(&mut answer, &state.session_cookie.expire_pending());
    Ok(answer)
}

/// Takes the pending login, checks the limits and the code, and marks the step used.
async fn verify(
    state: &AppState,
    client: IpAddr,
    token: &SessionToken,
    code: &str,
) -> Result<(Arc<User>, PendingLogin), CodeError> {
    let Some(mut record) = pending::take(state, token).await? else {
        return Err(CodeError::NoPending);
    };
    let Some(user) = state.user(&record.user) else {
        return Err(CodeError::NoPending);
    };
    // With the user's own TOTP secret and recovery codes, when those are in force.
    let user = user_passwords::in_force(state, &user)
        .await?
        .factors
        .applied_to(&user);
    if user.totp.is_none() {
        return Err(CodeError::NoPending);
    }
    let attempt = match credentials::begin_attempt(state, client, record.counter.clone()).await {
        Ok(attempt) => attempt,
        Err(LoginError::Limited { retry_after }) => {
            pending::put_back(state, token, &record).await?;
            return Err(CodeError::Limited { retry_after });
        }
        Err(LoginError::Unavailable(err)) => return Err(CodeError::Unavailable(err)),
        Err(LoginError::Invalid | LoginError::Busy) => return Err(CodeError::NoPending),
    };
    if accept_code(state, &user, code).await? {
        attempt.signed_in(state, &user).await?;
        return Ok((user, record));
    }
    attempt
        .failed(state, "totp.failed", Some(&user.name))
        .await?;
    record.failures += 1;
    let ended = record.failures >= pending::MAX_CODE_FAILURES;
    if !ended {
        pending::put_back(state, token, &record).await?;
    }
    Err(CodeError::Wrong { ended })
}

/// True when `code` is the user's current code (±1 step) and its step was not used before,
/// nor any later one. Marks it used, on every replica. False for a user without TOTP.
/// A recovery code works too, once.
pub async fn accept_code(state: &AppState, user: &User, code: &str) -> Result<bool, StoreError> {
    let Some(key) = user.totp.as_ref() else {
        return Ok(false);
    };
    if let Some(step) = key.matching_step(code, now()) {
        return first_use(state, &user.name, step).await;
    }
    match recovery_code::normalize_recovery_code(code) {
        Some(recovery) => accept_recovery_code(state, user, recovery).await,
        None => Ok(false),
    }
}

/// Checks a recovery code against the user's hashes (argon2, on the password pool) and spends
/// it. Spent marks live in the store for ten years: with the memory store a restart forgets
/// them, so use Redis (or remove used hashes from the config) where that matters.
async fn accept_recovery_code(
    state: &AppState,
    user: &User,
    code: String,
) -> Result<bool, StoreError> {
    for hash in &user.recovery_codes {
        let Ok(true) = state
            .passwords
            .verify(Some(hash.clone()), code.clone())
            .await
        else {
            continue;
        };
        let spent = user_factors::spent_recovery_key(&user.name, hash);
        let fresh = state.store.mark_once(&spent, RECOVERY_MARK_TTL).await?;
        if fresh {
            tracing::warn!(target: "audit", event = "login.recovery_code", user = %user.name, "a recovery code was used");
        }
        return Ok(fresh);
    }
    Ok(false)
}

/// True the first time `step` is used for this user, on any replica. The two steps before it
/// are marked too, so once a code is accepted no older one works, even inside the skew window.
pub async fn first_use(state: &AppState, user: &str, step: u64) -> Result<bool, StoreError> {
    let mark = |step: u64| format!("totp:{user}:{step}");
    if !state.store.mark_once(&mark(step), REPLAY_MARK_TTL).await? {
        return Ok(false);
    }
    for older in [step.saturating_sub(1), step.saturating_sub(2)] {
        state.store.mark_once(&mark(older), REPLAY_MARK_TTL).await?;
    }
    Ok(true)
}

fn render(
    state: &AppState,
    token: &SessionToken,
    choices: Choices,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let csrf = state
        .csrf
        .token_for(CsrfBinding::PreSession(token.as_str()));
    pages::render(
        status,
        &TotpPage {
            page: PageContext::new(state),
            csrf: &csrf,
            error,
            code: choices.code,
            passkey: choices.passkey,
        },
    )
}

fn restart_page(state: &AppState) -> HttpResponse {
    let mut response = pages::error_page(
        state,
        StatusCode::UNAUTHORIZED,
        "Sign in again",
        "This sign-in expired or had too many wrong codes. Please sign in again.",
    );
    respond::add_cookie(&mut response, &state.session_cookie.expire_pending());
    response
}
