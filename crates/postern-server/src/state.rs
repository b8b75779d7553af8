//! What every handler shares: the validated config, the store, and the keys and policies
//! derived from them once at start.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use postern_core::UnixSeconds;
use postern_core::access::AccessRules;
use postern_core::config::Config;
use postern_core::csrf::CsrfKey;
use postern_core::redirect::RedirectPolicy;
use postern_store::Store;

use crate::assets::Assets;
use crate::cookies::CookieSpec;
use crate::oauth::OAuth;
use crate::passwords::PasswordPool;

pub struct AppState {
    pub config: Config,
    /// The access rules in force: those of `config` at start, swapped whole when the config
    /// file is reloaded. The check path reads them without a lock.
    pub access: ArcSwap<AccessRules>,
    pub store: Store,
    pub csrf: CsrfKey,
    pub redirects: RedirectPolicy,
    pub passwords: PasswordPool,
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
    pub fn new(config: Config, store: Store) -> Self {
        let csrf = CsrfKey::new(&config.secret.bytes);
        let redirects = config.redirect_policy();
        let session_cookie = CookieSpec::session(&config);
        let login_url = config.portal_url("/login");
        let assets = Assets::new(&config.ui);
        let oauth = OAuth::new(&config);
        Self {
            access: ArcSwap::from_pointee(config.access.clone()),
            csrf,
            redirects,
            passwords: PasswordPool::new(),
            assets,
            session_cookie,
            oauth,
            login_url,
            untrusted_forwarders: Mutex::new(HashSet::new()),
            store,
            config,
        }
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
