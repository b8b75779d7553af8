//! postern's own server (`postern-server`, the same listener, router and handlers as
//! `postern serve`), run in-process with its memory or embedded store seeded through the `Store` API
//! before it starts listening, so a benchmark can check 100k live sessions without 100k
//! logins. Bench-only: the product has no seeding path.
//!
//! Usage: `postern-seeded CONFIG SESSIONS COOKIES_OUT [USERS]`. Writes one cookie value per
//! line to COOKIES_OUT, prints `ready` on stdout once it listens, and serves until SIGTERM or
//! SIGINT. USERS: comma-separated `[[users]]` names the sessions go to in turn, so cookies sent
//! in order interleave them (row c3u); default `bench` alone.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use postern_bench::{load_config, seed_sessions};
use postern_core::config::StoreKind;
use postern_server::{AppState, Server};
use postern_store::{EmbeddedStore, Store};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, sessions, cookies, users) = match args.as_slice() {
        [config, sessions, cookies] => (config, sessions, cookies, ""),
        [config, sessions, cookies, users] => (config, sessions, cookies, users.as_str()),
        _ => {
            eprintln!("usage: postern-seeded CONFIG SESSIONS COOKIES_OUT [USERS]");
            return ExitCode::from(64);
        }
    };
    let users: Vec<&str> = users.split(',').filter(|name| !name.is_empty()).collect();
    let Ok(sessions) = sessions.parse::<usize>() else {
        eprintln!("postern-seeded: SESSIONS must be a number");
        return ExitCode::from(64);
    };
    // Same log setup as `postern serve` at `warn`: nothing is written per request.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .try_init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            runtime.block_on(serve(
                PathBuf::from(config),
                sessions,
                &users,
                PathBuf::from(cookies),
            ))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("postern-seeded: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    config: PathBuf,
    sessions: usize,
    users: &[&str],
    cookies: PathBuf,
) -> anyhow::Result<()> {
    let config = load_config(&config)?;
    // A session of a user the config lacks would be refused at every check, and the row
    // would measure refusals.
    if let Some(unknown) = users.iter().find(|name| config.users.get(name).is_none()) {
        anyhow::bail!("user {unknown:?} is not in the config's [[users]]");
    }
    let (store, parallel) = match &config.session.store {
        // Writes in flight share commits (group commit): seeding takes one fsync per batch.
        StoreKind::Embedded => (
            Store::Embedded(EmbeddedStore::open(
                &config.data_dir,
                config.session.max_sessions,
            )?),
            256,
        ),
        _ => (Store::memory(config.session.max_sessions), 1),
    };
    let tokens = seed_sessions(&store, config.session.policy, sessions, users, parallel).await?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&cookies)
            .with_context(|| format!("cannot write {}", cookies.display()))?,
    );
    for token in &tokens {
        writeln!(out, "{token}")?;
    }
    out.flush()?;
    drop(tokens);
    let state = Arc::new(AppState::new(config, store));
    let server = Server::bind(state).await?;
    println!("ready {}", server.local_addr()?);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { match terminate.as_mut() { Some(signal) => signal.recv().await, None => std::future::pending().await } } => {}
        }
        stop.cancel();
    });
    server.run(shutdown).await;
    Ok(())
}
