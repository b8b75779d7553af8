//! Notices to `[notify] webhook_url`: seed 003's incident notice (at the fifth failed sign-in in
//! a row on an account, besides the `auth.suspicious` audit line), and each change of a user's
//! second factors on the account page. It never holds up the
//! request that triggered it: it runs in its own task, retries a few times with growing
//! pauses, and is dropped (with a warning) when too many notices are already on their way.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;
use url::Url;

use crate::clock::now;
use crate::outbound::HttpClient;

/// Attempts per notice, and the pause before the second (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// Notices on their way at once; more are dropped rather than queued without bound.
const IN_FLIGHT: usize = 32;

pub struct Notifier {
    url: Option<Url>,
    client: Arc<HttpClient>,
    permits: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(url: Option<Url>) -> Self {
        Self {
            url,
            client: Arc::new(HttpClient::default()),
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Waits until no notice is on its way: each one delivered, refused or given up. (The
    /// tests wait on this to count notices instead of sleeping.)
    pub async fn settled(&self) {
        let all = u32::try_from(IN_FLIGHT).unwrap_or(u32::MAX);
        // Every permit back in the semaphore: no notice task holds one.
        let _all_back = self.permits.acquire_many(all).await;
    }

    /// Sends `auth.suspicious` to the webhook, if one is configured. No secret is in it.
    pub fn suspicious(&self, user: &str, client: IpAddr, count: u64, method: &str) {
        self.send(json!({
            "event": "auth.suspicious",
            "user": user,
            "ip": client.to_string(),
            "count": count,
            "method": method,
            "time": now(),
        }));
    }

    /// Sends a change of a user's second factors (`event`: `account.totp_enrolled`, ...) to
    /// the webhook, if one is configured, so the user or the administrator hears of a change
    /// they did not make. `message` says it in words ("TOTP enrolled").
    pub fn factor_changed(&self, user: &str, client: IpAddr, event: &str, message: &str) {
        self.send(json!({
            "event": event,
            "user": user,
            "ip": client.to_string(),
            "message": message,
            "time": now(),
        }));
    }

    /// POSTs `body` in a task of its own, retried with growing pauses.
    fn send(&self, body: serde_json::Value) {
        let Some(url) = self.url.clone() else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            tracing::warn!("too many webhook notices on their way: this one is dropped");
            return;
        };
        let event = body["event"].as_str().unwrap_or_default().to_owned();
        let http = Arc::clone(&self.client);
        tokio::spawn(async move {
            let _permit = permit;
            let mut pause = FIRST_PAUSE;
            for attempt in 1..=ATTEMPTS {
                match http.post_json(&url, &body).await {
                    Ok(status) if status.is_success() => return,
                    // A 4xx will not change on a retry.
                    Ok(status) if status.is_client_error() => {
                        tracing::warn!(%status, event, "the webhook refused a notice");
                        return;
                    }
                    Ok(status) => tracing::warn!(%status, attempt, "the webhook failed; retrying"),
                    // The error would repeat the URL, which may hold a token: not logged.
                    Err(_) => tracing::warn!(attempt, "the webhook did not answer; retrying"),
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
            tracing::warn!(event, "a notice could not be delivered to the webhook");
        });
    }
}
