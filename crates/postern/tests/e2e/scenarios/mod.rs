//! What a user of each proxy would check by hand, written once and run against every proxy
//! (see suites.rs). Each scenario starts its own stack: postern, upstream app, proxy. The
//! replica scenarios start several postern processes behind one nginx, sharing one Redis.

pub mod access;
pub mod browser_login;
pub mod deploy_variants;
pub mod host_confusion;
pub mod identity_token;
pub mod keepalive;
pub mod login_redirect;
pub mod logout;
pub mod oidc_login;
pub mod oidc_provider;
pub mod redis_outage;
pub mod refused_in_chromium;
pub mod replicas;
pub mod spoofing;
pub mod taken_ports;

mod expect;
mod replica_checks;
