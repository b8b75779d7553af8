//! Sessions as the handlers use them: find the current one from the cookie, start one at login,
//! end one at logout. Timing rules live in `postern_core::session`; storage in `postern_store`.

use std::sync::Arc;
use std::time::Duration;

use std::net::IpAddr;

use futures_util::FutureExt;
use http::HeaderMap;
use postern_core::UnixSeconds;
use postern_core::access::Subject;
use postern_core::headers::RequestHeaders;
use postern_core::session::{AuthLevel, ExternalIdentity, Origin, SessionRecord, WayIn};
use postern_core::token::{SessionToken, TokenHash};
use postern_core::users::{User, UserTable};
use postern_store::{Change, StoreError};
use serde::{Deserialize, Serialize};

use crate::clock::now;
use crate::cookies;
use crate::state::AppState;

/// A live session and its user, as found from a request's cookie.
pub struct CurrentSession {
    pub key: TokenHash,
    pub record: Arc<SessionRecord>,
    pub user: Arc<User>,
    /// The second the session was read and found live: `touch_if_due` moves the deadline
    /// from it, so a check reads the clock once for both (about 30 ns a read here).
    pub read_at: UnixSeconds,
}

impl CurrentSession {
    /// The `[oauth.<id>]` a provider's user signed in with; `None` for a local user.
    pub fn oauth_provider(&self) -> Option<&str> {
        self.record.provider()
    }

    /// The session's user as access rules (of apps and OpenID clients) see them.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            user: &self.user.name,
            groups: &self.user.groups,
            level: self.record.level,
            provider: self.oauth_provider(),
        }
    }
}

/// The session the request's cookie names, if it is live and its user still exists (a local
/// user in the table, or a provider user whose provider is still configured).
/// `Err` means the store did not answer: callers fail closed.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentSession>, StoreError> {
    current_among(state, &state.users(), headers.into()).await
}

/// `current`, with the user looked up in `users`: the check path passes the table of the same
/// live state as its rules.
///
/// A browser may hold several session cookies: one `session.cookie_domain` set and a
/// host-only one from before it was set (or the other way round), or one a sibling subdomain
/// set. It sends them all, oldest first, and the oldest may name a session that has ended:
/// reading only the first, a user who signed in again was sent back to the login page by the
/// cookie of their old session, in a loop, until the browser dropped it. So the first live
/// session among them is the current one, reading at most `MOST_SESSION_COOKIES` of them.
/// (A host under the cookie domain can plant a session cookie, first or not: such hosts are
/// trusted with sessions anyway, docs/security.md.)
pub async fn current_among(
    state: &AppState,
    users: &UserTable,
    headers: RequestHeaders<'_>,
) -> Result<Option<CurrentSession>, StoreError> {
    let Some(first) = named_sessions(state, headers).next() else {
        return Ok(None);
    };
    if let Some(session) = live(state, users, first).await? {
        return Ok(Some(session));
    }
    // Rare (a stale cookie sent first): boxed, so that the check's future, which every
    // request's box copies (router.rs), does not grow by this loop's state.
    let rest = named_sessions(state, headers).filter(|key| *key != first);
    Box::pin(first_live(state, users, rest)).await
}

/// The first live session among `keys`.
async fn first_live(
    state: &AppState,
    users: &UserTable,
    keys: impl Iterator<Item = TokenHash>,
) -> Result<Option<CurrentSession>, StoreError> {
    for key in keys {
        if let Some(session) = live(state, users, key).await? {
            return Ok(Some(session));
        }
    }
    Ok(None)
}

/// The most session cookies one request makes postern look up: a browser holds one, or two
/// or three after `cookie_domain` changed (see `current_among`); a client that sends hundreds
/// gets no more store reads than this.
const MOST_SESSION_COOKIES: usize = 3;

/// The sessions the request's well-formed session cookies name, in the order sent.
pub fn named_sessions<'a>(
    state: &'a AppState,
    headers: impl Into<RequestHeaders<'a>>,
) -> impl Iterator<Item = TokenHash> + 'a {
    let headers: RequestHeaders<'a> = headers.into();
    cookies::values(headers, &state.session_cookie.name)
        .filter_map(SessionToken::hash_of)
        .take(MOST_SESSION_COOKIES)
}

/// The session `key` names, if it is live and its user still exists.
async fn live(
    state: &AppState,
    users: &UserTable,
    key: TokenHash,
) -> Result<Option<CurrentSession>, StoreError> {
    let Some(record) = state.store.get_session(&key).await? else {
        return Ok(None);
    };
    let now = now();
    let policy = &state.config.session.policy;
    if !policy.is_live(&record, now) {
        return Ok(None);
    }
    let local = users.get(&record.user).cloned();
    let user = match (&record.external, local) {
        // A user removed from the config loses every session at the next request.
        (None, local) => local,
        (Some(external), None) => external_user(state, &record.user, external),
        // A local user of that name was added since: the name is theirs now.
        (Some(_), Some(_)) => None,
    };
    Ok(user.map(|user| CurrentSession {
        key,
        record,
        user,
        read_at: now,
    }))
}

/// A provider user as the handlers see users; `None` when the provider is gone from the config.
fn external_user(state: &AppState, name: &str, external: &ExternalIdentity) -> Option<Arc<User>> {
    state.config.oauth_provider(&external.provider)?;
    Some(Arc::new(User::new(
        name.to_owned(),
        String::new(),
        external.email.clone(),
        external.name.clone(),
        external.groups.clone(),
        None,
    )))
}

/// Moves the idle deadline when it is due (a tenth of the idle window), off the request's
/// path: the answer never waits for this write, and a failed write only shortens the session.
/// The write replaces the session only while it still exists, so a sign-out or a retirement
/// that deleted it after this check read it stays done.
pub fn touch_if_due(state: &Arc<AppState>, session: &CurrentSession) {
    let now = session.read_at;
    let policy = state.config.session.policy;
    let Some(moved) = policy.throttled_touch(&session.record, now) else {
        return;
    };
    let ttl = Duration::from_secs(policy.ttl(&moved, now));
    let key = session.key;
    if state.store.completes_in_place() {
        // The memory store's write is a map update, done by the first poll: in place it
        // costs less than the task it would otherwise get (docs/performance.md, "The
        // keepalive write"). `None` cannot happen there; the task below would still write.
        let write = state.store.replace_session_if_present(&key, &moved, ttl);
        if let Some(written) = write.now_or_never() {
            warn_if_failed(written);
            return;
        }
    }
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let written = state
            .store
            .replace_session_if_present(&key, &moved, ttl)
            .await;
        warn_if_failed(written);
    });
}

fn warn_if_failed(written: Result<bool, StoreError>) {
    if let Err(err) = written {
        tracing::warn!(error = %err, "could not move a session's idle deadline");
    }
}

/// Whether the user authenticated for a sign-in, or it continues an earlier one.
#[derive(Debug, Clone, Copy)]
pub enum Authentication {
    /// With these factors, just now.
    Now(WayIn),
    /// A one-time ticket's: the session says the user authenticated when the origin did, and
    /// ends by the origin's end.
    Earlier(Origin),
}

/// A new session for `user`: a fresh token, stored by its hash. Returns the token (for the
/// cookie), the record, and what to store (see `login::sign_in`, which writes it with the rest
/// of the sign-in in one step): the session, and its device details, which only
/// `GET /api/sessions` reads (the check path never does).
pub fn new_session(
    state: &AppState,
    user: &User,
    level: AuthLevel,
    authentication: Authentication,
    remember: bool,
    device: &Device,
) -> (SessionToken, SessionRecord, Vec<Change>) {
    let now = now();
    let policy = &state.config.session.policy;
    let record = match authentication {
        Authentication::Now(way_in) => SessionRecord {
            way_in,
            ..policy.new_session(&user.name, level, remember, now)
        },
        Authentication::Earlier(origin) => policy.continued_session(&user.name, level, origin, now),
    };
    let token = SessionToken::generate();
    let ttl = Duration::from_secs(policy.ttl(&record, now));
    let lifetime = Duration::from_secs(record.expires_at.saturating_sub(now).max(1));
    let changes = vec![
        Change::PutSession {
            hash: token.hash(),
            record: record.clone(),
            ttl,
        },
        Change::PutValue {
            id: device_key(&token.hash()),
            value: serde_json::to_vec(device).unwrap_or_default(),
            ttl: lifetime,
        },
    ];
    (token, record, changes)
}

/// After every sign-in (form, API, passkey, ticket, provider): past the per-user cap the
/// oldest sessions end. The sign-in stands if that fails: the cap guards the store's room,
/// and the next sign-in tries again.
pub async fn keep_within_cap(state: &AppState, user: &str, kept: &TokenHash) {
    match end_oldest_past_cap(state, user, kept).await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(target: "audit", event = "session.capped", user, ended),
        Err(err) => {
            tracing::warn!(user, error = %err, "cannot end the sessions past the per-user cap");
        }
    }
}

/// Ends `user`'s oldest sessions past `session.max_sessions_per_user`, never `kept` (the one
/// just started). Without a cap one account could fill the store's `max_sessions` with its own
/// sign-ins (a ticket loop, remember-me logins) and every other user's sign-in would fail.
/// Oldest by sign-in time, then by last use (a ticket's session shares its origin's sign-in
/// time: the one used less lately ends first); returns how many ended.
async fn end_oldest_past_cap(
    state: &AppState,
    user: &str,
    kept: &TokenHash,
) -> Result<usize, StoreError> {
    let cap = state.config.session.max_sessions_per_user;
    if cap == 0 {
        return Ok(0);
    }
    let keys = state.store.user_sessions(user).await?;
    if keys.len() <= cap {
        return Ok(0);
    }
    let mut others = Vec::with_capacity(keys.len());
    for key in keys.into_iter().filter(|key| key != kept) {
        if let Some(record) = state.store.get_session(&key).await? {
            others.push(((record.created_at, record.idle_deadline), key));
        }
    }
    // Newest first: the first `cap - 1` stay beside the one just started.
    others.sort_by_key(|(age, _)| std::cmp::Reverse(*age));
    let mut ended = 0;
    for (_, key) in others.into_iter().skip(cap.saturating_sub(1)) {
        state.store.delete_session(&key, user).await?;
        ended += 1;
    }
    Ok(ended)
}

/// Where and how a session was started, for the user's list of sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Device {
    pub ip: String,
    pub user_agent: String,
    /// How the user signed in: `password`, `password and TOTP`, a provider's label, ...
    /// (empty for sessions started before it was kept).
    #[serde(default)]
    pub method: String,
}

pub use postern_core::session::{PASSKEY_METHOD, PASSWORD_METHOD, TICKET_METHOD};

/// User agents are cut to this many characters: enough to tell browsers apart.
const MAX_USER_AGENT_CHARS: usize = 200;

impl Device {
    pub fn of(client: IpAddr, headers: &HeaderMap, method: &str) -> Self {
        let user_agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .chars()
            .filter(|ch| !ch.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        Self {
            ip: client.to_string(),
            user_agent,
            method: method.to_owned(),
        }
    }
}

pub fn device_key(key: &TokenHash) -> String {
    format!("session-device:{}", key.to_hex())
}

/// A new one-factor session for a user known only through a provider.
pub async fn start_external(
    state: &AppState,
    name: &str,
    external: ExternalIdentity,
) -> Result<(SessionToken, SessionRecord), StoreError> {
    let now = now();
    let policy = &state.config.session.policy;
    let mut record = policy.new_session(name, AuthLevel::OneFactor, false, now);
    record.external = Some(Box::new(external));
    record.way_in = WayIn::Provider;
    let token = SessionToken::generate();
    let ttl = Duration::from_secs(policy.ttl(&record, now));
    state.store.put_session(&token.hash(), &record, ttl).await?;
    Ok((token, record))
}

/// `Set-Cookie` value for a session that was just started.
pub fn cookie_for(state: &AppState, token: &SessionToken, record: &SessionRecord) -> String {
    let persistent = record
        .remember
        .then(|| record.expires_at.saturating_sub(record.created_at));
    state.session_cookie.issue(token.as_str(), persistent)
}

/// Changes that delete every session among `keys` (`named_sessions`) the store still holds,
/// whoever's: a sign-in or sign-out ends them all, or the browser's next request would be
/// signed in by another of its cookies (see `current_among`).
pub async fn deletions(state: &AppState, keys: &[TokenHash]) -> Result<Vec<Change>, StoreError> {
    let mut changes = Vec::with_capacity(keys.len());
    // A browser may send one cookie twice: one deletion for it, not two.
    let firsts = keys
        .iter()
        .enumerate()
        .filter(|(at, key)| !keys[..*at].contains(key));
    for (_, key) in firsts {
        if let Some(record) = state.store.get_session(key).await? {
            changes.push(Change::DeleteSession {
                hash: *key,
                user: record.user.clone(),
            });
        }
    }
    Ok(changes)
}

/// Ends every session among `keys` the store still holds (`deletions`, in one write).
/// Returns how many ended.
pub async fn end_named(state: &AppState, keys: &[TokenHash]) -> Result<usize, StoreError> {
    let ending = deletions(state, keys).await?;
    let ended = ending.len();
    // Nothing to end, no write (on the embedded store an empty commit still syncs the file).
    if ended > 0 {
        state.store.apply(ending).await?;
    }
    Ok(ended)
}
