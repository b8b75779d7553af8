//! The authorization request (OpenID Connect Core 3.1.2), checked in the order the spec
//! needs: until the client and its `redirect_uri` are known to be registered, an error is a
//! page (never a redirect to an unchecked address); after that, it goes back to the client
//! as `error=` on its own `redirect_uri`.

use std::collections::HashMap;

use postern_core::UnixSeconds;
use postern_core::oidc::{OidcClient, OidcConfig, SCOPES};
use serde::{Deserialize, Serialize};

use super::return_marks::MarkKey;

/// A request that passed every check: what the code (or the consent page) is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    /// The requested scopes the client may have, in the order of `SCOPES`.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
}

/// The sign-in the request needs besides the checks.
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    /// `prompt=none`: never show a page.
    pub silent: bool,
    /// `prompt=login`: sign in again.
    pub force_login: bool,
    /// `prompt=consent`: ask again.
    pub force_consent: bool,
    pub max_age: Option<u64>,
    /// Set by postern on the way back from its login page (`return_marks`): a session
    /// started at or after this time satisfies `prompt=login` and `max_age`.
    pub signed_in_after: Option<UnixSeconds>,
    /// Set with it: the session that was there when the login page was asked for (a
    /// fingerprint, `session_fingerprint`), which can never satisfy it, even in the same
    /// second.
    pub replaced_session: Option<String>,
    /// `sub` of a valid `id_token_hint` (a subject id).
    pub hinted_subject: Option<String>,
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// Shown as a page: the client or its redirect URI are not what is registered.
    Page(&'static str),
    /// Sent back to the client.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// The longest `state` and `nonce` kept, in bytes. Both are stored with every pending consent
/// (10 minutes) and code: unbounded, one signed-in client could park ~60 KiB a request, at the
/// API rate, and on the memory store push everyone's shorter-lived values out. 2,048 leaves
/// room for clients that carry a return URL in `state`.
const MAX_KEPT_VALUE: usize = 2048;

/// Whether a `state` or `nonce` may be kept and sent back: bounded, and no control
/// characters (they would also make the return marks' signed text ambiguous).
fn fit_to_keep(value: &str) -> bool {
    value.len() <= MAX_KEPT_VALUE && !value.chars().any(char::is_control)
}

/// Reads and checks the parameters. `hint_subject` verifies an `id_token_hint` and returns
/// its `sub`; `return_marks` reads, at `now`, what postern wrote on the way back from its
/// login page.
pub fn check<'c>(
    config: &'c OidcConfig,
    params: &HashMap<String, String>,
    hint_subject: impl Fn(&str) -> Option<String>,
    (return_marks, now): (&MarkKey, UnixSeconds),
) -> Result<(&'c OidcClient, Authorization, Freshness), Refusal> {
    let get = |name: &str| params.get(name).filter(|value| !value.is_empty()).cloned();
    let client = get("client_id")
        .and_then(|id| config.client(&id))
        .ok_or(Refusal::Page(
            "The application that sent you here is not registered with postern.",
        ))?;
    let redirect_uri = get("redirect_uri")
        .filter(|uri| {
            client
                .redirect_uris
                .iter()
                .any(|registered| registered == uri)
        })
        .ok_or(Refusal::Page(
            "The application asked to send you back to an address it has not registered.",
        ))?;
    let state = get("state");
    if state.as_deref().is_some_and(|state| !fit_to_keep(state)) {
        return Err(Refusal::Page(
            "The application sent a state postern cannot keep (over 2,048 bytes, or with control characters).",
        ));
    }
    let refuse = |error, description| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    if get("nonce").is_some_and(|nonce| !fit_to_keep(&nonce)) {
        return Err(refuse(
            "invalid_request",
            "nonce is over 2048 bytes or holds control characters",
        ));
    }
    if get("request").is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if get("response_type").as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        ));
    }
    if get("response_mode").is_some_and(|mode| mode != "query") {
        return Err(refuse(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let requested: Vec<String> = get("scope")
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    if !requested.iter().any(|scope| scope == "openid") {
        return Err(refuse("invalid_scope", "the scope must include openid"));
    }
    // Unknown scopes, and those the client may not have, are left out (not an error).
    let scopes: Vec<String> = SCOPES
        .iter()
        .filter(|scope| requested.iter().any(|asked| asked == *scope))
        .filter(|scope| client.scopes.iter().any(|allowed| allowed == *scope))
        .map(|scope| (*scope).to_owned())
        .collect();
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(challenge), Some(method)) if method == "S256" => {
            // 43 characters: the base64url SHA-256 of a verifier (RFC 7636 4.2).
            if challenge.len() != 43 {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256",
                ));
            }
            Some(challenge)
        }
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            ));
        }
        (None, _) if client.require_pkce => {
            return Err(refuse(
                "invalid_request",
                "PKCE is required: send code_challenge (S256)",
            ));
        }
        (None, _) => None,
    };
    let prompts: Vec<String> = get("prompt")
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    let has = |value: &str| prompts.iter().any(|prompt| prompt == value);
    if has("none") && prompts.len() > 1 {
        return Err(refuse("invalid_request", "prompt=none goes alone"));
    }
    let max_age = match get("max_age") {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| refuse("invalid_request", "max_age must be a number of seconds"))?,
        ),
    };
    let hinted_subject = match get("id_token_hint") {
        None => None,
        Some(hint) => Some(hint_subject(&hint).ok_or_else(|| {
            refuse(
                "invalid_request",
                "id_token_hint is not a token postern signed",
            )
        })?),
    };
    let marks = return_marks.read(params, now).map_err(|_| {
        refuse(
            "invalid_request",
            "the way back from the sign-in page was altered, or is too old: start again",
        )
    })?;
    let freshness = Freshness {
        silent: has("none"),
        force_login: has("login") || has("select_account"),
        force_consent: has("consent") || marks.consent,
        max_age,
        signed_in_after: marks.signed_in_after,
        replaced_session: marks.replaced_session,
        hinted_subject,
    };
    Ok((
        client,
        Authorization {
            client_id: client.id.clone(),
            redirect_uri,
            scopes,
            state,
            nonce: get("nonce"),
            code_challenge,
        },
        freshness,
    ))
}

impl Freshness {
    /// Whether a session started at `created_at` will do, at `now`. `subject`: the session
    /// user's subject id (needed only with an `id_token_hint`); `fingerprint`: the session's
    /// `session_fingerprint`.
    pub fn session_will_do(
        &self,
        subject: Option<&str>,
        fingerprint: &str,
        created_at: UnixSeconds,
        now: UnixSeconds,
    ) -> bool {
        if self
            .hinted_subject
            .as_deref()
            .is_some_and(|hinted| subject != Some(hinted))
        {
            return false;
        }
        if let Some(after) = self.signed_in_after {
            let replaced = self.replaced_session.as_deref() == Some(fingerprint);
            return created_at >= after && !replaced;
        }
        let too_old = self
            .max_age
            .is_some_and(|max_age| now.saturating_sub(created_at) > max_age);
        !self.force_login && !too_old
    }
}

/// The consent page's words for each scope.
pub fn scope_words(scopes: &[String]) -> Vec<&'static str> {
    scopes
        .iter()
        .filter_map(|scope| match scope.as_str() {
            "openid" => Some("who you are (your user name)"),
            "profile" => Some("your name"),
            "email" => Some("your email address"),
            "groups" => Some("the groups you are in"),
            "offline_access" => Some("stay signed in when you are away (a refresh token)"),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;

/// A short fingerprint of a session's store key, for `postern_replaced_session`: it names
/// the session without being usable as one (the key is a hash of the token).
pub fn session_fingerprint(key: &postern_core::token::TokenHash) -> String {
    key.to_hex().chars().take(16).collect()
}
