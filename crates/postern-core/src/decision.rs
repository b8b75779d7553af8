//! The answer table from ARCHITECTURE.md: given what the check found, which proxy asked, and
//! whether a browser or an API client is on the other end, what to answer. One function, so the
//! whole table is read and tested in one place.

use http::Method;

use crate::access::Reason;
use crate::forwarded::ProxyKind;
use crate::identity::Identity;

/// Whether the client can follow a login redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    Browser,
    /// A script or app: anything that does not accept `text/html`, or that sent
    /// `Authorization` (tinyauth's "API mode"). Never redirected.
    Api,
}

impl ClientMode {
    pub fn detect(accept: Option<&[u8]>, has_authorization: bool) -> Self {
        let wants_html = accept.is_some_and(|accept| {
            accept
                .windows(9)
                .any(|window| window.eq_ignore_ascii_case(b"text/html"))
        });
        if wants_html && !has_authorization {
            Self::Browser
        } else {
            Self::Api
        }
    }
}

/// What the credential check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    Allowed(Identity),
    /// No credentials, or credentials that are not (or no longer) valid.
    NoCredentials,
    /// The access rules refuse this request (signed in or not).
    NotAllowed(Reason),
    /// The store did not answer: fail closed.
    StoreUnavailable,
    /// Credentials in the request (Basic) hit the failed-login limits.
    Limited {
        retry_after: u64,
    },
}

/// What to send back to the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the `Remote-*` headers.
    Allow(Identity),
    /// 302 (or 303 for an original method other than GET/HEAD) to the login page.
    RedirectToLogin { status: u16 },
    /// 401. `with_location`: nginx's browsers get the login URL in `Location` for `error_page`.
    Unauthorized { with_location: bool },
    /// 302 (or 303) to `/unauthorized`, which names the reason.
    RedirectToUnauthorized { status: u16, reason: Reason },
    /// 403 with the reason in the JSON body. `with_location`: nginx's browsers get the
    /// `/unauthorized` URL in `Location`, for `error_page 403` to redirect to.
    Forbidden { reason: Reason, with_location: bool },
    /// 503; `page` for browsers, JSON for the rest.
    Unavailable { page: bool },
    /// 429 with `Retry-After`.
    TooManyRequests { retry_after: u64 },
}

pub fn answer(
    proxy: ProxyKind,
    mode: ClientMode,
    original_method: &Method,
    outcome: CheckOutcome,
) -> Answer {
    let browser = mode == ClientMode::Browser;
    let nginx = proxy == ProxyKind::Nginx;
    let redirect_status = redirect_status(original_method);
    match outcome {
        CheckOutcome::Allowed(identity) => Answer::Allow(identity),
        CheckOutcome::NoCredentials if browser && !nginx => Answer::RedirectToLogin {
            status: redirect_status,
        },
        CheckOutcome::NoCredentials => Answer::Unauthorized {
            with_location: browser && nginx,
        },
        CheckOutcome::NotAllowed(reason) if browser && !nginx => Answer::RedirectToUnauthorized {
            status: redirect_status,
            reason,
        },
        CheckOutcome::NotAllowed(reason) => Answer::Forbidden {
            reason,
            with_location: browser && nginx,
        },
        // nginx's auth_request turns any status but 2xx, 401 and 403 into a 500.
        CheckOutcome::Limited { .. } if nginx => Answer::Unauthorized {
            with_location: false,
        },
        CheckOutcome::Limited { retry_after } => Answer::TooManyRequests { retry_after },
        CheckOutcome::StoreUnavailable => Answer::Unavailable {
            page: browser && !nginx,
        },
    }
}

/// 302 keeps a GET a GET; after any other method a 303 makes the browser fetch the login page
/// with GET instead of re-sending a form body to it.
pub fn redirect_status(original_method: &Method) -> u16 {
    if original_method == Method::GET || original_method == Method::HEAD {
        302
    } else {
        303
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROXIES: [ProxyKind; 4] = [
        ProxyKind::Traefik,
        ProxyKind::Caddy,
        ProxyKind::Nginx,
        ProxyKind::Envoy,
    ];

    #[test]
    fn client_mode_follows_accept_and_authorization() {
        let html = Some(&b"text/html,application/xhtml+xml,*/*;q=0.8"[..]);
        assert_eq!(ClientMode::detect(html, false), ClientMode::Browser);
        assert_eq!(
            ClientMode::detect(Some(b"TEXT/HTML"), false),
            ClientMode::Browser
        );
        assert_eq!(ClientMode::detect(html, true), ClientMode::Api);
        assert_eq!(ClientMode::detect(Some(b"*/*"), false), ClientMode::Api);
        assert_eq!(
            ClientMode::detect(Some(b"application/json"), false),
            ClientMode::Api
        );
        assert_eq!(ClientMode::detect(None, false), ClientMode::Api);
    }

    #[test]
    fn allowed_is_200_for_everyone() {
        let identity = Identity::new("alice", "", "", &[]);
        for proxy in PROXIES {
            for mode in [ClientMode::Browser, ClientMode::Api] {
                let got = answer(
                    proxy,
                    mode,
                    &Method::GET,
                    CheckOutcome::Allowed(identity.clone()),
                );
                assert_eq!(got, Answer::Allow(identity.clone()));
            }
        }
    }

    #[test]
    fn browsers_without_credentials_are_redirected_except_through_nginx() {
        for proxy in [ProxyKind::Traefik, ProxyKind::Caddy, ProxyKind::Envoy] {
            assert_eq!(
                answer(
                    proxy,
                    ClientMode::Browser,
                    &Method::GET,
                    CheckOutcome::NoCredentials
                ),
                Answer::RedirectToLogin { status: 302 }
            );
            assert_eq!(
                answer(
                    proxy,
                    ClientMode::Browser,
                    &Method::HEAD,
                    CheckOutcome::NoCredentials
                ),
                Answer::RedirectToLogin { status: 302 }
            );
            assert_eq!(
                answer(
                    proxy,
                    ClientMode::Browser,
                    &Method::POST,
                    CheckOutcome::NoCredentials
                ),
                Answer::RedirectToLogin { status: 303 }
            );
        }
        // nginx auth_request turns a 302 into a 500: a 401 carrying the login URL instead.
        assert_eq!(
            answer(
                ProxyKind::Nginx,
                ClientMode::Browser,
                &Method::GET,
                CheckOutcome::NoCredentials
            ),
            Answer::Unauthorized {
                with_location: true
            }
        );
    }

    #[test]
    fn api_clients_get_401_without_location() {
        for proxy in PROXIES {
            assert_eq!(
                answer(
                    proxy,
                    ClientMode::Api,
                    &Method::GET,
                    CheckOutcome::NoCredentials
                ),
                Answer::Unauthorized {
                    with_location: false
                }
            );
        }
    }

    #[test]
    fn signed_in_but_not_allowed() {
        assert_eq!(
            answer(
                ProxyKind::Traefik,
                ClientMode::Browser,
                &Method::GET,
                CheckOutcome::NotAllowed(Reason::User)
            ),
            Answer::RedirectToUnauthorized {
                status: 302,
                reason: Reason::User
            }
        );
        assert_eq!(
            answer(
                ProxyKind::Nginx,
                ClientMode::Browser,
                &Method::GET,
                CheckOutcome::NotAllowed(Reason::Network)
            ),
            Answer::Forbidden {
                reason: Reason::Network,
                with_location: true
            }
        );
        assert_eq!(
            answer(
                ProxyKind::Caddy,
                ClientMode::Api,
                &Method::GET,
                CheckOutcome::NotAllowed(Reason::SecondFactor)
            ),
            Answer::Forbidden {
                reason: Reason::SecondFactor,
                with_location: false
            }
        );
    }

    #[test]
    fn a_store_outage_is_never_a_200() {
        for proxy in PROXIES {
            for mode in [ClientMode::Browser, ClientMode::Api] {
                let got = answer(proxy, mode, &Method::GET, CheckOutcome::StoreUnavailable);
                assert!(
                    matches!(got, Answer::Unavailable { .. }),
                    "{proxy:?} {mode:?}"
                );
            }
        }
        assert_eq!(
            answer(
                ProxyKind::Traefik,
                ClientMode::Browser,
                &Method::GET,
                CheckOutcome::StoreUnavailable
            ),
            Answer::Unavailable { page: true }
        );
        assert_eq!(
            answer(
                ProxyKind::Nginx,
                ClientMode::Browser,
                &Method::GET,
                CheckOutcome::StoreUnavailable
            ),
            Answer::Unavailable { page: false }
        );
    }
}
