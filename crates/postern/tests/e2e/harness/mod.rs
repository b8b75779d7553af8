//! Everything the scenarios need to stand up postern, an upstream app and one proxy.

pub mod client;
pub mod deploy;
pub mod oidc;
pub mod peers;
pub mod portal;
pub mod ports;
pub mod postern;
pub mod process;
pub mod proxy;
pub mod scratch;
pub mod stack;
pub mod upstream;

mod caddy;
mod nginx;
mod traefik;
