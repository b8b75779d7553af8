//! A proxy's checks, answered without hyper's connection machinery. A proxy's connection to
//! postern carries checks and nothing else: one request head after another, each with no
//! body, on one keep-alive connection. hyper runs each through its dispatcher, a boxed
//! service future, its header encoder and its write buffer; an answer written straight from
//! the head `httparse` parsed (the parser hyper uses) costs a third of hyper's instructions
//! (postern-bench's floor stub, row a2: 4,795 instructions an answer under callgrind against
//! bare hyper's 14,398 with the same headers, profile-guided builds). Through this lane a
//! cookie check runs 21,886 instructions against 23,112 through hyper (−5.3 %; the check
//! itself still reads an `http::HeaderMap`, which costs what it costs hyper to build);
//! docs/performance.md, "The eighteenth session".
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
//! two can never read a request's bytes differently.

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::idle::Activity;
use crate::handlers::check;
use crate::respond::HttpResponse;
use crate::router;
use crate::state::AppState;

/// hyper's limit on a request's header count; a head with more goes to hyper, which
/// refuses it (431).
const MOST_HEADERS: usize = 100;
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
    // A head that is not whole yet waits in `read`, which later reads append to in place.
    let mut waiting = false;
    loop {
        if waiting && still_partial(&read) {
            if let Some(end) = read_more(io, &mut read, max_buffer, &out, &mut stopping).await {
                return end;
            }
            continue;
        }
        waiting = false;
        // What was read, shared: header values and the target are slices of it, as hyper
        // makes them, not copies.
        let buffered = read.split().freeze();
        let mut start = 0;
        while let Some(unanswered) = buffered.get(start..) {
            let answer = match parse(state, &buffered, unanswered) {
                Head::Partial => break,
                Head::Other => return hand_over(io, &out, unanswered).await,
                Head::Check(head) => {
                    let in_flight = activity.request_started();
                    let response =
                        check::check(state, peer, &head.request, head.kind, &head.envoy_path).await;
                    drop(head.request);
                    let answer = encode(response, &mut date, &mut out).await;
                    drop(in_flight);
                    start += head.len;
                    answer
                }
            };
            if answer == Answer::ThenClose {
                if io.write_all(&out).await.is_ok() {
                    let _ = io.shutdown().await;
                }
                return LaneEnd::Closed;
            }
        }
        if let Some(rest) = buffered.get(start..).filter(|rest| !rest.is_empty()) {
            // A head that is not whole yet (rare: a proxy sends each at once) goes in front
            // of what is read next, copied once.
            let mut whole = BytesMut::with_capacity(rest.len().max(FIRST_READ_BUFFER));
            whole.extend_from_slice(rest);
            read = whole;
            waiting = true;
        }
        drop(buffered);
        if !out.is_empty() {
            if io.write_all(&out).await.is_err() {
                return LaneEnd::Closed;
            }
            out.clear();
        }
        // Between two requests, as hyper's graceful shutdown ends a connection.
        if shutdown.is_cancelled() {
            return LaneEnd::Closed;
        }
        if let Some(end) = read_more(io, &mut read, max_buffer, &out, &mut stopping).await {
            return end;
        }
    }
}

/// Whether `read` still holds less than a whole head (and nothing that fails to parse).
fn still_partial(read: &[u8]) -> bool {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MOST_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    matches!(
        httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut parsed,
            read,
            &mut headers
        ),
        Ok(httparse::Status::Partial)
    )
}

/// Reads what the client sends next onto the end of `read`; `Some` when the lane ends.
async fn read_more<I>(
    io: &mut I,
    read: &mut BytesMut,
    max_buffer: usize,
    out: &[u8],
    stopping: &mut Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) -> Option<LaneEnd>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    if read.len() >= max_buffer {
        // A head this large is hyper's to refuse.
        return Some(hand_over(io, out, read).await);
    }
    // Room for a whole head, as hyper keeps: once the last answer's slices are dropped,
    // this takes the same allocation back rather than a new one.
    let room = FIRST_READ_BUFFER
        .max(read.len())
        .min(max_buffer - read.len());
    if read.capacity() - read.len() < room {
        read.reserve(room);
    }
    tokio::select! {
        biased;
        got = io.read_buf(read) => match got {
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

#[expect(
    clippy::large_enum_variant,
    reason = "made and matched at once, never kept: a box would cost every check an allocation"
)]
enum Head {
    /// Not the whole head yet.
    Partial,
    /// Anything but a check this lane answers, or a head that does not parse.
    Other,
    Check(CheckHead),
}

struct CheckHead {
    request: Request<()>,
    kind: postern_core::forwarded::ProxyKind,
    envoy_path: String,
    /// The head's length in bytes: where the next request starts.
    len: usize,
}

/// Parses the head at the start of `bytes`, a part of `buffered`.
fn parse(state: &AppState, buffered: &Bytes, bytes: &[u8]) -> Head {
    // Uninitialised, as hyper's: 100 empty headers written before every parse were 3.2 KB.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MOST_HEADERS];
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
    let Some(headers) = header_map(buffered, parsed.headers) else {
        return Head::Other;
    };
    let Ok(uri) = Uri::from_maybe_shared(buffered.slice_ref(target.as_bytes())) else {
        return Head::Other;
    };
    let Some((kind, envoy_path)) = router::check_of(state, &method, uri.path(), uri.query()) else {
        return Head::Other;
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Head::Check(CheckHead {
        request,
        kind,
        envoy_path,
        len,
    })
}

/// The names every proxy's checks carry that `http` does not know. `HeaderName::from_bytes`
/// copies such a name into a new allocation for every request; these are made once. Only a
/// saving: a name missing here is read all the same.
static PROXY_HEADERS: [HeaderName; 8] = [
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-uri"),
    HeaderName::from_static("x-forwarded-method"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-original-method"),
    HeaderName::from_static("x-real-ip"),
];

fn header_name(name: &str) -> Option<HeaderName> {
    let known = PROXY_HEADERS
        .iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(name));
    match known {
        Some(known) => Some(known.clone()),
        None => HeaderName::from_bytes(name.as_bytes()).ok(),
    }
}

/// The head's headers, or `None` when one asks for what only hyper does: a body, a change of
/// protocol, an interim answer, a connection that ends.
fn header_map(buffered: &Bytes, parsed: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(parsed.len());
    let mut content_length = false;
    for header in parsed {
        let name = header_name(header.name)?;
        let value = HeaderValue::from_maybe_shared(buffered.slice_ref(header.value)).ok()?;
        match name.as_str() {
            "transfer-encoding" | "upgrade" | "expect" | "te" => return None,
            // One `Content-Length: 0` says what no header says; two, or any other length,
            // are hyper's to read or refuse.
            "content-length" if content_length || value != "0" => return None,
            "content-length" => content_length = true,
            "connection" if !value.as_bytes().eq_ignore_ascii_case(b"keep-alive") => {
                return None;
            }
            _ => {}
        }
        headers.append(name, value);
    }
    Some(headers)
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    KeepOpen,
    /// The answer says `Connection: close`: hyper would close after it, and so does the lane.
    ThenClose,
}

/// Appends `response` to `out` as HTTP/1.1 writes it: the status line, the handler's
/// headers, `content-length` (unless the status has no body) and `date`, as hyper adds them.
async fn encode(response: HttpResponse, date: &mut Date, out: &mut Vec<u8>) -> Answer {
    let (parts, body) = response.into_parts();
    // `Full` is ready at once; its error type is `Infallible`.
    let body = body
        .collect()
        .await
        .map_or_else(|never| match never {}, |collected| collected.to_bytes());
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        // The lane says how long the body is, from the body itself.
        if name == CONTENT_LENGTH {
            continue;
        }
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if has_body(status) {
        let mut length = itoa::Buffer::new();
        write_header(out, b"content-length", length.format(body.len()).as_bytes());
    }
    if !parts.headers.contains_key(http::header::DATE) {
        write_header(out, b"date", date.now().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if has_body(status) {
        out.extend_from_slice(&body);
    }
    if parts.headers.contains_key(CONNECTION) {
        Answer::ThenClose
    } else {
        Answer::KeepOpen
    }
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
    use super::*;

    /// The header map of `lines`, their values read from one buffer as the lane reads them.
    fn headers(lines: &[(&str, &str)]) -> Option<HeaderMap> {
        let buffered = Bytes::from(lines.iter().map(|(_, value)| *value).collect::<String>());
        let mut at = 0;
        let parsed: Vec<httparse::Header<'_>> = lines
            .iter()
            .map(|(name, value)| {
                let header = httparse::Header {
                    name,
                    value: &buffered[at..at + value.len()],
                };
                at += value.len();
                header
            })
            .collect();
        header_map(&buffered, &parsed)
    }

    #[test]
    fn a_head_without_a_body_or_connection_wishes_stays_in_the_lane() {
        let map = headers(&[
            ("Host", "x"),
            ("Cookie", "a=b"),
            ("Cookie", "c=d"),
            ("Content-Length", "0"),
            ("Connection", "Keep-Alive"),
        ])
        .unwrap();
        assert_eq!(map.get_all("cookie").iter().count(), 2);
        assert_eq!(map.len(), 5);
        assert_eq!(map["connection"], "Keep-Alive");
    }

    #[test]
    fn a_body_or_a_connection_wish_goes_to_hyper() {
        for lines in [
            &[("Content-Length", "5")][..],
            &[("Content-Length", "00")],
            &[("Content-Length", "0"), ("content-length", "0")],
            &[("Transfer-Encoding", "chunked")],
            &[("Transfer-Encoding", "identity")],
            &[("Connection", "close")],
            &[("Connection", "keep-alive, Upgrade")],
            &[("Upgrade", "websocket")],
            &[("Expect", "100-continue")],
            &[("TE", "trailers")],
            &[("Bad Name", "x")],
            &[("X-Control", "a\u{1}b")],
        ] {
            assert!(headers(lines).is_none(), "{lines:?}");
        }
    }

    #[test]
    fn proxy_header_names_are_the_known_ones_in_any_case() {
        for name in [
            "X-Forwarded-Host",
            "x-forwarded-host",
            "X-REAL-IP",
            "Cookie",
            "X-Other",
        ] {
            let read = header_name(name).unwrap();
            assert_eq!(
                read,
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "{name}"
            );
        }
        assert!(header_name("Bad Name").is_none());
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
