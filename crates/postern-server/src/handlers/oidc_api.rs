//! The provider's endpoints for clients: token (code and refresh grants), userinfo,
//! revocation (RFC 7009), introspection (RFC 7662) and end session (RP-initiated logout).
//! Errors are OAuth's JSON (`{"error": ..., "error_description": ...}`): the router answers
//! these routes' `AppError`s in `Mode::OAuth`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{self, HeaderValue};
use http::{Request, StatusCode};
use postern_core::limits::LoginLimits;
use postern_core::oidc::claims::user_claims;
use postern_core::oidc::{ConsentMode, OidcClient};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::oidc_flow::{params, subject_of, verify_hint};
use crate::authorization::{self, Presented};
use crate::credentials;
use crate::credentials_record::read_state;
use crate::error::{AppError, AppResult};
use crate::oidc::client_auth::{self, Claimed, ClientError, SecretToVerify};
use crate::oidc::consents::{self, CodeConsent};
use crate::oidc::grants::{self, Redeemed, Subject, TokenGrant, TokenKind};
use crate::oidc::tokens::{self, Issue, IssueError};
use crate::request::{self, RequestBody};
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;
use crate::user_passwords;

/// What the token, revocation and introspection endpoints start with: the form, and the client
/// it authenticates.
async fn client_request<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> Result<(HashMap<String, String>, &OidcClient), AppError> {
    let headers = request.headers().clone();
    let caller = request::client_ip(state, peer, &headers).ip;
    let form = params(request).await?;
    let invalid = || AppError::InvalidClient {
        challenge: headers.contains_key(header::AUTHORIZATION),
    };
    let Some(provider) = &state.oidc else {
        return Err(invalid());
    };
    let (clients, secrets) = (&provider.config, &provider.client_secrets);
    match client_auth::claimed(clients, secrets, &headers, &form) {
        Ok(Claimed::Known(client)) => Ok((form, client)),
        Ok(Claimed::Secret(to_verify)) => {
            if !verify_counted(state, caller, &to_verify).await? {
                return Err(invalid());
            }
            to_verify.verified(secrets);
            Ok((form, to_verify.client))
        }
        Err(ClientError::Invalid) => Err(invalid()),
    }
}

/// A client secret checked as an attempt of `caller`'s under the failed-login limits: counted
/// on the caller's address, and on the client as asked from that network, never on the
/// client alone, or anyone could lock a client (and every sign-in to its app) out. A wrong
/// one is audited as `oidc.client_failed`, with the address and its counts.
async fn verify_counted(
    state: &AppState,
    caller: IpAddr,
    to_verify: &SecretToVerify<'_>,
) -> Result<bool, AppError> {
    let account = format!(
        "oidc-client:{{{}}}:{}",
        to_verify.client.id,
        LoginLimits::ip_network(caller)
    );
    let attempt = credentials::begin_attempt(state, caller, account).await?;
    let secret = to_verify.secret.clone();
    let Ok(verified) = state
        .passwords
        .verify(Some(to_verify.hash.clone()), secret)
        .await
    else {
        attempt.give_back(state).await?;
        return Err(AppError::Busy);
    };
    if verified {
        attempt.give_back(state).await?;
    } else {
        attempt.failed(state, "oidc.client_failed", None).await?;
    }
    Ok(verified)
}

/// `POST /oidc/token`.
pub async fn token<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (form, client) = client_request(state, peer, request).await?;
    let now = crate::clock::now();
    let body = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(state, client, &form, now).await?,
        Some("refresh_token") => refresh_grant(state, client, &form, now).await?,
        _ => {
            return Err(AppError::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ));
        }
    };
    let mut response = respond::json(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn invalid_grant(description: &'static str) -> AppError {
    AppError::oauth(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn issued(result: Result<Value, IssueError>) -> Result<Value, AppError> {
    result.map_err(|err| match err {
        IssueError::Store(err) => err.into(),
        IssueError::Signing => AppError::internal("signing an ID token", &"no usable key"),
    })
}

async fn code_grant(
    state: &AppState,
    client: &OidcClient,
    form: &HashMap<String, String>,
    now: u64,
) -> Result<Value, AppError> {
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let (grant, family) = match grants::redeem_code(state, code).await {
        Ok(Redeemed::Grant(grant, family)) => (grant, family),
        Ok(Redeemed::Nothing) => {
            return Err(invalid_grant("the code is unknown, expired or used"));
        }
        Err(err) => return Err(err.into()),
    };
    if grant.client_id != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(_), Some(verifier)) if !is_code_verifier(verifier) => {
            return Err(invalid_grant(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
        (None, Some(_)) => return Err(invalid_grant("no code_challenge was sent for this code")),
        (None, None) => {}
    }
    let subject = match current_subject(state, &grant.subject).await {
        Ok(Some(subject)) => subject,
        Ok(None) => return Err(invalid_grant(SIGN_IN_ENDED)),
        Err(err) => return Err(err.into()),
    };
    let scopes = still_admitted(client, &subject, &grant.scopes)?;
    // A code issued before the user revoked their consent is spent for nothing. The family
    // of every exchange is noted with the user's consent in the same step, so revoking the
    // consent (account page, `users consents --revoke`) ends its tokens: with `offline_access`
    // it lives until `refresh_token_ttl`, without it only as long as its one access token.
    let offline = scopes.iter().any(|scope| scope == "offline_access");
    let family_lifetime = if offline {
        client.refresh_token_ttl
    } else {
        client.access_token_ttl
    };
    let family_expires_at = now.saturating_add(family_lifetime.as_secs());
    let consent = CodeConsent {
        user: &subject.user,
        sub: &subject.sub,
        client: &client.id,
        generation: grant.consent_generation,
        explicit: client.consent == ConsentMode::Explicit,
        scopes: &grant.scopes,
    };
    let family_noted = (family.as_str(), family_expires_at);
    if !consents::admit_code(&state.store, &consent, family_noted, now).await? {
        return Err(invalid_grant(
            "the user revoked their consent after the code was issued",
        ));
    }
    issued(
        tokens::issue(
            state,
            &Issue {
                client,
                subject: &subject,
                scopes: &scopes,
                family: &family,
                family_expires_at,
                nonce: Some(grant.nonce.as_deref().unwrap_or_default()).filter(|n| !n.is_empty()),
            },
            now,
        )
        .await,
    )
}

async fn refresh_grant(
    state: &AppState,
    client: &OidcClient,
    form: &HashMap<String, String>,
    now: u64,
) -> Result<Value, AppError> {
    let token = form
        .get("refresh_token")
        .map(String::as_str)
        .unwrap_or_default();
    let grant = match grants::take_refresh(state, token, now).await {
        Ok(Some(grant)) => grant,
        Ok(None) => {
            return Err(invalid_grant(
                "the refresh token is unknown, expired or used",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    if grant.client_id != client.id {
        // Someone else's token: it is spent now, and its family goes with it.
        let ttl =
            std::time::Duration::from_secs(grant.family_expires_at.saturating_sub(now).max(1));
        grants::revoke_family(&state.store, &grant.family, ttl).await?;
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let scopes = match form.get("scope") {
        None => grant.scopes.clone(),
        Some(asked) => {
            let asked: Vec<String> = asked.split_ascii_whitespace().map(str::to_owned).collect();
            if !asked.iter().all(|scope| grant.scopes.contains(scope)) {
                return Err(AppError::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a refresh cannot widen the scope",
                ));
            }
            asked
        }
    };
    let subject = match current_subject(state, &grant.subject).await {
        Ok(Some(subject)) => subject,
        Ok(None) => return Err(invalid_grant(SIGN_IN_ENDED)),
        Err(err) => return Err(err.into()),
    };
    let scopes = still_admitted(client, &subject, &scopes)?;
    issued(
        tokens::issue(
            state,
            &Issue {
                client,
                subject: &subject,
                scopes: &scopes,
                family: &grant.family,
                family_expires_at: grant.family_expires_at,
                nonce: None,
            },
            now,
        )
        .await,
    )
}

/// RFC 7636 section 4.1: a verifier is 43 to 128 unreserved characters, at least 256 bits of
/// a client's randomness; anything else is no verifier a conforming client made.
fn is_code_verifier(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

/// Why a code or refresh token whose subject is gone (`current_subject`) gets nothing.
const SIGN_IN_ENDED: &str =
    "the sign-in has ended: the user is gone, or their password changed or they were revoked";

/// The client's rules as they are now, at every exchange and refresh: a user taken off its
/// lists (or out of a group it lists) since the sign-in gets no more tokens from it, and a
/// scope taken off the client is no longer issued. The scopes that still may be.
fn still_admitted(
    client: &OidcClient,
    subject: &Subject,
    scopes: &[String],
) -> Result<Vec<String>, AppError> {
    if !client.admits(&subject.access()) {
        return Err(invalid_grant(
            "this user may no longer use this application",
        ));
    }
    Ok(scopes
        .iter()
        .filter(|scope| client.scopes.contains(scope))
        .cloned()
        .collect())
}

/// The grant's subject as it is now, with its subject id; `None` when the user is gone: a
/// local user no longer in the table, or removed and created again under the same name (whose
/// new subject id differs), or a provider's user whose `[oauth.<id>]` was removed (their
/// sessions end with it too); or when their sessions were ended since: a local user's
/// password changed, second factors changed or `postern users revoke`, a provider's user's
/// name revoked. A local user's email, name and groups are the table's now; a
/// provider's user's are what the provider said at sign-in (postern has no other source).
async fn current_subject(
    state: &AppState,
    subject: &Subject,
) -> Result<Option<Subject>, postern_store::StoreError> {
    let Some(provider) = &state.oidc else {
        return Ok(None);
    };
    let now_as = if subject.federated {
        let configured = subject
            .provider
            .as_deref()
            .is_some_and(|id| state.config.oauth_provider(id).is_some());
        if !configured {
            return Ok(None);
        }
        // `postern users revoke` of the name since the sign-in (its sessions ended then).
        let revoked_at = read_state(&state.store, &subject.user).await?.revoked_at;
        if revoked_at.is_some_and(|at| at >= subject.auth_time) {
            return Ok(None);
        }
        subject.clone()
    } else {
        let Some(user) = state.user(&subject.user) else {
            return Ok(None);
        };
        // A password change, revocation or change of second factors since the sign-in, or a
        // grant from before stamps were kept: its tokens end as sessions and bearer tokens do.
        let stamp = user_passwords::in_force(state, &user).await?.stamp;
        if subject.stamp.is_empty() || subject.stamp != stamp {
            return Ok(None);
        }
        Subject {
            email: user.email.clone(),
            name: user.display_name.clone(),
            groups: user.groups.clone(),
            ..subject.clone()
        }
    };
    // Grants from before subject ids (no `sub`), or before a provider's user's provider was
    // kept, cannot say whose they are: refused, never handed the current user's id.
    if subject.sub.is_empty() || subject.federated && subject.provider.is_none() {
        return Ok(None);
    }
    let sub = provider
        .subject(&state.store, &subject.user, subject.provider.as_deref())
        .await?;
    if *subject.sub != *sub {
        return Ok(None);
    }
    Ok(Some(Subject {
        sub: sub.to_string(),
        ..now_as
    }))
}

/// A token's subject as it is now (`current_subject`), while the client it was issued to is
/// still configured and its rules still let them in: what userinfo and introspection answer
/// for; `None` makes the token inactive.
async fn live_subject(
    state: &AppState,
    grant: &TokenGrant,
) -> Result<Option<Subject>, postern_store::StoreError> {
    let client = state
        .oidc
        .as_ref()
        .and_then(|provider| provider.config.client(&grant.client_id));
    let Some(client) = client else {
        return Ok(None);
    };
    Ok(current_subject(state, &grant.subject)
        .await?
        .filter(|subject| client.admits(&subject.access())))
}

/// `GET|POST /oidc/userinfo`: the claims the token's scopes release.
pub async fn userinfo<B: RequestBody>(state: &AppState, request: Request<B>) -> AppResult {
    let headers = request.headers().clone();
    let from_header = match authorization::presented(&headers) {
        Presented::Bearer(token) => Some(token.to_owned()),
        _ => None,
    };
    // In a POST form body, never in a query string (RFC 6750 2.3: URLs end up in logs and
    // histories).
    let in_body = request.method() == http::Method::POST;
    let form = params(request).await?;
    let token = from_header.or_else(|| form.get("access_token").filter(|_| in_body).cloned());
    let now = crate::clock::now();
    let grant = match token {
        Some(token) => grants::find_token(state, TokenKind::Access, &token, now).await?,
        None => None,
    };
    let subject = match grant {
        Some(grant) => live_subject(state, &grant)
            .await?
            .map(|subject| (subject, grant.scopes)),
        None => None,
    };
    match subject {
        Some((subject, scopes)) => {
            let claims = user_claims(&subject.identity(), &subject.sub, &scopes);
            Ok(respond::json(StatusCode::OK, Value::Object(claims)))
        }
        None => Err(AppError::InvalidToken),
    }
}

/// `POST /oidc/revoke` (RFC 7009): a refresh token ends its family, an access token itself.
/// Unknown tokens, and other clients' tokens, are answered 200 all the same.
pub async fn revoke<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (form, client) = client_request(state, peer, request).await?;
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let now = crate::clock::now();
    let result = async {
        if let Some(grant) = grants::find_token(state, TokenKind::Refresh, token, now).await?
            && grant.client_id == client.id
        {
            let ttl =
                std::time::Duration::from_secs(grant.family_expires_at.saturating_sub(now).max(1));
            return grants::revoke_family(&state.store, &grant.family, ttl).await;
        }
        if let Some(grant) = grants::find_token(state, TokenKind::Access, token, now).await?
            && grant.client_id == client.id
        {
            return grants::delete_token(state, TokenKind::Access, token).await;
        }
        Ok(())
    }
    .await;
    result?;
    Ok(respond::empty(StatusCode::OK))
}

/// `POST /oidc/introspect` (RFC 7662): the client's own tokens only; anything else is
/// `{"active": false}`.
pub async fn introspect<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (form, client) = client_request(state, peer, request).await?;
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let now = crate::clock::now();
    let mut found = None;
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        if let Some(grant) = grants::find_token(state, kind, token, now).await? {
            found = Some((kind, grant));
            break;
        }
    }
    let issuer = state
        .oidc
        .as_ref()
        .map(|provider| provider.config.issuer.clone())
        .unwrap_or_default();
    let subject = match &found {
        Some((_, grant)) if grant.client_id == client.id => live_subject(state, grant).await?,
        _ => None,
    };
    let body = match (found, subject) {
        (Some((kind, grant)), Some(subject)) => describe(kind, &grant, &subject.sub, &issuer),
        _ => json!({ "active": false }),
    };
    Ok(respond::json(StatusCode::OK, body))
}

fn describe(kind: TokenKind, grant: &TokenGrant, sub: &str, issuer: &str) -> Value {
    json!({
        "active": true,
        "scope": grant.scopes.join(" "),
        "client_id": grant.client_id,
        "username": grant.subject.user,
        "token_type": if kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
        "exp": grant.expires_at,
        "iat": grant.issued_at,
        "sub": sub,
        "aud": grant.client_id,
        "iss": issuer,
    })
}

/// `GET|POST /oidc/logout` (RP-initiated logout 1.0): ends postern's session and sends the
/// browser to a registered `post_logout_redirect_uri`, or to postern's signed-out page. An
/// `id_token_hint` postern signed (for the signed-in user) is required to end the session
/// without asking; otherwise the browser lands on the sign-out page, which asks.
pub async fn end_session<B: RequestBody>(
    state: &AppState,
    request: Request<B>,
) -> Result<HttpResponse, AppError> {
    let Some(provider) = &state.oidc else {
        return Err(AppError::refused(StatusCode::NOT_FOUND, "Not Found"));
    };
    let session = sessions::current(state, request.headers()).await?;
    let named: Vec<_> = sessions::named_sessions(state, request.headers()).collect();
    let form = params(request).await?;
    let get = |name: &str| form.get(name).filter(|value| !value.is_empty());
    let hint = get("id_token_hint").and_then(|hint| verify_hint(provider, hint));
    // Which client's URIs apply: the verified hint's, else `client_id`.
    let client = match &hint {
        Some(hint) => provider.config.client(&hint.client_id),
        None => get("client_id").and_then(|id| provider.config.client(id)),
    };
    let target = get("post_logout_redirect_uri")
        .filter(|uri| client.is_some_and(|client| client.post_logout_redirect_uris.contains(uri)));
    if get("post_logout_redirect_uri").is_some() && target.is_none() {
        return Ok(crate::pages::error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-out request is not valid",
            "The application asked to send you to an address it has not registered.",
        ));
    }
    let Some(session) = session else {
        return Ok(after_logout(state, target, get("state")));
    };
    let hint_is_this_user = match &hint {
        Some(hint) => *subject_of(state, provider, &session).await? == *hint.sub,
        None => false,
    };
    if !hint_is_this_user {
        // No proof the request comes from the user's own client: let them confirm.
        return Ok(respond::redirect(
            StatusCode::FOUND,
            &state.config.portal_url("/logout"),
        ));
    }
    // With the session, any other the browser's cookies name (as `/logout` does).
    let others = sessions::end_named(state, &named).await?.saturating_sub(1);
    tracing::info!(target: "audit", event = "logout", user = %session.record.user, others);
    let mut response = after_logout(state, target, get("state"));
    respond::add_cookie(&mut response, &state.session_cookie.expire());
    Ok(response)
}

fn after_logout(
    state: &AppState,
    target: Option<&String>,
    client_state: Option<&String>,
) -> HttpResponse {
    match target {
        Some(uri) => {
            let mut url = match url::Url::parse(uri) {
                Ok(url) => url,
                Err(_) => {
                    return respond::redirect(
                        StatusCode::FOUND,
                        &state.config.portal_url("/login?logged_out=1"),
                    );
                }
            };
            if let Some(client_state) = client_state {
                url.query_pairs_mut().append_pair("state", client_state);
            }
            respond::redirect(StatusCode::FOUND, url.as_str())
        }
        None => respond::redirect(
            StatusCode::FOUND,
            &state.config.portal_url("/login?logged_out=1"),
        ),
    }
}
