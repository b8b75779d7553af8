//! The background bcrypt → argon2id rewrite replaces only the hash it was queued for: a hash
//! set in `users_file` (or in the live table) after the sign-in that queued it stays.

use std::path::PathBuf;

use postern_core::config::{self, NoEnv, Sources};
use postern_core::users::UserTable;

use super::*;
use crate::state::LiveState;

const OLD_PASSWORD: &str = "the old password";

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "postern-upgrade-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn users(&self) -> PathBuf {
        self.0.join("users.txt")
    }

    fn users_text(&self) -> String {
        std::fs::read_to_string(self.users()).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn state_with_users_file(dir: &Dir, users: &str) -> AppState {
    std::fs::write(dir.users(), users).unwrap();
    let text = "app_url = \"https://auth.example.com\"\n\
                secret = \"test-secret-that-is-long-enough-for-postern\"\n\
                users_file = \"users.txt\"\n";
    let config = config::load(&Sources {
        file: Some((text, &dir.0.join("postern.toml"))),
        env: &NoEnv,
        cli: &[],
    })
    .unwrap();
    AppState::new(config, Store::memory(100))
}

/// What a sign-in with the old password queues: alice, the bcrypt hash it matched, the password.
async fn queued_upgrade(state: &AppState, bcrypt: &str) -> Upgrade {
    let mut queue = state.hash_upgrades.take_queue().unwrap();
    let alice = Arc::clone(state.live.load().users.get("alice").unwrap());
    state
        .hash_upgrades
        .request(alice, bcrypt.to_owned(), OLD_PASSWORD.to_owned());
    queue.recv().await.unwrap()
}

fn hash_in_table(state: &AppState) -> String {
    state
        .live
        .load()
        .users
        .get("alice")
        .unwrap()
        .password_hash
        .clone()
}

#[tokio::test]
async fn a_queued_upgrade_leaves_a_line_rotated_meanwhile() {
    let dir = Dir::new("rotated");
    let bcrypt = bcrypt::hash(OLD_PASSWORD, 4).unwrap();
    let state = state_with_users_file(&dir, &format!("bob:{bcrypt}\nalice:{bcrypt}\n"));
    let upgrade = queued_upgrade(&state, &bcrypt).await;
    // The administrator rotates alice's hash before the upgrade runs.
    let rotated = postern_core::password::hash_password(b"the new password").unwrap();
    let rotated_file = format!("bob:{bcrypt}\nalice:{rotated}\n");
    std::fs::write(dir.users(), &rotated_file).unwrap();

    upgrade_to_argon2(&state, upgrade).await;

    assert_eq!(dir.users_text(), rotated_file, "the old password came back");
    assert_eq!(hash_in_table(&state), bcrypt, "the table took a stale hash");
}

#[tokio::test]
async fn a_queued_upgrade_leaves_a_user_the_table_changed_meanwhile() {
    let dir = Dir::new("reloaded");
    let bcrypt = bcrypt::hash(OLD_PASSWORD, 4).unwrap();
    let state = state_with_users_file(&dir, &format!("alice:{bcrypt}\n"));
    let upgrade = queued_upgrade(&state, &bcrypt).await;
    // The table already holds another hash for alice (a reload, a change on this replica).
    let rotated = postern_core::password::hash_password(b"the new password").unwrap();
    state.live.rcu(|current| {
        let users = current.users.iter().map(|user| {
            let mut user = User::clone(user);
            user.password_hash.clone_from(&rotated);
            user
        });
        LiveState {
            access: Arc::clone(&current.access),
            users: Arc::new(UserTable::new(users)),
        }
    });

    upgrade_to_argon2(&state, upgrade).await;

    assert_eq!(dir.users_text(), format!("alice:{bcrypt}\n"));
    assert_eq!(hash_in_table(&state), rotated);
}

/// The control: with nothing changed meanwhile, the same upgrade does replace the hash.
#[tokio::test]
async fn an_upgrade_of_an_unchanged_line_replaces_it() {
    let dir = Dir::new("unchanged");
    let bcrypt = bcrypt::hash(OLD_PASSWORD, 4).unwrap();
    let state = state_with_users_file(&dir, &format!("alice:{bcrypt}\n"));
    let upgrade = queued_upgrade(&state, &bcrypt).await;

    upgrade_to_argon2(&state, upgrade).await;

    let file = dir.users_text();
    let hash = file.trim().strip_prefix("alice:").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{file}");
    assert!(postern_core::password::verify_password(
        hash,
        OLD_PASSWORD.as_bytes()
    ));
    assert_eq!(hash_in_table(&state), hash);
}
