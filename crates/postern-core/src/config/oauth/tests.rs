use std::collections::HashMap;
use std::path::Path;

use crate::config::{NoEnv, Sources, load};
use crate::oauth::ProviderKind;

fn config(providers: &str) -> Result<crate::config::Config, Vec<String>> {
    let text = format!("app_url = \"https://auth.example.com\"\n{providers}");
    load(&Sources {
        file: Some((&text, Path::new("/etc/postern/postern.toml"))),
        env: &NoEnv,
        cli: &[],
    })
    .map_err(|problems| problems.0)
}

fn assert_problem(providers: &str, expected: &str) {
    let problems = config(providers).unwrap_err();
    assert!(
        problems.iter().any(|problem| problem.contains(expected)),
        "expected {expected:?} in {problems:?}"
    );
}

#[test]
fn presets_fill_github_and_google_and_providers_replace_users() {
    let config = config(
        "[oauth.github]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n\
         [oauth.google]\nclient_id = \"c\"\nclient_secret = \"d\"\nallowed_domains = [\"@Example.COM\"]\n",
    )
    .unwrap();
    assert!(config.users.is_empty());
    let github = config.oauth_provider("github").unwrap();
    assert_eq!(github.kind, ProviderKind::GitHub);
    assert_eq!(github.label, "GitHub");
    assert_eq!(github.scopes, ["read:user", "user:email"]);
    let google = config.oauth_provider("google").unwrap();
    assert_eq!(google.kind, ProviderKind::Google);
    assert_eq!(
        google.issuer.as_ref().map(url::Url::as_str),
        Some("https://accounts.google.com/")
    );
    assert_eq!(google.allow.domains, ["example.com"]);
}

#[test]
fn any_other_id_is_discovered_from_its_issuer() {
    let config = config(
        "[oauth.keycloak]\nissuer = \"https://id.example.com/realms/main\"\nclient_id = \"a\"\n\
         client_secret = \"b\"\nallowed_groups = [\"staff\"]\n",
    )
    .unwrap();
    let keycloak = config.oauth_provider("keycloak").unwrap();
    assert_eq!(keycloak.kind, ProviderKind::Oidc);
    assert_eq!(keycloak.label, "Keycloak");
    assert!(keycloak.auth_url.is_none(), "found by discovery");
    assert_eq!(keycloak.groups_claim.as_deref(), Some("groups"));
    assert_problem(
        "[oauth.generic]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n",
        "`issuer` is required",
    );
}

#[test]
fn a_provider_nobody_may_use_is_refused() {
    assert_problem(
        "[oauth.google]\nclient_id = \"a\"\nclient_secret = \"b\"\n",
        "nobody may sign in",
    );
}

/// A provider's label is what its sessions keep as their way in; "password" there would read
/// as a password sign-in to the rule that guards changes of factors.
#[test]
fn a_label_may_not_name_one_of_postern_s_own_ways_in() {
    for label in ["password", "Password ", "passkey", "a one-time ticket"] {
        assert_problem(
            &format!(
                "[oauth.github]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\nlabel = {label:?}\n"
            ),
            "names one of postern's own ways in",
        );
    }
    config("[oauth.github]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\nlabel = \"Passwords Inc\"\n")
        .unwrap();
}

#[test]
fn bad_provider_tables_are_each_reported() {
    assert_problem(
        "[oauth.google]\nclient_secret = \"b\"\nallow_all = true\n",
        "`client_id` is required",
    );
    assert_problem(
        "[oauth.google]\nclient_id = \"a\"\nallow_all = true\n",
        "`client_secret` (or `client_secret_file`) is required",
    );
    assert_problem(
        "[oauth.google]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\nshoe = 1\n",
        "[oauth.google]: unknown key `shoe`",
    );
    assert_problem(
        "[oauth.generic]\nissuer = \"http://id.example.com\"\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n",
        "must be an https:// URL",
    );
    assert_problem(
        "[oauth.generic]\nissuer = \"https://id.example.com\"\nscopes = [\"email\"]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n",
        "must include \"openid\"",
    );
    assert_problem(
        "[oauth.github]\nissuer = \"https://github.com\"\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n",
        "remove `issuer`",
    );
    assert_problem(
        "[oauth.\"a b\"]\nclient_id = \"a\"\nclient_secret = \"b\"\nallow_all = true\n",
        "the id must be",
    );
    assert_problem("oauth = 5\n", "`oauth` must be tables named by id");
}

#[test]
fn a_declared_provider_s_keys_can_come_from_env_vars() {
    let env: HashMap<String, String> = [
        ("POSTERN_OAUTH_MY_IDP_CLIENT_SECRET", "from-env"),
        ("POSTERN_OAUTH_MY_IDP_ALLOWED_GROUPS", "staff, ops"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let text = "app_url = \"https://auth.example.com\"\n[oauth.my-idp]\n\
                issuer = \"https://id.example.com\"\nclient_id = \"postern\"\n";
    let config = load(&Sources {
        file: Some((text, Path::new("/etc/postern/postern.toml"))),
        env: &env,
        cli: &[],
    })
    .unwrap();
    let provider = config.oauth_provider("my-idp").unwrap();
    assert_eq!(provider.client_secret, "from-env");
    assert_eq!(provider.allow.groups, ["staff", "ops"]);
    assert!(
        config.oauth_provider("github").is_none(),
        "only declared ids"
    );
}
