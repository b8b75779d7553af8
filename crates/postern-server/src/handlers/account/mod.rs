//! The account page: `GET /account` for a signed-in user (anyone else signs in and comes
//! back), and its forms, each a `POST /account/<action>` carrying the session's CSRF token:
//! the password and the sessions here, the re-authentication and the second factors in
//! `factors`, the passkeys in `passkeys`, the OpenID clients allowed in `consents`. Every answer is a page; a form that worked answers 303 back to the page (a
//! reload never repeats it), except the two that show a secret once.

mod consents;
mod factors;
mod passkeys;
mod pending_setup;
pub(super) mod view;

use std::net::IpAddr;

use http::{Request, StatusCode};
use postern_core::csrf::CsrfBinding;
use serde::Deserialize;

use super::{change_password, session_list};
use crate::error::{self, AppError, AppResult};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;

/// The forms of the account page, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Password,
    EndSession,
    EndOtherSessions,
    Reauth,
    TotpSetup,
    TotpConfirm,
    TotpRemove,
    RecoveryCodes,
    PasskeyAdd,
    PasskeyRename,
    PasskeyRemove,
    ConsentRevoke,
}

impl Action {
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/account/password" => Self::Password,
            "/account/end-session" => Self::EndSession,
            "/account/end-other-sessions" => Self::EndOtherSessions,
            "/account/reauth" => Self::Reauth,
            "/account/totp-setup" => Self::TotpSetup,
            "/account/totp-confirm" => Self::TotpConfirm,
            "/account/totp-remove" => Self::TotpRemove,
            "/account/recovery-codes" => Self::RecoveryCodes,
            "/account/passkey-add" => Self::PasskeyAdd,
            "/account/passkey-rename" => Self::PasskeyRename,
            "/account/passkey-remove" => Self::PasskeyRemove,
            "/account/consent-revoke" => Self::ConsentRevoke,
            _ => return None,
        })
    }
}

/// Every field any of the forms sends; each form reads its own.
#[derive(Deserialize, Default)]
struct AccountForm {
    #[serde(default)]
    csrf: String,
    /// A session's id (`end-session`), a passkey's (`passkey-rename`, `passkey-remove`).
    #[serde(default)]
    id: String,
    /// A passkey's new name (`passkey-rename`).
    #[serde(default)]
    name: String,
    /// An OpenID client's id (`consent-revoke`).
    #[serde(default)]
    client: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    /// The password asked again (`reauth`).
    #[serde(default)]
    password: String,
    /// A TOTP code (`totp-confirm`).
    #[serde(default)]
    code: String,
    /// Where `reauth` comes back to.
    #[serde(default)]
    section: String,
}

/// What a form that worked says on the page it comes back to (`?done=`): fixed sentences, so
/// the address cannot make the page say anything else.
const NOTICES: &[(&str, &str)] = &[
    (
        "password",
        "Your password is changed. Your other sessions are signed out.",
    ),
    ("session", "That session is signed out."),
    ("sessions", "Your other sessions are signed out."),
    (
        "reauth",
        "Thank you. For the next 5 minutes you can change how you sign in.",
    ),
    ("totp-on", "Two-step verification is on."),
    ("totp-off", "Two-step verification is off."),
    ("passkey-added", "Your passkey is added."),
    ("passkey-renamed", "Your passkey is renamed."),
    ("passkey-removed", "Your passkey is removed."),
    (
        "consent-revoked",
        "Access revoked. The app will ask for your consent again.",
    ),
];

#[derive(Deserialize, Default)]
struct PageQuery {
    done: Option<String>,
}

/// A signed-in request to a form: who, from where, and the session it came with.
struct Caller<'a> {
    state: &'a AppState,
    session: CurrentSession,
    client: IpAddr,
}

/// `GET /account`.
pub async fn page<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let Some(session) = sessions::current(state, request.headers()).await? else {
        // Relative, like the home page's: the portal's own path is a target postern follows.
        return Ok(respond::redirect(
            StatusCode::FOUND,
            "/login?redirect_uri=%2Faccount",
        ));
    };
    let query: PageQuery =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let notice = query.done.as_deref().and_then(|done| {
        NOTICES
            .iter()
            .find(|(code, _)| *code == done)
            .map(|(_, sentence)| *sentence)
    });
    let shown = view::Shown {
        notice,
        ..view::Shown::default()
    };
    view::render(state, &session, shown, StatusCode::OK).await
}

/// `POST /account/<action>`.
pub async fn submit<B: RequestBody>(
    state: &AppState,
    peer: std::net::SocketAddr,
    request: Request<B>,
    action: Action,
) -> AppResult {
    let (parts, body) = request::read_body(request).await?;
    let session = sessions::current(state, &parts.headers)
        .await?
        .ok_or(AppError::Unauthorized)?;
    // A form that does not parse (a field given twice) is the client's error, said as such:
    // read as an empty form it would pass for an expired one.
    let form: AccountForm =
        serde_urlencoded::from_bytes(&body).map_err(|_| AppError::unreadable_form())?;
    if !state
        .csrf
        .verify(CsrfBinding::Session(&session.key), &form.csrf)
    {
        return Err(AppError::BadCsrf);
    }
    let caller = Caller {
        state,
        client: request::client_ip(state, peer, &parts.headers).ip,
        session,
    };
    match action {
        Action::Password => password(&caller, form).await,
        Action::EndSession => end_session(&caller, &form.id).await,
        Action::EndOtherSessions => end_other_sessions(&caller).await,
        Action::Reauth => factors::reauth(&caller, form).await,
        Action::TotpSetup => factors::totp_setup(&caller).await,
        Action::TotpConfirm => factors::totp_confirm(&caller, &form.code).await,
        Action::TotpRemove => factors::totp_remove(&caller).await,
        Action::RecoveryCodes => factors::recovery_codes(&caller).await,
        Action::PasskeyAdd => passkeys::add(&caller).await,
        Action::PasskeyRename => passkeys::rename(&caller, &form.id, &form.name).await,
        Action::PasskeyRemove => passkeys::remove(&caller, &form.id).await,
        Action::ConsentRevoke => consents::revoke(&caller, &form.client).await,
    }
}

/// 303 back to the page, saying what was done.
fn done(done: &str, section: &str) -> AppResult {
    Ok(respond::redirect(
        StatusCode::SEE_OTHER,
        &format!("/account?done={done}#{section}"),
    ))
}

/// The page again, with `message` above it.
async fn refused(caller: &Caller<'_>, status: StatusCode, message: &str) -> AppResult {
    let shown = view::Shown {
        error: Some(message.to_owned()),
        ..view::Shown::default()
    };
    view::render(caller.state, &caller.session, shown, status).await
}

/// A route's refusal said on the page (a wrong password, a weak new one, the limits);
/// anything else (the store, busy verifiers) is the error page.
async fn refused_by(caller: &Caller<'_>, err: AppError) -> AppResult {
    match err {
        AppError::Refused {
            status, message, ..
        } => refused(caller, status, &message).await,
        AppError::Limited { retry_after } => {
            let mut page = refused(
                caller,
                StatusCode::TOO_MANY_REQUESTS,
                &error::limited_sentence(retry_after),
            )
            .await?;
            respond::set_retry_after(&mut page, retry_after);
            Ok(page)
        }
        other => Err(other),
    }
}

async fn password(caller: &Caller<'_>, form: AccountForm) -> AppResult {
    if let Some(why) = view::password_absent(caller.state, &caller.session) {
        return refused(caller, StatusCode::FORBIDDEN, &why).await;
    }
    let changed = change_password::change_for(
        caller.state,
        caller.client,
        &caller.session.user,
        Some(&caller.session.key),
        form.current_password,
        form.new_password,
    )
    .await;
    match changed {
        Ok(_) => done("password", "password"),
        Err(err) => refused_by(caller, err).await,
    }
}

async fn end_session(caller: &Caller<'_>, id: &str) -> AppResult {
    if !session_list::end_session_of(caller.state, &caller.session, id).await? {
        return refused(
            caller,
            StatusCode::NOT_FOUND,
            "That session is already gone.",
        )
        .await;
    }
    if id == caller.session.key.to_hex() {
        // This very session: signed out, so on to the login page, its cookie cleared.
        let mut response = respond::redirect(StatusCode::SEE_OTHER, "/login?logged_out=1");
        respond::add_cookie(&mut response, &caller.state.session_cookie.expire());
        return Ok(response);
    }
    done("session", "sessions")
}

async fn end_other_sessions(caller: &Caller<'_>) -> AppResult {
    session_list::end_other_sessions_of(caller.state, &caller.session).await?;
    done("sessions", "sessions")
}
