//! Loopback ports for the peers. None of them can take a listening socket from the test, so
//! each gets a port found free a moment earlier (`free_port`), which another test may take
//! in between. So a peer is ready only when the socket listening on its port is its own
//! (`process::wait_until_listening`), and one whose port was taken starts again on a fresh
//! port (`on_a_free_port`); where a port is written into another peer's config before it
//! starts, the harness starts them all again (`ReplicaStack`, the OIDC sign-in).

pub use postern_testkit::free_port;

use super::process::PortTaken;

/// How many fresh ports a start tries before it gives up.
pub const ATTEMPTS: usize = 5;

/// `start` on a free port, and again on a fresh one each time that port was taken.
pub async fn on_a_free_port<T>(
    what: &str,
    mut start: impl AsyncFnMut(u16) -> Result<T, PortTaken>,
) -> T {
    for _ in 0..ATTEMPTS {
        if let Ok(started) = start(free_port()).await {
            return started;
        }
    }
    panic!("{what}: every one of {ATTEMPTS} free ports was taken by another process first");
}
