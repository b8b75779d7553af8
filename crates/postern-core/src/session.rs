//! Session records and the timing rules around them: idle and absolute deadlines, and when the
//! check path may write (at most once per tenth of the idle window, so most checks only read).

use serde::{Deserialize, Serialize};

use crate::UnixSeconds;

/// How strongly the user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthLevel {
    /// Username and password (or one external provider).
    OneFactor,
    /// Password plus a second factor.
    TwoFactor,
}

/// How the user proved who they are when the session began, which ID tokens and identity
/// tokens state (`amr`). The level says how many factors; this says which. A session started
/// by a one-time ticket keeps the way in of the sign-in the ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WayIn {
    /// Not recorded: sessions and grants stored before the way in was kept (or written again
    /// by a replica of an earlier release during an upgrade). Read as before: an upstream
    /// provider if the session has one, else the password.
    #[default]
    Unrecorded,
    /// The password, and at the second step (two-factor level) a TOTP code.
    Password,
    /// The password, then a passkey as the second factor.
    PasswordAndPasskey,
    /// A passkey alone (passwordless); two-factor when the authenticator verified the user.
    Passkey,
    /// An upstream OAuth/OIDC provider, for its own user or a local user it is linked to.
    Provider,
}

impl WayIn {
    pub fn is_unrecorded(&self) -> bool {
        *self == Self::Unrecorded
    }
}

/// The sign-in a caller's credentials stand for: how it was made, when, and when it ends at
/// the latest. A one-time ticket hands it on, so a session started from a ticket is never
/// newer, nor longer-lived, than the sign-in behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub way_in: WayIn,
    /// When the user authenticated (a session's `created_at`).
    pub at: UnixSeconds,
    /// The absolute end of what it signed in (a session's `expires_at`).
    pub ends_by: UnixSeconds,
}

impl Origin {
    /// A session's own sign-in.
    pub fn of(record: &SessionRecord) -> Self {
        Self {
            way_in: record.way_in,
            at: record.created_at,
            ends_by: record.expires_at,
        }
    }
}

/// What the store keeps for a session, keyed by the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The user's configured name (the table's canonical spelling).
    pub user: String,
    pub level: AuthLevel,
    pub created_at: UnixSeconds,
    /// The session ends at this time unless a request moves it (idle timeout).
    pub idle_deadline: UnixSeconds,
    /// The session ends at this time whatever happens (absolute lifetime).
    pub expires_at: UnixSeconds,
    /// "Remember me": a persistent cookie, no idle timeout, the longer lifetime.
    pub remember: bool,
    /// Set for a user known only through an OAuth provider (not in the user table): the
    /// identity the provider vouched for, so the check path needs no second read. Boxed: a
    /// local session (most of them) then pays one word for it, not the whole identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Box<ExternalIdentity>>,
    /// Which factors signed in (the level says how many).
    #[serde(default, skip_serializing_if = "WayIn::is_unrecorded")]
    pub way_in: WayIn,
}

impl SessionRecord {
    /// The `[oauth.<id>]` a provider's user signed in with; `None` for a local user (a
    /// provider linked to a local user signs in as that user).
    pub fn provider(&self) -> Option<&str> {
        self.external
            .as_deref()
            .map(|external| external.provider.as_str())
    }
}

/// A provider user's identity, as kept in their session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// The `[oauth.<id>]` that signed the user in; the session ends if it is removed.
    pub provider: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The way in a session keeps (its `method`) when a sign-in used the password alone. Factor
/// changes read it as a password proof (`factor_rules` in the server).
pub const PASSWORD_METHOD: &str = "password";

/// The way in of a passwordless passkey sign-in.
pub const PASSKEY_METHOD: &str = "passkey";

/// The `method` of a session a one-time ticket started: no authentication of its own (the
/// ticket was issued to a session or a bearer token), so it never counts as a recent one.
pub const TICKET_METHOD: &str = "a one-time ticket";

/// Ways in that only postern's own sign-ins write: an OAuth provider's `label` (which is its
/// sessions' `method`) may not be one, or its sign-ins would read as that way in.
pub const OWN_METHODS: [&str; 3] = [PASSWORD_METHOD, PASSKEY_METHOD, TICKET_METHOD];

/// How long an authentication counts as recent: a change of a user's second factors needs one
/// this recent (the sign-in itself, or the password asked again).
pub const RECENT_AUTHENTICATION_SECS: u64 = 300;

/// Whether an authentication at `at` is recent at `now`.
pub fn authenticated_recently(at: UnixSeconds, now: UnixSeconds) -> bool {
    now < at.saturating_add(RECENT_AUTHENTICATION_SECS)
}

/// The timeouts from `[session]`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout: u64,
    pub max_lifetime: u64,
    pub remember_me_lifetime: u64,
}

impl SessionPolicy {
    pub fn new_session(
        &self,
        user: &str,
        level: AuthLevel,
        remember: bool,
        now: UnixSeconds,
    ) -> SessionRecord {
        let lifetime = if remember {
            self.remember_me_lifetime
        } else {
            self.max_lifetime
        };
        let expires_at = now.saturating_add(lifetime);
        let idle_deadline = if remember {
            expires_at
        } else {
            now.saturating_add(self.idle_timeout).min(expires_at)
        };
        SessionRecord {
            user: user.to_owned(),
            level,
            created_at: now,
            idle_deadline,
            expires_at,
            remember,
            external: None,
            way_in: WayIn::Unrecorded,
        }
    }

    /// A session that continues `origin` (a ticket's redemption): a one-factor or two-factor
    /// session as usual, except that it says the user authenticated when `origin` did and it
    /// ends when `origin` ends, if that comes first. Never "remember me".
    pub fn continued_session(
        &self,
        user: &str,
        level: AuthLevel,
        origin: Origin,
        now: UnixSeconds,
    ) -> SessionRecord {
        let fresh = self.new_session(user, level, false, now);
        let expires_at = fresh.expires_at.min(origin.ends_by);
        SessionRecord {
            created_at: origin.at.min(now),
            idle_deadline: fresh.idle_deadline.min(expires_at),
            expires_at,
            way_in: origin.way_in,
            ..fresh
        }
    }

    pub fn is_live(&self, record: &SessionRecord, now: UnixSeconds) -> bool {
        now < record.idle_deadline && now < record.expires_at
    }

    /// The record with its idle deadline moved, when the check path should write it: only once
    /// a tenth of the idle window has passed since the last move. `None` means "no write".
    pub fn throttled_touch(
        &self,
        record: &SessionRecord,
        now: UnixSeconds,
    ) -> Option<SessionRecord> {
        if record.remember {
            return None;
        }
        let last_moved = record.idle_deadline.saturating_sub(self.idle_timeout);
        let due = now
            >= last_moved
                .saturating_add(self.idle_timeout / 10)
                .max(last_moved + 1);
        due.then(|| self.keepalive(record, now))
    }

    /// The record with its idle deadline moved to `now + idle_timeout` (never past the
    /// absolute deadline). The absolute deadline never moves.
    pub fn keepalive(&self, record: &SessionRecord, now: UnixSeconds) -> SessionRecord {
        let mut moved = record.clone();
        if !record.remember {
            moved.idle_deadline = now.saturating_add(self.idle_timeout).min(record.expires_at);
        }
        moved
    }

    /// Seconds the store should keep the record: until the earlier deadline.
    pub fn ttl(&self, record: &SessionRecord, now: UnixSeconds) -> u64 {
        record
            .idle_deadline
            .min(record.expires_at)
            .saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle_timeout: 1800,
        max_lifetime: 43_200,
        remember_me_lifetime: 2_592_000,
    };

    #[test]
    fn an_authentication_is_recent_for_five_minutes() {
        assert!(authenticated_recently(1000, 1000));
        assert!(authenticated_recently(1000, 1299));
        assert!(!authenticated_recently(1000, 1300));
    }

    #[test]
    fn idle_sessions_end() {
        let record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 1000);
        assert!(POLICY.is_live(&record, 1000 + 1799));
        assert!(!POLICY.is_live(&record, 1000 + 1800));
    }

    #[test]
    fn activity_never_extends_past_the_absolute_lifetime() {
        let mut record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 0);
        let mut now = 0;
        while now < 50_000 {
            now += 1000;
            if let Some(moved) = POLICY.throttled_touch(&record, now) {
                record = moved;
            }
        }
        assert_eq!(record.expires_at, 43_200);
        assert!(!POLICY.is_live(&record, 43_200));
        assert!(POLICY.is_live(&record, 43_199));
    }

    #[test]
    fn the_check_path_writes_at_most_once_per_tenth_of_the_idle_window() {
        let record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 0);
        assert_eq!(POLICY.throttled_touch(&record, 179), None);
        let moved = POLICY.throttled_touch(&record, 180).unwrap();
        assert_eq!(moved.idle_deadline, 180 + 1800);
        assert_eq!(POLICY.throttled_touch(&moved, 359), None);
        assert!(POLICY.throttled_touch(&moved, 360).is_some());
    }

    #[test]
    fn remembered_sessions_have_no_idle_timeout_and_are_never_touched() {
        let record = POLICY.new_session("alice", AuthLevel::OneFactor, true, 0);
        assert!(POLICY.is_live(&record, 2_591_999));
        assert!(!POLICY.is_live(&record, 2_592_000));
        assert_eq!(POLICY.throttled_touch(&record, 100_000), None);
    }

    #[test]
    fn records_without_an_external_identity_keep_their_stored_shape() {
        let mut record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 0);
        let local = serde_json::to_string(&record).unwrap();
        assert!(!local.contains("external"), "{local}");
        record.external = Some(Box::new(ExternalIdentity {
            provider: "google".into(),
            email: "carol@example.org".into(),
            name: "Carol".into(),
            groups: vec!["staff".into()],
        }));
        let external = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<SessionRecord>(&external).unwrap(),
            record
        );
        let before = serde_json::from_str::<SessionRecord>(&local).unwrap();
        assert_eq!(before.external, None);
    }

    #[test]
    fn a_short_idle_window_is_still_written_at_most_once_a_second() {
        let policy = SessionPolicy {
            idle_timeout: 5,
            ..POLICY
        };
        let record = policy.new_session("alice", AuthLevel::OneFactor, false, 100);
        assert_eq!(policy.throttled_touch(&record, 100), None);
        let moved = policy.throttled_touch(&record, 101).unwrap();
        assert_eq!(moved.idle_deadline, 106);
    }

    #[test]
    fn the_absolute_deadline_holds_even_when_the_idle_one_lies_past_it() {
        // Not a record this policy writes, but one an older config or another replica could
        // have stored: the absolute deadline still ends it.
        let mut record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 0);
        record.idle_deadline = record.expires_at + 1000;
        assert!(POLICY.is_live(&record, record.expires_at - 1));
        assert!(!POLICY.is_live(&record, record.expires_at));
    }

    #[test]
    fn ttl_runs_to_the_earlier_deadline() {
        let record = POLICY.new_session("alice", AuthLevel::OneFactor, false, 100);
        assert_eq!(POLICY.ttl(&record, 100), 1800);
        assert_eq!(POLICY.ttl(&record, 5000), 0);
    }

    #[test]
    fn a_continued_session_is_never_newer_nor_longer_lived_than_its_origin() {
        let origin = Origin {
            way_in: WayIn::Passkey,
            at: 1000,
            ends_by: 5000,
        };
        let record = POLICY.continued_session("alice", AuthLevel::TwoFactor, origin, 4000);
        assert_eq!(record.created_at, 1000, "authenticated when the origin did");
        assert_eq!(record.expires_at, 5000, "ends with the origin");
        assert_eq!(record.idle_deadline, 5000);
        assert_eq!(record.way_in, WayIn::Passkey);
        assert!(!record.remember);
        // An origin that lives longer than a session may: the session's own lifetime.
        let long = Origin {
            ends_by: u64::MAX,
            ..origin
        };
        let record = POLICY.continued_session("alice", AuthLevel::OneFactor, long, 4000);
        assert_eq!(record.expires_at, 4000 + 43_200);
        assert_eq!(record.idle_deadline, 4000 + 1800);
    }
}
