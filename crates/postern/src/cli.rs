//! The command line. Every flag here is documented in docs/configuration.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "postern",
    version,
    about = "A fast, safe forward-auth server for traefik, nginx, caddy and envoy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the server.
    Serve(ServeArgs),
    /// Read one password line from stdin and print its argon2id hash.
    HashPassword,
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Exit 0 when a running postern answers healthy (for Docker's HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// Show which app a URL matches, each access rule's verdict, and the decision.
    Explain(ExplainArgs),
    /// Act on a user's state in the store, for every replica at once (on the embedded store
    /// through the running postern, or on its data file while it is stopped).
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Back up the embedded store, or move users' durable data between stores.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Second-factor (TOTP) tools.
    Totp {
        #[command(subcommand)]
        action: TotpAction,
    },
    /// OpenID Provider tools.
    Oidc {
        #[command(subcommand)]
        action: OidcAction,
    },
}

#[derive(Subcommand)]
pub enum OidcAction {
    /// Write a new signing key (RSA 3072 for RS256, the default, or P-256 for ES256) as PKCS#8
    /// PEM, readable by its owner only, for `[oidc] signing_keys`.
    GenerateKey(GenerateKeyArgs),
}

#[derive(Args)]
pub struct GenerateKeyArgs {
    /// The file to write; it must not exist yet.
    #[arg(long)]
    pub out: PathBuf,
    /// The algorithm the key signs with: RS256 (an RSA 3072 key; what clients get unless
    /// they ask for ES256) or ES256 (a P-256 key).
    #[arg(long, value_enum, default_value = "RS256")]
    pub alg: KeyAlgorithm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

#[derive(Subcommand)]
pub enum TotpAction {
    /// Make a TOTP secret and recovery codes for a user, with a QR code to scan.
    Generate(TotpGenerateArgs),
}

#[derive(Args)]
pub struct TotpGenerateArgs {
    /// The user's name, as in the config (shown in the authenticator app).
    #[arg(long)]
    pub user: String,
    /// The issuer shown in the authenticator app.
    #[arg(long, default_value = "postern")]
    pub issuer: String,
}

#[derive(Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and list every problem (exit 64 if there is any).
    Check(ConfigArgs),
}

#[derive(Args)]
pub struct ConfigArgs {
    /// The TOML config file. Without it, the configuration comes from POSTERN_* env vars only.
    #[arg(long, short = 'c', env = "POSTERN_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Listen address; overrides `server.listen` and POSTERN_SERVER_LISTEN.
    #[arg(long)]
    pub listen: Option<String>,
    /// Log level (trace, debug, info, warn, error); overrides `log.level`.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(Args)]
pub struct HealthcheckArgs {
    /// URL to ask. Default: /api/healthcheck on the configured `server.listen`
    /// (127.0.0.1:3000 without a config).
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The URL the client asks for, e.g. https://app.example.com/admin?x=1.
    #[arg(long)]
    pub url: String,
    /// A configured user who is signed in. Without it, the rules that need a session are not
    /// evaluated.
    #[arg(long)]
    pub user: Option<String>,
    /// The client's IP address, as postern would find it through `trusted_proxies`.
    /// Default: 0.0.0.0 (inside no network but 0.0.0.0/0).
    #[arg(long)]
    pub ip: Option<String>,
    /// The request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The user signed in with a second factor (for `two_factor` apps).
    #[arg(long)]
    pub second_factor: bool,
}

#[derive(Subcommand)]
pub enum UsersAction {
    /// Clear the user's failed sign-in counter, so the account may sign in again at once.
    Unlock(UserArgs),
    /// End every session, bearer token and cached Basic credential of the user.
    Revoke(UserArgs),
    /// Remove the TOTP secret and recovery codes the user set up on their account page (a
    /// secret in the config or users_file stays: change it there).
    TotpReset(UserArgs),
    /// List the OpenID clients the user allowed (consents), or take one back with --revoke.
    Consents(ConsentArgs),
    /// List the user's passkeys, or remove one with --remove ID.
    Passkeys(PasskeyArgs),
}

#[derive(Args)]
pub struct ConsentArgs {
    #[command(flatten)]
    pub user: UserArgs,
    /// The client id whose consent to take back: the user is asked again at its next sign-in.
    /// A client id may begin with `-`, so the value is taken as it stands.
    #[arg(long, value_name = "CLIENT", allow_hyphen_values = true)]
    pub revoke: Option<String>,
}

#[derive(Args)]
pub struct PasskeyArgs {
    /// The user's name.
    pub name: String,
    /// Remove the passkey with this id (as the list shows it) instead of listing. Ids are
    /// base64url, and one in 64 begins with `-`, so the value is taken as it stands.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub remove: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Args)]
pub struct UserArgs {
    /// The user's name.
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Subcommand)]
pub enum StoreAction {
    /// Write a consistent copy of the embedded store's data file (also while postern runs).
    Backup(BackupArgs),
    /// Write users' durable data (changed passwords, ...) as JSON lines.
    Export(ExportArgs),
    /// Store the records of an export file (a record with the same user, kind and id is
    /// replaced; others stay).
    Import(ImportArgs),
}

#[derive(Args)]
pub struct BackupArgs {
    /// The file to write (replaced if it exists). Restore: copy it over
    /// `<data_dir>/postern.redb` while postern is stopped.
    pub file: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The file to write (replaced if it exists); stdout when absent or `-`.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The export file to read; `-` reads stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, UsersAction};

    fn users_action(args: &[&str]) -> UsersAction {
        let parsed = Cli::try_parse_from(args).unwrap_or_else(|error| panic!("{error}"));
        match parsed.command {
            Command::Users { action } => action,
            _ => panic!("not a users command"),
        }
    }

    #[test]
    fn a_passkey_id_that_begins_with_a_dash_is_a_value() {
        let action = users_action(&["postern", "users", "passkeys", "alice", "--remove", "-Eq9x"]);
        let UsersAction::Passkeys(args) = action else {
            panic!("not passkeys")
        };
        assert_eq!(args.remove.as_deref(), Some("-Eq9x"));
    }

    #[test]
    fn a_client_id_that_begins_with_a_dash_is_a_value() {
        let action = users_action(&["postern", "users", "consents", "alice", "--revoke", "-app"]);
        let UsersAction::Consents(args) = action else {
            panic!("not consents")
        };
        assert_eq!(args.revoke.as_deref(), Some("-app"));
    }
}
