//! One module per group of routes; `router` decides which handler answers.

pub mod account;
pub mod change_password;
pub mod check;
pub mod health;
pub mod login;
pub mod logout;
pub mod oauth;
pub mod oidc_api;
pub mod oidc_flow;
pub mod oidc_meta;
pub mod pages;
pub mod passkey_login;
pub mod passkey_reauth;
mod passkey_shared;
pub mod passkeys;
pub mod session_api;
pub mod session_list;
pub mod tickets;
pub mod tokens;
pub mod totp;
