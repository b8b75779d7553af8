//! The HTTP contract, driven over real sockets against an in-process server.

mod support;

mod check;
mod hostile_input;
mod login;
mod logout;
mod pages;
mod session_api;
mod tls;
