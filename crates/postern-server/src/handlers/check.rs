//! `/api/auth/{traefik,caddy,nginx,envoy}`: the forward-auth decision, on every proxied request.
//! The access rules that need no session go first, so a bypassed or refused request costs no
//! store read; otherwise it reads one key from the store and, on most requests, writes nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use postern_core::UnixSeconds;
use postern_core::access::{App, Gate, NoTrace, Reason, Subject};
use postern_core::decision::{self, Answer, CheckOutcome, ClientMode};
use postern_core::forwarded::{ForwardedRequest, OwnRequest, ProxyKind};
use postern_core::headers::RequestHeaders;
use postern_core::identity::Identity;
use postern_core::session::AuthLevel;
use postern_core::users::User;

use crate::basic;
use crate::clock;
use crate::error::{AppError, Mode};
use crate::oidc::identity_token::{SignIn, TokenFor};
use crate::principal::{self, Found};
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::{AppState, LiveState};
use crate::telemetry::CheckClock;

/// Everything but RFC 3986's unreserved characters is escaped inside `redirect_uri=`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const POSTERN_NOTICE: HeaderName = HeaderName::from_static("postern-notice");

/// The signed identity an allowed answer carries to the app, under `[identity_token] header`
/// (the name borrowed from the state: the check lane writes it without a copy).
pub type IdentityToken<'s> = (&'s HeaderName, HeaderValue);

/// A check's answer. Most are an allowed 200 with the identity's headers, which the
/// listener's check lane writes from the lines rendered with the identity
/// (`Identity::answer_lines`), building no response; hyper gets the response
/// (`into_response`).
pub enum CheckAnswer<'s> {
    /// 200, no body: the identity's headers (empty for an anonymous pass), then the identity
    /// token's when one goes to the app. Never an app's own headers (`Response` carries
    /// those). The token's header is never one the identity's answer has: the config refuses
    /// `Remote-*`, `Cache-Control` and `Date` for it, so the token's line follows the
    /// identity's.
    Identity {
        identity: Identity,
        token: Option<IdentityToken<'s>>,
    },
    /// Every other answer, as hyper writes it.
    Response(HttpResponse),
}

impl CheckAnswer<'_> {
    /// The answer as hyper serves it.
    pub fn into_response(self) -> HttpResponse {
        match self {
            Self::Identity { identity, token } => {
                let mut response = allow(&identity, None);
                if let Some((header, value)) = token {
                    response.headers_mut().insert(header.clone(), value);
                }
                response
            }
            Self::Response(response) => response,
        }
    }
}

/// A check as hyper parsed it.
pub async fn check<B>(
    state: &Arc<AppState>,
    peer: SocketAddr,
    request: &Request<B>,
    proxy: ProxyKind,
    envoy_path: &str,
) -> HttpResponse {
    let own = OwnRequest {
        method: request.method(),
        authority: request.uri().authority().map(http::uri::Authority::as_str),
        envoy_path,
    };
    check_head(state, peer, proxy, &own, request.headers().into())
        .await
        .into_response()
}

/// A check from its request line and headers: hyper's (`check`), or the head the listener's
/// check lane parsed, which builds no `HeaderMap` (`RequestHeaders` says why).
pub async fn check_head<'s>(
    state: &'s Arc<AppState>,
    peer: SocketAddr,
    proxy: ProxyKind,
    own: &OwnRequest<'_>,
    headers: RequestHeaders<'_>,
) -> CheckAnswer<'s> {
    let answer = decide(state, peer, proxy, own, headers).await;
    // auth_request is a header-only subrequest: nginx never reads a body, and an unread body
    // makes it close the keep-alive connection after every check (docs/proxies.md). An
    // allowed answer (200) has none to take away (`allow`), so most checks skip the work.
    match answer {
        CheckAnswer::Response(response)
            if proxy == ProxyKind::Nginx && response.status() != StatusCode::OK =>
        {
            CheckAnswer::Response(respond::without_body(response))
        }
        answer => answer,
    }
}

async fn decide<'s>(
    state: &'s Arc<AppState>,
    peer: SocketAddr,
    proxy: ProxyKind,
    own: &OwnRequest<'_>,
    headers: RequestHeaders<'_>,
) -> CheckAnswer<'s> {
    let metrics = state.metrics.as_deref().map(|metrics| &metrics.checks);
    let clock = CheckClock::start(metrics, state.config.log.checks);
    let target = match ForwardedRequest::from_headers(proxy, headers, own) {
        Ok(target) => target,
        Err(err) => {
            tracing::debug!(proxy = proxy.name(), error = %err, "auth request without a usable target");
            clock.unusable(proxy);
            return CheckAnswer::Response(respond::json_message(
                StatusCode::BAD_REQUEST,
                &format!("Bad Request: {err}"),
            ));
        }
    };
    let client = request::client_ip(state, peer, headers).ip;
    let mode = ClientMode::detect(
        headers.first(&header::ACCEPT),
        headers.has(&header::AUTHORIZATION),
    );
    let live = state.live.load();
    let rules = &live.access;
    let app = rules.app_for(&target.host);
    let (outcome, token) = match rules.gate(app, &target, client, &mut NoTrace) {
        Gate::Bypass => (CheckOutcome::Allowed(Identity::default()), None),
        Gate::Refuse(reason) => (CheckOutcome::NotAllowed(reason), None),
        Gate::NeedsSession => {
            let https = request::forwarded_https(state, peer, target.scheme);
            let checked = CheckedRequest {
                app,
                host: &target.host,
                https,
                client,
            };
            signed_in_outcome(state, headers, &live, &checked).await
        }
    };
    let decided = decision::answer(proxy, mode, &target.method, outcome);
    clock.answered(proxy, &target, client, app, &decided);
    answer(state, decided, &target, app, token)
}

/// What a check that needs a session knows of the request it judges.
struct CheckedRequest<'a> {
    app: Option<&'a App>,
    /// The app's host (the identity token's audience).
    host: &'a str,
    /// Whether Basic may believe the request came over HTTPS (`request::forwarded_https`).
    https: bool,
    client: IpAddr,
}

/// Who is asking, then whether the rules admit them: the session cookie first (one store
/// read), else a bearer token or, when enabled, Basic credentials. With an allowed outcome
/// comes the identity token, when one goes to the app.
async fn signed_in_outcome<'s>(
    state: &'s Arc<AppState>,
    headers: RequestHeaders<'_>,
    live: &LiveState,
    checked: &CheckedRequest<'_>,
) -> (CheckOutcome, Option<IdentityToken<'s>>) {
    let CheckedRequest {
        app, https, client, ..
    } = *checked;
    let admit = |user: &User, level: AuthLevel, provider: Option<&str>| {
        let subject = Subject {
            user: &user.name,
            groups: &user.groups,
            level,
            provider,
        };
        live.access.admit(app, subject, &mut NoTrace)
    };
    match sessions::current_among(state, &live.users, headers).await {
        Ok(Some(session)) => {
            let provider = session.oauth_provider();
            return match admit(&session.user, session.record.level, provider) {
                Ok(()) => {
                    sessions::touch_if_due(state, &session);
                    let sign_in = SignIn {
                        level: session.record.level,
                        way_in: session.record.way_in,
                        federated: provider.is_some(),
                    };
                    let identity = session.user.identity();
                    allowed(state, checked, identity, sign_in, provider, session.read_at).await
                }
                Err(reason) => (CheckOutcome::NotAllowed(reason), None),
            };
        }
        Ok(None) => {}
        Err(err) => return (store_down(&err), None),
    }
    // Boxed: Basic and bearer checks hold futures of kilobytes (argon2's queue, token and
    // revocation reads), and inline they would make every cookie check's future that large
    // (router.rs says why that costs).
    let found = Box::pin(principal::from_authorization(state, headers, client, https)).await;
    let (user, level, way_in) = match found {
        Found::User(user, level, origin) => (user, level, origin.way_in),
        Found::Nobody => return (CheckOutcome::NoCredentials, None),
        Found::Limited { retry_after } => return (CheckOutcome::Limited { retry_after }, None),
        Found::Busy => return (CheckOutcome::StoreUnavailable, None),
        Found::Unavailable(err) => return (store_down(&err), None),
    };
    // The user as the same live state as the rules has them (a reload may have swapped the
    // table since the credentials were checked): never new users with old rules.
    let Some(user) = live.users.get(&user.name).cloned() else {
        return (CheckOutcome::NoCredentials, None);
    };
    match admit(&user, level, None) {
        Ok(()) => {
            let sign_in = SignIn {
                level,
                way_in,
                federated: false,
            };
            allowed(state, checked, user.identity(), sign_in, None, clock::now()).await
        }
        Err(reason) => (CheckOutcome::NotAllowed(reason), None),
    }
}

/// An allowed outcome, with the identity token when one goes to the app: the one signed for
/// the same user, app and way of signing in earlier in this second, else a new one, signed with
/// the subject id this process read at most `oidc::subjects::CACHED_FOR` ago (so a check still
/// reads the store once). `oauth_provider`: the provider a provider's user signed in with
/// (their id is its own). `now`: the second the credentials were judged at (a session's is
/// the one it was read at, so a check reads the clock once).
async fn allowed<'s>(
    state: &'s AppState,
    checked: &CheckedRequest<'_>,
    identity: &Identity,
    sign_in: SignIn,
    oauth_provider: Option<&str>,
    now: UnixSeconds,
) -> (CheckOutcome, Option<IdentityToken<'s>>) {
    let outcome = CheckOutcome::Allowed(identity.clone());
    let (Some(tokens), Some(provider)) = (&state.identity_tokens, &state.oidc) else {
        return (outcome, None);
    };
    if !wants_identity_token(checked.app) {
        return (outcome, None);
    }
    let wanted = TokenFor {
        user: &identity.user,
        provider: oauth_provider,
        aud: checked.host,
        sign_in,
    };
    // Read before the id: a change after it leaves the new token under the old count, so
    // the next check signs again rather than keep an id that may be stale.
    let subject_changes = provider.subjects.changes();
    if let Some(value) = tokens.kept(&wanted, now, subject_changes) {
        return (outcome, Some((&tokens.header, value)));
    }
    let sub = match provider.cached_subject(&identity.user, oauth_provider) {
        Some(sub) => sub,
        // Boxed: the store call happens once per user per `CACHED_FOR`, and inline its future
        // would make every check's future kilobytes larger (router.rs says why that costs).
        None => {
            match Box::pin(provider.subject(&state.store, &identity.user, oauth_provider)).await {
                Ok(sub) => sub,
                Err(err) => return (store_down(&err), None),
            }
        }
    };
    // Signed at the second it was looked up at: a store read in between (once per
    // `CACHED_FOR`) may take part of a second, and the token stays valid 60 s.
    let token = tokens
        .sign(&wanted, identity, &sub, now, subject_changes)
        .map(|value| (&tokens.header, value));
    (outcome, token)
}

fn wants_identity_token(app: Option<&App>) -> bool {
    app.is_none_or(|app| app.identity_token != Some(false))
}

/// Logged per request at debug only: the outage itself is logged once, with a summary every
/// 10 s (`telemetry::MeteredStore`).
fn store_down(err: &postern_store::StoreError) -> CheckOutcome {
    tracing::debug!(error = %err, "session store unavailable; refusing the request");
    CheckOutcome::StoreUnavailable
}

/// `token`: the identity token of an allowed answer, if one goes to the app.
fn answer<'s>(
    state: &AppState,
    answer: Answer,
    target: &ForwardedRequest,
    app: Option<&App>,
    token: Option<IdentityToken<'s>>,
) -> CheckAnswer<'s> {
    let response = match answer {
        Answer::Allow(identity) => {
            // An anonymous pass (bypass, public path, listed method) gets no app headers:
            // they may carry roles or the upstream's own credentials, which are for
            // signed-in users only.
            let signed_in = !identity.user.is_empty();
            let Some(app) = app.filter(|app| signed_in && !app.headers.is_empty()) else {
                return CheckAnswer::Identity { identity, token };
            };
            let mut response = allow(&identity, Some(app));
            if let Some((header, value)) = token {
                response.headers_mut().insert(header.clone(), value);
            }
            response
        }
        Answer::RedirectToLogin { status } => {
            let mut response = respond::redirect(status_code(status), &login_url(state, target));
            if let Some(why) = state.return_refusal(&target.original_url()) {
                set_notice(&mut response, &why);
            }
            response
        }
        Answer::Unauthorized { with_location } => {
            let refusal = state.return_refusal(&target.original_url());
            let mut response = match &refusal {
                Some(why) => respond::json_with(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    serde_json::json!({ "notice": why }),
                ),
                None => respond::json_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
            };
            // The standard scheme first: clients that read only one challenge read Basic.
            if state.config.api.basic_auth
                && let Ok(basic) = HeaderValue::from_str(&basic::challenge(state))
            {
                response
                    .headers_mut()
                    .append(header::WWW_AUTHENTICATE, basic);
            }
            if let Ok(challenge) = HeaderValue::from_str(&format!(
                "Cookie realm=\"{}\", form-action=\"/login\", cookie-name=\"{}\"",
                state.config.ui.title.replace('"', ""),
                state.session_cookie.name
            )) {
                response
                    .headers_mut()
                    .append(header::WWW_AUTHENTICATE, challenge);
            }
            if with_location {
                respond::set_location(&mut response, &login_url(state, target));
            }
            if let Some(why) = &refusal {
                set_notice(&mut response, why);
            }
            response
        }
        Answer::TooManyRequests { retry_after } => {
            AppError::Limited { retry_after }.answer(state, Mode::Json)
        }
        Answer::RedirectToUnauthorized { status, reason } => respond::redirect(
            status_code(status),
            &unauthorized_url(state, app, reason, target),
        ),
        Answer::Forbidden {
            reason,
            with_location,
        } => {
            let mut response = respond::json_with(
                StatusCode::FORBIDDEN,
                "Forbidden",
                serde_json::json!({ "reason": reason.code() }),
            );
            if with_location {
                respond::set_location(&mut response, &unauthorized_url(state, app, reason, target));
            }
            response
        }
        Answer::Unavailable { page } => {
            let mode = if page { Mode::Page } else { Mode::Json };
            AppError::Unavailable.answer(state, mode)
        }
    };
    CheckAnswer::Response(response)
}

/// 200 with all four `Remote-*` headers, empty when unknown (or bypassed), so a proxy that
/// copies them always overwrites whatever a client sent; then the app's own headers. No body:
/// no proxy reads it, and one nginx does not read costs it the keep-alive connection.
fn allow(identity: &Identity, app: Option<&App>) -> HttpResponse {
    let mut response = HttpResponse::new(respond::Body::default());
    // Rendered when the user table was built, control characters stripped, with the
    // `Cache-Control: no-store` of every empty answer (`respond::empty`).
    *response.headers_mut() = identity.answer_headers().clone();
    let headers = response.headers_mut();
    for (name, value) in app.map(|app| app.headers.as_slice()).unwrap_or_default() {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// `/unauthorized?app=<name>&reason=<code>&redirect_uri=<original URL>`: the page names the
/// app (only a configured app's name; a host nobody configured stays unnamed) and says why,
/// nothing more; "Switch account" signs in again and comes back to `redirect_uri`.
fn unauthorized_url(
    state: &AppState,
    app: Option<&App>,
    reason: Reason,
    target: &ForwardedRequest,
) -> String {
    let mut url = format!(
        "{}?reason={}",
        state.config.portal_url("/unauthorized"),
        reason.code()
    );
    if let Some(app) = app {
        url.push_str("&app=");
        url.extend(utf8_percent_encode(&app.name, QUERY_VALUE));
    }
    url.push_str("&redirect_uri=");
    url.extend(utf8_percent_encode(&target.original_url(), QUERY_VALUE));
    url
}

fn login_url(state: &AppState, target: &ForwardedRequest) -> String {
    format!(
        "{}?redirect_uri={}",
        state.login_url,
        utf8_percent_encode(&target.original_url(), QUERY_VALUE)
    )
}

/// `Postern-Notice`: why the sign-in this answer starts will not come back to the app, for
/// whoever reads the headers (curl, the browser's network panel, the proxy's log).
fn set_notice(response: &mut HttpResponse, why: &str) {
    if let Ok(value) = HeaderValue::from_str(why) {
        response.headers_mut().insert(POSTERN_NOTICE, value);
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND)
}
