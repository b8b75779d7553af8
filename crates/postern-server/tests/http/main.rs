//! The HTTP contract, driven over real sockets against an in-process server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod support;

mod access;
mod account;
mod admin_channel;
mod change_password;
mod check;
mod check_lane;
mod device;
mod embedded;
mod fuzz_bodies;
mod fuzz_lane;
mod headless;
mod hostile_input;
mod limits;
mod login;
mod logout;
mod notify;
mod oauth;
mod oidc;
mod own_forms;
mod pages;
mod passkeys;
mod protocols;
mod routes;
mod session_api;
mod session_cookies;
mod session_list;
mod tickets;
mod tls;
mod token_families;
mod totp;
