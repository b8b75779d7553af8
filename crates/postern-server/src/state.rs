//! What every handler shares: the validated config, the store, and the keys and policies
//! derived from them once at start.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use postern_core::UnixSeconds;
use postern_core::access::AccessRules;
use postern_core::config::Config;
use postern_core::csrf::CsrfKey;
use postern_core::device::DeviceKey;
use postern_core::jwt::JwtKey;
use postern_core::redirect::RedirectPolicy;
use postern_core::users::{User, UserTable};
use postern_store::Store;

use crate::assets::Assets;
use crate::basic::BasicCache;
use crate::cookies::CookieSpec;
use crate::notify::Notifier;
use crate::oauth::OAuth;
use crate::passwords::PasswordPool;
use crate::telemetry::{MeteredStore, Metrics, StoreGauges};

/// What a reload changes, together: a check never sees new users with old rules.
pub struct LiveState {
    pub access: Arc<AccessRules>,
    pub users: Arc<UserTable>,
}

pub struct AppState {
    /// As read at start. Its `users` and `access` are the start-up ones: read `live` instead.
    pub config: Config,
    /// The access rules and users in force: those of `config` at start, swapped whole (both at
    /// once) when the config file or `users_file` changes, and with a new users table when a
    /// password changes. The check path reads them without a lock.
    pub live: ArcSwap<LiveState>,
    /// One password change at a time rewrites `users_file`.
    pub users_file_lock: tokio::sync::Mutex<()>,
    /// The store, each call counted and timed when metrics are on (`telemetry::MeteredStore`).
    pub store: MeteredStore,
    /// `None` unless `[metrics] listen` is set.
    pub metrics: Option<Arc<Metrics>>,
    pub csrf: CsrfKey,
    /// Posts `auth.suspicious` to `[notify] webhook_url`.
    pub notifier: Notifier,
    /// Signs and checks device cookies.
    pub device: DeviceKey,
    /// Signs and checks bearer tokens.
    pub jwt: JwtKey,
    /// Verified Basic credentials, briefly.
    pub basic_cache: BasicCache,
    pub redirects: RedirectPolicy,
    pub passwords: Arc<PasswordPool>,
    pub assets: Assets,
    pub session_cookie: CookieSpec,
    /// The `[oauth.<id>]` providers and their HTTP client.
    pub oauth: OAuth,
    /// `<app_url>/login`, the start of every login redirect.
    pub login_url: String,
    untrusted_forwarders: Mutex<HashSet<IpAddr>>,
}

/// How many distinct misconfigured peers are remembered for the once-per-peer warning.
const MAX_REMEMBERED_FORWARDERS: usize = 1024;

impl AppState {
    /// With metrics when `[metrics] listen` is set.
    pub fn new(config: Config, store: Store) -> Self {
        let metrics = config.metrics.listen.map(|_| Metrics::new());
        Self::with_metrics(config, store, metrics)
    }

    /// `metrics` made by the caller, which may have handed its audit counters to the logger.
    pub fn with_metrics(config: Config, store: Store, metrics: Option<Metrics>) -> Self {
        let passwords = Arc::new(PasswordPool::new());
        let metrics = metrics.map(|mut metrics| {
            metrics.watch(StoreGauges::new(store.clone(), Arc::clone(&passwords)));
            Arc::new(metrics)
        });
        let store = MeteredStore::new(
            store,
            metrics.as_ref().map(|metrics| Arc::clone(&metrics.store)),
        );
        let csrf = CsrfKey::new(&config.secret.bytes);
        let jwt = JwtKey::new(
            &config.secret.bytes,
            &config.app_url.origin().ascii_serialization(),
        );
        let basic_cache = BasicCache::new(&config.secret.bytes, config.api.basic_cache_ttl);
        let redirects = config.redirect_policy();
        let session_cookie = CookieSpec::session(&config);
        let login_url = config.portal_url("/login");
        let assets = Assets::new(&config.ui);
        let oauth = OAuth::new(&config);
        Self {
            live: ArcSwap::from_pointee(LiveState {
                access: Arc::new(config.access.clone()),
                users: Arc::new(config.users.clone()),
            }),
            users_file_lock: tokio::sync::Mutex::new(()),
            csrf,
            jwt,
            basic_cache,
            device: DeviceKey::new(&config.secret.bytes),
            notifier: Notifier::new(config.webhook_url.clone()),
            redirects,
            passwords,
            metrics,
            assets,
            session_cookie,
            oauth,
            login_url,
            untrusted_forwarders: Mutex::new(HashSet::new()),
            store,
            config,
        }
    }

    /// The user called `name` now, if there still is one.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.live.load().users.get(name).cloned()
    }

    /// The users in force now.
    pub fn users(&self) -> Arc<UserTable> {
        Arc::clone(&self.live.load().users)
    }

    /// Puts a reloaded configuration's rules and users in force, in one step.
    pub fn replace_live(&self, access: AccessRules, users: UserTable) {
        self.live.store(Arc::new(LiveState {
            access: Arc::new(access),
            users: Arc::new(users),
        }));
    }

    /// True the first time a peer outside `trusted_proxies` is seen sending `X-Forwarded-For`,
    /// so the warning is logged once per peer, not once per request.
    pub fn first_untrusted_forwarding(&self, peer: IpAddr) -> bool {
        let mut seen = self
            .untrusted_forwarders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.len() < MAX_REMEMBERED_FORWARDERS && seen.insert(peer)
    }
}

pub fn now() -> UnixSeconds {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
