//! Every scenario against every proxy: `cargo test -p postern --test e2e nginx::` runs one
//! proxy, `... browser_login` one scenario everywhere.

use crate::harness::proxy::ProxyKind;
use crate::scenarios::{browser_login, login_redirect, logout, spoofing};

macro_rules! proxy_suite {
    ($proxy:ident, $kind:expr) => {
        mod $proxy {
            use super::*;

            const KIND: ProxyKind = $kind;

            #[tokio::test]
            async fn browser_without_session_is_sent_to_login() {
                login_redirect::browser_without_session_is_sent_to_login(KIND).await;
            }

            #[tokio::test]
            async fn api_client_without_session_gets_401() {
                login_redirect::api_client_without_session_gets_401(KIND).await;
            }

            #[tokio::test]
            async fn form_post_without_session_is_sent_to_login() {
                login_redirect::form_post_without_session_is_sent_to_login(KIND).await;
            }

            #[tokio::test]
            async fn forged_forwarding_headers_do_not_change_the_checked_request() {
                login_redirect::forged_forwarding_headers_do_not_change_the_checked_request(KIND)
                    .await;
            }

            #[tokio::test]
            async fn browser_login_reaches_the_app_as_alice() {
                browser_login::browser_login_reaches_the_app_as_alice(KIND).await;
            }

            #[tokio::test]
            async fn forged_identity_headers_are_replaced_by_postern_s() {
                spoofing::forged_identity_headers_are_replaced_by_postern_s(KIND).await;
            }

            #[tokio::test]
            async fn forged_identity_headers_without_session_never_reach_the_app() {
                spoofing::forged_identity_headers_without_session_never_reach_the_app(KIND).await;
            }

            #[tokio::test]
            async fn logout_ends_access_through_the_proxy() {
                logout::logout_ends_access_through_the_proxy(KIND).await;
            }
        }
    };
}

proxy_suite!(nginx, ProxyKind::Nginx);
proxy_suite!(traefik, ProxyKind::Traefik);
proxy_suite!(caddy, ProxyKind::Caddy);
