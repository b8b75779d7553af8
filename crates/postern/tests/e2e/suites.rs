//! Every scenario against every proxy: `cargo test -p postern --test e2e nginx::` runs one
//! proxy, `... browser_login` one scenario everywhere. The replica scenarios run against each
//! Redis deployment: `... replicas::` runs them all, `... replicas::cluster::` one deployment.

use crate::harness::proxy::ProxyKind;
use crate::scenarios::{
    access, browser_login, deploy_variants, host_confusion, identity_token, login_redirect, logout,
    oidc_login, refused_in_chromium, spoofing,
};

macro_rules! proxy_suite {
    ($proxy:ident, $kind:expr) => {
        mod $proxy {
            use super::*;

            const KIND: ProxyKind = $kind;

            #[tokio::test]
            async fn access_a_refused_browser_lands_on_postern_s_no_access_page() {
                refused_in_chromium::a_refused_browser_lands_on_postern_s_no_access_page(KIND)
                    .await;
            }

            #[tokio::test]
            async fn deploy_the_uncommented_portal_block_serves_the_portal_but_not_the_checks() {
                deploy_variants::the_uncommented_portal_block_serves_the_portal_but_not_the_checks(
                    KIND,
                )
                .await;
            }

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
            async fn host_a_request_line_naming_the_app_is_judged_as_the_app() {
                host_confusion::a_request_line_naming_the_app_is_judged_as_the_app(KIND).await;
            }

            #[tokio::test]
            async fn host_a_trusted_upstream_s_forwarded_headers_do_not_choose_what_is_judged() {
                host_confusion::a_trusted_upstream_s_forwarded_headers_do_not_choose_what_postern_judges(KIND).await;
            }

            #[tokio::test]
            async fn logout_ends_access_through_the_proxy() {
                logout::logout_ends_access_through_the_proxy(KIND).await;
            }

            #[tokio::test]
            async fn access_a_user_outside_the_group_is_refused() {
                access::a_user_outside_the_group_is_refused(KIND).await;
            }

            #[tokio::test]
            async fn access_a_public_path_passes_and_its_bypasses_do_not() {
                access::a_public_path_passes_and_its_bypasses_do_not(KIND).await;
            }

            #[tokio::test]
            async fn access_a_forged_method_reaches_only_the_preflight() {
                access::a_forged_method_reaches_only_the_preflight(KIND).await;
            }

            #[tokio::test]
            async fn access_a_forged_client_ip_changes_nothing() {
                access::a_forged_client_ip_changes_nothing(KIND).await;
            }

            #[tokio::test]
            async fn identity_token_reaches_the_app_and_jose_verifies_it() {
                identity_token::the_app_gets_postern_s_token_and_jose_verifies_it(KIND).await;
            }

            #[tokio::test]
            async fn oauth_oidc_login_reaches_the_app_with_the_provider_identity() {
                oidc_login::oidc_login_reaches_the_app_with_the_provider_identity(KIND).await;
            }
        }
    };
}

proxy_suite!(nginx, ProxyKind::Nginx);

/// nginx's own: the shipped `default_server`.
mod nginx_default_server {
    #[tokio::test]
    async fn host_an_unknown_host_is_closed_without_an_answer() {
        crate::scenarios::host_confusion::an_unknown_host_is_closed_without_an_answer().await;
    }
}

proxy_suite!(traefik, ProxyKind::Traefik);
proxy_suite!(caddy, ProxyKind::Caddy);

/// 10,000 proxied requests and a count of the connections each proxy opened to postern.
mod keepalive {
    use crate::harness::proxy::ProxyKind;
    use crate::scenarios::keepalive::the_proxy_keeps_its_connections_to_postern;

    #[tokio::test]
    async fn nginx() {
        the_proxy_keeps_its_connections_to_postern(ProxyKind::Nginx).await;
    }

    #[tokio::test]
    async fn traefik() {
        the_proxy_keeps_its_connections_to_postern(ProxyKind::Traefik).await;
    }

    #[tokio::test]
    async fn caddy() {
        the_proxy_keeps_its_connections_to_postern(ProxyKind::Caddy).await;
    }
}

macro_rules! replica_suite {
    ($redis:ident, $kind:expr) => {
        mod $redis {
            use super::*;

            const KIND: crate::harness::shared_redis::RedisKind = $kind;

            #[tokio::test]
            async fn a_session_made_through_the_proxy_passes_every_replica() {
                crate::scenarios::replicas::a_session_made_through_the_proxy_passes_every_replica(
                    KIND,
                )
                .await;
            }

            #[tokio::test]
            async fn logout_on_b_ends_the_session_on_a() {
                crate::scenarios::replicas::logout_on_b_ends_the_session_on_a(KIND).await;
            }

            #[tokio::test]
            async fn failed_logins_on_a_and_b_trip_one_limit() {
                crate::scenarios::replicas::failed_logins_on_a_and_b_trip_one_limit(KIND).await;
            }

            #[tokio::test]
            async fn a_restarted_replica_keeps_the_user_signed_in() {
                crate::scenarios::replicas::a_restarted_replica_keeps_the_user_signed_in(KIND)
                    .await;
            }
        }
    };
}

/// Several postern processes behind one nginx (deploy/compose/nginx.conf), one Redis.
mod replicas {
    use crate::harness::shared_redis::RedisKind;

    replica_suite!(standalone, RedisKind::Standalone);
    replica_suite!(standalone_cached, RedisKind::StandaloneCached);
    replica_suite!(cluster, RedisKind::Cluster);
    replica_suite!(sentinel, RedisKind::Sentinel);

    /// Stopping the one Redis server is an outage; with Sentinel or Cluster it is a failover,
    /// which the store's own tests cover.
    #[tokio::test]
    async fn a_redis_outage_fails_closed_and_heals() {
        crate::scenarios::redis_outage::a_redis_outage_fails_closed_and_heals().await;
    }
}

/// postern as an OpenID Provider, for a certified relying-party library.
mod oidc_provider {
    #[tokio::test]
    async fn openid_client_walks_the_whole_flow() {
        crate::scenarios::oidc_provider::openid_client_walks_the_whole_flow().await;
    }

    #[tokio::test]
    async fn authlib_walks_the_code_flow() {
        crate::scenarios::oidc_provider::authlib_walks_the_code_flow().await;
    }

    #[tokio::test]
    async fn chromium_walks_sign_in_and_consent() {
        crate::scenarios::oidc_provider::chromium_walks_sign_in_and_consent().await;
    }
}

/// A peer's port taken by another process that answers like the peer: the start notices.
mod taken_ports {
    #[tokio::test]
    async fn postern_on_a_taken_port_is_not_taken_for_ready() {
        crate::scenarios::taken_ports::postern_on_a_taken_port_is_not_taken_for_ready().await;
    }

    #[tokio::test]
    async fn nginx_on_a_taken_port_is_not_taken_for_routed() {
        crate::scenarios::taken_ports::nginx_on_a_taken_port_is_not_taken_for_routed().await;
    }
}
