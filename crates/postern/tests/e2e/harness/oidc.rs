//! A real OpenID Connect provider: npm `oidc-provider` 8 under node, from `tests/e2e/oidc/`
//! (`.ci/install-peers` runs `npm ci` there). A missing node or package fails the test. Also
//! a headless user for its dev login form: follows redirects, keeps its cookies, submits the
//! form, and stops where the provider sends the browser back to postern.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use http::header::SET_COOKIE;
use url::Url;

use super::client::{Request, Response, path_and_query, send_to, try_send};
use super::peers::workspace_root;
use super::ports::on_a_free_port;
use super::process::{PortTaken, Process, wait_until_listening};
use super::scratch::ScratchDir;

pub const CLIENT_ID: &str = "postern-e2e";
pub const CLIENT_SECRET: &str = "postern-e2e-client-secret";

pub struct OidcProvider {
    _process: Process,
    port: u16,
    _dir: ScratchDir,
}

impl OidcProvider {
    /// Starts the provider with one client whose only redirect URI is `redirect_uri`, on a
    /// free port.
    pub async fn start(redirect_uri: &str) -> Self {
        let folder = workspace_root().join("crates/postern/tests/e2e/oidc");
        assert!(
            folder.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed in {}: run .ci/install-peers from the workspace root",
            folder.display()
        );
        on_a_free_port("oidc-provider", async |port| {
            Self::try_start_on(&folder, port, redirect_uri).await
        })
        .await
    }

    async fn try_start_on(
        folder: &std::path::Path,
        port: u16,
        redirect_uri: &str,
    ) -> Result<Self, PortTaken> {
        let dir = ScratchDir::new("oidc");
        let mut command = Command::new(node());
        command
            .arg(folder.join("provider.mjs"))
            .current_dir(folder)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri);
        let mut process = Process::spawn("oidc-provider", command, &dir.join("oidc.log"));
        wait_until_listening(
            &mut process,
            port,
            "oidc-provider discovery",
            Duration::from_secs(20),
            async || {
                try_send(
                    port,
                    &format!("127.0.0.1:{port}"),
                    Request::get("/.well-known/openid-configuration"),
                )
                .await
                .is_ok_and(|response| response.status == StatusCode::OK)
            },
        )
        .await?;
        Ok(Self {
            _process: process,
            port,
            _dir: dir,
        })
    }

    /// The issuer, as postern's `[oauth.<id>]` must name it.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub fn node() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("node"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/bin/node"),
            PathBuf::from("/usr/local/bin/node"),
        ])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "node not found on PATH: the OIDC e2e test drives a real oidc-provider. \
                 Install Node.js 18 or later, then run .ci/install-peers."
            )
        })
}

/// A browser at the provider: its own cookie jar, redirects followed by hand.
#[derive(Default)]
pub struct ProviderBrowser {
    cookies: BTreeMap<String, String>,
}

impl ProviderBrowser {
    /// Signs in as `login` starting at `authorization_url`, and returns the URL the provider
    /// sends the browser back to (the first redirect that starts with `callback_prefix`).
    pub async fn sign_in(
        &mut self,
        authorization_url: &Url,
        login: &str,
        callback_prefix: &str,
    ) -> Url {
        let mut url = authorization_url.clone();
        for _ in 0..12 {
            let response = self.send(&url, Request::get(&path_and_query(&url))).await;
            if let Some(location) = self.redirect(&url, &response) {
                if location.as_str().starts_with(callback_prefix) {
                    return location;
                }
                url = location;
                continue;
            }
            let page = response.text();
            assert_eq!(
                response.status,
                StatusCode::OK,
                "provider page: {}",
                response.describe()
            );
            let action = attribute_after(&page, "<form", "action")
                .unwrap_or_else(|| panic!("no form on the provider's page: {page}"));
            let prompt = attribute_after(&page, "name=\"prompt\"", "value")
                .unwrap_or_else(|| "login".to_owned());
            let action = url
                .join(&action.replace("&amp;", "&"))
                .expect("form action URL");
            let mut fields = vec![("prompt", prompt.as_str())];
            if prompt == "login" {
                fields.extend([("login", login), ("password", "any")]);
            }
            let posted = self
                .send(
                    &action,
                    Request::post(&path_and_query(&action)).form(&fields),
                )
                .await;
            url = self
                .redirect(&action, &posted)
                .unwrap_or_else(|| panic!("the form did not redirect: {}", posted.describe()));
            if url.as_str().starts_with(callback_prefix) {
                return url;
            }
        }
        panic!("the provider never sent the browser back to {callback_prefix}");
    }

    async fn send(&mut self, url: &Url, mut request: Request) -> Response {
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.cookie(&jar.join("; "));
        }
        let response = send_to(url, request).await;
        for value in response.headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("Set-Cookie is ASCII");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        response
    }

    fn redirect(&self, base: &Url, response: &Response) -> Option<Url> {
        if !response.status.is_redirection() {
            return None;
        }
        let location = response.headers.get("location")?.to_str().ok()?;
        Some(base.join(location).expect("redirect URL"))
    }
}

/// The value of `name="..."` in the first tag after `marker`.
fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let start = html.find(marker)?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[start..tag_end];
    let key = format!("{name}=\"");
    let value_start = tag.find(&key)? + key.len();
    let value_end = value_start + tag[value_start..].find('"')?;
    Some(tag[value_start..value_end].to_owned())
}
