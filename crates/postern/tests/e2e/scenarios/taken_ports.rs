//! A peer whose port another process took between the harness finding it free and the peer
//! binding it: here an impostor that answers every readiness probe the way the peer would
//! (200 to health checks, 401 to an API client) holds the port. The start must end in
//! `PortTaken` (the harness then moves to a fresh port), never count the impostor's answers
//! as the peer being ready.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::harness::balancer::{Balancer, REPLICAS};
use crate::harness::ports::free_port;
use crate::harness::postern::Postern;
use crate::harness::upstream::Upstream;

/// Answers every request on its port like a ready postern (or a proxy routed to one).
struct Impostor {
    port: u16,
    task: JoinHandle<()>,
}

impl Impostor {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&request);
                    let path = line.split_whitespace().nth(1).unwrap_or("/");
                    let status = if path.starts_with("/api/") || path.starts_with("/.well-known/") {
                        "200 OK"
                    } else {
                        "401 Unauthorized"
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn postern_on_a_taken_port_is_not_taken_for_ready() {
    let impostor = Impostor::start().await;
    let started = Postern::try_start_on(impostor.port, "").await;
    assert!(
        started.is_err(),
        "postern counted as started on a port another process holds"
    );
    // On a fresh port it starts.
    let postern = Postern::start("").await;
    assert_ne!(postern.port(), impostor.port);
}

pub async fn nginx_on_a_taken_port_is_not_taken_for_routed() {
    let impostor = Impostor::start().await;
    let upstream = Upstream::start().await;
    let replicas: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let started = Balancer::try_start(impostor.port, &replicas, upstream.port()).await;
    assert!(
        started.is_err(),
        "nginx counted as routed on a port another process holds"
    );
}
