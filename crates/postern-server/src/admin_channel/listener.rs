//! The server side: the socket, who may use it, and one request per connection.

use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::handlers::{self, BACKUP_PREFIX, Body, Reply};
use super::protocol::{Answer, MAX_LINE, Request, json_line};
use crate::state::AppState;

/// Admin requests read and done at once; more wait for the socket's backlog. Sending the
/// answers holds no place: a client that stops reading holds up no other.
const MAX_CONNECTIONS: usize = 4;
/// The time a client has to send its request line and body, all of it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a read of the request or a write of the answer may make no progress before
/// the connection is dropped: a stuck peer costs this long, never more.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies are read, and answers sent, in pieces of at most this size.
const CHUNK: usize = 1 << 20;

/// Creates the socket under `data_dir` (replacing a stale one: this process holds the data
/// directory, so no other postern is listening there) and answers requests until `shutdown`.
/// Returns the socket's path.
pub async fn listen(state: Arc<AppState>, shutdown: CancellationToken) -> std::io::Result<PathBuf> {
    let dir = super::socket_dir(&state.config.data_dir);
    prepare_dir(&dir)?;
    let path = super::socket_path(&state.config.data_dir);
    remove_leftovers(&dir, &path)?;
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    // The socket is this process's, so its owner is the uid postern runs as.
    let owner = std::fs::metadata(&path)?.uid();
    tokio::spawn(accept(listener, state, owner, path.clone(), shutdown));
    Ok(path)
}

/// The socket's folder, owner-only: the permissions on it are what keep others out.
fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a folder: move it aside",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// A socket and backup copies left by a postern that did not stop cleanly.
fn remove_leftovers(dir: &Path, socket: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(socket)?,
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is not a socket: move it aside",
                socket.display()
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(BACKUP_PREFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

async fn accept(
    listener: UnixListener,
    state: Arc<AppState>,
    owner: u32,
    path: PathBuf,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "admin channel: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            serve_one(stream, &state, owner, permit).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// Reads and does one request under `permit`, then lets it go and sends the answer.
async fn serve_one(
    stream: UnixStream,
    state: &AppState,
    owner: u32,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let peer = stream.peer_cred().map(|cred| cred.uid());
    let (read, mut write) = stream.into_split();
    let (answer, body) = match peer {
        Ok(uid) if uid == owner || uid == 0 => answer(read, state).await,
        Ok(uid) => {
            tracing::warn!(uid, "admin channel: refused a process of another user");
            refusal("only postern's own user or root may use the admin channel".into())
        }
        Err(err) => refusal(format!("cannot tell who is asking: {err}")),
    };
    drop(permit);
    let sent = async {
        send(&mut write, &json_line(&answer)).await?;
        match body {
            Body::None => {}
            Body::Bytes(bytes) => send(&mut write, &bytes).await?,
            Body::File(copy) => {
                // Opened, then unlinked at once: nothing is left behind however the sending
                // ends, and the client never sees the copy outlive its answer.
                let file = std::fs::File::open(&copy.0)?;
                drop(copy);
                send_file(file, &mut write).await?;
            }
        }
        within_stall(write.shutdown()).await
    };
    if let Err(err) = sent.await {
        tracing::warn!(error = %err, "admin channel: the answer could not be sent");
    }
}

/// Copies the file to `write` a chunk at a time, each read on the blocking pool.
async fn send_file(mut file: std::fs::File, write: &mut OwnedWriteHalf) -> std::io::Result<()> {
    loop {
        let (back, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0; CHUNK];
            let read = std::io::Read::read(&mut file, &mut chunk).map(|n| {
                chunk.truncate(n);
                chunk
            });
            (file, read)
        })
        .await
        .map_err(std::io::Error::other)?;
        let chunk = chunk?;
        if chunk.is_empty() {
            return Ok(());
        }
        send(write, &chunk).await?;
        file = back;
    }
}

/// Writes `bytes` a chunk at a time, each within `STALL_TIMEOUT`.
async fn send(write: &mut OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.chunks(CHUNK) {
        within_stall(write.write_all(chunk)).await?;
    }
    Ok(())
}

/// `io`, or a `TimedOut` error once it made no progress for `STALL_TIMEOUT`.
async fn within_stall<T>(
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(STALL_TIMEOUT, io)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the peer took nothing for {} s", STALL_TIMEOUT.as_secs()),
            ))
        })
}

fn refusal(message: String) -> (Answer, Body) {
    let answer = Answer {
        ok: false,
        message,
        body: 0,
    };
    (answer, Body::None)
}

async fn answer(read: OwnedReadHalf, state: &AppState) -> (Answer, Body) {
    let mut reader = BufReader::new(read);
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut reader)).await {
        Ok(Ok(request)) => request,
        Ok(Err(why)) => return refusal(why),
        Err(_) => return refusal("the request did not arrive in time".into()),
    };
    let (request, body) = request;
    let op = request.op;
    let user = request.user.clone();
    match handlers::handle(state, request, body).await {
        Ok(Reply { message, body }) => {
            // Fields, not the message text: they are escaped, so a user name with a line
            // break in it cannot write a line of its own into the log.
            tracing::info!(?op, user, answer = message.as_str(), "admin channel: done");
            let length = match &body {
                Body::None => Ok(0),
                Body::Bytes(bytes) => Ok(bytes.len() as u64),
                Body::File(copy) => std::fs::metadata(&copy.0).map(|meta| meta.len()),
            };
            match length {
                Ok(length) => (
                    Answer {
                        ok: true,
                        message,
                        body: length,
                    },
                    body,
                ),
                Err(err) => refusal(format!("the answer's file is gone: {err}")),
            }
        }
        Err(why) => {
            tracing::warn!(?op, user, why = why.as_str(), "admin channel: not done");
            refusal(why)
        }
    }
}

async fn read_request(reader: &mut BufReader<OwnedReadHalf>) -> Result<(Request, Vec<u8>), String> {
    let mut line = Vec::new();
    within_stall((&mut *reader).take(MAX_LINE).read_until(b'\n', &mut line))
        .await
        .map_err(|err| format!("cannot read the request: {err}"))?;
    if line.last() != Some(&b'\n') {
        return Err("the request line is missing or too long".into());
    }
    let request: Request = serde_json::from_slice(&line).map_err(|err| {
        format!("not a request this postern knows ({err}); is the command newer than the running server?")
    })?;
    let max = request.op.max_body();
    if request.body > max {
        return Err(match max {
            0 => "this request takes no body".into(),
            _ => format!("the request's body is larger than {max} bytes"),
        });
    }
    let body = read_body(reader, request.body).await?;
    Ok((request, body))
}

/// The `length` bytes after the line, kept as they arrive: a declared length costs no memory
/// before its bytes come.
async fn read_body(reader: &mut BufReader<OwnedReadHalf>, length: u64) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut chunk = vec![0; CHUNK];
    let mut left = length;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
        let read = within_stall(reader.read(&mut chunk[..want]))
            .await
            .map_err(|err| format!("the request's body did not arrive: {err}"))?;
        if read == 0 {
            return Err(format!(
                "the request's body was cut short ({} of {length} bytes)",
                body.len()
            ));
        }
        body.extend_from_slice(&chunk[..read]);
        left -= read as u64;
    }
    Ok(body)
}
