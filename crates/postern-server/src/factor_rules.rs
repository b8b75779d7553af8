//! The rules every change of a user's own sign-in factors follows, wherever it is asked for
//! (the account page's forms, the passkey API): a recent authentication, never the last
//! second factor of a user whose access rules need two, and an audit line with a `[notify]`
//! notice for each change. A leaf: the handlers import it, it imports no handler.

use std::net::IpAddr;
use std::time::Duration;

use postern_core::access::Subject;
use postern_core::session::{RECENT_AUTHENTICATION_SECS, authenticated_recently};
use postern_core::token::TokenHash;
use postern_store::StoreError;

use crate::clock::now;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;

/// The account page's sections a confirmation comes back to (the first when none is named).
pub const REAUTH_SECTIONS: &[&str] = &["two-step", "recovery", "passkeys"];

fn reauth_key(session: &TokenHash) -> String {
    format!("reauth:{}", session.to_hex())
}

/// Whether the session's user authenticated within the last five minutes: signed in (with a
/// password, a code, a passkey or a provider: a session a ticket started is no sign-in, and
/// one whose way in is not known does not count), or confirmed it was them again since
/// (`mark_reauthenticated`), on any replica.
pub async fn recently_authenticated(
    state: &AppState,
    session: &CurrentSession,
) -> Result<bool, StoreError> {
    let now = now();
    if authenticated_recently(session.record.created_at, now) {
        let method = state
            .store
            .peek_value(&sessions::device_key(&session.key))
            .await?
            .and_then(|bytes| serde_json::from_slice::<sessions::Device>(&bytes).ok())
            .map(|device| device.method)
            .unwrap_or_default();
        if !method.is_empty() && method != sessions::TICKET_METHOD {
            return Ok(true);
        }
    }
    let again = state
        .store
        .peek_value(&reauth_key(&session.key))
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok());
    Ok(again.is_some_and(|at| authenticated_recently(at, now)))
}

/// The session's user confirmed it was them (password or passkey): changes of factors are
/// open for the next five minutes. `factor` is said in the audit line.
pub async fn mark_reauthenticated(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    factor: &'static str,
) -> Result<(), StoreError> {
    state
        .store
        .set_value(
            &reauth_key(&session.key),
            now().to_string().into_bytes(),
            Duration::from_secs(RECENT_AUTHENTICATION_SECS),
        )
        .await?;
    tracing::info!(target: "audit", event = "account.reauthenticated", user = %session.user.name, ip = %client, factor);
    Ok(())
}

/// The names of the `two_factor` apps the session's user may reach.
pub fn two_factor_apps(state: &AppState, session: &CurrentSession) -> Vec<String> {
    let user = &session.user;
    let subject = Subject {
        user: &user.name,
        groups: &user.groups,
        level: session.record.level,
        provider: session
            .record
            .external
            .as_deref()
            .map(|external| external.provider.as_str()),
    };
    state
        .live
        .load()
        .access
        .two_factor_apps_for(subject)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// `Some(refusal)` when removing one second factor would leave the session's user with none
/// (`left`: how many others they keep, TOTP and passkeys alike) while an app they may open
/// needs two.
pub fn last_factor_refusal(
    state: &AppState,
    session: &CurrentSession,
    left: usize,
) -> Option<String> {
    if left > 0 {
        return None;
    }
    let required_by = two_factor_apps(state, session);
    (!required_by.is_empty()).then(|| {
        format!(
            "You cannot remove your last second factor: {} need{} two factors. Set up another \
             second factor first, or ask your administrator.",
            required_by.join(", "),
            if required_by.len() == 1 { "s" } else { "" }
        )
    })
}

/// What changed, for `announce`.
#[derive(Clone, Copy)]
pub struct Change<'a> {
    pub user: &'a str,
    pub client: IpAddr,
    /// The audit event (`passkey.added`), also the webhook's `event`.
    pub event: &'static str,
    /// The webhook's `message` ("passkey added").
    pub message: &'a str,
    /// The passkey changed (its credential id), for the audit line.
    pub passkey: Option<&'a str>,
}

/// The audit line and the webhook notice of a change of factors.
pub fn announce(state: &AppState, change: &Change<'_>) {
    let Change {
        user,
        client,
        event,
        message,
        passkey,
    } = *change;
    match passkey {
        Some(id) => {
            tracing::info!(target: "audit", event, user = %user, ip = %client, passkey = %id, "{message}");
        }
        None => tracing::info!(target: "audit", event, user = %user, ip = %client, "{message}"),
    }
    state.notifier.factor_changed(user, client, event, message);
}
