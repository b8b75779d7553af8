//! The rules every change of a user's own sign-in factors follows, wherever it is asked for
//! (the account page's forms, the passkey API): a recent authentication, never the last
//! second factor of a user whose access rules need two, and an audit line with a `[notify]`
//! notice for each change. A leaf: the handlers import it, it imports no handler.

use std::net::IpAddr;
use std::time::Duration;

use postern_core::session::{AuthLevel, RECENT_AUTHENTICATION_SECS, authenticated_recently};
use postern_core::token::TokenHash;
use postern_store::StoreError;

use crate::clock::now;
use crate::credentials;
use crate::sessions::{self, CurrentSession};
use crate::state::AppState;
use crate::user_passwords;

/// The account page's sections a confirmation comes back to (the first when none is named).
pub const REAUTH_SECTIONS: &[&str] = &["two-step", "recovery", "passkeys"];

fn reauth_key(session: &TokenHash) -> String {
    format!("reauth:{}", session.to_hex())
}

/// Why a one-factor confirmation is not enough (`Confirmation::NeedsTwoFactors`).
pub const TWO_FACTORS_NEEDED: &str = "You signed in with one factor, and your account has a second one: \
     confirm with a passkey that asks for your PIN or fingerprint, or sign out and sign in again \
     with your password and your second factor.";

/// Whether the session may change its user's factors now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Authenticated recently, strongly enough: changes are open.
    Recent,
    /// Nothing recent: sign in again, or confirm with the password or a passkey.
    Needed,
    /// What the last five minutes proved is one factor that is not the password (a passkey
    /// that did not verify the user, a provider linked to the account), on an account that
    /// has a second factor. Its holder must not add a factor that then signs in as two, nor
    /// take one away: the password, a passkey that verifies the user, or signing in again
    /// with two factors opens the changes.
    NeedsTwoFactors,
}

/// How a user confirmed it was them on `/account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    Password,
    Passkey { user_verified: bool },
}

/// What one authentication of the last five minutes proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    TwoFactors,
    Password,
    /// One factor, not the password.
    OtherFactor,
}

impl Proof {
    /// How much a proof opens: two factors everything, the password all but what one factor
    /// other than the password cannot.
    fn strength(self) -> u8 {
        match self {
            Self::TwoFactors => 2,
            Self::Password => 1,
            Self::OtherFactor => 0,
        }
    }
}

/// Whether the session's user authenticated within the last five minutes, strongly enough to
/// change their factors: signed in (with a password, a code, a passkey or a provider: a
/// session a ticket started is no sign-in, and one whose way in is not known does not count)
/// or confirmed it was them again since (`mark_reauthenticated`), on any replica. Two factors,
/// or the password (on top of whatever the session's sign-in proved), always do; another
/// single factor does only while the account has no second factor (setting up the first).
pub async fn confirmation(
    state: &AppState,
    session: &CurrentSession,
) -> Result<Confirmation, StoreError> {
    let proofs = recent_proofs(state, session).await?;
    if proofs.is_empty() {
        return Ok(Confirmation::Needed);
    }
    let two_factor_session = session.record.level == AuthLevel::TwoFactor;
    if two_factor_session || proofs.iter().any(|proof| *proof != Proof::OtherFactor) {
        return Ok(Confirmation::Recent);
    }
    if has_second_factor(state, session).await? {
        return Ok(Confirmation::NeedsTwoFactors);
    }
    Ok(Confirmation::Recent)
}

/// `confirmation` is `Recent`.
pub async fn recently_authenticated(
    state: &AppState,
    session: &CurrentSession,
) -> Result<bool, StoreError> {
    Ok(confirmation(state, session).await? == Confirmation::Recent)
}

/// The authentications of the last five minutes: the sign-in, a confirmation, both or none.
async fn recent_proofs(
    state: &AppState,
    session: &CurrentSession,
) -> Result<Vec<Proof>, StoreError> {
    let now = now();
    let mut proofs = Vec::new();
    if authenticated_recently(session.record.created_at, now) {
        let method = state
            .store
            .peek_value(&sessions::device_key(&session.key))
            .await?
            .and_then(|bytes| serde_json::from_slice::<sessions::Device>(&bytes).ok())
            .map(|device| device.method)
            .unwrap_or_default();
        match method.as_str() {
            "" | sessions::TICKET_METHOD => {}
            _ if session.record.level == AuthLevel::TwoFactor => proofs.push(Proof::TwoFactors),
            sessions::PASSWORD_METHOD => proofs.push(Proof::Password),
            _ => proofs.push(Proof::OtherFactor),
        }
    }
    proofs.extend(recent_mark(state, session, now).await?);
    Ok(proofs)
}

/// What the session's confirmation of the last five minutes proved, if there is one.
async fn recent_mark(
    state: &AppState,
    session: &CurrentSession,
    now: u64,
) -> Result<Option<Proof>, StoreError> {
    let mark = state
        .store
        .peek_value(&reauth_key(&session.key))
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| parse_mark(&text));
    Ok(mark
        .filter(|(at, _)| authenticated_recently(*at, now))
        .map(|(_, proof)| proof))
}

/// A confirmation mark: `"<unix seconds>"` for the password (as every mark was written before
/// marks said more), `"<unix seconds> 2"` for a passkey that verified the user, `"<unix
/// seconds> 1"` for one that did not.
fn mark_text(at: u64, confirmed: Confirmed) -> String {
    match confirmed {
        Confirmed::Password => at.to_string(),
        Confirmed::Passkey {
            user_verified: true,
        } => format!("{at} 2"),
        Confirmed::Passkey {
            user_verified: false,
        } => format!("{at} 1"),
    }
}

fn parse_mark(text: &str) -> Option<(u64, Proof)> {
    let (at, proof) = match text.split_once(' ') {
        None => (text, Proof::Password),
        Some((at, "2")) => (at, Proof::TwoFactors),
        Some((at, "1")) => (at, Proof::OtherFactor),
        Some(_) => return None,
    };
    Some((at.parse().ok()?, proof))
}

/// Whether the session's user has a TOTP secret (the administrator's or their own) or a
/// passkey: the second steps a right password leads to.
async fn has_second_factor(state: &AppState, session: &CurrentSession) -> Result<bool, StoreError> {
    let factors = user_passwords::in_force(state, &session.user)
        .await?
        .factors;
    let user = factors.applied_to(&session.user);
    Ok(!credentials::second_factors(state, &user).await?.is_empty())
}

/// The session's user confirmed it was them: changes of factors are open for the next five
/// minutes (`confirmation` says how far a passkey that did not verify the user opens them).
pub async fn mark_reauthenticated(
    state: &AppState,
    session: &CurrentSession,
    client: IpAddr,
    confirmed: Confirmed,
) -> Result<(), StoreError> {
    let now = now();
    let text = mark_text(now, confirmed);
    // A weaker confirmation (a passkey without user verification after the password) does
    // not take the place of a stronger one that still counts.
    let kept = recent_mark(state, session, now).await?;
    let new = parse_mark(&text).map(|(_, proof)| proof);
    if kept.is_none_or(|kept| Some(kept.strength()) <= new.map(Proof::strength)) {
        state
            .store
            .set_value(
                &reauth_key(&session.key),
                text.into_bytes(),
                Duration::from_secs(RECENT_AUTHENTICATION_SECS),
            )
            .await?;
    }
    let (factor, user_verified) = match confirmed {
        Confirmed::Password => ("password", None),
        Confirmed::Passkey { user_verified } => ("passkey", Some(user_verified)),
    };
    tracing::info!(target: "audit", event = "account.reauthenticated", user = %session.user.name, ip = %client, factor, user_verified);
    Ok(())
}

/// The names of the `two_factor` apps, and the ids of the `two_factor` OpenID clients, the
/// session's user may reach.
pub fn two_factor_apps(state: &AppState, session: &CurrentSession) -> Vec<String> {
    let subject = session.subject();
    let mut apps: Vec<String> = state
        .live
        .load()
        .access
        .two_factor_apps_for(subject)
        .into_iter()
        .map(str::to_owned)
        .collect();
    // OpenID clients with `two_factor = true` need two factors as such apps do.
    let clients = state
        .oidc
        .iter()
        .flat_map(|provider| &provider.config.clients);
    apps.extend(
        clients
            .filter(|client| client.two_factor)
            .filter(|client| subject.is_listed(&client.allow_users, &client.allow_groups))
            .map(|client| client.id.clone()),
    );
    apps
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_as_what_confirmed_it() {
        for (confirmed, proof) in [
            (Confirmed::Password, Proof::Password),
            (
                Confirmed::Passkey {
                    user_verified: true,
                },
                Proof::TwoFactors,
            ),
            (
                Confirmed::Passkey {
                    user_verified: false,
                },
                Proof::OtherFactor,
            ),
        ] {
            assert_eq!(
                parse_mark(&mark_text(1_764_400_000, confirmed)),
                Some((1_764_400_000, proof))
            );
        }
        assert_eq!(parse_mark("1764400000 9"), None);
        assert_eq!(parse_mark("soon"), None);
    }
}
