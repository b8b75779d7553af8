//! The floor: the least a keep-alive HTTP/1.1 answer with postern's headers costs in Rust on
//! the same runtime, with no HTTP library but the parser hyper itself uses (`httparse`). It
//! answers every request head with 200, `Cache-Control: no-store`, the four `Remote-*`
//! headers of the bench's user, a `Date` (formatted once a second, as hyper does) and
//! `Content-Length: 0`, and answers pipelined heads in one write.
//!
//! A yardstick, not a server: it reads no bodies (a request that announces one is answered
//! 400 and its connection closed), keeps no timeouts and routes nothing; it closes the
//! connection after answering a request that says `Connection: close` (the bench's probe). Row a2 and
//! `crates/postern-bench/instructions` measure it beside bare hyper (row a) and nginx (row
//! b), to tell what hyper's connection machinery costs a check from what postern's own code
//! does (docs/performance.md, "The eighteenth session"). Usage: `floor PORT`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The same headers, in the same order, as `bare PORT identity` and postern's answer.
const IDENTITY: &[u8] = b"HTTP/1.1 200 OK\r\ncache-control: no-store\r\nremote-user: bench\r\n\
remote-email: bench@example.com\r\nremote-name: Bench User\r\nremote-groups: admins\r\n\
content-length: 0\r\ndate: ";
const REFUSED: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
/// hyper's default header count limit.
const MOST_HEADERS: usize = 100;
/// What postern's listener lets a connection's read buffer grow to.
const MAX_READ_BUFFER: usize = 64 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(port) = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse::<u16>().ok())
    else {
        eprintln!("usage: floor PORT");
        return ExitCode::from(64);
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("floor: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
            Err(err) => {
                eprintln!("floor: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(mut stream: TcpStream) {
    let mut read = vec![0u8; 8 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4 * 1024);
    let mut date = Date::default();
    loop {
        if filled == read.len() {
            if read.len() >= MAX_READ_BUFFER {
                return;
            }
            read.resize(read.len() * 2, 0);
        }
        let Some(unread) = read.get_mut(filled..) else {
            return;
        };
        match stream.read(unread).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let mut start = 0;
        while let Some(head) = read.get(start..filled) {
            let mut headers = [httparse::EMPTY_HEADER; MOST_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(head) {
                Ok(httparse::Status::Complete(len)) if !announces_body(request.headers) => {
                    out.extend_from_slice(IDENTITY);
                    out.extend_from_slice(date.now().as_bytes());
                    out.extend_from_slice(b"\r\n\r\n");
                    start += len;
                    if asks_to_close(request.headers) {
                        let _ = stream.write_all(&out).await;
                        return;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Ok(httparse::Status::Complete(_)) | Err(_) => {
                    out.extend_from_slice(REFUSED);
                    let _ = stream.write_all(&out).await;
                    return;
                }
            }
        }
        read.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn announces_body(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|header| {
        header.name.eq_ignore_ascii_case("transfer-encoding")
            || (header.name.eq_ignore_ascii_case("content-length") && header.value != b"0")
    })
}

fn asks_to_close(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|header| {
        header.name.eq_ignore_ascii_case("connection")
            && header.value.eq_ignore_ascii_case(b"close")
    })
}

/// `Date`, formatted again only when the second changes.
#[derive(Default)]
struct Date {
    second: u64,
    text: String,
}

impl Date {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}
