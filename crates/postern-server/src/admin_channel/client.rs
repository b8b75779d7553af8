//! The command's side: plain blocking I/O, one request per connection.

use std::io::{BufRead as _, BufReader, Read as _, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::protocol::{Answer, MAX_LINE, Request, json_line};

/// How long the command waits for the answer (a backup of a large file takes a while).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the admin channel broke: {0}")]
    Io(#[from] std::io::Error),
    /// The running postern's reason for not doing it.
    #[error("{0}")]
    Refused(String),
    #[error("the running postern answered something unexpected: {0}")]
    Garbled(String),
}

/// A connection to the postern listening at `socket`; `None` when none listens there (no
/// socket, or one left by a postern that is gone).
pub fn connect(socket: &Path) -> std::io::Result<Option<UnixStream>> {
    match UnixStream::connect(socket) {
        Ok(stream) => Ok(Some(stream)),
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Sends `request` with `body`, copies the answer's body into `out`, and returns the answer's
/// message.
pub fn call(
    mut stream: UnixStream,
    request: &Request,
    body: &[u8],
    out: &mut dyn Write,
) -> Result<String, CallError> {
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    let request = Request {
        body: body.len() as u64,
        ..request.clone()
    };
    let sent = stream
        .write_all(&json_line(&request))
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
    // A refusal (another user, a request this server does not know) may come before the
    // request is read whole, and close the socket under the write: read the answer anyway.
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let read = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line);
    // A complete line is the answer, whatever happened around it.
    let answer = if line.ends_with(b"\n") {
        serde_json::from_slice::<Answer>(&line).map_err(|err| {
            CallError::Garbled(format!("{err}: {}", String::from_utf8_lossy(&line)))
        })?
    } else {
        return Err(match (read, sent) {
            (Err(err), _) | (_, Err(err)) => err.into(),
            (Ok(_), Ok(())) => CallError::Garbled("no answer".into()),
        });
    };
    if !answer.ok {
        return Err(CallError::Refused(answer.message));
    }
    let copied = std::io::copy(&mut (&mut reader).take(answer.body), out)?;
    if copied != answer.body {
        return Err(CallError::Garbled(format!(
            "the answer was cut short ({copied} of {} bytes)",
            answer.body
        )));
    }
    Ok(answer.message)
}
