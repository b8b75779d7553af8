//! Small HTTP/1.1 probes: one blocking GET (readiness, expected answers, cold start), the
//! many idle keep-alive connections of the idle-connections scenario, and the keep-alive
//! connection the training run (`train.rs`) sends its requests on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on a fresh connection; returns the status code.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    status_of(&answer)
}

/// `POST path` with a JSON body; the answer's body, when the status is 200.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let status = status_of(&answer)?;
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    anyhow::ensure!(status == 200, "POST {path} answered {status}: {body}");
    Ok(body.to_owned())
}

/// `POST path` with a JSON body and extra headers; the answer's status.
pub fn post_status(
    addr: SocketAddr,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    status_of(&answer)
}

fn status_of(answer: &[u8]) -> anyhow::Result<u16> {
    let text = String::from_utf8_lossy(answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status line")
}

/// Polls `GET path` until it answers `want`; returns the time it took.
pub fn wait_for(
    addr: SocketAddr,
    path: &str,
    want: u16,
    deadline: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if get(addr, path, &[]).is_ok_and(|status| status == want) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > deadline {
            bail!("{addr}{path} did not answer {want} within {deadline:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Opens `count` connections, sends one keep-alive `GET path` on each and reads its answer,
/// then keeps them all open and idle. Dropping the result closes them.
pub async fn idle_connections(
    addr: SocketAddr,
    path: &str,
    count: usize,
) -> anyhow::Result<Vec<tokio::net::TcpStream>> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut open = Vec::with_capacity(count);
    let mut batch = tokio::task::JoinSet::new();
    for _ in 0..count {
        let request = request.clone();
        batch.spawn(async move { one_idle(addr, &request).await });
        if batch.len() >= 64 {
            while let Some(done) = batch.join_next().await {
                open.push(done??);
            }
        }
    }
    while let Some(done) = batch.join_next().await {
        open.push(done??);
    }
    Ok(open)
}

async fn one_idle(addr: SocketAddr, request: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .context("no answer within 10 s")??;
    let status = status_of(buffer.get(..read).unwrap_or_default())?;
    if status != 200 {
        bail!("answered {status}");
    }
    Ok(stream)
}

/// How a burst of requests was answered.
#[derive(Debug, Clone, Default)]
pub struct BurstAnswers {
    /// (status, how many), by status.
    pub statuses: Vec<(u16, usize)>,
    /// Requests that got no status line: refused, reset, or not answered in time.
    pub failed: usize,
    /// From the moment every request was released to the last answer.
    pub took: Duration,
}

/// Opens one connection per request (`requests` are complete HTTP/1.1 requests with
/// `Connection: close`), waits until all are open, then sends them all at once and reads
/// every answer. The connections open at most `CONNECTING` at a time, so the listen queue does
/// not overflow before the burst begins.
pub async fn burst(addr: SocketAddr, requests: Vec<String>) -> anyhow::Result<BurstAnswers> {
    const CONNECTING: usize = 64;
    let mut open = Vec::with_capacity(requests.len());
    let mut connecting = tokio::task::JoinSet::new();
    for request in requests {
        connecting.spawn(async move { (tokio::net::TcpStream::connect(addr).await, request) });
        if connecting.len() >= CONNECTING {
            while let Some(done) = connecting.join_next().await {
                let (stream, request) = done?;
                open.push((stream.context("connecting for the burst")?, request));
            }
        }
    }
    while let Some(done) = connecting.join_next().await {
        let (stream, request) = done?;
        open.push((stream.context("connecting for the burst")?, request));
    }
    let (release, released) = tokio::sync::watch::channel(false);
    let mut answers = tokio::task::JoinSet::new();
    for (stream, request) in open {
        let mut released = released.clone();
        answers.spawn(async move {
            let _ = released.wait_for(|go| *go).await;
            answer_status(stream, &request).await
        });
    }
    let started = Instant::now();
    release.send(true)?;
    let mut counts = std::collections::BTreeMap::new();
    let mut failed = 0;
    while let Some(done) = answers.join_next().await {
        match done? {
            Some(status) => *counts.entry(status).or_insert(0) += 1,
            None => failed += 1,
        }
    }
    Ok(BurstAnswers {
        statuses: counts.into_iter().collect(),
        failed,
        took: started.elapsed(),
    })
}

/// Sends `request` and reads the answer to its end; its status, if one came within 60 s.
async fn answer_status(mut stream: tokio::net::TcpStream, request: &str) -> Option<u16> {
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    status_of(&answer).ok()
}

/// Sends `request` (a whole HTTP/1.1 request with `Connection: close`) on a fresh connection;
/// returns the whole answer as text.
pub fn exchange(addr: SocketAddr, request: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// One HTTP/1.1 keep-alive connection that sends a request and reads its whole answer.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// Sends `request` and reads the answer (its body by `Content-Length`); the status.
    pub fn send(&mut self, request: &str) -> anyhow::Result<u16> {
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the connection closed in an answer's head");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("a bad Content-Length")?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("a chunked answer, which this client does not read");
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(status)
    }
}
