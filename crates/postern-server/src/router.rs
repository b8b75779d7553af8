//! The route table: one `match` over method and path. Fixed paths under `/api/auth/` win over
//! `/api/auth/{proxy}`; envoy's endpoint takes any path after `/api/auth/envoy`.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use postern_core::forwarded::ProxyKind;
use postern_core::limits::LoginLimits;
use postern_core::oidc::paths;

use crate::assets::Asset;
use crate::error::{AppError, AppResult, Mode};
use crate::handlers::{
    account, change_password, check, health, login, logout, oauth, oidc_api, oidc_flow, oidc_meta,
    pages, passkeys, session_api, session_list, tickets, tokens, totp,
};
use crate::pages::error_page;
use crate::request::{self, RequestBody};
use crate::respond::{self, HttpResponse};
use crate::state::AppState;
use crate::telemetry::LimitKind;

#[derive(Debug)]
enum Route {
    Check(ProxyKind, String),
    UnknownProxy,
    Home,
    LoginPage,
    LoginForm,
    LoginJson,
    LogoutPage,
    LogoutForm,
    LogoutApi,
    Status,
    SessionGet,
    Keepalive,
    Csrf,
    Unauthorized,
    TotpPage,
    TotpForm,
    TotpJson,
    TokenLogin,
    TicketIssue,
    ChangePassword,
    SessionList,
    SessionEndOne(String),
    SessionEndOthers,
    TicketRedeem,
    TokenRefresh,
    OAuth(OAuthStep, String),
    OidcDiscovery,
    OidcJwks,
    OidcAuthorize,
    OidcConsent,
    OidcToken,
    OidcUserinfo,
    OidcRevoke,
    OidcIntrospect,
    OidcEndSession,
    Passkeys(passkeys::Endpoint),
    Healthy { with_version: bool },
    Ready,
    Asset(Asset),
    AccountPage,
    AccountForm(account::Action),
    MethodNotAllowed(&'static str),
    NotFound,
}

/// The three routes of a sign-in through a provider, each with the provider's id in the path.
#[derive(Debug)]
enum OAuthStep {
    Url,
    Login,
    Callback,
}

fn route(state: &AppState, method: &Method, path: &str, query: Option<&str>) -> Route {
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    match path {
        "/api/auth/login" if post => return Route::TokenLogin,
        "/api/auth/refresh" if post => return Route::TokenRefresh,
        "/api/auth/login" | "/api/auth/refresh" => return Route::MethodNotAllowed("POST"),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/api/auth/") {
        return check_route(rest, query);
    }
    if let Some(rest) = path.strip_prefix("/api/oauth/") {
        return oauth_route(rest, method == Method::GET);
    }
    if let Some(rest) = path.strip_prefix("/api/webauthn/") {
        return match passkeys::route(rest, method) {
            Ok(endpoint) => Route::Passkeys(endpoint),
            Err(Some(allowed)) => Route::MethodNotAllowed(allowed),
            Err(None) => Route::NotFound,
        };
    }
    match path {
        "/" if get => Route::Home,
        "/login" if get => Route::LoginPage,
        "/login" if post => Route::LoginForm,
        "/logout" if get => Route::LogoutPage,
        "/logout" if post => Route::LogoutForm,
        "/unauthorized" if get => Route::Unauthorized,
        "/totp" if get => Route::TotpPage,
        "/totp" if post => Route::TotpForm,
        "/api/totp" if post => Route::TotpJson,
        // Not HEAD: each stores a ticket, which a link checker's HEAD must not do.
        "/api/ws-token" if method == Method::GET => Route::TicketIssue,
        "/api/ws-token" => Route::MethodNotAllowed("GET"),
        "/api/change-password" if post => Route::ChangePassword,
        "/api/sessions" if get => Route::SessionList,
        "/api/sessions" if method == Method::DELETE => Route::SessionEndOthers,
        "/api/sessions" => Route::MethodNotAllowed("GET, HEAD, DELETE"),
        _ if path.starts_with("/api/sessions/") => match path.strip_prefix("/api/sessions/") {
            Some(id) if method == Method::DELETE && !id.is_empty() && !id.contains('/') => {
                Route::SessionEndOne(id.to_owned())
            }
            Some(id) if !id.is_empty() && !id.contains('/') => Route::MethodNotAllowed("DELETE"),
            _ => Route::NotFound,
        },
        "/api/ticket/redeem" if post => Route::TicketRedeem,
        "/api/login" if post => Route::LoginJson,
        "/api/logout" if post => Route::LogoutApi,
        "/api/status" if get => Route::Status,
        "/api/session" if get => Route::SessionGet,
        "/api/session" if method == Method::DELETE => Route::LogoutApi,
        "/api/session/keepalive" if post => Route::Keepalive,
        "/api/csrf" if get => Route::Csrf,
        "/api/healthcheck" | "/api/healthz" if get => Route::Healthy {
            with_version: false,
        },
        "/health" | "/api/health" if get => Route::Healthy { with_version: true },
        "/api/ready" if get => Route::Ready,
        paths::DISCOVERY if get => Route::OidcDiscovery,
        paths::JWKS if get => Route::OidcJwks,
        paths::DISCOVERY | paths::JWKS => Route::MethodNotAllowed("GET, HEAD"),
        // Not HEAD: each stores a code, a consent or ends a session, which a link checker's
        // HEAD must not do.
        paths::AUTHORIZE if method == Method::GET || post => Route::OidcAuthorize,
        paths::USERINFO if method == Method::GET || post => Route::OidcUserinfo,
        paths::END_SESSION if method == Method::GET || post => Route::OidcEndSession,
        paths::AUTHORIZE | paths::USERINFO | paths::END_SESSION => {
            Route::MethodNotAllowed("GET, POST")
        }
        paths::CONSENT if post => Route::OidcConsent,
        paths::TOKEN if post => Route::OidcToken,
        paths::REVOKE if post => Route::OidcRevoke,
        paths::INTROSPECT if post => Route::OidcIntrospect,
        paths::CONSENT | paths::TOKEN | paths::REVOKE | paths::INTROSPECT => {
            Route::MethodNotAllowed("POST")
        }
        "/account" if get => Route::AccountPage,
        // `/account/password`, `/account/reauth`, `/account/totp-setup`, ...: the page's forms.
        _ if path.starts_with("/account/") => match account::Action::from_path(path) {
            Some(action) if post => Route::AccountForm(action),
            Some(_) => Route::MethodNotAllowed("POST"),
            None => Route::NotFound,
        },
        "/" | "/login" | "/logout" | "/totp" | "/unauthorized" | "/api/status" | "/api/csrf"
        | "/api/healthcheck" | "/api/healthz" | "/health" | "/api/health" | "/api/ready"
        | "/account" => {
            Route::MethodNotAllowed(if matches!(path, "/login" | "/logout" | "/totp") {
                "GET, HEAD, POST"
            } else {
                "GET, HEAD"
            })
        }
        "/api/login"
        | "/api/logout"
        | "/api/totp"
        | "/api/ticket/redeem"
        | "/api/change-password"
        | "/api/session/keepalive" => Route::MethodNotAllowed("POST"),
        "/api/session" => Route::MethodNotAllowed("GET, HEAD, DELETE"),
        _ if get && path.starts_with("/static/") => state
            .assets
            .find(path)
            .map_or(Route::NotFound, Route::Asset),
        _ => Route::NotFound,
    }
}

/// `/api/auth/{proxy}`. Caddy appends the original query to this URI: it is never read here,
/// except by envoy, whose original path (and query) follows the endpoint's own path.
fn check_route(rest: &str, query: Option<&str>) -> Route {
    let (name, envoy_rest) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    match ProxyKind::from_name(name) {
        Some(ProxyKind::Envoy) => {
            let mut path = envoy_rest.to_owned();
            if let Some(query) = query {
                path.push('?');
                path.push_str(query);
            }
            Route::Check(ProxyKind::Envoy, path)
        }
        Some(kind) if envoy_rest.is_empty() => Route::Check(kind, String::new()),
        _ => Route::UnknownProxy,
    }
}

impl Route {
    /// How the route's errors are answered: a page for what a person's browser opens, OAuth's
    /// JSON for the provider's client endpoints, JSON for the rest.
    fn mode(&self) -> Mode {
        match self {
            Self::Home
            | Self::LoginPage
            | Self::LoginForm
            | Self::LogoutPage
            | Self::LogoutForm
            | Self::Unauthorized
            | Self::TotpPage
            | Self::TotpForm
            | Self::AccountPage
            | Self::AccountForm(_)
            | Self::OAuth(OAuthStep::Login | OAuthStep::Callback, _)
            | Self::OidcAuthorize
            | Self::OidcConsent
            | Self::OidcEndSession => Mode::Page,
            Self::OidcToken | Self::OidcUserinfo | Self::OidcRevoke | Self::OidcIntrospect => {
                Mode::OAuth
            }
            _ => Mode::Json,
        }
    }

    /// The forms of postern's own pages, which refuse a POST the browser says came from
    /// another site (`request::sent_from_own_page`): a page on a sibling host can plant a
    /// pre-session cookie and learn its CSRF token, so its form would carry a valid one.
    /// Defence in depth only: such a host can plant a session cookie as well (docs/security.md,
    /// "Hosts under the cookie domain"). Not the provider's endpoints that relying parties
    /// call from their own sites (authorize, end_session, token) nor OAuth callbacks.
    fn is_own_form(&self) -> bool {
        matches!(
            self,
            Self::LoginForm
                | Self::LogoutForm
                | Self::TotpForm
                | Self::AccountForm(_)
                | Self::OidcConsent
        )
    }

    /// The UI and API routes share a per-client token bucket. The check path is exempt (every
    /// asset of every page passes it), and so are health probes, static assets and the
    /// provider's published documents (rendered at start, fetched by every relying party).
    fn is_rate_limited(&self) -> bool {
        !matches!(
            self,
            Self::Check(..)
                | Self::UnknownProxy
                | Self::Healthy { .. }
                | Self::Ready
                | Self::Asset(_)
                | Self::OidcDiscovery
                | Self::OidcJwks
        )
    }
}

/// `Err(RateLimited)` when the client's bucket is empty. A store that does not answer lets
/// the request through: every route behind this that checks credentials fails closed on its
/// own.
async fn rate_limit<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
) -> Result<(), AppError> {
    let client = request::client_ip(state, peer, request.headers()).ip;
    let bucket = format!("api-{}", LoginLimits::ip_counter(client));
    let limits = &state.config.limits;
    let burst = u32::try_from(limits.api_burst).unwrap_or(u32::MAX);
    #[allow(clippy::cast_precision_loss)] // at most 100000, exact in an f64
    let rate = limits.api_rate as f64;
    match state.store.take_token(&bucket, rate, burst).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => {
            if let Some(metrics) = &state.metrics {
                metrics.audit.limited(LimitKind::Api);
            }
            Err(AppError::RateLimited { retry_after: 1 })
        }
        Err(err) => {
            tracing::debug!(error = %err, "rate limit not checked: the store did not answer");
            Ok(())
        }
    }
}

/// `/api/oauth/{url,login,callback}/{provider}`. GET only, not HEAD: each one stores or
/// consumes a sign-in, which a link checker's HEAD must not do.
fn oauth_route(rest: &str, get: bool) -> Route {
    let Some((step, provider)) = rest.split_once('/') else {
        return Route::NotFound;
    };
    let step = match step {
        "url" => OAuthStep::Url,
        "login" => OAuthStep::Login,
        "callback" => OAuthStep::Callback,
        _ => return Route::NotFound,
    };
    if provider.is_empty() || provider.contains('/') {
        return Route::NotFound;
    }
    if !get {
        return Route::MethodNotAllowed("GET");
    }
    Route::OAuth(step, provider.to_owned())
}

/// The check a request asks for (its proxy, and envoy's path), if it is one: what the
/// listener's check lane answers without hyper (`listener/check_lane.rs`). The same table as
/// `handle`'s, so the two can never disagree about what a check is.
pub fn check_of(
    state: &AppState,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<(ProxyKind, String)> {
    match route(state, method, path, query) {
        Route::Check(kind, envoy_path) => Some((kind, envoy_path)),
        _ => None,
    }
}

/// Answers one request. Never fails: every error is a response.
pub async fn handle<B: RequestBody>(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<B>,
) -> HttpResponse {
    let route = route(
        &state,
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    // The proxies' checks are most of what postern answers, and the listener moves each
    // request's future into a box as large as the future: with every handler's state inline
    // that was 12,200 bytes copied per check (a `memmove` at the top of the check's profile).
    // So a check's future is inline here, and every other route's is boxed on its own.
    if let Route::Check(kind, envoy_path) = route {
        return check::check(&state, peer, &request, kind, &envoy_path).await;
    }
    Box::pin(answer_route(state, peer, request, route)).await
}

/// Every route but the checks: the per-client rate limit, then the handler.
async fn answer_route<B: RequestBody>(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<B>,
    route: Route,
) -> HttpResponse {
    let mode = route.mode();
    if route.is_own_form() && !request::sent_from_own_page(request.headers()) {
        return AppError::refused(
            StatusCode::FORBIDDEN,
            "This form was sent from another site. Open the page on this site and send it from there.",
        )
        .answer(&state, mode);
    }
    if route.is_rate_limited()
        && let Err(limited) = rate_limit(&state, peer, &request).await
    {
        return limited.answer(&state, mode);
    }
    serve(&state, peer, request, route)
        .await
        .unwrap_or_else(|err| err.answer(&state, mode))
}

/// Calls the route's handler.
async fn serve<B: RequestBody>(
    state: &Arc<AppState>,
    peer: SocketAddr,
    request: Request<B>,
    route: Route,
) -> AppResult {
    match route {
        // `handle` answers checks before they get here; the arm keeps `serve` whole.
        Route::Check(kind, envoy_path) => {
            Ok(check::check(state, peer, &request, kind, &envoy_path).await)
        }
        Route::UnknownProxy => Err(AppError::refused(
            StatusCode::NOT_FOUND,
            "Unknown proxy: use traefik, caddy, nginx or envoy",
        )),
        Route::Home => pages::home(state, &request).await,
        Route::LoginPage => login::page(state, &request).await,
        Route::LoginForm => login::submit_form(state, peer, request).await,
        Route::LoginJson => login::submit_json(state, peer, request).await,
        Route::LogoutPage => pages::logout(state, &request).await,
        Route::LogoutForm => logout::form(state, request).await,
        Route::LogoutApi => logout::api(state, request).await,
        Route::Status => session_api::status(state, peer, &request).await,
        Route::SessionGet => session_api::get(state, &request).await,
        Route::Keepalive => session_api::keepalive(state, &request).await,
        Route::Csrf => session_api::csrf(state, &request).await,
        Route::Unauthorized => Ok(pages::unauthorized(state, &request).await),
        Route::TotpPage => totp::page(state, &request).await,
        Route::TotpForm => totp::submit_form(state, peer, request).await,
        Route::TotpJson => totp::submit_json(state, peer, request).await,
        Route::TokenLogin => tokens::login(state, peer, request).await,
        Route::TicketIssue => tickets::issue(state, peer, &request).await,
        Route::ChangePassword => change_password::change(state, peer, request).await,
        Route::SessionList => session_list::list(state, &request).await,
        Route::SessionEndOne(id) => session_list::end_one(state, &request, &id).await,
        Route::SessionEndOthers => session_list::end_others(state, &request).await,
        Route::TicketRedeem => tickets::redeem(state, peer, request).await,
        Route::TokenRefresh => tokens::refresh(state, peer, request).await,
        Route::OAuth(OAuthStep::Url, provider) => {
            oauth::url(state, peer, &request, &provider).await
        }
        Route::OAuth(OAuthStep::Login, provider) => {
            oauth::login(state, peer, &request, &provider).await
        }
        Route::OAuth(OAuthStep::Callback, provider) => {
            oauth::callback(state, peer, &request, &provider).await
        }
        Route::Passkeys(endpoint) => passkeys::serve(state, peer, request, endpoint).await,
        Route::Healthy { with_version } => Ok(health::healthy(with_version)),
        Route::Ready => Ok(health::ready(state).await),
        Route::OidcDiscovery => Ok(oidc_meta::discovery(state)),
        Route::OidcJwks => Ok(oidc_meta::jwks(state)),
        Route::OidcAuthorize => oidc_flow::authorize(state, request).await,
        Route::OidcConsent => oidc_flow::consent(state, request).await,
        Route::OidcToken => oidc_api::token(state, peer, request).await,
        Route::OidcUserinfo => oidc_api::userinfo(state, request).await,
        Route::OidcRevoke => oidc_api::revoke(state, peer, request).await,
        Route::OidcIntrospect => oidc_api::introspect(state, peer, request).await,
        Route::OidcEndSession => oidc_api::end_session(state, request).await,
        Route::Asset(asset) => Ok(pages::asset(state, &asset)),
        Route::AccountPage => account::page(state, &request).await,
        Route::AccountForm(action) => account::submit(state, peer, request, action).await,
        Route::MethodNotAllowed(allowed) => Ok(respond::method_not_allowed(allowed)),
        Route::NotFound if request::wants_html(request.headers()) => Ok(error_page(
            state,
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )),
        Route::NotFound => Ok(respond::not_found()),
    }
}

#[cfg(test)]
mod tests;
