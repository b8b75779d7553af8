//! A proxy's checks, answered without hyper's connection machinery. A proxy's connection to
//! postern carries checks and nothing else: one request head after another, each with no
//! body, on one keep-alive connection. hyper runs each through its dispatcher, a boxed
//! service future, its header encoder and its write buffer; an answer written straight from
//! the head `httparse` parsed (the parser hyper uses) costs a third of hyper's instructions
//! (postern-bench's floor stub, row a2: 4,795 instructions an answer under callgrind against
//! bare hyper's 14,398 with the same headers, profile-guided builds). The check reads the
//! parsed head in place (`RequestHeaders::Parsed`: no `HeaderMap`, no `Request`), and an
//! allowed answer is written from its identity's rendered lines (`CheckAnswer::Identity`: no
//! response): a cookie check runs 17,661 instructions in a plain build against 23,140 with
//! hyper's map and response (an nginx-shaped one 20,373 against 28,396); docs/performance.md,
//! "The eighteenth session" and "The nineteenth session".
//!
//! So a plain HTTP/1.1 connection starts in this lane. A head it understands whole is
//! answered here: HTTP/1.1, a target in origin form that the router calls a check, no body
//! announced (no `Transfer-Encoding`, no `Content-Length` but a single `0`), and nothing
//! asked of the connection (no `Connection` but `keep-alive`, no `Upgrade`, `Expect` or
//! `TE`; not `HEAD` or `CONNECT`). At the first head that is anything else, or that fails to
//! parse, the lane ends and hyper serves the connection for the rest of its life, given every
//! byte that was read and not answered: hyper sees the stream it would have seen from the
//! start, and answers, refuses or reads the body of that request itself. A head this lane
//! answers is one after which the next request begins exactly where the head ends, so the
//! two can never read a request's bytes differently; both parse with `httparse`'s default
//! config and the same header limit (`MOST_REQUEST_HEADERS`).
//!
//! It keeps hyper's bounds: a head not yet whole is searched for its end only in the bytes
//! read since (as hyper's `is_complete_fast`), and empty lines before a request line are
//! dropped as they come, so a head sent a byte at a time costs linear work; reads stop at the listener's 64 KiB buffer (a larger head is hyper's to refuse);
//! pipelined answers are written, and the task yields, every 16 answers or 16 KiB, as
//! hyper's dispatcher yields; buffers grown by a large head are given back. While postern
//! shuts down, an answer says `connection: close` and the connection ends after it.

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use postern_core::forwarded::{OwnRequest, ProxyKind};
use postern_core::headers::RequestHeaders;
use postern_core::identity::Identity;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::MOST_REQUEST_HEADERS;
use super::idle::Activity;
use crate::handlers::check::{self, CheckAnswer, IdentityToken};
use crate::respond::HttpResponse;
use crate::router;
use crate::state::AppState;

/// Answers made before they are written and the task yields to the others, as hyper's
/// dispatcher yields every 16 requests: a client that pipelines thousands of checks is
/// answered in turns with every other connection, and its answers never pile up in memory.
const MOST_ANSWERS_A_TURN: usize = 16;
/// The most answer bytes kept before they are written, and the most `out` keeps while idle.
const MOST_OUT_BYTES: usize = 16 * 1024;
/// The read buffer's first size, as hyper's.
const FIRST_READ_BUFFER: usize = 8 * 1024;

/// How the lane ended.
pub enum LaneEnd {
    /// The client closed, a read or write failed, or postern is shutting down.
    Closed,
    /// A head the lane does not answer: hyper takes the connection, and these bytes (read,
    /// not answered, that head first) are what it reads before the socket.
    ToHyper(Vec<u8>),
}

/// Answers checks on `io` until the client closes or sends something else. `max_buffer`
/// bounds the read buffer as hyper's `max_buf_size` does; a head that does not fit goes to
/// hyper, which refuses it.
pub async fn answer_checks<I>(
    io: &mut I,
    state: &Arc<AppState>,
    peer: SocketAddr,
    activity: &Arc<Activity>,
    shutdown: &CancellationToken,
    max_buffer: usize,
) -> LaneEnd
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    // Read into spare capacity, never zeroed: an idle connection keeps only the pages its
    // requests touched, as hyper's buffer does.
    let mut read = BytesMut::with_capacity(FIRST_READ_BUFFER);
    let mut out = Vec::new();
    let mut date = Date::default();
    // Made once: a fresh `cancelled()` for every read would register a waiter each time.
    let mut stopping = std::pin::pin!(shutdown.cancelled());
    // While a head is not whole, how much of it has been searched for its end: each read is
    // searched from there, as hyper does, so a head sent a byte at a time costs work in
    // proportion to its length, not a parse of all of it at every byte.
    let mut searched: Option<usize> = None;
    loop {
        if let Some(from) = searched
            && !may_end_a_head(&read, from)
        {
            searched = Some(read.len());
            if let Some(end) = read_more(io, &mut read, max_buffer, &mut stopping).await {
                return end;
            }
            continue;
        }
        searched = None;
        // What was read, shared: header values and the target are slices of it, as hyper
        // makes them, not copies.
        let buffered = read.split().freeze();
        let mut start = 0;
        let mut answered = 0;
        while let Some(unanswered) = buffered.get(start..) {
            let head = match parse(state, &buffered, unanswered) {
                Head::Partial => break,
                Head::Other => return hand_over(io, &out, unanswered).await,
                Head::Check(head) => head,
            };
            let in_flight = activity.request_started();
            let own = OwnRequest {
                method: &head.method,
                // As `check::check` reads it from hyper's request: none, for the origin-form
                // targets the lane takes, but read, not assumed.
                authority: head.uri.authority().map(http::uri::Authority::as_str),
                envoy_path: &head.envoy_path,
            };
            let headers = RequestHeaders::Parsed(&head.headers);
            let answer = check::check_head(state, peer, head.kind, &own, headers).await;
            start += head.len;
            drop(head);
            // Shutting down: the answer says the connection ends, as hyper's does then.
            let closing = shutdown.is_cancelled();
            let answer = match answer {
                CheckAnswer::Identity { identity, token } => {
                    encode_allowed(&identity, token.as_ref(), closing, &mut date, &mut out)
                }
                CheckAnswer::Response(response) => {
                    encode(response, closing, &mut date, &mut out).await
                }
            };
            drop(in_flight);
            answered += 1;
            if answer == Answer::ThenClose {
                if io.write_all(&out).await.is_ok() {
                    let _ = io.shutdown().await;
                }
                return LaneEnd::Closed;
            }
            if answered % MOST_ANSWERS_A_TURN == 0 || out.len() >= MOST_OUT_BYTES {
                if io.write_all(&out).await.is_err() {
                    return LaneEnd::Closed;
                }
                out.clear();
                tokio::task::yield_now().await;
            }
        }
        let rest = buffered.get(start..).map(without_empty_lines_before);
        if let Some(rest) = rest.filter(|rest| !rest.is_empty()) {
            // A head that is not whole yet (rare: a proxy sends each at once) goes in front
            // of what is read next, copied once; the parse that found it partial read it all.
            let mut whole = BytesMut::with_capacity(rest.len().max(FIRST_READ_BUFFER));
            whole.extend_from_slice(rest);
            read = whole;
            searched = Some(rest.len());
        } else if read.capacity() > 2 * FIRST_READ_BUFFER {
            // A large head grew the buffer: give it back rather than keep it while idle.
            read = BytesMut::new();
        }
        drop(buffered);
        if !out.is_empty() {
            if io.write_all(&out).await.is_err() {
                return LaneEnd::Closed;
            }
            out.clear();
        }
        if out.capacity() > MOST_OUT_BYTES {
            out = Vec::new();
        }
        // Between two requests, as hyper's graceful shutdown ends a connection.
        if shutdown.is_cancelled() {
            return LaneEnd::Closed;
        }
        if let Some(end) = read_more(io, &mut read, max_buffer, &mut stopping).await {
            return end;
        }
    }
}

/// `rest` without the empty lines before its request line, which httparse passes over (and
/// hyper's parse, the same parser, after a hand-over): kept, a client sending nothing but line
/// feeds one at a time would have all of them parsed again and copied at every read, work
/// that grows with the square of their number up to the 64 KiB bound.
fn without_empty_lines_before(mut rest: &[u8]) -> &[u8] {
    loop {
        rest = match rest {
            [b'\n', after @ ..] | [b'\r', b'\n', after @ ..] => after,
            _ => return rest,
        };
    }
}

/// Whether the bytes read since `searched` (and the three before, where an end may have
/// started) hold what ends a head: `\r\n\r\n`, or `\n\n` (httparse takes bare line feeds).
/// hyper's `is_complete_fast` is the same search.
fn may_end_a_head(read: &[u8], searched: usize) -> bool {
    let fresh = read.get(searched.saturating_sub(3)..).unwrap_or_default();
    fresh
        .windows(2)
        .enumerate()
        .any(|(at, pair)| pair == b"\n\n" || (pair == b"\n\r" && fresh.get(at + 2) == Some(&b'\n')))
}

/// Reads what the client sends next onto the end of `read`, never past `max_buffer`;
/// `Some` when the lane ends.
async fn read_more<I>(
    io: &mut I,
    read: &mut BytesMut,
    max_buffer: usize,
    stopping: &mut Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) -> Option<LaneEnd>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let Some(room) = max_buffer.checked_sub(read.len()).filter(|room| *room > 0) else {
        // A head this large is hyper's to refuse (431).
        return Some(hand_over(io, &[], read).await);
    };
    let wanted = room.min(FIRST_READ_BUFFER.max(read.len()));
    if read.capacity() - read.len() < wanted {
        read.reserve(wanted);
    }
    let mut bounded = (&mut *read).limit(room);
    tokio::select! {
        biased;
        got = io.read_buf(&mut bounded) => match got {
            Ok(0) | Err(_) => Some(LaneEnd::Closed),
            Ok(_) => None,
        },
        () = stopping.as_mut() => Some(LaneEnd::Closed),
    }
}

/// Writes the answers already made, then gives hyper the rest.
async fn hand_over<I: AsyncWrite + Unpin>(io: &mut I, out: &[u8], unanswered: &[u8]) -> LaneEnd {
    if !out.is_empty() && io.write_all(out).await.is_err() {
        return LaneEnd::Closed;
    }
    LaneEnd::ToHyper(unanswered.to_vec())
}

enum Head<'a> {
    /// Not the whole head yet.
    Partial,
    /// Anything but a check this lane answers, or a head that does not parse.
    Other,
    Check(CheckHead<'a>),
}

/// A check's head, read in place: its headers are slices of the read buffer, as sent.
struct CheckHead<'a> {
    method: Method,
    uri: Uri,
    kind: ProxyKind,
    envoy_path: String,
    /// `(name, value)` as sent: `RequestHeaders::Parsed`. httparse has checked each name is a
    /// token and each value holds bytes `HeaderValue` takes (the same set: a test holds the
    /// two together), so a check reads them as it reads hyper's.
    headers: Vec<(&'a str, &'a [u8])>,
    /// The head's length in bytes: where the next request starts.
    len: usize,
}

/// Parses the head at the start of `bytes`, a part of `buffered`.
fn parse<'a>(state: &AppState, buffered: &Bytes, bytes: &'a [u8]) -> Head<'a> {
    // Uninitialised, as hyper's: 100 empty headers written before every parse were 3.2 KB.
    let mut headers =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MOST_REQUEST_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        bytes,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let (Some(method), Some(target), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Head::Other;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Head::Other;
    };
    if method == Method::HEAD || method == Method::CONNECT || !target.starts_with('/') {
        return Head::Other;
    }
    let Some(headers) = header_lines(parsed.headers) else {
        return Head::Other;
    };
    // Parsed as hyper parses it, so a target hyper refuses is hyper's to refuse.
    let Ok(uri) = Uri::from_maybe_shared(buffered.slice_ref(target.as_bytes())) else {
        return Head::Other;
    };
    let Some((kind, envoy_path)) = router::check_of(state, &method, uri.path(), uri.query()) else {
        return Head::Other;
    };
    Head::Check(CheckHead {
        method,
        uri,
        kind,
        envoy_path,
        headers,
        len,
    })
}

/// The head's headers as sent, or `None` when one asks for what only hyper does: a body, a
/// change of protocol, an interim answer, a connection that ends.
fn header_lines<'a>(parsed: &[httparse::Header<'a>]) -> Option<Vec<(&'a str, &'a [u8])>> {
    let mut lines = Vec::with_capacity(parsed.len());
    let mut content_length = false;
    for header in parsed {
        let (name, value) = (header.name, header.value);
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        match name.len() {
            2 if is("te") => return None,
            6 if is("expect") => return None,
            7 if is("upgrade") => return None,
            17 if is("transfer-encoding") => return None,
            // One `Content-Length: 0` says what no header says; two, or any other length,
            // are hyper's to read or refuse.
            14 if is("content-length") => {
                if content_length || value != b"0" {
                    return None;
                }
                content_length = true;
            }
            10 if is("connection") && !value.eq_ignore_ascii_case(b"keep-alive") => {
                return None;
            }
            _ => {}
        }
        lines.push((name, value));
    }
    Some(lines)
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    KeepOpen,
    /// The connection ends after this answer, which says so.
    ThenClose,
}

/// Appends `response` to `out` as hyper writes it: the status line, the handler's headers,
/// `content-length` (unless the status has no body) and `date`. `closing` (postern is
/// shutting down) adds `connection: close`, as hyper does then. Check answers are never 1xx
/// and carry no `Connection`; should one, it is answered as hyper would: a 1xx becomes a 500,
/// and a `close` token ends the connection.
async fn encode(
    response: HttpResponse,
    closing: bool,
    date: &mut Date,
    out: &mut Vec<u8>,
) -> Answer {
    let (parts, body) = response.into_parts();
    // `Full` is ready at once; its error type is `Infallible`.
    let body = body
        .collect()
        .await
        .map_or_else(|never| match never {}, |collected| collected.to_bytes());
    let informational = parts.status.is_informational();
    let status = if informational {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        parts.status
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
    // One pass over the handler's headers: no lookups by name on every answer.
    let (mut asks_to_close, mut has_date) = (false, false);
    for (name, value) in &parts.headers {
        // The lane says how long the body is, from the body itself, and whether the
        // connection stays open.
        if name == CONTENT_LENGTH {
            continue;
        }
        if name == CONNECTION {
            asks_to_close |= holds_close(value);
            continue;
        }
        has_date |= name == DATE;
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let closes = closing || informational || asks_to_close;
    let body = if has_body(status) && !informational {
        body
    } else {
        Bytes::new()
    };
    if has_body(status) {
        let mut length = itoa::Buffer::new();
        write_header(out, b"content-length", length.format(body.len()).as_bytes());
    }
    if closes {
        write_header(out, b"connection", b"close");
    }
    if !has_date {
        write_header(out, b"date", date.now().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    if closes {
        Answer::ThenClose
    } else {
        Answer::KeepOpen
    }
}

/// An allowed check's answer, as `encode` writes `CheckAnswer::into_response` of it (a test
/// holds the two together): from the identity's rendered lines, then the identity token's,
/// with no header map.
fn encode_allowed(
    identity: &Identity,
    token: Option<&IdentityToken<'_>>,
    closing: bool,
    date: &mut Date,
    out: &mut Vec<u8>,
) -> Answer {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    out.extend_from_slice(identity.answer_lines());
    if let Some((name, value)) = token {
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    write_header(out, b"content-length", b"0");
    if closing {
        write_header(out, b"connection", b"close");
    }
    write_header(out, b"date", date.now().as_bytes());
    out.extend_from_slice(b"\r\n");
    if closing {
        Answer::ThenClose
    } else {
        Answer::KeepOpen
    }
}

/// Whether a `Connection` value holds the `close` token.
fn holds_close(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|byte| *byte == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// 1xx, 204 and 304 answers have no body and no `Content-Length` (RFC 9112, section 6.3).
fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// `Date` for one connection's answers, formatted again only when the second changes, as
/// hyper caches it.
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

/// The connection as hyper gets it after the lane: the bytes the lane read and did not
/// answer, then the socket.
pub struct Rewound<I> {
    read: Bytes,
    io: I,
}

impl<I> Rewound<I> {
    pub fn new(read: Vec<u8>, io: I) -> Self {
        Self {
            read: Bytes::from(read),
            io,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewound<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        let first = self.read.split_to(n);
        buf.put_slice(&first);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewound<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use postern_core::config::{self, NoEnv, Sources};
    use postern_store::Store;

    use super::*;
    use crate::respond;
    use http::HeaderName;

    fn state() -> Arc<AppState> {
        let hash = postern_core::password::hash_password(b"a password").unwrap();
        let text = format!(
            "app_url = \"https://auth.example.com\"\n\
             secret = \"test-secret-that-is-long-enough-for-postern\"\n\
             [[users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n"
        );
        let config = config::load(&Sources {
            file: Some((&text, std::path::Path::new("test.toml"))),
            env: &NoEnv,
            cli: &[],
        })
        .unwrap();
        Arc::new(AppState::new(config, Store::memory(100)))
    }

    const CHECK: &str = "GET /api/auth/traefik HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\
                         X-Forwarded-Host: app.example.com\r\nX-Forwarded-Uri: /\r\n\
                         X-Forwarded-Method: GET\r\n\r\n";
    const OTHER: &str = "GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Runs the lane on what `sent` holds; what it ended with, and what it wrote.
    async fn lane(sent: &str, shutdown: &CancellationToken) -> (LaneEnd, String) {
        let (mut proxy, mut postern) = tokio::io::duplex(256 * 1024);
        proxy.write_all(sent.as_bytes()).await.unwrap();
        proxy.shutdown().await.unwrap();
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let end = answer_checks(
            &mut postern,
            &state(),
            peer,
            &Activity::new(),
            shutdown,
            64 * 1024,
        )
        .await;
        drop(postern);
        let mut written = String::new();
        proxy.read_to_string(&mut written).await.unwrap();
        (end, written)
    }

    #[tokio::test]
    async fn the_lane_answers_checks_and_hands_hyper_the_first_other_request() {
        let sent = format!("{CHECK}{CHECK}{OTHER}{CHECK}");
        let (end, written) = lane(&sent, &CancellationToken::new()).await;
        let LaneEnd::ToHyper(rest) = end else {
            panic!("the lane did not hand the connection over");
        };
        assert_eq!(String::from_utf8(rest).unwrap(), format!("{OTHER}{CHECK}"));
        assert_eq!(
            written.matches("HTTP/1.1 401 Unauthorized\r\n").count(),
            2,
            "{written}"
        );
        assert!(!written.contains("connection: close"), "{written}");
    }

    /// Empty lines before a request line are passed over as they come, not kept and parsed
    /// again at every read: 80,000 bytes of them, more than the 64 KiB the lane may buffer,
    /// still end in an answered check.
    #[tokio::test]
    async fn empty_lines_before_a_check_are_dropped_as_they_come() {
        let sent = format!("{}{CHECK}", "\r\n".repeat(40_000));
        let (end, written) = lane(&sent, &CancellationToken::new()).await;
        assert!(
            matches!(end, LaneEnd::Closed),
            "answered, not handed to hyper"
        );
        assert_eq!(written.matches("HTTP/1.1 401 Unauthorized\r\n").count(), 1);
        assert_eq!(without_empty_lines_before(b"\n\r\n\r"), b"\r");
        assert_eq!(without_empty_lines_before(b"\r\nGET /"), b"GET /");
    }

    #[tokio::test]
    async fn forty_pipelined_checks_are_all_answered_in_turns() {
        let sent = CHECK.repeat(40);
        let (end, written) = lane(&sent, &CancellationToken::new()).await;
        assert!(matches!(end, LaneEnd::Closed));
        assert_eq!(written.matches("HTTP/1.1 401 Unauthorized\r\n").count(), 40);
    }

    /// As hyper's graceful shutdown does: an answer made while postern shuts down says the
    /// connection ends, and ends it.
    #[tokio::test]
    async fn an_answer_made_while_postern_shuts_down_closes_the_connection() {
        let mut out = Vec::new();
        let mut date = Date::default();
        let answer = encode(respond::empty(StatusCode::OK), true, &mut date, &mut out).await;
        assert_eq!(answer, Answer::ThenClose);
        let written = String::from_utf8(out).unwrap();
        assert!(written.starts_with("HTTP/1.1 200 OK\r\n"), "{written}");
        assert!(written.contains("\r\nconnection: close\r\n"), "{written}");
        let mut out = Vec::new();
        let answer = encode(respond::empty(StatusCode::OK), false, &mut date, &mut out).await;
        assert_eq!(answer, Answer::KeepOpen);
        assert!(!String::from_utf8(out).unwrap().contains("connection"));
    }

    /// A handler's own `Date` is kept, and a `close` token in its `Connection` ends the
    /// connection with one `connection: close`, as hyper answers.
    #[tokio::test]
    async fn the_handler_s_date_and_connection_are_read_as_hyper_reads_them() {
        let mut response = respond::empty(StatusCode::OK);
        let headers = response.headers_mut();
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Dec 2026 12:00:00 GMT"),
        );
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Close"));
        let mut out = Vec::new();
        let answer = encode(response, false, &mut Date::default(), &mut out).await;
        assert_eq!(answer, Answer::ThenClose);
        let written = String::from_utf8(out).unwrap();
        assert_eq!(written.matches("date: ").count(), 1, "{written}");
        assert!(
            written.contains("date: Sun, 06 Dec 2026 12:00:00 GMT"),
            "{written}"
        );
        assert_eq!(written.matches("connection: ").count(), 1, "{written}");
        assert!(written.contains("\r\nconnection: close\r\n"), "{written}");
    }

    #[tokio::test]
    async fn a_head_larger_than_the_buffer_is_hyper_s() {
        let huge = CHECK.replacen(
            "\r\n\r\n",
            &format!("\r\nX-Huge: {}\r\n\r\n", "h".repeat(70_000)),
            1,
        );
        let (end, written) = lane(&huge, &CancellationToken::new()).await;
        let LaneEnd::ToHyper(rest) = end else {
            panic!("the lane did not hand the connection over");
        };
        assert_eq!(rest.len(), 64 * 1024);
        assert!(written.is_empty());
    }

    #[test]
    fn the_end_of_a_head_is_searched_for_in_what_was_read_since() {
        assert!(may_end_a_head(b"GET / HTTP/1.1\r\nA: b\r\n\r\n", 0));
        // An end that began before the last search is found from three bytes back.
        assert!(may_end_a_head(b"GET / HTTP/1.1\r\nA: b\r\n\r\n", 24));
        assert!(may_end_a_head(b"GET / HTTP/1.1\nA: b\n\n", 20));
        assert!(!may_end_a_head(b"GET / HTTP/1.1\r\nA: b\r\n", 0));
        assert!(!may_end_a_head(b"GET / HTTP/1.1\r\nA: b\r\n\r\nX", 29));
    }

    /// The lines the lane keeps of a head with these headers.
    fn headers<'a>(lines: &[(&'a str, &'a str)]) -> Option<Vec<(&'a str, &'a [u8])>> {
        let parsed: Vec<httparse::Header<'_>> = lines
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect();
        header_lines(&parsed)
    }

    #[test]
    fn a_head_without_a_body_or_connection_wishes_stays_in_the_lane() {
        let sent = [
            ("Host", "x"),
            ("Cookie", "a=b"),
            ("Cookie", "c=d"),
            ("Content-Length", "0"),
            ("Connection", "Keep-Alive"),
        ];
        let kept = headers(&sent).unwrap();
        let as_sent: Vec<_> = sent
            .iter()
            .map(|(name, value)| (*name, value.as_bytes()))
            .collect();
        assert_eq!(kept, as_sent, "every header, in order, names as sent");
    }

    #[test]
    fn a_body_or_a_connection_wish_goes_to_hyper() {
        for lines in [
            &[("Content-Length", "5")][..],
            &[("Content-Length", "00")],
            &[("Content-Length", "0"), ("content-length", "0")],
            &[("Transfer-Encoding", "chunked")],
            &[("transfer-encoding", "identity")],
            &[("Connection", "close")],
            &[("Connection", "keep-alive, Upgrade")],
            &[("Upgrade", "websocket")],
            &[("EXPECT", "100-continue")],
            &[("TE", "trailers")],
        ] {
            assert!(headers(lines).is_none(), "{lines:?}");
        }
    }

    /// The lane reads parsed names and values without building `HeaderName`s and
    /// `HeaderValue`s (`RequestHeaders::Parsed`): it relies on httparse taking exactly the
    /// bytes those take, which hyper relies on too (it builds values unchecked).
    #[test]
    fn httparse_takes_the_header_bytes_http_takes() {
        let parses = |head: Vec<u8>| {
            let mut lines = [httparse::EMPTY_HEADER; 4];
            matches!(
                httparse::Request::new(&mut lines).parse(&head),
                Ok(httparse::Status::Complete(_))
            )
        };
        // 40 bytes, the byte at each place httparse's 8-, 16- and 32-byte matchers and its
        // byte-at-a-time tail may take it. A CR or LF ends the line, and what follows it is
        // no header line: httparse refuses the head, as `HeaderValue` refuses the byte.
        for byte in 0..=u8::MAX {
            for at in [0, 1, 7, 8, 15, 16, 31, 32, 39] {
                let mut value = [b'v'; 40];
                value[at] = byte;
                let head = [b"GET / HTTP/1.1\r\nX: a".as_slice(), &value, b"z\r\n\r\n"].concat();
                let mut whole = vec![b'a'];
                whole.extend_from_slice(&value);
                whole.push(b'z');
                assert_eq!(
                    parses(head),
                    HeaderValue::from_bytes(&whole).is_ok(),
                    "value byte {byte:#04x} at {at}"
                );
                // A colon ends a name (what follows is the value), and a line end ends the
                // line: neither is a byte of a name.
                if ![b':', b'\r', b'\n'].contains(&byte) {
                    let mut name = [b'n'; 40];
                    name[at] = byte;
                    let head = [b"GET / HTTP/1.1\r\n".as_slice(), &name, b": v\r\n\r\n"].concat();
                    assert_eq!(
                        parses(head),
                        http::HeaderName::from_bytes(&name).is_ok(),
                        "name byte {byte:#04x} at {at}"
                    );
                }
            }
        }
    }

    /// What `out` holds, the `date` line's value blanked: the two writers may read the clock
    /// in different seconds, but the line must be where it is, once.
    fn date_blanked(out: &[u8]) -> String {
        String::from_utf8_lossy(out)
            .split_inclusive("\r\n")
            .map(|line| {
                if line.starts_with("date: ") {
                    "date: -\r\n"
                } else {
                    line
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn an_allowed_answer_is_written_as_its_response_would_be() {
        let identities = [
            Identity::default(),
            Identity::new(
                "alice",
                "alice@example.com",
                "Alice",
                &["admins".into(), "ops".into()],
            ),
            Identity::new("b\r\nob", "", " Bob\u{0} ", &["a,b".into()]),
        ];
        let header = HeaderName::from_static("remote-jwt");
        let token = (
            &header,
            HeaderValue::from_static("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
        );
        for identity in identities {
            for token in [None, Some(token.clone())] {
                for closing in [false, true] {
                    let (mut lines, mut from_response) = (Vec::new(), Vec::new());
                    let mut date = Date::default();
                    let written =
                        encode_allowed(&identity, token.as_ref(), closing, &mut date, &mut lines);
                    let response = CheckAnswer::Identity {
                        identity: identity.clone(),
                        token: token.clone(),
                    }
                    .into_response();
                    let encoded =
                        encode(response, closing, &mut Date::default(), &mut from_response).await;
                    assert_eq!(written, encoded);
                    let lines = date_blanked(&lines);
                    assert_eq!(
                        lines,
                        date_blanked(&from_response),
                        "{identity:?} {token:?}"
                    );
                    assert_eq!(lines.matches("\r\ndate: -\r\n").count(), 1, "{lines}");
                }
            }
        }
    }

    #[test]
    fn statuses_without_a_body_get_no_length() {
        assert!(has_body(StatusCode::OK));
        assert!(has_body(StatusCode::UNAUTHORIZED));
        assert!(!has_body(StatusCode::NO_CONTENT));
        assert!(!has_body(StatusCode::NOT_MODIFIED));
        assert!(!has_body(StatusCode::CONTINUE));
    }

    #[tokio::test]
    async fn rewound_reads_the_kept_bytes_then_the_socket() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut rewound = Rewound::new(b"kept ".to_vec(), client);
        server.write_all(b"then socket").await.unwrap();
        drop(server);
        let mut read = String::new();
        rewound.read_to_string(&mut read).await.unwrap();
        assert_eq!(read, "kept then socket");
    }
}
