//! Sign-in through a provider: `GET /api/oauth/url/{provider}` (the provider's URL as JSON),
//! `GET /api/oauth/login/{provider}` (a redirect to it) and `GET /api/oauth/callback/{provider}`
//! (where the provider sends the browser back). Any failure at the callback ends in a page
//! that says what went wrong, and never in a session.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use postern_core::limits::LoginLimits;
use postern_core::oauth::{self, ProviderClaims, Refusal, SignInAs};
use postern_core::session::{AuthLevel, ExternalIdentity, WayIn};
use postern_store::StoreError;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::login::{self, SignIn};
use crate::clock::now;
use crate::error::{AppError, AppResult, Mode};
use crate::oauth::transaction::{self, Transaction};
use crate::oauth::{self as flow, Exchange, ExchangeError, ProviderError, ProviderRuntime};
use crate::pages;
use crate::request;
use crate::respond::{self, HttpResponse};
use crate::sessions::{self, Authentication};
use crate::state::AppState;

#[derive(Deserialize, Default)]
struct StartQuery {
    redirect_uri: Option<String>,
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// Sign-ins one client IP may start: a burst of 10, then one every 2 seconds. Each start
/// stores a transaction for ten minutes, so an unbounded client could crowd the store.
const STARTS_BURST: u32 = 10;
const STARTS_PER_SEC: f64 = 0.5;

enum StartError {
    UnknownProvider,
    Limited(Duration),
    Store(StoreError),
    Provider(ProviderError),
}

/// `GET /api/oauth/url/{provider}`: `{"status":200,"message":"OK","url":...}`.
pub async fn url<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
    provider: &str,
) -> AppResult {
    match start(state, peer, request, provider).await {
        Ok((url, cookie)) => {
            let mut response =
                respond::json_with(StatusCode::OK, "OK", json!({ "url": url.as_str() }));
            if let Some(cookie) = cookie {
                respond::add_cookie(&mut response, &cookie);
            }
            Ok(response)
        }
        Err(StartError::UnknownProvider) => Err(AppError::refused(
            StatusCode::NOT_FOUND,
            "Unknown OAuth provider",
        )),
        Err(StartError::Limited(wait)) => Err(AppError::RateLimited {
            retry_after: wait.as_secs().max(1),
        }),
        Err(StartError::Store(err)) => Err(err.into()),
        Err(StartError::Provider(err)) => {
            tracing::error!(provider, error = %err, "OAuth provider unavailable");
            Err(AppError::refused(
                StatusCode::BAD_GATEWAY,
                "The provider could not be reached",
            ))
        }
    }
}

/// `GET /api/oauth/login/{provider}`: 302 to the provider.
pub async fn login<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
    provider: &str,
) -> AppResult {
    match start(state, peer, request, provider).await {
        Ok((url, cookie)) => {
            let mut response = respond::redirect(StatusCode::FOUND, url.as_str());
            if let Some(cookie) = cookie {
                respond::add_cookie(&mut response, &cookie);
            }
            Ok(response)
        }
        Err(StartError::UnknownProvider) => Ok(pages::error_page(
            state,
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This portal has no sign-in provider of that name.",
        )),
        Err(StartError::Limited(wait)) => Err(AppError::RateLimited {
            retry_after: wait.as_secs().max(1),
        }),
        Err(StartError::Store(err)) => Err(err.into()),
        Err(StartError::Provider(err)) => {
            tracing::error!(provider, error = %err, "OAuth provider unavailable");
            Ok(unreachable_page(state))
        }
    }
}

async fn start<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
    provider_id: &str,
) -> Result<(Url, Option<String>), StartError> {
    let provider = state
        .oauth
        .provider(provider_id)
        .ok_or(StartError::UnknownProvider)?;
    let client = request::client_ip(state, peer, request.headers()).ip;
    // By /64 for IPv6, as every other counter: one host holds a whole /64.
    let bucket = format!("oauth-start:{}", LoginLimits::ip_counter(client));
    if let Some(wait) = state
        .store
        .take_token(&bucket, STARTS_PER_SEC, STARTS_BURST)
        .await
        .map_err(StartError::Store)?
    {
        return Err(StartError::Limited(wait));
    }
    let query: StartQuery =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    // Only a target postern would follow is carried through the provider.
    let redirect_uri = query
        .redirect_uri
        .as_deref()
        .filter(|raw| state.redirects.validate(raw).is_some());
    let endpoints = provider
        .endpoints(&state.oauth.http)
        .await
        .map_err(StartError::Provider)?;
    let started = transaction::start(state, request.headers(), provider_id, redirect_uri)
        .await
        .map_err(StartError::Store)?;
    let callback = flow::callback_url(&state.config, provider_id);
    let url = flow::authorization_url(&endpoints.auth, provider, &callback, &started)
        .map_err(StartError::Provider)?;
    Ok((url, started.set_cookie))
}

/// `GET /api/oauth/callback/{provider}?code=&state=`: the transaction, then the provider's
/// word on the user, then the allow-lists, then the session. Each step answers its own
/// failure with a page.
pub async fn callback<B>(
    state: &AppState,
    peer: SocketAddr,
    request: &Request<B>,
    provider_id: &str,
) -> AppResult {
    let query: CallbackQuery =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let headers = request.headers();
    let (transaction, provider, code) = match accepted(state, headers, &query, provider_id).await {
        Ok(accepted) => accepted,
        Err(page) => return Ok(page),
    };
    let claims = match provider_claims(state, provider, code, &transaction).await {
        Ok(claims) => claims,
        Err(page) => return Ok(page),
    };
    let who = match oauth::sign_in_as(&provider.config, &claims, &state.users()) {
        Ok(who) => who,
        Err(refusal) => return Ok(refused(state, provider_id, &refusal)),
    };
    let target = state
        .redirects
        .target_or_home(transaction.redirect_uri.as_deref());
    let client = request::client_ip(state, peer, headers).ip;
    let cookies = start_session(state, headers, client, provider_id, who).await?;
    let mut response = respond::redirect(StatusCode::SEE_OTHER, target.as_str());
    respond::add_cookies(&mut response, &cookies);
    Ok(response)
}

/// The callback's transaction (taken out of the store: it never works twice), checked against
/// the browser, the path's provider and the `iss` parameter; and the code.
async fn accepted<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    query: &'a CallbackQuery,
    provider_id: &str,
) -> Result<(Transaction, &'a ProviderRuntime, &'a str), HttpResponse> {
    let fail = |status, why: &str, message: &str| failed(state, status, provider_id, why, message);
    let Some(state_value) = query.state.as_deref().filter(|value| !value.is_empty()) else {
        return Err(fail(StatusCode::BAD_REQUEST, "no state", RESTART));
    };
    let transaction = match transaction::take(state, state_value).await {
        Ok(Some(transaction)) => transaction,
        Ok(None) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "unknown, expired or used state",
                "This sign-in expired or was already completed. Please sign in again.",
            ));
        }
        Err(err) => return Err(AppError::from(err).answer(state, Mode::Page)),
    };
    if !transaction::same_browser(headers, &transaction) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "state from another browser",
            "This sign-in was started in another browser (or its cookie is gone). Please sign in again.",
        ));
    }
    let provider = match state.oauth.provider(provider_id) {
        Some(provider) if transaction.provider == provider_id => provider,
        _ => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "provider differs from the sign-in's",
                "This answer came back for a different provider than the sign-in was started with. Please sign in again.",
            ));
        }
    };
    // RFC 9207: a provider that names itself must be the one we sent the browser to.
    if let (Some(iss), Some(issuer)) = (query.iss.as_deref(), provider.issuer())
        && iss.trim_end_matches('/') != issuer
    {
        return Err(fail(StatusCode::BAD_REQUEST, "iss mismatch", RESTART));
    }
    if let Some(error) = query.error.as_deref() {
        tracing::info!(target: "audit", event = "oauth.refused_by_provider", provider = provider_id, error);
        return Err(pages::error_page(
            state,
            StatusCode::UNAUTHORIZED,
            "Sign-in cancelled",
            "The provider did not complete the sign-in. Please try again.",
        ));
    }
    match query.code.as_deref().filter(|code| !code.is_empty()) {
        Some(code) => Ok((transaction, provider, code)),
        None => Err(fail(StatusCode::BAD_REQUEST, "no code", RESTART)),
    }
}

/// What the provider says about the user, after the code exchange and the token checks.
async fn provider_claims(
    state: &AppState,
    provider: &ProviderRuntime,
    code: &str,
    transaction: &Transaction,
) -> Result<ProviderClaims, HttpResponse> {
    let provider_id = provider.config.id.as_str();
    let callback = flow::callback_url(&state.config, provider_id);
    let exchange = Exchange {
        http: &state.oauth.http,
        provider,
        redirect_uri: &callback,
        now: now(),
    };
    exchange
        .claims(code, transaction)
        .await
        .map_err(|err| match err {
            ExchangeError::Unreachable(why) => {
                // Escaped as a field value: `why` may quote the provider's answer, line
                // breaks and all.
                tracing::error!(
                    provider = provider_id,
                    error = why.to_string().as_str(),
                    "OAuth exchange failed"
                );
                unreachable_page(state)
            }
            ExchangeError::Refused(why) => failed(
                state,
                StatusCode::UNAUTHORIZED,
                provider_id,
                &why,
                "The provider did not accept this sign-in. Please sign in again.",
            ),
            ExchangeError::IdToken(why) => failed(
                state,
                StatusCode::UNAUTHORIZED,
                provider_id,
                &why.to_string(),
                "The provider's answer could not be verified, so you were not signed in.",
            ),
        })
}

const RESTART: &str = "This sign-in could not be completed. Please sign in again.";

/// Ends whatever session the browser held, and starts the new one.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    provider: &str,
    who: SignInAs,
) -> Result<Vec<String>, StoreError> {
    match who {
        SignInAs::Local(name) => {
            let Some(user) = state.user(&name) else {
                return Err(StoreError::unavailable("linked user vanished"));
            };
            let label = state
                .config
                .oauth_provider(provider)
                .map_or(provider, |found| found.label.as_str());
            let how = SignIn {
                user: &user,
                level: AuthLevel::OneFactor,
                authentication: Authentication::Now(WayIn::Provider),
                remember: false,
                method: label,
                settles: None,
            };
            let cookies = login::sign_in(state, headers, client, how).await?;
            tracing::info!(target: "audit", event = "login.ok", user = %user.name, provider, factor = "oauth");
            Ok(Vec::from(cookies))
        }
        SignInAs::External {
            user,
            email,
            name,
            groups,
        } => {
            // Every session the browser held ends, as `login::sign_in` does.
            let held: Vec<_> = sessions::named_sessions(state, headers).collect();
            sessions::end_named(state, &held).await?;
            let external = ExternalIdentity {
                provider: provider.to_owned(),
                email,
                name,
                groups,
            };
            let (token, record) = sessions::start_external(state, &user, external).await?;
            sessions::keep_within_cap(state, &user, &token.hash()).await;
            tracing::info!(target: "audit", event = "login.ok", user = %user, provider, factor = "oauth");
            Ok(vec![sessions::cookie_for(state, &token, &record)])
        }
    }
}

fn refused(state: &AppState, provider: &str, refusal: &Refusal) -> HttpResponse {
    tracing::info!(target: "audit", event = "oauth.refused", provider, reason = %refusal);
    match refusal {
        Refusal::NotAllowed => respond::redirect(
            StatusCode::SEE_OTHER,
            &state.config.portal_url("/unauthorized?reason=account"),
        ),
        Refusal::UnverifiedEmail => pages::error_page(
            state,
            StatusCode::FORBIDDEN,
            "Email address not verified",
            "The provider did not confirm that your email address is verified. Verify it with the provider, then sign in again.",
        ),
        Refusal::NoUsername(_) => pages::error_page(
            state,
            StatusCode::FORBIDDEN,
            "Sign-in incomplete",
            "The provider did not send the user name this portal needs. Ask your administrator.",
        ),
        Refusal::LocalName(_) => pages::error_page(
            state,
            StatusCode::FORBIDDEN,
            "Account already exists",
            "A local account has this name. Sign in with its password instead.",
        ),
    }
}

fn failed(
    state: &AppState,
    status: StatusCode,
    provider: &str,
    why: &str,
    message: &str,
) -> HttpResponse {
    tracing::warn!(target: "audit", event = "oauth.failed", provider, reason = why);
    pages::error_page(state, status, "Sign-in failed", message)
}

fn unreachable_page(state: &AppState) -> HttpResponse {
    pages::error_page(
        state,
        StatusCode::BAD_GATEWAY,
        "Sign-in provider unavailable",
        "postern could not reach the sign-in provider. Please try again in a moment.",
    )
}
