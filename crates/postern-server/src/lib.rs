//! postern's HTTP side: the listener (plain and TLS), a small hand-written router, the
//! handlers, and the pages. Every error becomes a response inside the handler that met it
//! (`respond`), so a bad request never drops the proxy's keep-alive connection.
#![forbid(unsafe_code)]

pub mod admin;
mod assets;
mod authorization;
mod basic;
mod cookies;
mod handlers;
mod hash_upgrades;
mod listener;
mod notify;
mod oauth;
mod pages;
mod passwords;
mod pending;
mod principal;
mod request;
mod respond;
mod router;
mod seen_once;
mod sessions;
mod state;
mod tls;
mod tokens;
mod user_passwords;

pub use listener::{ServeError, Server};
pub use state::AppState;
pub use tls::{TlsError, check as check_tls};
