//! Everything the scenarios need to stand up postern, an upstream app and one proxy, or
//! several postern replicas sharing one Redis behind one nginx.

pub mod balancer;
pub mod client;
pub mod deploy;
pub mod oidc;
pub mod peers;
pub mod portal;
pub mod ports;
pub mod postern;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod relay;
pub mod replicas;
pub mod scratch;
pub mod shared_redis;
pub mod stack;
pub mod upstream;

mod caddy;
mod nginx;
mod traefik;
