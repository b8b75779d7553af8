//! Loopback ports for child processes. Most children cannot take a listening socket from the
//! test that starts them, so they get a port found free a moment earlier (`free_port`), which
//! another process may take in between. A child therefore counts as started only when the
//! socket listening on its port is its own (`listens_on`), never because something answers
//! there; and a child that exits because its port was taken (`said_port_taken`) is started
//! again on a fresh port by its harness.

use std::net::TcpListener;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether process `pid` itself holds a socket listening on TCP `port` (any local address, in
/// its own network namespace). While it does, no other process can listen there, so whatever
/// answers on the port is this process.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let listening = listening_sockets(pid, port);
    if listening.is_empty() {
        return false;
    }
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.flatten().any(|descriptor| {
        std::fs::read_link(descriptor.path())
            .ok()
            .and_then(|target| socket_inode(&target.to_string_lossy()))
            .is_some_and(|inode| listening.contains(&inode))
    })
}

/// Whether a child's output says it could not bind its port because another process holds it
/// (postern, nginx, traefik, caddy and node all say "address already in use").
pub fn said_port_taken(output: &str) -> bool {
    output
        .to_ascii_lowercase()
        .contains("address already in use")
}

/// The inodes of the sockets in LISTEN state on `port` in `pid`'s network namespace.
fn listening_sockets(pid: u32, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    let mut inodes = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if *state == LISTEN
                && local_port == Some(port)
                && let Ok(inode) = inode.parse()
            {
                inodes.push(inode);
            }
        }
    }
    inodes
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::process::{Command, Stdio};

    use super::{listens_on, said_port_taken};

    #[test]
    fn a_listener_is_its_holders_alone() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), port));
        // Another process on this machine, which does not hold it.
        let mut other = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        assert!(!listens_on(other.id(), port));
        let _ = other.kill();
        let _ = other.wait();
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn a_connection_on_the_port_is_no_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        drop(listener);
        // The accepted connection still has the port as its local one, but listens no more.
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn every_peer_s_bind_failure_reads_as_a_taken_port() {
        for output in [
            "Error: Address already in use (os error 98)",
            "nginx: [emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)",
            "listen tcp 127.0.0.1:8080: bind: address already in use",
            "Error: listen EADDRINUSE: address already in use 127.0.0.1:8080",
        ] {
            assert!(said_port_taken(output), "{output}");
        }
        assert!(!said_port_taken("permission denied"));
    }
}
