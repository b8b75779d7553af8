//! The local admin channel: how `postern users ...` and `postern store ...` reach a running
//! postern whose embedded store they cannot open (the server holds the data file's lock).
//!
//! A Unix socket, `<data_dir>/admin/postern.sock` (the folder 0700, the socket 0600), so only
//! postern's own user (and root) can connect; the server also checks the peer's uid
//! (SO_PERCRED) and refuses any other. One request per connection, JSON lines:
//!
//! ```text
//! -> {"op":"users-revoke","user":"alice","body":0}\n   then `body` raw bytes (import)
//! <- {"ok":true,"message":"revoked alice: ...","body":0}\n   then `body` raw bytes (backup, export)
//! ```
//!
//! A new admin command is one `Op` variant, one arm and handler in `handlers.rs`, and the CLI
//! verb that sends it (`client::call`).

mod client;
mod handlers;
mod listener;
mod protocol;

use std::path::{Path, PathBuf};

pub use self::client::{CallError, call, connect};
pub use self::listener::listen;
pub use self::protocol::{Answer, Op, Request, json_line};

/// The folder of the socket under `data_dir`.
pub fn socket_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("admin")
}

/// Where a postern serving the embedded store in `data_dir` listens for admin requests.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    socket_dir(data_dir).join("postern.sock")
}
