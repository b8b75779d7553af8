//! `postern serve`: validate everything, bind, then serve until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use postern_core::config::Config;
use postern_server::admin_channel;
use postern_server::telemetry::{Metrics, MetricsListener};
use postern_server::{AppState, Server};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::{EXIT_INVALID_CONFIG, config_file, logging, reload};

pub fn run(args: &ServeArgs) -> ExitCode {
    let mut overrides = Vec::new();
    if let Some(listen) = &args.listen {
        overrides.push(("server.listen", listen.clone()));
    }
    if let Some(level) = &args.log_level {
        overrides.push(("log.level", level.clone()));
    }
    let config = match config_file::load(args.config.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("postern: {problems}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let metrics = config.metrics.listen.map(|_| Metrics::new());
    logging::init(
        &config.log,
        metrics.as_ref().map(|metrics| metrics.audit.clone()),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let reload = (args.config.config.clone(), overrides);
    runtime.block_on(serve(config, metrics, reload))
}

/// The config file and CLI overrides, to load again when the rules reload.
type ReloadSource = (Option<PathBuf>, Vec<(&'static str, String)>);

async fn serve(
    config: Config,
    metrics: Option<Metrics>,
    (path, overrides): ReloadSource,
) -> ExitCode {
    if config.secret.generated {
        tracing::warn!(
            "no `secret` configured: generated one for this run. Login and logout forms opened before \
             a restart will ask the user to retry, and replicas cannot check each other's CSRF tokens. \
             Set `secret_file` for production."
        );
    }
    let store = match crate::store::open(&config) {
        Ok(store) => store,
        Err(refused) => {
            tracing::error!("{}", refused.message);
            return ExitCode::from(refused.code);
        }
    };
    crate::store::log_where_data_lives(&store);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let app_url = config.app_url.to_string();
    let users = config.users.len();
    let providers: Vec<String> = config.oauth.iter().map(|p| p.id.clone()).collect();
    let state = Arc::new(AppState::with_metrics(config, store, metrics));
    if let Err(err) = state.store.ping().await {
        // Not fatal: postern serves (failing closed) and reports not-ready until the store answers.
        tracing::error!(error = %err, store = state.store.backend_name(), "the session store does not answer yet");
    }
    let server = match Server::bind(Arc::clone(&state)).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            // Unreadable TLS material is a configuration problem, like the others.
            let code = if matches!(err, postern_server::ServeError::Tls(_)) {
                EXIT_INVALID_CONFIG
            } else {
                1
            };
            return ExitCode::from(code);
        }
    };
    let shutdown = CancellationToken::new();
    if let Err(code) = serve_metrics(&state, &shutdown).await {
        return code;
    }
    serve_admin_channel(&state, &shutdown).await;
    let scheme = if server.is_tls() { "https" } else { "http" };
    let listening = server.local_addr().ok();
    let listen_url = listening.map_or_else(|| "?".to_owned(), |addr| format!("{scheme}://{addr}"));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %listen_url,
        app_url = %app_url,
        store = state.store.backend_name(),
        users,
        oauth = %providers.join(","),
        "postern is ready: listening on {listen_url}; browsers are sent to {app_url}"
    );
    if let Some(addr) = listening
        && let Some(why) = app_url_elsewhere(&state.config.app_url, addr)
    {
        tracing::warn!(listen = %listen_url, app_url = %app_url, "{why}");
    }
    reload::spawn(Arc::clone(&state), path, overrides);
    tokio::spawn(stop_on_signal(shutdown.clone()));
    server.run(shutdown).await;
    tracing::info!("postern stopped");
    ExitCode::SUCCESS
}

/// The `[metrics] listen` listener, when set, until `shutdown`.
async fn serve_metrics(state: &AppState, shutdown: &CancellationToken) -> Result<(), ExitCode> {
    let (Some(addr), Some(metrics)) = (state.config.metrics.listen, &state.metrics) else {
        return Ok(());
    };
    let token = state.config.metrics.token.as_deref();
    match MetricsListener::bind(addr, Arc::clone(metrics), token).await {
        Ok(listener) => {
            let bound = listener
                .local_addr()
                .map_or_else(|_| addr.to_string(), |addr| addr.to_string());
            tracing::info!(listen = %bound, token = token.is_some(), "metrics at http://{bound}/metrics");
            tokio::spawn(listener.run(shutdown.clone()));
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = %err, %addr, "cannot listen for metrics");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The admin channel, when postern holds an embedded store: how `postern users` and
/// `postern store` reach the data file while postern runs. Without it postern still serves
/// (the commands then say the folder is held, naming this process), so a problem with the
/// socket is logged, not fatal.
async fn serve_admin_channel(state: &Arc<AppState>, shutdown: &CancellationToken) {
    if !matches!(&*state.store, postern_store::Store::Embedded(_)) {
        return;
    }
    match admin_channel::listen(Arc::clone(state), shutdown.clone()).await {
        Ok(socket) => {
            tracing::info!(socket = %socket.display(), "admin channel for `postern users` and `postern store`");
        }
        Err(err) => {
            let socket = admin_channel::socket_path(&state.config.data_dir);
            tracing::error!(error = %err, socket = %socket.display(), "cannot open the admin channel: `postern users` and `postern store` work only while postern is stopped");
        }
    }
}

/// Why `app_url` looks like it is not where postern listens: a local `app_url` (loopback or an
/// IP literal, so probably no proxy in front) on another port than the one bound, as after
/// `serve --listen` with the quickstart config. Browsers would be sent to a port with nothing
/// on it.
fn app_url_elsewhere(app_url: &url::Url, listening: std::net::SocketAddr) -> Option<String> {
    let local = match app_url.host()? {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
    };
    let port = app_url.port_or_known_default()?;
    (local && port != listening.port()).then(|| {
        format!(
            "app_url {app_url} is on port {port} but postern listens on port {}: login redirects \
             and links go to app_url. Set app_url (POSTERN_APP_URL) to the address browsers use, \
             unless a proxy forwards app_url to postern",
            listening.port()
        )
    })
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
    shutdown.cancel();
}
