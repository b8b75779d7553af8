//! What every handler shares: the validated config, the store, and the keys and policies
//! derived from them once at start.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use postern_core::access::AccessRules;
use postern_core::config::{CheckLogging, Config};
use postern_core::csrf::CsrfKey;
use postern_core::device::DeviceKey;
use postern_core::jwt::JwtKey;
use postern_core::limits::LoginLimits;
use postern_core::redirect::RedirectPolicy;
use postern_core::users::{User, UserTable};
use postern_store::Store;

use crate::assets::Assets;
use crate::basic_cache::BasicCache;
use crate::cookies::CookieSpec;
use crate::hash_upgrades::HashUpgrades;
use crate::notify::Notifier;
use crate::oauth::registry::OAuth;
use crate::oidc::Provider;
use crate::oidc::identity_token::IdentityTokens;
use crate::passwords::PasswordPool;
use crate::seen_once::SeenOnce;
use crate::telemetry::{self, MeteredStore, Metrics, StoreGauges};
use crate::webauthn::RelyingParty;

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
    /// bcrypt hashes waiting to become argon2id, off the request path.
    pub hash_upgrades: HashUpgrades,
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
    /// postern as an OpenID Provider: `None` unless `[oidc]` is configured.
    pub oidc: Option<Provider>,
    /// The signed identity for upstreams: `None` unless `[identity_token] header` is set.
    pub identity_tokens: Option<IdentityTokens>,
    /// The passkey relying party of `[webauthn]`.
    pub webauthn: RelyingParty,
    /// By the peer's network as the limits count it (`LoginLimits::ip_network`: an IPv6 /64),
    /// so one host cannot fill the set and silence the warning for every later peer.
    untrusted_forwarders: SeenOnce<IpAddr>,
    /// Hosts whose refused return address was already explained in the log.
    refused_return_hosts: SeenOnce<String>,
}

/// How many distinct causes (peers, hosts) each once-only warning remembers.
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
        if metrics.is_some() || config.log.checks != CheckLogging::None {
            // Checks are timed: calibrate the clock now rather than in the first one.
            telemetry::calibrate_clock();
        }
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
        let identity_tokens = config
            .identity_token
            .as_ref()
            .zip(config.oidc.as_ref())
            .map(|(identity, oidc)| {
                IdentityTokens::new(
                    identity.header.clone(),
                    oidc.issuer.clone(),
                    oidc.keys.first().clone(),
                )
            });
        let oidc = config
            .oidc
            .clone()
            .map(|oidc| Provider::new(oidc, &config.secret.bytes, config.api.basic_cache_ttl));
        let webauthn = RelyingParty::new(&config.webauthn);
        Self {
            live: ArcSwap::from_pointee(LiveState {
                access: Arc::new(config.access.clone()),
                users: Arc::new(config.users.clone()),
            }),
            hash_upgrades: HashUpgrades::new(),
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
            oidc,
            identity_tokens,
            webauthn,
            untrusted_forwarders: SeenOnce::new(MAX_REMEMBERED_FORWARDERS),
            refused_return_hosts: SeenOnce::new(MAX_REMEMBERED_FORWARDERS),
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
    /// so the warning is logged once per peer (an IPv6 peer: once per /64), not once per
    /// request.
    pub fn first_untrusted_forwarding(&self, peer: IpAddr) -> bool {
        // An address, not `ip_counter`'s text: a misconfigured proxy sends this on every
        // check, and the lookup allocates nothing.
        self.untrusted_forwarders
            .first(LoginLimits::ip_network(peer))
    }

    /// Why a browser asking to come back to `return_to` will land on the portal instead, if
    /// it will; logged at the first sighting of each host, so the operator learns why.
    pub fn return_refusal(&self, return_to: &str) -> Option<String> {
        // An empty field (the form's hidden redirect_uri without a target) asks for nothing.
        if return_to.is_empty() {
            return None;
        }
        let why = self.redirects.refusal(return_to)?;
        let host = url::Url::parse(return_to)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        if self.refused_return_hosts.first(host.clone()) {
            tracing::warn!(host, "a sign-in will not return to this app: {why}");
        }
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use postern_core::config::{self, NoEnv, Sources};
    use postern_store::Store;

    use super::*;

    /// One host rotating through its IPv6 /64 counts once: it cannot fill the remembered set
    /// and so silence the warning about a misconfigured proxy that comes later.
    #[test]
    fn a_64_of_untrusted_forwarders_counts_once() {
        let text = "app_url = \"https://auth.example.com\"\n\
                    secret = \"test-secret-that-is-long-enough-for-postern\"\n\
                    [[users]]\nname = \"alice\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA\"\n";
        let config = config::load(&Sources {
            file: Some((text, std::path::Path::new("test.toml"))),
            env: &NoEnv,
            cli: &[],
        })
        .unwrap();
        let state = AppState::new(config, Store::memory(10));
        let host = |n: u16| -> IpAddr { format!("2001:db8:1:2::{n:x}").parse().unwrap() };
        assert!(state.first_untrusted_forwarding(host(1)));
        for n in 2..=(MAX_REMEMBERED_FORWARDERS as u16 * 2) {
            assert!(!state.first_untrusted_forwarding(host(n)));
        }
        let proxy: IpAddr = "192.0.2.10".parse().unwrap();
        assert!(state.first_untrusted_forwarding(proxy));
        assert!(!state.first_untrusted_forwarding(proxy));
    }
}
