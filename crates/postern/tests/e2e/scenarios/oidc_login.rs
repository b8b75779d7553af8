//! Sign-in through a real OpenID Connect provider (oidc-provider 8): the protected app sends
//! the browser to postern, postern's button to the provider, the provider's login form back
//! to postern's callback, and the app then receives the provider's identity. A provider user
//! outside the allow-list gets no session. postern, at debug with every check logged, writes
//! none of the sign-in's secrets: the authorization codes, the state values, the client
//! secret, the sign-in cookie and the session cookie.

use http::StatusCode;

use super::expect;
use crate::harness::client::{Request, path_and_query, send_to};
use crate::harness::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider, ProviderBrowser};
use crate::harness::ports::on_a_free_port;
use crate::harness::postern::{PORTAL_HOST, SESSION_COOKIE};
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

const OAUTH_COOKIE: &str = "postern_oauth";

pub async fn oidc_login_reaches_the_app_with_the_provider_identity(kind: ProxyKind) {
    // The provider knows postern's callback before postern runs: when another process takes
    // postern's port first, both start again with the next one.
    let (provider, stack) = on_a_free_port("postern after its provider", async |postern_port| {
        let callback = format!("http://{PORTAL_HOST}:{postern_port}/api/oauth/callback/generic");
        let provider = OidcProvider::start(&callback).await;
        let extra = format!(
            r#"
[oauth.generic]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "profile", "groups"]
allowed_groups = ["staff"]
"#,
            issuer = provider.issuer()
        );
        let stack = Stack::try_start_on(kind, postern_port, &extra).await?;
        Ok((provider, stack))
    })
    .await;
    let callback = stack.postern.url("/api/oauth/callback/generic").to_string();
    let (postern, proxy) = (&stack.postern, &stack.proxy);
    let target = "/private/report?year=2026";
    let original = proxy.url(target);

    let refused = proxy.send(Request::get(target).browser()).await;
    let login_url = expect::login_redirect(&refused, StatusCode::FOUND, postern, &original);
    let page = send_to(
        &login_url,
        Request::get(&path_and_query(&login_url)).browser(),
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "login page: {}",
        page.describe()
    );
    let button = button_href(&page.text(), "/api/oauth/login/generic")
        .unwrap_or_else(|| panic!("no provider button on the login page: {}", page.text()));

    let start_url = postern.url(&button.replace("&amp;", "&"));
    let to_provider = send_to(
        &start_url,
        Request::get(&path_and_query(&start_url)).browser(),
    )
    .await;
    assert_eq!(
        to_provider.status,
        StatusCode::FOUND,
        "{}",
        to_provider.describe()
    );
    let oauth_cookie = to_provider
        .set_cookie(OAUTH_COOKIE)
        .expect("the browser cookie of the sign-in");
    let authorization = to_provider.location().expect("the provider's URL");
    assert!(
        authorization.as_str().starts_with(&provider.issuer()),
        "postern sent the browser to {authorization}"
    );

    let back = ProviderBrowser::default()
        .sign_in(&authorization, "carol", &callback)
        .await;
    let mut secrets = callback_secrets(&back);
    secrets.push(oauth_cookie.clone());
    let signed_in = send_to(
        &back,
        Request::get(&path_and_query(&back))
            .browser()
            .cookie(&oauth_cookie),
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "callback: {}",
        signed_in.describe()
    );
    assert_eq!(signed_in.location().as_ref(), Some(&original));
    let session = signed_in
        .set_cookie(SESSION_COOKIE)
        .expect("the callback starts a session");
    secrets.push(session.clone());

    // The same callback again: the sign-in was used up.
    let replay = send_to(
        &back,
        Request::get(&path_and_query(&back))
            .browser()
            .cookie(&oauth_cookie),
    )
    .await;
    assert_eq!(
        replay.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replay.describe()
    );
    assert!(replay.set_cookie(SESSION_COOKIE).is_none());

    let app = proxy
        .send(Request::get(target).browser().cookie(&session))
        .await;
    assert_eq!(
        app.status,
        StatusCode::OK,
        "with a session: {}",
        app.describe()
    );
    let echo = Echo::parse(&app.json());
    for (name, value) in [
        ("remote-user", "carol@example.org"),
        ("remote-email", "carol@example.org"),
        ("remote-name", "Carol Provider"),
        ("remote-groups", "staff,dev"),
    ] {
        assert_eq!(
            echo.values(name),
            vec![value.to_owned()],
            "the app's `{name}`"
        );
    }

    // mallory is a real account at the provider, but in no allowed group.
    let start_url = postern.url("/api/oauth/login/generic");
    let to_provider = send_to(
        &start_url,
        Request::get(&path_and_query(&start_url)).browser(),
    )
    .await;
    let oauth_cookie = to_provider.set_cookie(OAUTH_COOKIE).expect("cookie");
    let authorization = to_provider.location().expect("the provider's URL");
    let back = ProviderBrowser::default()
        .sign_in(&authorization, "mallory", &callback)
        .await;
    secrets.extend(callback_secrets(&back));
    secrets.push(oauth_cookie.clone());
    let outsider = send_to(
        &back,
        Request::get(&path_and_query(&back))
            .browser()
            .cookie(&oauth_cookie),
    )
    .await;
    assert_eq!(
        outsider.status,
        StatusCode::SEE_OTHER,
        "{}",
        outsider.describe()
    );
    assert_eq!(
        outsider
            .location()
            .map(|url| url.path().to_owned())
            .as_deref(),
        Some("/unauthorized")
    );
    assert!(outsider.set_cookie(SESSION_COOKIE).is_none());

    expect_no_secret_in_the_log(&postern.log_text(), &secrets);
}

/// The `code` and `state` values of the provider's redirect back to postern: both are
/// secrets (a code is redeemable until used, a state ties the sign-in to one browser).
fn callback_secrets(back: &url::Url) -> Vec<String> {
    let secrets: Vec<String> = back
        .query_pairs()
        .filter(|(name, _)| name == "code" || name == "state")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(secrets.len(), 2, "no code and state in {back}");
    secrets
}

/// No line of postern's log holds any of `secrets` (cookies as `name=value`: the value is
/// searched), nor the client secret; and the log is one that could have: it has the
/// signed-in user's check lines.
fn expect_no_secret_in_the_log(log: &str, secrets: &[String]) {
    assert!(
        log.lines()
            .any(|line| line.contains("check") && line.contains("carol@example.org")),
        "no check line with the provider's user in postern's log:\n{log}"
    );
    let values = secrets
        .iter()
        .map(|secret| {
            secret
                .split_once('=')
                .map_or(secret.as_str(), |(_, value)| value)
        })
        .chain([CLIENT_SECRET]);
    for secret in values {
        assert!(secret.len() >= 8, "too short to search for: {secret:?}");
        if let Some(line) = log.lines().find(|line| line.contains(secret)) {
            panic!(
                "a secret ({}…) in postern's log line:\n{line}",
                &secret[..4]
            );
        }
    }
}

/// The `href` of the first link whose target starts with `prefix`.
fn button_href(html: &str, prefix: &str) -> Option<String> {
    let marker = format!("href=\"{prefix}");
    let start = html.find(&marker)? + "href=\"".len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}
