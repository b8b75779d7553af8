//! One-time tickets (seed 001's `ws-token`): a signed-in client asks for a short-lived ticket
//! (`GET /api/ws-token`) and hands it to another client, which exchanges it once for a
//! session cookie (`POST /api/ticket/redeem`). The ticket carries the level of the session it
//! came from, so a ticket never upgrades a login. Kept in the store: any replica redeems it.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, StatusCode};
use postern_core::jwt::TokenType;
use postern_core::session::{AuthLevel, Origin, WayIn};
use postern_core::token::{TokenHash, random_text};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::login::{self, SignIn};
use crate::authorization::{self, Presented};
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::principal::{self, Caller};
use crate::request::{self, RequestBody};
use crate::respond;
use crate::sessions::{self, Authentication};
use crate::state::AppState;
use crate::tokens;
use crate::user_passwords;

/// Two minutes to redeem.
const TICKET_TTL: Duration = Duration::from_secs(120);

#[derive(Serialize, Deserialize)]
struct Ticket {
    user: String,
    level: AuthLevel,
    /// The user's credentials stamp at issue: a password change or `postern users revoke`
    /// since then voids the ticket.
    stamp: String,
    /// The bearer token family it was asked for with, if any: revoking the family voids it.
    family: Option<String>,
    /// The session (its token hash in hex) it was asked for with, if any: ending that
    /// session (logout, "sign out" on the sessions list or everywhere else) voids it.
    #[serde(default)]
    session: Option<String>,
    /// The sign-in it was asked for with: the new session continues it (its time and way in,
    /// never past its end). `None` in tickets issued before it was kept.
    #[serde(default)]
    origin: Option<Origin>,
}

#[derive(Deserialize)]
struct RedeemBody {
    #[serde(default)]
    token: String,
}

fn key(ticket: &str) -> String {
    format!("ticket:{}", TokenHash::of(ticket.as_bytes()).to_hex())
}

/// `GET /api/ws-token`: a ticket for the caller's session (cookie) or bearer token.
pub async fn issue<B>(state: &AppState, peer: SocketAddr, request: &Request<B>) -> AppResult {
    let client = request::client_ip(state, peer, request.headers()).ip;
    let Caller {
        user,
        level,
        origin,
        session,
    } = principal::api_caller(state, request.headers(), client)
        .await?
        .ok_or(AppError::Unauthorized)?;
    // 32 random bytes: far above the 128 bits a bearer secret needs.
    let ticket = random_text::<32>();
    let stamp = user_passwords::in_force(state, &user).await?.stamp;
    let family = match authorization::presented(request.headers()) {
        Presented::Bearer(token) => state
            .jwt
            .verify(token, TokenType::Access, now())
            .ok()
            .map(|claims| claims.fam),
        _ => None,
    };
    let record = Ticket {
        user: user.name.clone(),
        level,
        stamp,
        family,
        session: session.map(|key| key.to_hex()),
        origin: Some(origin),
    };
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    state
        .store
        .put_value(&key(&ticket), bytes, TICKET_TTL)
        .await?;
    tracing::info!(target: "audit", event = "ticket.issued", user = %user.name);
    Ok(respond::json_with(
        StatusCode::OK,
        "OK",
        json!({ "token": ticket, "expiresIn": TICKET_TTL.as_secs() }),
    ))
}

/// Whether the session the ticket was asked for with (if any) is still there.
async fn session_lives(state: &AppState, ticket: &Ticket) -> Result<bool, AppError> {
    let Some(hex) = &ticket.session else {
        return Ok(true);
    };
    let Some(key) = TokenHash::from_hex(hex) else {
        return Ok(false);
    };
    let record = state.store.get_session(&key).await?;
    let policy = &state.config.session.policy;
    Ok(record.is_some_and(|record| policy.is_live(&record, now())))
}

/// `POST /api/ticket/redeem` `{"token"}`: a session cookie, once.
pub async fn redeem<B: RequestBody>(
    state: &AppState,
    peer: SocketAddr,
    request: Request<B>,
) -> AppResult {
    let (parts, body) = request::json_body::<RedeemBody, _>(state, request).await?;
    if body.token.is_empty() || body.token.len() > 256 {
        return Err(AppError::Unauthorized);
    }
    let taken = state.store.take_value(&key(&body.token)).await?;
    let ticket = taken
        .and_then(|bytes| serde_json::from_slice::<Ticket>(&bytes).ok())
        .ok_or(AppError::Unauthorized)?;
    let user = state.user(&ticket.user).ok_or(AppError::Unauthorized)?;
    // Whatever ended the sign-in the ticket came from ends the ticket too.
    let stamp = user_passwords::in_force(state, &user).await?.stamp;
    let revoked = match &ticket.family {
        Some(family) => tokens::family_revoked(state, family).await?,
        None => false,
    };
    let origin_ended = ticket.origin.is_some_and(|origin| origin.ends_by <= now());
    if stamp != ticket.stamp || revoked || origin_ended || !session_lives(state, &ticket).await? {
        return Err(AppError::Unauthorized);
    }
    let authentication = match ticket.origin {
        Some(origin) => Authentication::Earlier(origin),
        None => Authentication::Now(WayIn::Unrecorded),
    };
    let client = request::client_ip(state, peer, &parts.headers).ip;
    let how = SignIn {
        user: &user,
        level: ticket.level,
        authentication,
        remember: false,
        method: sessions::TICKET_METHOD,
        settles: None,
    };
    let cookies = login::sign_in(state, &parts.headers, client, how).await?;
    tracing::info!(target: "audit", event = "ticket.redeemed", user = %user.name);
    let mut response = respond::json_message(StatusCode::OK, "Logged in");
    respond::add_cookies(&mut response, &cookies);
    Ok(response)
}
