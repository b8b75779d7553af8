//! The route table: one `match` over method and path. Fixed paths under `/api/auth/` win over
//! `/api/auth/{proxy}`; envoy's endpoint takes any path after `/api/auth/envoy`.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use postern_core::forwarded::ProxyKind;

use crate::assets::Asset;
use crate::handlers::{check, health, login, logout, oauth, pages, session_api, totp};
use crate::pages::error_page;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::state::AppState;

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
    OAuth(OAuthStep, String),
    Healthy { with_version: bool },
    Ready,
    Asset(Asset),
    MethodNotAllowed(&'static str),
    NotFound,
}

/// The three routes of a sign-in through a provider, each with the provider's id in the path.
enum OAuthStep {
    Url,
    Login,
    Callback,
}

fn route(state: &AppState, method: &Method, path: &str, query: Option<&str>) -> Route {
    if let Some(rest) = path.strip_prefix("/api/auth/") {
        return check_route(rest, query);
    }
    let get = method == Method::GET || method == Method::HEAD;
    if let Some(rest) = path.strip_prefix("/api/oauth/") {
        return oauth_route(rest, method == Method::GET);
    }
    let post = method == Method::POST;
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
        "/" | "/login" | "/logout" | "/totp" | "/unauthorized" | "/api/status" | "/api/csrf"
        | "/api/healthcheck" | "/api/healthz" | "/health" | "/api/health" | "/api/ready" => {
            Route::MethodNotAllowed(if matches!(path, "/login" | "/logout" | "/totp") {
                "GET, HEAD, POST"
            } else {
                "GET, HEAD"
            })
        }
        "/api/login" | "/api/logout" | "/api/totp" | "/api/session/keepalive" => {
            Route::MethodNotAllowed("POST")
        }
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

/// Answers one request. Never fails: every error is a response.
pub async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> HttpResponse {
    let route = route(
        &state,
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    match route {
        Route::Check(kind, envoy_path) => {
            check::check(&state, peer, &request, kind, &envoy_path).await
        }
        Route::UnknownProxy => respond::json_message(
            StatusCode::NOT_FOUND,
            "Unknown proxy: use traefik, caddy, nginx or envoy",
        ),
        Route::Home => pages::home(&state, &request).await,
        Route::LoginPage => login::page(&state, &request).await,
        Route::LoginForm => login::submit_form(&state, peer, request).await,
        Route::LoginJson => login::submit_json(&state, peer, request).await,
        Route::LogoutPage => pages::logout(&state, &request).await,
        Route::LogoutForm => logout::form(&state, request).await,
        Route::LogoutApi => logout::api(&state, request).await,
        Route::Status => session_api::status(&state, &request).await,
        Route::SessionGet => session_api::get(&state, &request).await,
        Route::Keepalive => session_api::keepalive(&state, &request).await,
        Route::Csrf => session_api::csrf(&state, &request).await,
        Route::Unauthorized => pages::unauthorized(&state, &request).await,
        Route::TotpPage => totp::page(&state, &request),
        Route::TotpForm => totp::submit_form(&state, peer, request).await,
        Route::TotpJson => totp::submit_json(&state, peer, request).await,
        Route::OAuth(OAuthStep::Url, provider) => {
            oauth::url(&state, peer, &request, &provider).await
        }
        Route::OAuth(OAuthStep::Login, provider) => {
            oauth::login(&state, peer, &request, &provider).await
        }
        Route::OAuth(OAuthStep::Callback, provider) => {
            oauth::callback(&state, &request, &provider).await
        }
        Route::Healthy { with_version } => health::healthy(with_version),
        Route::Ready => health::ready(&state).await,
        Route::Asset(asset) => pages::asset(&state, &asset),
        Route::MethodNotAllowed(allowed) => respond::method_not_allowed(allowed),
        Route::NotFound if request::wants_html(request.headers()) => error_page(
            &state,
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        ),
        Route::NotFound => respond::not_found(),
    }
}
