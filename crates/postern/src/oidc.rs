//! `postern oidc generate-key`: a new signing key for `[oidc] signing_keys`, written with
//! owner-only permissions and never over an existing file (an old key may still sign tokens
//! that are in use).

use std::io::Write as _;
use std::process::ExitCode;

use postern_core::oidc::keys::{SigningKey, generate_p256_pem};

use crate::cli::GenerateKeyArgs;

pub fn generate_key(args: &GenerateKeyArgs) -> ExitCode {
    let pem = match generate_p256_pem() {
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
        "wrote a P-256 (ES256) key to {} (kid {kid}); add it to `[oidc] signing_keys`",
        args.out.display()
    );
    ExitCode::SUCCESS
}
