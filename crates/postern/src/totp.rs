//! `postern totp generate`: a new TOTP secret for a user, the `otpauth://` URI and a QR code
//! drawn in the terminal, ten recovery codes (shown once) and their hashes for the config.

use std::io::Write as _;
use std::process::ExitCode;

use postern_core::totp::{generate_recovery_codes, generate_secret, otpauth_uri};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::cli::TotpGenerateArgs;

pub fn generate(args: &TotpGenerateArgs) -> ExitCode {
    if let Some(problem) = postern_core::users::name_problem(&args.user) {
        eprintln!("postern totp generate: --user {:?}: {problem}", args.user);
        return ExitCode::from(crate::EXIT_USAGE);
    }
    let secret = generate_secret();
    let uri = otpauth_uri(&secret, &args.issuer, &args.user);
    let codes = generate_recovery_codes();
    let mut out = String::new();
    let mut hashes = Vec::with_capacity(codes.len());
    for code in &codes {
        match postern_core::password::hash_password(code.as_bytes()) {
            Ok(hash) => hashes.push(format!("\"{hash}\"")),
            Err(err) => {
                eprintln!("postern totp generate: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    outln!(
        out,
        "Scan this with an authenticator app (or enter the secret by hand):\n"
    );
    match QrCode::new(uri.as_bytes()) {
        Ok(qr) => outln!(out, "{}", qr.render::<Dense1x2>().quiet_zone(true).build()),
        Err(err) => outln!(out, "(no QR code: {err})"),
    }
    outln!(out, "secret: {secret}");
    outln!(out, "uri:    {uri}\n");
    outln!(out, "In the user's [[users]] table:\n");
    outln!(out, "totp_secret = \"{secret}\"");
    outln!(
        out,
        "recovery_codes = [\n    {},\n]\n",
        hashes.join(",\n    ")
    );
    outln!(
        out,
        "Or as the third field of the users_file line (recovery codes need a [[users]] table):\n"
    );
    outln!(out, "{}:<password hash>:{secret}\n", args.user);
    outln!(
        out,
        "Recovery codes for {}: each works once instead of a code. Shown only now:\n",
        args.user
    );
    for code in &codes {
        outln!(out, "  {code}");
    }
    // One write, ignoring a closed pipe (`| head`): nothing is left to tell anyone then.
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}
