//! The account page's changes of second factors: set up TOTP (a secret shown while it waits
//! for its first right code, which makes it the user's), remove it, make new recovery codes
//! (shown once). Each needs a recent authentication (`session::RECENT_AUTHENTICATION_SECS`:
//! the sign-in, or the password asked again by `reauth`), and each is an audit event and a
//! `[notify]` notice. A user whose access rules need two factors never removes the last.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use postern_core::totp::{TotpKey, generate_recovery_codes, generate_secret};
use postern_core::users::User;
use postern_store::StoreError;

use super::pending_setup::{pending_secret, setup_key};
use super::view::{self, Shown};
use super::{AccountForm, Caller, done, refused, refused_by};
use crate::clock::now;
use crate::credentials_record::RecordLock;
use crate::error::{self, AppError, AppResult};
use crate::factor_rules::{self, Confirmation, Confirmed, TWO_FACTORS_NEEDED};
use crate::handlers::{change_password, totp};
use crate::pages::{self, PageContext, ReauthPage};
use crate::respond::{self, HttpResponse};
use crate::user_factors::{self, FactorChange, TotpSource};
use crate::user_passwords;

/// A set-up waits this long for its first code.
const SETUP_LIFETIME: Duration = Duration::from_secs(600);
/// New recovery codes cost ten argon2 hashes: without a limit of their own, one account at
/// the per-client API rate (20 a second) would keep every verifier busy and everyone else's
/// sign-ins would wait, then fail busy. Three at once, then one every two minutes, per user
/// and shared by every replica (the store's bucket).
const RECOVERY_CODES_BURST: u32 = 3;
const RECOVERY_CODES_PER_SEC: f64 = 1.0 / 120.0;

/// The "confirm it's you" page, which comes back to `section`.
async fn reauth_page(
    caller: &Caller<'_>,
    section: &str,
    error: Option<String>,
    status: StatusCode,
) -> AppResult {
    let state = caller.state;
    let passkey =
        crate::webauthn::records::registered(&state.store, &caller.session.user.name).await?;
    let csrf = state
        .csrf
        .token_for(postern_core::csrf::CsrfBinding::Session(
            &caller.session.key,
        ));
    Ok(pages::render(
        status,
        &ReauthPage {
            page: PageContext::new(state),
            csrf: &csrf,
            user: &caller.session.user.name,
            section,
            error,
            passkey,
        },
    ))
}

/// Before every change: the user may change factors here, and authenticated recently.
/// `Some` is the page to show instead (a refusal on the account page, or the re-auth page).
pub(super) async fn may_change(
    caller: &Caller<'_>,
    section: &str,
) -> Result<Option<HttpResponse>, AppError> {
    if let Some(why) = view::factors_locked(caller.state, &caller.session) {
        return refused(caller, StatusCode::FORBIDDEN, &why).await.map(Some);
    }
    let error = match factor_rules::confirmation(caller.state, &caller.session).await? {
        Confirmation::Recent => return Ok(None),
        Confirmation::Needed => None,
        Confirmation::NeedsTwoFactors => Some(TWO_FACTORS_NEEDED.to_owned()),
    };
    reauth_page(caller, section, error, StatusCode::UNAUTHORIZED)
        .await
        .map(Some)
}

/// `POST /account/reauth` `password`, `section`: the password again; then back to the page,
/// where changes of factors are open for five minutes.
pub(super) async fn reauth(caller: &Caller<'_>, form: AccountForm) -> AppResult {
    let section = factor_rules::REAUTH_SECTIONS
        .iter()
        .find(|known| **known == form.section)
        .copied()
        .unwrap_or(factor_rules::REAUTH_SECTIONS[0]);
    if let Some(why) = view::factors_locked(caller.state, &caller.session) {
        return refused(caller, StatusCode::FORBIDDEN, &why).await;
    }
    let user = &caller.session.user;
    let checked = change_password::confirm_password(
        caller.state,
        caller.client,
        user,
        form.password,
        "reauth.failed",
    )
    .await;
    match checked {
        Ok(_) => {}
        Err(AppError::Refused { status, .. }) => {
            let wrong = "That password is not right. Please try again.".to_owned();
            return reauth_page(caller, section, Some(wrong), status).await;
        }
        Err(AppError::Limited { retry_after }) => {
            let sentence = error::limited_sentence(retry_after);
            let mut page = reauth_page(
                caller,
                section,
                Some(sentence),
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await?;
            respond::set_retry_after(&mut page, retry_after);
            return Ok(page);
        }
        Err(other) => return Err(other),
    }
    factor_rules::mark_reauthenticated(
        caller.state,
        &caller.session,
        caller.client,
        Confirmed::Password,
    )
    .await?;
    done("reauth", section)
}

/// The factors in force for the caller (a local user: `may_change` said so).
async fn factors_of(caller: &Caller<'_>) -> Result<user_factors::Factors, StoreError> {
    Ok(user_passwords::in_force(caller.state, &caller.session.user)
        .await?
        .factors)
}

/// `POST /account/totp-setup`: a new secret, shown with its QR code until its first code.
pub(super) async fn totp_setup(caller: &Caller<'_>) -> AppResult {
    if let Some(instead) = may_change(caller, "two-step").await? {
        return Ok(instead);
    }
    if factors_of(caller).await?.totp.is_some() {
        return refused(
            caller,
            StatusCode::CONFLICT,
            "Two-step verification is already on.",
        )
        .await;
    }
    caller
        .state
        .store
        .set_value(
            &setup_key(&caller.session.key),
            generate_secret().into_bytes(),
            SETUP_LIFETIME,
        )
        .await?;
    view::render(
        caller.state,
        &caller.session,
        Shown::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /account/totp-confirm` `code`: the set-up's first code. Right: the secret is the
/// user's, on every replica, from the next sign-in on.
pub(super) async fn totp_confirm(caller: &Caller<'_>, code: &str) -> AppResult {
    if let Some(instead) = may_change(caller, "two-step").await? {
        return Ok(instead);
    }
    let state = caller.state;
    let user = &caller.session.user;
    let Some(secret) = pending_secret(state, &caller.session).await? else {
        return refused(
            caller,
            StatusCode::CONFLICT,
            "The set-up expired. Please start again.",
        )
        .await;
    };
    let step = TotpKey::parse(&secret)
        .ok()
        .and_then(|key| key.matching_step(code, now()));
    let Some(step) = step else {
        return refused(
            caller,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code is not right. Enter the code your app shows now.",
        )
        .await;
    };
    // The code that confirmed the secret does not sign in as well.
    totp::first_use(state, &user.name, step).await?;
    let saved = {
        let _serialized = state.users_file_lock.lock().await;
        add_own(caller, FactorChange::EnrolTotp { secret }).await?
    };
    state
        .store
        .take_value(&setup_key(&caller.session.key))
        .await?;
    if !saved {
        return refused(
            caller,
            StatusCode::CONFLICT,
            "Two-step verification is already on.",
        )
        .await;
    }
    announce(caller, user, "account.totp_enrolled", "TOTP enrolled");
    done("totp-on", "two-step")
}

/// `POST /account/totp-remove`: the user's own secret (and recovery codes) end, unless it is
/// their last second factor and an app they use needs two.
pub(super) async fn totp_remove(caller: &Caller<'_>) -> AppResult {
    if let Some(instead) = may_change(caller, "two-step").await? {
        return Ok(instead);
    }
    let state = caller.state;
    let user = &caller.session.user;
    match factors_of(caller).await?.totp_source() {
        None => {
            return refused(
                caller,
                StatusCode::CONFLICT,
                "Two-step verification is off.",
            )
            .await;
        }
        Some(TotpSource::Administrator) => {
            return refused(
                caller,
                StatusCode::FORBIDDEN,
                "Your administrator set up this two-step verification: only they can remove it.",
            )
            .await;
        }
        Some(TotpSource::User { .. }) => {}
    }
    // The user's passkeys are other second factors. They are counted with the credentials
    // lock held, which every change of passkeys takes too: removing TOTP and the last passkey
    // at once cannot both pass the rule.
    let removed = {
        let _serialized = state.users_file_lock.lock().await;
        let held = RecordLock::take(&state.store, &user.name).await?;
        let removed = async {
            let passkeys = crate::webauthn::records::list(&state.store, &user.name)
                .await?
                .len();
            if let Some(message) =
                factor_rules::last_factor_refusal(state, &caller.session, passkeys)
            {
                return Ok(Err(message));
            }
            user_factors::apply(&held, user, FactorChange::RemoveTotp, now())
                .await
                .map(Ok)
        }
        .await;
        held.release().await;
        removed?
    };
    let removed = match removed {
        Ok(removed) => removed,
        Err(message) => return refused(caller, StatusCode::CONFLICT, &message).await,
    };
    if removed {
        announce(caller, user, "account.totp_removed", "TOTP removed");
    }
    done("totp-off", "two-step")
}

/// `POST /account/recovery-codes`: ten new codes, shown this once; every earlier one is void.
pub(super) async fn recovery_codes(caller: &Caller<'_>) -> AppResult {
    if let Some(instead) = may_change(caller, "recovery").await? {
        return Ok(instead);
    }
    let state = caller.state;
    let user = &caller.session.user;
    if factors_of(caller).await?.totp.is_none() {
        return refused(
            caller,
            StatusCode::CONFLICT,
            "Recovery codes stand in for two-step verification: turn it on first.",
        )
        .await;
    }
    let bucket = format!("recovery-codes:{}", user.name.to_lowercase());
    if let Some(wait) = state
        .store
        .take_token(&bucket, RECOVERY_CODES_PER_SEC, RECOVERY_CODES_BURST)
        .await?
    {
        // Not the failed-sign-in sentence: nothing failed, the user made codes often.
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let why = format!(
            "You made new recovery codes {RECOVERY_CODES_BURST} times just now. Try again in {retry_after} s."
        );
        let mut page = refused(caller, StatusCode::TOO_MANY_REQUESTS, &why).await?;
        respond::set_retry_after(&mut page, retry_after);
        return Ok(page);
    }
    let codes = generate_recovery_codes();
    let mut hashes = Vec::with_capacity(codes.len());
    for code in &codes {
        match state.passwords.hash(code.clone()).await {
            Ok(hash) => hashes.push(hash),
            Err(err) => return refused_by(caller, err.into()).await,
        }
    }
    {
        let _serialized = state.users_file_lock.lock().await;
        let change = FactorChange::NewRecoveryCodes { hashes };
        add_own(caller, change).await?;
    }
    announce(
        caller,
        user,
        "account.recovery_codes_regenerated",
        "recovery codes regenerated",
    );
    let shown = Shown {
        new_codes: codes,
        ..Shown::default()
    };
    view::render(state, &caller.session, shown, StatusCode::OK).await
}

/// The audit line and the webhook notice of a change of factors.
fn announce(caller: &Caller<'_>, user: &Arc<User>, event: &'static str, message: &str) {
    factor_rules::announce(
        caller.state,
        &factor_rules::Change {
            user: &user.name,
            client: caller.client,
            event,
            message,
            passkey: None,
        },
    );
}

/// Adds a factor the caller set up themselves, with their credentials lock held, while they
/// are still in the users in force (`retirement::takes_new_factors`): a set-up confirmed as
/// its user was removed is refused, not written back after their retirement. False when there
/// was nothing to change.
async fn add_own(caller: &Caller<'_>, change: FactorChange) -> Result<bool, AppError> {
    let (state, user) = (caller.state, &caller.session.user);
    let held = RecordLock::take(&state.store, &user.name).await?;
    let added = if crate::retirement::takes_new_factors(state, &user.name) {
        user_factors::apply(&held, user, change, now())
            .await
            .map_err(AppError::from)
    } else {
        Err(crate::retirement::removed_meanwhile())
    };
    held.release().await;
    added
}
