//! postern's HTTP side: the listener (plain and TLS), a small hand-written router, the
//! handlers, and the pages. Every error becomes a response before it leaves the router (one
//! `AppError`, answered in `error`), so a bad request never drops the proxy's keep-alive
//! connection.
#![forbid(unsafe_code)]
// The router is generic over the request body; the layout of its nested handler futures goes
// past the default query depth.
#![recursion_limit = "256"]

pub mod admin;
pub mod admin_channel;
mod allocator;
mod assets;
mod authorization;
mod basic;
mod basic_cache;
mod clock;
mod cookies;
mod credentials;
mod credentials_record;
mod error;
mod factor_rules;
mod handlers;
mod hash_upgrades;
mod listener;
mod notify;
mod oauth;
mod oidc;
mod outbound;
mod pages;
mod passwords;
mod pending;
mod principal;
pub mod record_import;
pub mod records_file;
mod request;
mod respond;
pub mod retirement;
mod router;
mod seen_once;
mod sessions;
mod state;
pub mod telemetry;
mod tls;
mod tokens;
mod user_factors;
mod user_passwords;
pub mod webauthn;

pub use listener::{ServeError, Server};
pub use request::RequestBody;
pub use router::handle;
pub use state::AppState;
pub use tls::{TlsError, check as check_tls};
