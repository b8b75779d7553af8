//! Shared by the harness (`postern-bench`) and the seeded server (`postern-seeded`): the
//! configs the benchmarks run with, and sessions seeded through the `Store` API, so no
//! benchmark ever needs a login (or a bench-only path in the product).
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use postern_core::config::{self, Config, NoEnv, Sources};
use postern_core::session::{AuthLevel, SessionPolicy};
use postern_core::token::SessionToken;
use postern_store::Store;

/// The one user every seeded session belongs to.
pub const BENCH_USER: &str = "bench";
/// The host every check asks about. `*.dev{WILDCARD_APP}.example.com` matches it.
pub const TARGET_HOST: &str = "x.dev999.example.com";
/// The wildcard app that matches `TARGET_HOST`.
pub const WILDCARD_APP: usize = 999;
/// The password of `PASSWORD_HASH` (the quickstart's demo password).
pub const PASSWORD: &str = "postern-demo";
/// The argon2id hash (m=19456, t=2, p=1) every generated user signs in with.
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$D90LZ3huv0j15dqbwVn2/Q$2byHQBQZWwQyY8iwwH4a+CVMNX/V+S6sOegfvIOB4ok";

/// Where the store lives in a generated config.
pub enum StoreChoice<'a> {
    Memory,
    /// The embedded store, its file under this folder.
    Embedded {
        data_dir: &'a std::path::Path,
    },
    /// `client_cache`: RESP3 client-side caching of session reads (`[session.redis]`).
    Redis {
        url: &'a str,
        client_cache: bool,
    },
}

/// A complete postern config: one user (`bench`, group `admins`), plain HTTP on `listen`,
/// logging at `warn`, and `apps` `[[apps]]` tables (see `apps_toml`).
pub fn config_toml(listen: &str, store: &StoreChoice<'_>, apps: usize) -> String {
    let secret = postern_core::mac::hex(&postern_core::token::random_bytes::<32>());
    let data_dir = match store {
        StoreChoice::Embedded { data_dir } => format!("data_dir = \"{}\"\n", data_dir.display()),
        _ => String::new(),
    };
    let store = match store {
        StoreChoice::Memory => "store = \"memory\"\nmax_sessions = 100000\n".to_owned(),
        StoreChoice::Embedded { .. } => "store = \"embedded\"\nmax_sessions = 100000\n".to_owned(),
        StoreChoice::Redis { url, client_cache } => format!(
            "store = \"redis\"\nredis_url = \"{url}\"\n\n[session.redis]\nclient_cache = {client_cache}\n"
        ),
    };
    format!(
        "app_url = \"http://auth.example.com\"\nsecret = \"{secret}\"\n{data_dir}\n\
         [server]\nlisten = \"{listen}\"\n\n\
         [session]\n{store}\n\
         [log]\nlevel = \"warn\"\n\n\
         [[users]]\nname = \"{BENCH_USER}\"\npassword_hash = \"{PASSWORD_HASH}\"\n\
         email = \"bench@example.com\"\ndisplay_name = \"Bench User\"\ngroups = [\"admins\"]\n\n{}",
        apps_toml(apps)
    )
}

/// `[[users]]` tables for `names`, each with `PASSWORD_HASH` and no other field.
pub fn users_toml(names: &[String]) -> String {
    names
        .iter()
        .map(|name| {
            format!("[[users]]\nname = \"{name}\"\npassword_hash = \"{PASSWORD_HASH}\"\n\n")
        })
        .collect()
}

/// `count` `[[apps]]` tables. One app is the wildcard that matches `TARGET_HOST`; more
/// alternate exact hosts (`app{i}.example.com`) and wildcards (`*.dev{i}.example.com`), with
/// the matching wildcard last.
pub fn apps_toml(count: usize) -> String {
    let mut text = String::new();
    if count == 0 {
        return text;
    }
    for i in 0..count - 1 {
        let host = if i % 2 == 0 {
            format!("app{i}.example.com")
        } else {
            format!("*.dev{i}.example.com")
        };
        text.push_str(&app_toml(&host));
    }
    text.push_str(&app_toml(&format!("*.dev{WILDCARD_APP}.example.com")));
    text
}

fn app_toml(host: &str) -> String {
    format!("[[apps]]\nhost = \"{host}\"\nallow_groups = [\"admins\"]\npolicy = \"one_factor\"\n\n")
}

/// Loads a config file the way `postern serve` does, minus the environment.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match config::load(&Sources {
        file: Some((&text, path)),
        env: &NoEnv,
        cli: &[],
    }) {
        Ok(config) => Ok(config),
        Err(problems) => bail!("{}: {problems}", path.display()),
    }
}

/// Puts `count` fresh sessions into `store` (`parallel` writes in flight) and returns their
/// cookie values. The sessions go to `users` in turn (the first to `users[0]`, the second to
/// `users[1]`, …), so a client that sends the cookies in order interleaves the users; none
/// given: all are `BENCH_USER`'s.
pub async fn seed_sessions(
    store: &Store,
    policy: SessionPolicy,
    count: usize,
    users: &[&str],
    parallel: usize,
) -> anyhow::Result<Vec<String>> {
    let now = now();
    let users = if users.is_empty() {
        &[BENCH_USER][..]
    } else {
        users
    };
    let records: Vec<_> = users
        .iter()
        .map(|user| policy.new_session(user, AuthLevel::OneFactor, false, now))
        .collect();
    let mut tokens = Vec::with_capacity(count);
    let mut writes = tokio::task::JoinSet::new();
    for record in records.iter().cycle().take(count) {
        let ttl = Duration::from_secs(policy.ttl(record, now));
        let token = SessionToken::generate();
        let (store, record, hash) = (store.clone(), record.clone(), token.hash());
        writes.spawn(async move { store.put_session(&hash, &record, ttl).await });
        tokens.push(token.as_str().to_owned());
        while writes.len() >= parallel.max(1) {
            if let Some(done) = writes.join_next().await {
                done.context("seeding task")??;
            }
        }
    }
    while let Some(done) = writes.join_next().await {
        done.context("seeding task")??;
    }
    Ok(tokens)
}

/// `count` well-formed cookie values that name no session.
pub fn unknown_tokens(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| SessionToken::generate().as_str().to_owned())
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle_timeout: 3600,
        max_lifetime: 86_400,
        remember_me_lifetime: 86_400,
    };

    async fn users_of(store: &Store, tokens: &[String]) -> Vec<String> {
        let mut users = Vec::new();
        for token in tokens {
            let hash = SessionToken::hash_of(token).expect("a seeded cookie parses");
            let record = store
                .get_session(&hash)
                .await
                .expect("the memory store answers");
            users.push(record.expect("a seeded session exists").user.clone());
        }
        users
    }

    #[tokio::test]
    async fn sessions_go_to_the_users_in_turn_in_cookie_order() {
        let store = Store::memory(100);
        let tokens = seed_sessions(&store, POLICY, 5, &["ann", "bob"], 1)
            .await
            .expect("seeding the memory store");
        assert_eq!(
            users_of(&store, &tokens).await,
            ["ann", "bob", "ann", "bob", "ann"]
        );
    }

    #[tokio::test]
    async fn no_users_given_seeds_the_bench_users_sessions() {
        let store = Store::memory(100);
        let tokens = seed_sessions(&store, POLICY, 3, &[], 4)
            .await
            .expect("seeding the memory store");
        assert_eq!(users_of(&store, &tokens).await, [BENCH_USER; 3]);
    }
}
