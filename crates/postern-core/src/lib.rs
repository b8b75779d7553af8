//! postern's pure decisions. Nothing here knows about sockets, tokio, hyper or Redis: every
//! function takes what it needs (including `now`) as a parameter, so each rule is unit-tested
//! in isolation and the server only wires them together.
#![forbid(unsafe_code)]

pub mod access;
pub mod canonical;
pub mod client_ip;
pub mod config;
pub mod csrf;
pub mod decision;
pub mod device;
pub mod duration;
pub mod forwarded;
pub mod headers;
pub mod identity;
pub mod jwt;
pub mod limits;
pub mod mac;
pub mod oauth;
pub mod oidc;
pub mod password;
pub mod password_policy;
pub mod redirect;
pub mod session;
pub mod token;
pub mod totp;
pub mod users;
pub mod users_file;

/// Seconds since the Unix epoch. Every time-dependent rule takes one of these as `now`.
pub type UnixSeconds = u64;
