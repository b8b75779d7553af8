//! `hash-password` on a real terminal: a pseudo-terminal from util-linux `script`, typed into
//! only once each prompt is on the screen, the way a person would.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::BINARY;

/// The terminal's screen so far, as the reader thread passes it on.
struct Terminal {
    child: Child,
    screen: String,
    output: Receiver<Vec<u8>>,
}

impl Terminal {
    fn start(command: &str) -> Self {
        let mut child = Command::new("script")
            .args(["--quiet", "--return", "--command", command, "/dev/null"])
            .env_remove("POSTERN_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux `script` is needed for the terminal tests");
        let mut stdout = child.stdout.take().unwrap();
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stdout.read(&mut buffer) {
                if sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            screen: String::new(),
            output,
        }
    }

    /// Waits until `text` is on the screen (after what was already seen).
    fn wait_for(&mut self, text: &str) {
        let from = self.screen.len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.screen[from..].contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.screen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("{text:?} never appeared; the screen:\n{}", self.screen),
            }
        }
        // The prompt is printed just before echo is switched off.
        std::thread::sleep(Duration::from_millis(300));
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The exit code and the whole screen.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.screen.push_str(&String::from_utf8_lossy(&bytes));
        }
        (status.code(), self.screen)
    }
}

#[test]
fn hash_password_on_a_terminal_asks_twice_and_never_echoes() {
    let mut terminal = Terminal::start(&format!("{BINARY} hash-password"));
    terminal.wait_for("Password: ");
    terminal.type_line("typed on a terminal");
    terminal.wait_for("Password again: ");
    terminal.type_line("typed on a terminal");
    let (code, screen) = terminal.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains("typed on a terminal"),
        "the password was echoed:\n{screen}"
    );
    let hash = screen
        .split_whitespace()
        .find(|word| word.starts_with("$argon2id$"))
        .unwrap_or_else(|| panic!("no hash on the screen:\n{screen}"));
    assert!(postern_core::password::verify_password(
        hash,
        b"typed on a terminal"
    ));
}

#[test]
fn hash_password_on_a_terminal_refuses_two_different_passwords() {
    let mut terminal = Terminal::start(&format!("{BINARY} hash-password"));
    terminal.wait_for("Password: ");
    terminal.type_line("first try");
    terminal.wait_for("Password again: ");
    terminal.type_line("second try");
    let (code, screen) = terminal.finish();
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("differ"), "{screen}");
    assert!(!screen.contains("$argon2id$"), "{screen}");
}
