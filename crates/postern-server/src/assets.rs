//! Static assets embedded in the binary, served under URLs that carry a hash of their content,
//! so they can be cached forever and still change with a new release or a new theme.

use bytes::Bytes;
use postern_core::config::UiConfig;
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../../../web/static/postern.css");
const ICON: &str = include_str!("../../../web/static/icon.svg");
const PASSKEY_SCRIPT: &str = include_str!("../../../web/static/passkeys.js");

pub struct Assets {
    pub stylesheet_url: String,
    pub theme_url: String,
    pub icon_url: String,
    /// The passkey buttons of the sign-in pages (the only script postern serves).
    pub passkey_script_url: String,
    /// The colours from `[ui]`, as CSS custom properties (the values are validated hex).
    theme: Bytes,
}

#[derive(Debug)]
pub enum Asset {
    Stylesheet,
    Theme,
    Icon,
    PasskeyScript,
}

impl Assets {
    pub fn new(ui: &UiConfig) -> Self {
        let theme = format!(
            ":root {{ --primary: {}; --background: {}; }}\n",
            ui.primary_color, ui.background_color
        );
        Self {
            stylesheet_url: format!("/static/postern.{}.css", short_hash(STYLESHEET)),
            theme_url: format!("/static/theme.{}.css", short_hash(&theme)),
            icon_url: format!("/static/icon.{}.svg", short_hash(ICON)),
            passkey_script_url: format!("/static/passkeys.{}.js", short_hash(PASSKEY_SCRIPT)),
            theme: Bytes::from(theme),
        }
    }

    pub fn find(&self, path: &str) -> Option<Asset> {
        if path == self.stylesheet_url {
            Some(Asset::Stylesheet)
        } else if path == self.theme_url {
            Some(Asset::Theme)
        } else if path == self.icon_url {
            Some(Asset::Icon)
        } else if path == self.passkey_script_url {
            Some(Asset::PasskeyScript)
        } else {
            None
        }
    }

    pub fn body(&self, asset: &Asset) -> (&'static str, Bytes) {
        match asset {
            Asset::Stylesheet => (
                "text/css; charset=utf-8",
                Bytes::from_static(STYLESHEET.as_bytes()),
            ),
            Asset::Theme => ("text/css; charset=utf-8", self.theme.clone()),
            Asset::Icon => ("image/svg+xml", Bytes::from_static(ICON.as_bytes())),
            Asset::PasskeyScript => (
                "text/javascript; charset=utf-8",
                Bytes::from_static(PASSKEY_SCRIPT.as_bytes()),
            ),
        }
    }
}

fn short_hash(content: &str) -> String {
    postern_core::mac::hex(&Sha256::digest(content.as_bytes())[..4])
}
