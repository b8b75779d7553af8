//! Passkeys (WebAuthn). This module is the one place that decides what postern asks an
//! authenticator for (`RelyingParty`); `records` keeps the credentials, `challenges` the
//! ceremonies in progress. Every check of what comes back (CBOR, COSE keys, signatures,
//! origins, the rp id hash, user presence and verification, the signature counter) is
//! `webauthn-rs-core`'s, the engine of kanidm's audited `webauthn-rs`.
//!
//! Why the core and not the `webauthn-rs` wrapper: the wrapper's `Passkey` ceremonies fix
//! user verification to "required" and resident keys to "discouraged", while
//! `[webauthn] user_verification` is the operator's choice and passwordless sign-in needs
//! discoverable credentials. The wrapper's other choices are kept here as it makes them: its
//! algorithms, no attestation CA list, counters that must grow, backup-eligible upgrades.

pub mod challenges;
pub mod changes;
pub mod records;

use std::time::Duration;

use postern_core::config::{Attestation, UserVerification, WebauthnConfig};
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState,
    AuthenticatorSelectionCriteria, COSEAlgorithm, CreationChallengeResponse, Credential,
    CredentialID, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    RequestChallengeResponse, RequestRegistrationExtensions, ResidentKeyRequirement,
    UserVerificationPolicy,
};

/// How long the browser waits for the authenticator; the challenge lives as long in the store.
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

pub struct RelyingParty {
    core: WebauthnCore,
    policy: UserVerificationPolicy,
    attestation: AttestationConveyancePreference,
    /// Discoverable credentials and `/api/webauthn/login/*`.
    pub passwordless: bool,
}

/// Why a ceremony's answer was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not WebAuthn at all: JSON, base64, CBOR or a COSE key that does not parse.
    Malformed,
    /// Well formed, but not what was asked for: origin, rp id, challenge, signature, flags.
    NotVerified,
    /// The signature counter did not grow: the authenticator may have been cloned.
    CounterRegressed,
}

impl Refusal {
    pub fn of(err: &WebauthnError) -> Self {
        match err {
            WebauthnError::CredentialPossibleCompromise => Self::CounterRegressed,
            WebauthnError::ParseBase64Failure(_)
            | WebauthnError::ParseCBORFailure(_)
            | WebauthnError::ParseJSONFailure(_)
            | WebauthnError::ParseNOMFailure
            | WebauthnError::ParseInsufficientBytesAvailable
            | WebauthnError::InvalidClientDataType
            | WebauthnError::MissingAttestationCredentialData
            | WebauthnError::AttestationStatementMapInvalid
            | WebauthnError::COSEKeyInvalidCBORValue
            | WebauthnError::COSEKeyInvalidType
            | WebauthnError::COSEKeyECDSAXYInvalid
            | WebauthnError::COSEKeyRSANEInvalid
            | WebauthnError::COSEKeyEDDSAXInvalid => Self::Malformed,
            _ => Self::NotVerified,
        }
    }
}

impl RelyingParty {
    pub fn new(config: &WebauthnConfig) -> Self {
        let core = WebauthnCore::new_unsafe_experts_only(
            &config.rp_name,
            &config.rp_id,
            config.origins.clone(),
            CEREMONY_TIMEOUT,
            Some(false),
            Some(false),
        );
        let policy = match config.user_verification {
            UserVerification::Required => UserVerificationPolicy::Required,
            UserVerification::Preferred => UserVerificationPolicy::Preferred,
            UserVerification::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        };
        let attestation = match config.attestation {
            Attestation::None => AttestationConveyancePreference::None,
            Attestation::Indirect => AttestationConveyancePreference::Indirect,
            Attestation::Direct => AttestationConveyancePreference::Direct,
        };
        Self {
            core,
            policy,
            attestation,
            passwordless: config.passwordless,
        }
    }

    /// The options for `navigator.credentials.create()`, and what finishing needs.
    /// `exclude`: the user's credentials, which the authenticator must not register again.
    pub fn start_registration(
        &self,
        user_handle: &[u8],
        user_name: &str,
        display_name: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<(CreationChallengeResponse, RegistrationState), WebauthnError> {
        let builder = self
            .core
            .new_challenge_register_builder(user_handle, user_name, display_name)?
            .attestation(self.attestation.clone())
            .credential_algorithms(COSEAlgorithm::secure_algs())
            .require_resident_key(false)
            .authenticator_attachment(None)
            .user_verification_policy(self.policy)
            .reject_synchronised_authenticators(false)
            .exclude_credentials(Some(exclude))
            .extensions(Some(RequestRegistrationExtensions {
                cred_props: Some(true),
                ..Default::default()
            }));
        let (mut options, state) = self.core.generate_challenge_register(builder)?;
        if self.passwordless {
            // Ask for a discoverable credential without demanding one: a security key with no
            // room left still registers (as a second factor only). The verification does not
            // depend on this hint.
            let selection = options
                .public_key
                .authenticator_selection
                .get_or_insert_with(AuthenticatorSelectionCriteria::default);
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        Ok((options, state))
    }

    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &RegistrationState,
    ) -> Result<Credential, WebauthnError> {
        // No attestation CA list: see `webauthn.attestation` in docs/configuration.md.
        self.core.register_credential(credential, state, None)
    }

    /// The options for `navigator.credentials.get()` that accept any of `credentials`.
    pub fn start_authentication(
        &self,
        credentials: Vec<Credential>,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), WebauthnError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(credentials, Some(self.policy))?
            .allow_backup_eligible_upgrade(true);
        self.core.generate_challenge_authenticate(builder)
    }

    /// The options of a passwordless sign-in: no credential named, the authenticator offers
    /// the ones it holds for this rp id. The user is known only from the answer's user handle.
    pub fn start_discoverable(
        &self,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), WebauthnError> {
        self.start_authentication(Vec::new())
    }

    /// Verifies an assertion against `state`, whose allowed credentials the caller has set
    /// (for a discoverable one: the credential of the user its user handle names).
    pub fn finish_authentication(
        &self,
        assertion: &PublicKeyCredential,
        state: &AuthenticationState,
    ) -> Result<AuthenticationResult, WebauthnError> {
        self.core.authenticate_credential(assertion, state)
    }
}
