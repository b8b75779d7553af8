//! `postern oidc generate-key`: a new signing key for `[oidc] signing_keys`, written with
//! owner-only permissions and never over an existing file (an old key may still sign tokens
//! that are in use).

use std::io::Write as _;
use std::process::ExitCode;

use postern_core::oidc::keys::{SigningKey, generate_p256_pem};

use crate::cli::{GenerateKeyArgs, KeyAlgorithm};

/// RSA keys are this long: NIST's size for use past 2030 (SP 800-57), and what the docs'
/// `openssl genpkey` line made before.
const RSA_BITS: u32 = 3072;

pub fn generate_key(args: &GenerateKeyArgs) -> ExitCode {
    let (pem, what) = match args.alg {
        KeyAlgorithm::Rs256 => (generate_rsa_pem(), "an RSA 3072 (RS256)"),
        KeyAlgorithm::Es256 => (generate_p256_pem(), "a P-256 (ES256)"),
    };
    let pem = match pem {
        Ok(pem) => pem,
        Err(err) => {
            eprintln!("postern oidc generate-key: {err}");
            return ExitCode::FAILURE;
        }
    };
    let kid = match SigningKey::from_pem(pem.as_bytes()) {
        Ok(key) => key.kid,
        Err(err) => {
            eprintln!("postern oidc generate-key: the new key does not load: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&args.out).and_then(|mut file| {
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
    });
    if let Err(err) = written {
        eprintln!("postern oidc generate-key: {}: {err}", args.out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {what} key to {} (kid {kid}); add it to `[oidc] signing_keys`",
        args.out.display()
    );
    ExitCode::SUCCESS
}

/// A new RSA key as unencrypted PKCS#8 PEM, made by OpenSSL (`Rsa::generate`). ring, which
/// parses and signs with the keys, cannot make RSA keys, and RustCrypto's `rsa` carries an
/// unfixed timing advisory (RUSTSEC-2023-0071); OpenSSL is already linked for passkeys
/// (webauthn-rs-core), so this adds no library to the build. The key is checked by loading it
/// as postern will (`SigningKey::from_pem`) before it is written.
fn generate_rsa_pem() -> Result<String, String> {
    let failed = |err: openssl::error::ErrorStack| format!("OpenSSL could not make the key: {err}");
    let rsa = openssl::rsa::Rsa::generate(RSA_BITS).map_err(failed)?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(failed)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(failed)?;
    String::from_utf8(pem).map_err(|_| "OpenSSL wrote a key that is not text".to_owned())
}
