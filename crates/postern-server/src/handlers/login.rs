//! Signing in: the login page, its form (`POST /login`) and the JSON login (`POST /api/login`).
//! Both end the same way: a new session token, whatever session the browser had before ended.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{HeaderMap, Request, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use postern_core::csrf::CsrfBinding;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::token::random_text;
use postern_core::users::User;
use serde::Deserialize;
use serde_json::json;

use crate::cookies;
use crate::credentials::{self, Attempt, LoginError};
use crate::error::{self, AppError, AppResult};
use crate::pages::{self, LoginPage, PageContext, ProviderButton};
use crate::pending;
use crate::request::{self, RequestBody};
use crate::respond::{self, HttpResponse};
use crate::sessions::{self, Authentication};
use crate::state::AppState;

#[derive(Deserialize, Default)]
struct LoginQuery {
    redirect_uri: Option<String>,
    logged_out: Option<String>,
    /// `login`: show the form even to a signed-in browser (an OpenID client asked for a
    /// fresh sign-in: `prompt=login`, `max_age`).
    prompt: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    remember_me: Option<String>,
    redirect_uri: Option<String>,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct LoginJson {
    username: Option<String>,
    email: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default, alias = "rememberMe")]
    remember_me: bool,
}

/// `GET /login`: the form, or straight on to the target when already signed in.
pub async fn page<B>(state: &AppState, request: &Request<B>) -> AppResult {
    let query: LoginQuery =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let ask_again = query.prompt.as_deref() == Some("login");
    if !ask_again && sessions::current(state, request.headers()).await?.is_some() {
        let target = state
            .redirects
            .target_or_home(query.redirect_uri.as_deref());
        return Ok(respond::redirect(StatusCode::FOUND, target.as_str()));
    }
    let notice = query
        .logged_out
        .is_some()
        .then_some("You have been signed out.");
    let form = FormState {
        redirect_uri: query.redirect_uri.as_deref(),
        username: "",
        error: None,
        notice,
    };
    Ok(form.render(state, request.headers(), StatusCode::OK))
}

/// `POST /login`: the form submission. Answers 303 on success, the form again otherwise.
pub async fn submit_form<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::read_body(request).await?;
    let Ok(mut form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return Ok(pages::error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The sign-in form could not be read.",
        ));
    };
    let password = std::mem::take(&mut form.password);
    let mut retry = FormState {
        redirect_uri: form.redirect_uri.as_deref(),
        username: &form.username,
        error: None,
        notice: None,
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let csrf_ok = cookies::pre_session(&parts.headers).is_some_and(|pre_session| {
        state
            .csrf
            .verify(CsrfBinding::PreSession(pre_session), &form.csrf)
    });
    if !csrf_ok {
        retry.error = Some("Your sign-in form expired. Please try again.".into());
        return Ok(retry.render(state, &parts.headers, StatusCode::FORBIDDEN));
    }
    let (user, attempt) = match credentials::authenticate_for_login(
        state,
        client,
        &form.username,
        password,
        &cookies::device_cookies(&parts.headers),
    )
    .await
    {
        Ok(verified) => verified,
        Err(LoginError::Invalid) => {
            retry.error = Some("Incorrect username or password.".into());
            return Ok(retry.render(state, &parts.headers, StatusCode::UNAUTHORIZED));
        }
        Err(LoginError::Limited { retry_after }) => {
            retry.error = Some(error::limited_sentence(retry_after));
            let mut response = retry.render(state, &parts.headers, StatusCode::TOO_MANY_REQUESTS);
            respond::set_retry_after(&mut response, retry_after);
            return Ok(response);
        }
        Err(err) => return Err(err.into()),
    };
    let remember = form
        .remember_me
        .as_deref()
        .is_some_and(|value| matches!(value, "true" | "on" | "1"));
    if !credentials::second_factors(state, &user).await?.is_empty() {
        // Only a target postern would follow is carried to the second step.
        let redirect_uri = form
            .redirect_uri
            .as_deref()
            .filter(|raw| state.redirects.validate(raw).is_some());
        let counter = credentials::account_counter(
            state,
            Some(&user),
            &form.username,
            &cookies::device_cookies(&parts.headers),
        );
        let cookie = pending::begin(state, &user.name, &counter, remember, redirect_uri).await?;
        let mut response =
            respond::redirect(StatusCode::SEE_OTHER, &state.config.portal_url("/totp"));
        respond::add_cookie(&mut response, &cookie);
        return Ok(response);
    }
    let target = state.redirects.target_or_home(form.redirect_uri.as_deref());
    let how = SignIn {
        user: &user,
        level: AuthLevel::OneFactor,
        authentication: Authentication::Now(WayIn::Password),
        remember,
        method: sessions::PASSWORD_METHOD,
        settles: attempt,
    };
    let cookies = sign_in(state, &parts.headers, client, how).await?;
    tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client);
    let mut response = respond::redirect(StatusCode::SEE_OTHER, target.as_str());
    respond::add_cookies(&mut response, &cookies);
    respond::add_cookie(&mut response, &state.session_cookie.expire_pre_session());
    Ok(response)
}

/// `POST /api/login`: JSON in, JSON out (tinyauth's shape), session cookie on success.
pub async fn submit_json<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, login) = request::json_body::<LoginJson, _>(state, request).await?;
    let present = |name: &Option<String>| name.as_ref().is_some_and(|name| !name.trim().is_empty());
    let Some(name) = [login.username, login.email]
        .into_iter()
        .find(present)
        .flatten()
    else {
        return Err(AppError::refused(
            StatusCode::BAD_REQUEST,
            "`username` (or `email`) is required",
        ));
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let (user, attempt) = credentials::authenticate_for_login(
        state,
        client,
        &name,
        login.password,
        &cookies::device_cookies(&parts.headers),
    )
    .await?;
    let factors = credentials::second_factors(state, &user).await?;
    if !factors.is_empty() {
        let counter = credentials::account_counter(
            state,
            Some(&user),
            &name,
            &cookies::device_cookies(&parts.headers),
        );
        let cookie = pending::begin(state, &user.name, &counter, login.remember_me, None).await?;
        // `totpPending` (tinyauth's name) says a second step is pending, whichever it is.
        let message = if factors.contains(&"totp") {
            "TOTP code required"
        } else {
            "Passkey required"
        };
        let mut response = respond::json_with(
            StatusCode::OK,
            message,
            json!({ "totpPending": true, "secondFactors": factors }),
        );
        respond::add_cookie(&mut response, &cookie);
        return Ok(response);
    }
    let how = SignIn {
        user: &user,
        level: AuthLevel::OneFactor,
        authentication: Authentication::Now(WayIn::Password),
        remember: login.remember_me,
        method: sessions::PASSWORD_METHOD,
        settles: attempt,
    };
    let cookies = sign_in(state, &parts.headers, client, how).await?;
    tracing::info!(target: "audit", event = "login.ok", user = %user.name, ip = %client);
    let mut response =
        respond::json_with(StatusCode::OK, "Logged in", json!({ "totpPending": false }));
    respond::add_cookies(&mut response, &cookies);
    Ok(response)
}

/// Who signs in, and how (see `sign_in`).
pub struct SignIn<'a> {
    pub user: &'a Arc<User>,
    pub level: AuthLevel,
    /// Which factors signed in (which ID tokens state, `amr`), or the earlier sign-in this
    /// one continues.
    pub authentication: Authentication,
    pub remember: bool,
    /// How the user signed in (the account page and `GET /api/sessions` show it).
    pub method: &'a str,
    /// The attempt whose secret signed in, settled in the same durable write as the session
    /// (one commit, not one per change).
    pub settles: Option<Attempt>,
}

/// Starts a session with a new token and ends the one the browser held, so a session id can
/// never be fixed before login and used after it. Returns the `Set-Cookie` values: the
/// session cookie and a device cookie for the user. The caller writes the `login.ok` audit
/// line once this answered `Ok`: a sign-in whose session could not be stored did not happen.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    SignIn {
        user,
        level,
        authentication,
        remember,
        method,
        settles,
    }: SignIn<'_>,
) -> Result<[String; 2], postern_store::StoreError> {
    let mut changes = match settles {
        Some(attempt) => attempt.settled_by_sign_in(state, user).await?,
        None => Vec::new(),
    };
    // Every session the browser held ends: one left would sign it in as before.
    let held: Vec<_> = sessions::named_sessions(state, headers).collect();
    changes.extend(sessions::deletions(state, &held).await?);
    let device = sessions::Device::of(client, headers, method);
    let (token, record, session) =
        sessions::new_session(state, user, level, authentication, remember, &device);
    changes.extend(session);
    state.store.apply(changes).await?;
    // The user was checked before the write; a retirement deletes their sessions after the
    // users without them are in force. Asked again now, so a sign-in that passed as its user
    // was removed leaves no session behind for the next user of the name (and answers as
    // OAuth's sign-in of a linked user who vanished does; the next try finds no such user).
    if state.user(&user.name).is_none() {
        state
            .store
            .delete_session(&token.hash(), &user.name)
            .await?;
        return Err(postern_store::StoreError::unavailable(
            "the user was removed while signing in",
        ));
    }
    sessions::keep_within_cap(state, &user.name, &token.hash()).await;
    // A fresh device cookie for this user: its failures no longer count against the account.
    let device_cookie = state.session_cookie.device(&state.device.issue(&user.name));
    Ok([sessions::cookie_for(state, &token, &record), device_cookie])
}

/// What the login form shows, and the pre-session cookie its CSRF token is bound to.
struct FormState<'a> {
    redirect_uri: Option<&'a str>,
    username: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
}

impl FormState<'_> {
    fn render(&self, state: &AppState, headers: &HeaderMap, status: StatusCode) -> HttpResponse {
        let existing = cookies::pre_session(headers);
        let pre_session = existing.map_or_else(random_text::<16>, str::to_owned);
        let csrf = state.csrf.token_for(CsrfBinding::PreSession(&pre_session));
        // Only a target postern would follow is carried through the form; another one is
        // explained on the page (and once in the log) instead of dropped in silence.
        let refusal = self.redirect_uri.and_then(|raw| state.return_refusal(raw));
        let redirect_uri = self
            .redirect_uri
            .filter(|_| refusal.is_none())
            .unwrap_or_default();
        let mut response = pages::render(
            status,
            &LoginPage {
                page: PageContext::new(state),
                csrf: &csrf,
                redirect_uri,
                username: self.username,
                error: self.error.as_deref(),
                notice: self.notice,
                return_notice: refusal.as_deref(),
                providers: provider_buttons(state, redirect_uri),
                password_form: !state.live.load().users.is_empty(),
                passkey: state.webauthn.passwordless && !state.live.load().users.is_empty(),
            },
        );
        if existing.is_none() {
            respond::add_cookie(
                &mut response,
                &state.session_cookie.pre_session(&pre_session),
            );
        }
        response
    }
}

/// A button per provider, carrying the (validated) target through the provider's sign-in.
fn provider_buttons<'a>(state: &'a AppState, redirect_uri: &str) -> Vec<ProviderButton<'a>> {
    state
        .oauth
        .providers()
        .map(|provider| {
            let mut href = format!("/api/oauth/login/{}", provider.config.id);
            if !redirect_uri.is_empty() {
                href.push_str("?redirect_uri=");
                href.extend(utf8_percent_encode(redirect_uri, NON_ALPHANUMERIC));
            }
            ProviderButton {
                label: &provider.config.label,
                href,
            }
        })
        .collect()
}
