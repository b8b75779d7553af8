//! What a user of each proxy would check by hand, written once and run against every proxy
//! (see suites.rs). Each scenario starts its own stack: postern, upstream app, proxy.

pub mod access;
pub mod browser_login;
pub mod login_redirect;
pub mod logout;
pub mod oidc_login;
pub mod spoofing;

mod expect;
