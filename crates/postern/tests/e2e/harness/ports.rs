//! Free loopback ports. The OS picks one for a socket bound to port 0; we release it and hand
//! the number to a process that binds it a moment later. Another process could grab it in
//! between, but on a test machine that race is rare and shows up as a clear startup failure.

use std::net::TcpListener;

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}
