//! The browser's part of the OpenID Provider: `/oidc/authorize` (sign-in through postern's
//! own flow, an existing session reused) and the consent page (`/oidc/consent`). Codes and
//! pending consents live in the store, so any replica can answer the next step.

use std::collections::HashMap;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use jsonwebtoken::{DecodingKey, Validation};
use percent_encoding::utf8_percent_encode;
use postern_core::csrf::CsrfBinding;
use postern_core::oidc::paths;
use postern_core::token::SessionToken;
use url::Url;

use crate::error::{AppError, AppResult};
use crate::oidc::Provider;
use crate::oidc::authorize::{self, Authorization, Refusal};
use crate::oidc::consents;
use crate::oidc::grants::{self, CodeGrant, Subject};
use crate::oidc::return_marks::{self, ReturnMarks};
use crate::pages::{self, ConsentPage, PageContext, error_page};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;
use crate::user_passwords;

/// How long a consent page may wait for its answer.
const CONSENT_TTL: Duration = Duration::from_secs(600);
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Parameters a client may give more than once (RFC 8707's `resource`, RFC 8693's
/// `audience`). postern reads neither; the first value is kept.
const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// The parameters of a GET (query) or POST (form body) request. A parameter given twice is
/// refused (RFC 6749 3.1 and 3.2): taking either value would let something in front of
/// postern that reads the other one see another `client_id` or `redirect_uri` than postern.
pub async fn params<B: RequestBody>(
    request: Request<B>,
) -> Result<HashMap<String, String>, AppError> {
    let pairs: Vec<(String, String)> = if request.method() == Method::POST {
        let (_, body) = request::read_body(request).await?;
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    } else {
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default()
    };
    let mut params = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if REPEATABLE.contains(&name.as_str()) {
            params.entry(name).or_insert(value);
            continue;
        }
        if params.insert(name, value).is_some() {
            return Err(AppError::refused(
                StatusCode::BAD_REQUEST,
                "Bad Request: a parameter is repeated",
            ));
        }
    }
    Ok(params)
}

fn provider(state: &AppState) -> Result<&Provider, AppError> {
    state
        .oidc
        .as_ref()
        .ok_or_else(|| AppError::refused(StatusCode::NOT_FOUND, "Not Found"))
}

/// `GET|POST /oidc/authorize`.
pub async fn authorize<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let provider = provider(state)?;
    let session = sessions::current(state, request.headers()).await?;
    let params = params(request).await?;
    let now = crate::clock::now();
    let checked = authorize::check(
        &provider.config,
        &params,
        |hint| verify_hint(provider, hint).map(|hint| hint.sub),
        (&provider.return_marks, now),
    );
    let (client, authorization, freshness) = match checked {
        Ok(checked) => checked,
        Err(refusal) => return Ok(refused(state, provider, refusal)),
    };
    let back = |error: &'static str, description: &'static str| {
        refused(
            state,
            provider,
            Refusal::Redirect {
                redirect_uri: authorization.redirect_uri.clone(),
                state: authorization.state.clone(),
                error,
                description,
            },
        )
    };
    let replaced = session
        .as_ref()
        .map(|session| authorize::session_fingerprint(&session.key));
    // The session user's subject, only to compare with an `id_token_hint`.
    let session_subject = match (&session, &freshness.hinted_subject) {
        (Some(session), Some(_)) => Some(subject_of(state, provider, session).await?),
        _ => None,
    };
    let session = session.filter(|session| {
        freshness.session_will_do(
            session_subject.as_deref(),
            &authorize::session_fingerprint(&session.key),
            session.record.created_at,
            now,
        )
    });
    let Some(session) = session else {
        if freshness.silent {
            return Ok(back("login_required", "the user is not signed in"));
        }
        return Ok(to_login(
            state, provider, &params, &freshness, replaced, now,
        ));
    };
    if !client.admits(&session.subject()) {
        return Ok(back(
            "access_denied",
            "this user may not use this application",
        ));
    }
    let consented = match client.consent {
        postern_core::oidc::ConsentMode::Implicit => true,
        postern_core::oidc::ConsentMode::Explicit => {
            !freshness.force_consent
                && granted(state, provider, &session, &client.id)
                    .await?
                    .is_some_and(|granted| {
                        authorization
                            .scopes
                            .iter()
                            .all(|scope| granted.contains(scope))
                    })
        }
    };
    if !consented {
        if freshness.silent {
            return Ok(back(
                "consent_required",
                "the user has not allowed this application",
            ));
        }
        return consent_page(state, &session, client.id.as_str(), authorization).await;
    }
    finish(state, provider, &session, authorization).await
}

/// A local user's credentials stamp, kept in the grant so a password change or a revocation
/// ends its tokens (`grants::Subject::stamp`); empty for a provider's user, and when the
/// grant must not be vouched for (the exchange refuses an empty stamp).
async fn credentials_stamp(state: &AppState, session: &CurrentSession) -> Result<String, AppError> {
    if session.record.external.is_some() {
        return Ok(String::new());
    }
    let Some(user) = state.user(&session.user.name) else {
        // Removed since the session was read: the exchange finds no user and refuses.
        return Ok(String::new());
    };
    let stamp = user_passwords::in_force(state, &user).await?.stamp;
    // A session read before a revocation and a stamp read after it would vouch for the new
    // stamp: `postern users revoke` ends the sessions before it moves the stamp, so the
    // session read again after the stamp shows which side the grant is on. A password change
    // still moves the stamp before it ends the other sessions: this narrows that window to
    // the store round trips between its two writes, and does not close it.
    if state.store.get_session(&session.key).await?.is_none() {
        return Ok(String::new());
    }
    Ok(stamp)
}

/// Issues the code and sends the browser back to the client.
async fn finish(
    state: &AppState,
    provider: &Provider,
    session: &CurrentSession,
    authorization: Authorization,
) -> AppResult {
    let identity = session.user.identity();
    let sub = subject_of(state, provider, session).await?;
    let stamp = credentials_stamp(state, session).await?;
    let consent_generation =
        consents::generation(&state.store, &session.user.name, &authorization.client_id).await?;
    let grant = CodeGrant {
        client_id: authorization.client_id,
        redirect_uri: authorization.redirect_uri.clone(),
        scopes: authorization.scopes,
        nonce: authorization.nonce,
        code_challenge: authorization.code_challenge,
        subject: Subject {
            user: session.user.name.clone(),
            sub: sub.to_string(),
            email: identity.email.clone(),
            name: identity.name.clone(),
            groups: identity.groups.clone(),
            level: session.record.level,
            way_in: session.record.way_in,
            federated: session.record.external.is_some(),
            provider: session.oauth_provider().map(str::to_owned),
            auth_time: session.record.created_at,
            stamp,
        },
        consent_generation,
    };
    let code = grants::issue_code(state, &grant).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(client_state) = &authorization.state {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", &provider.config.issuer));
    Ok(respond::redirect(
        StatusCode::FOUND,
        &with_query(&authorization.redirect_uri, &pairs),
    ))
}

/// The subject id of the session's user.
pub async fn subject_of(
    state: &AppState,
    provider: &Provider,
    session: &CurrentSession,
) -> Result<std::sync::Arc<str>, AppError> {
    Ok(provider
        .subject(&state.store, &session.user.name, session.oauth_provider())
        .await?)
}

/// The scopes the session's user granted `client` before, if any: only a consent the same
/// person gave counts (`oidc::consents`), not one kept under their name for another subject.
async fn granted(
    state: &AppState,
    provider: &Provider,
    session: &CurrentSession,
    client: &str,
) -> Result<Option<Vec<String>>, AppError> {
    let sub = subject_of(state, provider, session).await?;
    Ok(consents::of(&state.store, &session.user.name, client)
        .await?
        .filter(|consent| consent.is_of(&sub))
        .map(|consent| consent.scopes))
}

/// Pending consents, by the SHA-256 of the id in the page's form.
fn consent_key(id: &str) -> String {
    let hash = SessionToken::parse(id).map(|token| token.hash().to_hex());
    format!("oidc-consent:{}", hash.unwrap_or_else(|| "-".into()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingConsent {
    user: String,
    authorization: Authorization,
}

async fn consent_page(
    state: &AppState,
    session: &CurrentSession,
    client: &str,
    authorization: Authorization,
) -> AppResult {
    let id = SessionToken::generate();
    let words = authorize::scope_words(&authorization.scopes);
    let pending = PendingConsent {
        user: session.user.name.clone(),
        authorization,
    };
    state
        .store
        .set_value(
            &consent_key(id.as_str()),
            serde_json::to_vec(&pending).unwrap_or_default(),
            CONSENT_TTL,
        )
        .await?;
    let csrf = state.csrf.token_for(CsrfBinding::Session(&session.key));
    Ok(pages::render(
        StatusCode::OK,
        &ConsentPage {
            page: PageContext::new(state),
            user: &session.user.name,
            client,
            scopes: words,
            csrf: &csrf,
            request: id.as_str(),
        },
    ))
}

/// `POST /oidc/consent`: the answer of the consent page.
pub async fn consent<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let provider = provider(state)?;
    let Some(session) = sessions::current(state, request.headers()).await? else {
        return Ok(error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Your session ended",
            "Sign in and start again from the application.",
        ));
    };
    let form = params(request).await?;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if !state
        .csrf
        .verify(CsrfBinding::Session(&session.key), field("csrf"))
    {
        return Err(AppError::BadCsrf);
    }
    let taken = state
        .store
        .take_value(&consent_key(field("request")))
        .await?;
    let pending = taken.and_then(|bytes| serde_json::from_slice::<PendingConsent>(&bytes).ok());
    let Some(pending) = pending.filter(|pending| pending.user == session.user.name) else {
        return Ok(error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This request has expired",
            "Start again from the application.",
        ));
    };
    let authorization = pending.authorization;
    // The client as it is now: removed, or no longer sending back to that address, since the
    // page was shown, it gets nothing; a user taken off its lists meanwhile gets no code.
    let Some(client) = provider
        .config
        .client(&authorization.client_id)
        .filter(|client| client.redirect_uris.contains(&authorization.redirect_uri))
    else {
        return Ok(error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This application is no longer registered",
            "Its registration with postern changed while you were deciding.",
        ));
    };
    let denied = if !client.admits(&session.subject()) {
        Some("this user may not use this application")
    } else if field("decision") != "allow" {
        Some("the user did not allow access")
    } else {
        None
    };
    if let Some(description) = denied {
        return Ok(refused(
            state,
            provider,
            Refusal::Redirect {
                redirect_uri: authorization.redirect_uri,
                state: authorization.state,
                error: "access_denied",
                description,
            },
        ));
    }
    let sub = subject_of(state, provider, &session).await?;
    consents::grant(
        &state.store,
        (&session.user.name, &sub),
        &authorization.client_id,
        &authorization.scopes,
        crate::clock::now(),
    )
    .await?;
    finish(state, provider, &session, authorization).await
}

/// To postern's login page, and back to this request once signed in. For `prompt=login` and
/// `max_age` the login page asks even with a session, and the way back accepts only a
/// session started from now on.
fn to_login(
    state: &AppState,
    provider: &Provider,
    params: &HashMap<String, String>,
    freshness: &authorize::Freshness,
    replaced: Option<String>,
    now: u64,
) -> http::Response<respond::Body> {
    let again =
        freshness.force_login || freshness.max_age.is_some() || freshness.hinted_subject.is_some();
    let mut back: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| {
            name.as_str() != "prompt" && !return_marks::NAMES.contains(&name.as_str())
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let marks = ReturnMarks {
        signed_in_after: again.then_some(now),
        replaced_session: replaced.filter(|_| again),
        consent: freshness.force_consent,
    };
    back.extend(provider.return_marks.write(&marks, params, now));
    back.sort();
    let authorize_url = format!(
        "{}?{}",
        provider.config.endpoint(paths::AUTHORIZE),
        serde_urlencoded::to_string(&back).unwrap_or_default()
    );
    let mut login = format!(
        "{}?redirect_uri={}",
        state.login_url,
        utf8_percent_encode(&authorize_url, QUERY)
    );
    if again {
        login.push_str("&prompt=login");
    }
    respond::redirect(StatusCode::FOUND, &login)
}

/// A refusal as the spec wants it: a page, or `error=` on the client's redirect URI.
fn refused(
    state: &AppState,
    provider: &Provider,
    refusal: Refusal,
) -> http::Response<respond::Body> {
    match refusal {
        Refusal::Page(message) => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-in request is not valid",
            message,
        ),
        Refusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        } => {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(client_state) = &client_state {
                pairs.push(("state", client_state));
            }
            pairs.push(("iss", &provider.config.issuer));
            respond::redirect(StatusCode::FOUND, &with_query(&redirect_uri, &pairs))
        }
    }
}

/// `uri` (a registered redirect URI) with `pairs` added to its query.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        // Registered URIs were parsed by config validation; this cannot happen.
        Err(_) => uri.to_owned(),
    }
}

/// An ID token postern signed (expired or not), given back as `id_token_hint`: whom it names
/// and the client it was issued to.
pub struct Hint {
    pub sub: String,
    pub client_id: String,
}

/// Verifies an `id_token_hint`. An ID token names its client in `azp` (postern writes it into
/// every one, `oidc::tokens`) and that client is its audience. The identity tokens the check
/// path hands every app (`[identity_token]`) are signed with the same keys but carry no `azp`
/// and name the app's host: they are no hint, or any app behind the proxy could sign its users
/// out of postern, even one whose host is also a client's id.
pub fn verify_hint(provider: &Provider, token: &str) -> Option<Hint> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let key = provider
        .config
        .keys
        .iter()
        .find(|key| Some(&key.kid) == header.kid.as_ref())?;
    let decoding = DecodingKey::from_jwk(key.jwk()).ok()?;
    let mut validation = Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[&provider.config.issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation).ok()?;
    let claims = claims.claims;
    let client_id = claims["azp"]
        .as_str()
        .filter(|azp| provider.config.client(azp).is_some())?;
    let names_the_client = match &claims["aud"] {
        serde_json::Value::Array(auds) => auds.iter().any(|aud| aud == client_id),
        aud => aud == client_id,
    };
    if !names_the_client {
        return None;
    }
    Some(Hint {
        sub: claims["sub"].as_str()?.to_owned(),
        client_id: client_id.to_owned(),
    })
}
