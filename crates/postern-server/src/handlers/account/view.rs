//! What the account page shows, gathered in one place: the profile, the password form (or why
//! there is none), the second factors (or why they cannot change here), the recovery codes and
//! the sessions.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use postern_core::csrf::CsrfBinding;
use postern_core::session::{AuthLevel, WayIn};
use postern_core::totp::otpauth_uri;
use postern_store::StoreError;
use qrcode::QrCode;
use qrcode::render::svg;

use super::pending_setup;
use crate::error::AppResult;
use crate::factor_rules;
use crate::handlers::session_list::{self, SessionInfo};
use crate::oidc::consents;
use crate::pages::{
    self, AccountPage, ConsentRow, PageContext, PasskeyRow, PasskeysPart, Profile, RecoveryPart,
    SessionRow, TotpPart,
};
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::user_factors::{self, TotpSource};
use crate::user_passwords;
use crate::webauthn::records;

/// What this answer shows besides the account's state.
#[derive(Default)]
pub struct Shown<'a> {
    pub notice: Option<&'a str>,
    pub error: Option<String>,
    /// Recovery codes just made: shown this once.
    pub new_codes: Vec<String>,
}

pub async fn render(
    state: &AppState,
    session: &CurrentSession,
    shown: Shown<'_>,
    status: StatusCode,
) -> AppResult {
    let user = &session.user;
    let sessions = session_list::sessions_of(state, session).await?;
    let external = session.record.external.as_deref();
    let factors = match external {
        None => Some(user_passwords::in_force(state, user).await?.factors),
        Some(_) => None,
    };
    let factors_locked = factors_locked(state, session);
    let totp = match factors
        .as_ref()
        .and_then(user_factors::Factors::totp_source)
    {
        Some(TotpSource::Administrator) => totp_part("admin"),
        Some(TotpSource::User { enrolled_at }) => TotpPart {
            since: date(enrolled_at),
            ..totp_part("on")
        },
        // A set-up's secret is shown again on a reload only while the user has authenticated
        // recently, like every change of factors: a session cookie alone must not read it.
        None => match pending_setup::pending_secret(state, session).await? {
            Some(secret)
                if factors_locked.is_none()
                    && factor_rules::recently_authenticated(state, session).await? =>
            {
                enrolling(state, &user.name, &secret)
            }
            _ => totp_part("off"),
        },
    };
    let recovery = match &factors {
        Some(factors) if factors.totp.is_some() => Some(RecoveryPart {
            left: user_factors::recovery_codes_left(
                &state.store,
                &user.name,
                &factors.recovery_codes,
            )
            .await?,
            total: factors.recovery_codes.len(),
            own: factors.recovery_made_at.is_some(),
            new_codes: shown.new_codes,
        }),
        _ => None,
    };
    let csrf = state.csrf.token_for(CsrfBinding::Session(&session.key));
    let profile = Profile {
        username: user.name.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        groups: user.groups.join(", "),
        signed_in_with: signed_in_with(state, session, &sessions),
    };
    Ok(pages::render(
        status,
        &AccountPage {
            page: PageContext::new(state),
            csrf: &csrf,
            notice: shown.notice,
            error: shown.error,
            profile,
            password_absent: password_absent(state, session),
            totp,
            recovery,
            factors_locked,
            required_by: factor_rules::two_factor_apps(state, session).join(", "),
            passkeys: passkeys_part(state, session).await?,
            consents: consent_rows(state, session).await?,
            sessions: sessions.iter().map(session_row).collect(),
        },
    ))
}

/// Why this session's user has no password form here, if they have none.
pub fn password_absent(state: &AppState, session: &CurrentSession) -> Option<String> {
    session.record.external.as_deref().map(|external| {
        format!(
            "You sign in with {}: your password is kept there, not here.",
            provider_label(state, &external.provider)
        )
    })
}

/// Why this session's user cannot change their second factors here, if they cannot.
pub fn factors_locked(state: &AppState, session: &CurrentSession) -> Option<String> {
    if let Some(external) = session.record.external.as_deref() {
        return Some(format!(
            "You sign in with {}: set up two-step verification there.",
            provider_label(state, &external.provider)
        ));
    }
    if !state.config.account.self_service {
        return Some("Your administrator manages two-step verification on this portal.".into());
    }
    if !state.store.keeps_records_durably() {
        return Some(
            "Two-step verification cannot be set up here: this portal keeps no durable store. \
             Ask your administrator."
                .into(),
        );
    }
    None
}

/// The session user's passkeys, or why they have none here.
async fn passkeys_part(
    state: &AppState,
    session: &CurrentSession,
) -> Result<PasskeysPart, StoreError> {
    if let Some(external) = session.record.external.as_deref() {
        return Ok(PasskeysPart {
            rows: Vec::new(),
            absent: Some(format!(
                "You sign in with {}: passkeys are for accounts of this portal.",
                provider_label(state, &external.provider)
            )),
        });
    }
    let rows = records::list(&state.store, &session.user.name)
        .await?
        .iter()
        .map(|passkey| PasskeyRow {
            id: passkey.id(),
            name: passkey.name.clone(),
            created: date(passkey.created_at),
            last_used: passkey
                .last_used_at
                .map_or_else(|| "never".to_owned(), date),
        })
        .collect();
    Ok(PasskeysPart { rows, absent: None })
}

/// The OpenID clients the session user allowed, where postern is an OpenID Provider.
async fn consent_rows(
    state: &AppState,
    session: &CurrentSession,
) -> Result<Option<Vec<ConsentRow>>, StoreError> {
    let Some(provider) = &state.oidc else {
        return Ok(None);
    };
    let sub = provider
        .subject(&state.store, &session.user.name, session.oauth_provider())
        .await?;
    // Only the consents this person gave: not a predecessor's under the same name.
    let rows = consents::all_of(&state.store, &session.user.name, &sub)
        .await?
        .into_iter()
        .map(|(client, consent)| ConsentRow {
            client,
            scopes: consent.scopes.join(" "),
            granted: consent
                .granted_at
                .map_or_else(|| "before postern kept the date".to_owned(), date),
        })
        .collect();
    Ok(Some(rows))
}

fn provider_label<'a>(state: &'a AppState, id: &'a str) -> &'a str {
    state
        .config
        .oauth_provider(id)
        .map_or(id, |provider| provider.label.as_str())
}

/// How this session signed in: as kept when it started, else from its record.
fn signed_in_with(state: &AppState, session: &CurrentSession, sessions: &[SessionInfo]) -> String {
    let kept = sessions
        .iter()
        .find(|listed| listed.current)
        .map(|listed| listed.device.method.clone())
        .filter(|method| !method.is_empty());
    let record = &session.record;
    kept.unwrap_or_else(|| match (&record.external, record.way_in, record.level) {
        (Some(external), _, _) => provider_label(state, &external.provider).to_owned(),
        (None, WayIn::Passkey, _) => "passkey".into(),
        (None, WayIn::PasswordAndPasskey, _) => "password and passkey".into(),
        (None, WayIn::Provider, _) => "a linked provider".into(),
        (None, _, AuthLevel::TwoFactor) => "password and TOTP".into(),
        (None, _, AuthLevel::OneFactor) => "password".into(),
    })
}

fn totp_part(state: &'static str) -> TotpPart {
    TotpPart {
        state,
        since: String::new(),
        secret: String::new(),
        qr_data_url: String::new(),
    }
}

/// The set-up waiting for its first code: the secret, grouped for typing, and its QR code.
fn enrolling(state: &AppState, user: &str, secret: &str) -> TotpPart {
    let uri = otpauth_uri(secret, &state.config.ui.title, user);
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    TotpPart {
        secret: grouped.join(" "),
        qr_data_url: qr_data_url(&uri),
        ..totp_part("enrolling")
    }
}

/// The QR code of `text` as an SVG `data:` URL (the page's CSP allows `data:` images and no
/// inline script); empty if the text does not fit in a QR code.
fn qr_data_url(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let image = code
                .render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            format!("data:image/svg+xml;base64,{}", STANDARD.encode(image))
        }
        Err(_) => String::new(),
    }
}

fn session_row(session: &SessionInfo) -> SessionRow {
    SessionRow {
        id: session.key.to_hex(),
        current: session.current,
        started: date(session.record.created_at),
        last_seen: session
            .last_seen
            .map_or_else(|| "not tracked (kept signed in)".to_owned(), date),
        ip: session.device.ip.clone(),
        user_agent: session.device.user_agent.clone(),
        method: session.device.method.clone(),
    }
}

/// `2026-12-04 18:40 UTC`; `unknown` for a stored time no calendar writes.
pub fn date(unix: u64) -> String {
    let Some(text) = crate::clock::rfc3339(unix) else {
        return "unknown".to_owned();
    };
    // 2026-12-04T18:40:05Z
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}
