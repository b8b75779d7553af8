//! Requests written byte for byte, for what an HTTP client library will not send: a request
//! line in absolute form whose host disagrees with `Host`, or no `Host` at all.

use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a proxy may take to answer (or to close the connection).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What came back on the connection before the proxy closed it.
pub struct RawAnswer {
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The status of the first response, `None` when nothing came back (nginx's 444).
    pub fn status(&self) -> Option<StatusCode> {
        let text = String::from_utf8_lossy(&self.bytes);
        let code = text.lines().next()?.split(' ').nth(1)?;
        let status = StatusCode::from_bytes(code.as_bytes())
            .unwrap_or_else(|e| panic!("status line {text:?}: {e}"));
        Some(status)
    }

    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.chars().take(400).collect()
    }
}

/// Writes `request` (it should say `Connection: close`) to `127.0.0.1:port` and reads until
/// the proxy closes the connection.
pub async fn exchange(port: u16, request: &str) -> RawAnswer {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the raw request");
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut bytes)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset after nothing was sent is nginx's 444 too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("read the raw answer: {e}"),
        Err(_) => panic!("no answer and no close within {ANSWER_TIMEOUT:?}"),
    }
    RawAnswer { bytes }
}
