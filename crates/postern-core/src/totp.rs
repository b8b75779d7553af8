//! TOTP (RFC 6238) as postern uses it: SHA-1, 6 digits, 30-second steps, one step of skew each
//! way. Verification returns the step that matched, so the caller can refuse a step at or
//! before the user's last accepted one (a code works once, and never after a newer one).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::UnixSeconds;

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// RFC 4226 asks for at least 128 bits; `postern totp generate` makes 160.
const MIN_SECRET_BYTES: usize = 16;
const GENERATED_SECRET_BYTES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("is not base32 (letters A-Z and digits 2-7)")]
    NotBase32,
    #[error(
        "is shorter than 128 bits (26 base32 characters); make a new one with `postern totp generate`"
    )]
    TooShort,
}

/// A user's TOTP key, decoded once.
#[derive(Clone)]
pub struct TotpKey(TOTP);

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TotpKey(<redacted>)")
    }
}

impl TotpKey {
    /// Base32 as authenticator apps show it: case, spaces and `=` padding do not matter.
    pub fn parse(base32: &str) -> Result<Self, TotpError> {
        let cleaned: String = base32
            .chars()
            .filter(|ch| !ch.is_whitespace() && *ch != '=')
            .map(|ch| ch.to_ascii_uppercase())
            .collect();
        let bytes = Secret::Encoded(cleaned)
            .to_bytes()
            .map_err(|_| TotpError::NotBase32)?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(TotpError::TooShort);
        }
        Ok(Self(TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECONDS,
            bytes,
        )))
    }

    /// Names this secret without revealing it: the SHA-256 of its bytes. A user's credentials
    /// stamp includes the administrator's secret by this, so setting or replacing it ends the
    /// tokens issued before.
    pub fn identity(&self) -> [u8; 32] {
        Sha256::digest(&self.0.secret).into()
    }

    /// The code for the step that holds `time`.
    pub fn code_at(&self, time: UnixSeconds) -> String {
        self.0.generate(time)
    }

    /// The step (`time / 30`) whose code `code` is, within one step of `now`; the newest step
    /// wins when two match. Every candidate is compared, in constant time.
    pub fn matching_step(&self, code: &str, now: UnixSeconds) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now / STEP_SECONDS;
        let mut found = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = self.0.generate(step * STEP_SECONDS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

/// A new 160-bit key in base32, for `postern totp generate`.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => String::new(),
    }
}

/// How many recovery codes `postern totp generate` prints.
pub const RECOVERY_CODES: usize = 10;

/// Ten single-use recovery codes, `xxxxx-xxxxx` (50 bits each, base32 in lower case).
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 7];
            rand::rng().fill_bytes(&mut bytes);
            let text = match Secret::Raw(bytes.to_vec()).to_encoded() {
                Secret::Encoded(text) => text.to_ascii_lowercase(),
                Secret::Raw(_) => String::new(),
            };
            let text: String = text.chars().take(10).collect();
            format!(
                "{}-{}",
                &text[..5.min(text.len())],
                &text[5.min(text.len())..]
            )
        })
        .collect()
}

/// A recovery code as a user types it: 10 base32 characters, dashes and spaces ignored.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|ch| *ch != '-' && !ch.is_whitespace())
        .map(|ch| ch.to_ascii_lowercase())
        .collect();
    let valid = cleaned.len() == 10
        && cleaned
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    valid.then(|| format!("{}-{}", &cleaned[..5], &cleaned[5..]))
}

/// The `otpauth://` URI authenticator apps read from a QR code.
pub fn otpauth_uri(secret: &str, issuer: &str, account: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let issuer_enc = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
    let account_enc = utf8_percent_encode(account, NON_ALPHANUMERIC);
    format!(
        "otpauth://totp/{issuer_enc}:{account_enc}?secret={secret}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key, "12345678901234567890", in base32.
    const RFC_KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_the_rfc_6238_vectors() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        // The RFC lists 8 digits; the 6-digit code is their last six.
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(key.code_at(time), eight[2..], "{time}");
        }
    }

    #[test]
    fn one_step_of_skew_each_way_and_no_more() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        let now = 1_000_000_020; // step 33_333_334
        let step = now / STEP_SECONDS;
        for (offset, expected) in [
            (-2i64, None),
            (-1, Some(step - 1)),
            (0, Some(step)),
            (1, Some(step + 1)),
            (2, None),
        ] {
            let at = (now as i64 + offset * STEP_SECONDS as i64) as u64;
            assert_eq!(
                key.matching_step(&key.code_at(at), now),
                expected,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn malformed_codes_never_match() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        let code = key.code_at(59);
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "２８７０８２",
            &format!("{code}0"),
        ] {
            assert_eq!(key.matching_step(bad, 59), None, "{bad:?}");
        }
        assert_eq!(key.matching_step(&format!(" {code} "), 59), Some(1));
    }

    #[test]
    fn secrets_are_checked() {
        assert_eq!(
            TotpKey::parse("not base32!").unwrap_err(),
            TotpError::NotBase32
        );
        // tinyauth's README example is 80 bits: too short.
        assert_eq!(
            TotpKey::parse("JBSWY3DPEHPK3PXP").unwrap_err(),
            TotpError::TooShort
        );
        assert!(TotpKey::parse("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").is_ok());
        // 128 bits, the least RFC 4226 allows, is enough; 120 bits is not.
        let bits_128 = &RFC_KEY[..26];
        assert!(TotpKey::parse(bits_128).is_ok(), "{bits_128}");
        assert_eq!(
            TotpKey::parse(&RFC_KEY[..24]).unwrap_err(),
            TotpError::TooShort
        );
        let generated = generate_secret();
        assert_eq!(generated.len(), 32);
        assert!(TotpKey::parse(&generated).is_ok());
        assert_ne!(generated, generate_secret());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        assert_eq!(format!("{key:?}"), "TotpKey(<redacted>)");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalize_back() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(
                normalize_recovery_code(&code.to_uppercase().replace('-', " ")).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(normalize_recovery_code("123456"), None);
        assert_eq!(normalize_recovery_code("abcde-fghi1"), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        assert_eq!(
            otpauth_uri("ABC", "My Home", "alice@x"),
            "otpauth://totp/My%20Home:alice%40x?secret=ABC&issuer=My%20Home&algorithm=SHA1&digits=6&period=30"
        );
    }
}
