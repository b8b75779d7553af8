//! The configured providers at run time and the one HTTP client they share. Kept apart from
//! the sign-in flow, which takes the server's state: the state holds this.

use postern_core::config::Config;

use super::provider::ProviderRuntime;
use crate::outbound::HttpClient;

/// Every configured provider, and the one client they share.
pub struct OAuth {
    pub http: HttpClient,
    providers: Vec<ProviderRuntime>,
}

impl OAuth {
    pub fn new(config: &Config) -> Self {
        Self {
            http: HttpClient::default(),
            providers: config
                .oauth
                .iter()
                .cloned()
                .map(ProviderRuntime::new)
                .collect(),
        }
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderRuntime> {
        self.providers
            .iter()
            .find(|provider| provider.config.id == id)
    }

    pub fn providers(&self) -> impl Iterator<Item = &ProviderRuntime> {
        self.providers.iter()
    }
}
