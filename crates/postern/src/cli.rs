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
