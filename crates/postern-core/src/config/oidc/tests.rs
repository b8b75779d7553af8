use std::collections::HashMap;
use std::path::Path;

use crate::config::{Config, ConfigProblems, Sources, load};
use crate::oidc::{ConsentMode, TokenAuthMethod};
use jsonwebtoken::Algorithm;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE";

fn key(name: &str) -> String {
    format!(
        "{}/src/oidc/keys/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn load_text(extra: &str) -> Result<Config, ConfigProblems> {
    let text = format!(
        "app_url = \"https://auth.example.com\"\n[[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n{extra}"
    );
    let env: HashMap<String, String> = HashMap::new();
    load(&Sources {
        file: Some((&text, Path::new("/etc/postern/postern.toml"))),
        env: &env,
        cli: &[],
    })
}

fn problems(extra: &str) -> String {
    load_text(extra).unwrap_err().0.join("\n")
}

fn both_keys() -> String {
    format!(
        "[oidc]\nsigning_keys = [\"{}\", \"{}\"]\n",
        key("rsa-2048.pem"),
        key("ec-p256.pem")
    )
}

#[test]
fn without_oidc_the_provider_and_the_identity_token_are_off() {
    let config = load_text("").unwrap();
    assert!(config.oidc.is_none());
    assert!(config.identity_token.is_none());
}

#[test]
fn a_provider_without_a_key_is_refused() {
    let text = problems("[oidc]\nrequire_pkce = false\n");
    assert!(text.contains("`[oidc]` needs `signing_keys`"), "{text}");
    let text = problems("[oidc]\nsigning_keys = [\"/nonexistent/key.pem\"]\n");
    assert!(text.contains("/nonexistent/key.pem"), "{text}");
}

#[test]
fn clients_get_the_documented_defaults() {
    let config = load_text(&format!(
        "{}[[oidc.clients]]\nid = \"grafana\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://grafana.example.com/login/generic_oauth\"]\n\
         [[oidc.clients]]\nid = \"cli\"\npublic = true\nredirect_uris = [\"http://127.0.0.1:8400/cb\"]\nid_token_signed_response_alg = \"ES256\"\nconsent = \"implicit\"\n",
        both_keys()
    ))
    .unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(oidc.issuer, "https://auth.example.com");
    assert!(oidc.require_pkce);
    assert_eq!(oidc.keys.first().algorithm, Algorithm::RS256);
    let grafana = oidc.client("grafana").unwrap();
    assert_eq!(grafana.auth_method, TokenAuthMethod::ClientSecretBasic);
    assert_eq!(grafana.scopes, ["openid", "profile", "email", "groups"]);
    assert_eq!(grafana.consent, ConsentMode::Explicit);
    assert_eq!(grafana.access_token_ttl.as_secs(), 3600);
    assert_eq!(grafana.refresh_token_ttl.as_secs(), 30 * 86_400);
    assert_eq!(grafana.id_token_algorithm, Algorithm::RS256);
    let cli = oidc.client("cli").unwrap();
    assert!(cli.is_public());
    assert_eq!(cli.auth_method, TokenAuthMethod::None);
    assert_eq!(cli.consent, ConsentMode::Implicit);
    assert_eq!(cli.id_token_algorithm, Algorithm::ES256);
    assert_eq!(
        oidc.endpoint(crate::oidc::paths::TOKEN),
        "https://auth.example.com/oidc/token"
    );
}

#[test]
fn every_bad_client_key_is_reported() {
    let text = problems(&format!(
        "{}[[oidc.clients]]\nid = \"a b\"\nredirect_uris = [\"http://grafana.example.com/cb\", \"https://x.example.com/cb#frag\", \"javascript:alert(1)\"]\n\
         scopes = [\"profile\", \"admin\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\nconsent = \"never\"\naccess_token_ttl = \"2d\"\n\
         allow_users = [\"nobody\"]\nid_token_signed_response_alg = \"HS256\"\npost_logout_redirect_uris = [\"/relative\"]\n\
         [[oidc.clients]]\nid = \"x\"\nsecret_hash = \"$2b$12$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ\"\nredirect_uris = [\"https://x.example.com/cb\"]\n\
         [[oidc.clients]]\nid = \"x\"\npublic = true\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://x.example.com/cb\"]\n",
        both_keys()
    ));
    for expected in [
        "`id` must be 1 to 128",
        "set `secret_hash`",
        "\"http://grafana.example.com/cb\" must be https://",
        "must not have a #fragment",
        "\"javascript:alert(1)\" must be an https:// URL",
        "\"admin\" is not one of",
        "must include \"openid\"",
        "`token_endpoint_auth_method` = \"private_key_jwt\"",
        "`consent` = \"never\"",
        "`access_token_ttl` must be between 1m and 24h",
        "user `nobody` does not exist",
        "`id_token_signed_response_alg` = \"HS256\"",
        "\"/relative\" is not an absolute URL",
        "must be an argon2id hash",
        "another client has the same `id`",
        "a `public` client has no `secret_hash`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn require_pkce_per_client_defaults_to_the_provider_s_and_a_public_client_always_needs_it() {
    let clients = |global: &str| {
        format!(
            "{}{global}[[oidc.clients]]\nid = \"plain\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://a.example.com/cb\"]\n\
             [[oidc.clients]]\nid = \"legacy\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://b.example.com/cb\"]\nrequire_pkce = false\n\
             [[oidc.clients]]\nid = \"strict\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://c.example.com/cb\"]\nrequire_pkce = true\n\
             [[oidc.clients]]\nid = \"spa\"\npublic = true\nredirect_uris = [\"https://d.example.com/cb\"]\n",
            both_keys()
        )
    };
    let pkce = |global: &str| {
        let oidc = load_text(&clients(global)).unwrap().oidc.unwrap();
        ["plain", "legacy", "strict", "spa"].map(|id| oidc.client(id).unwrap().require_pkce)
    };
    assert_eq!(pkce(""), [true, false, true, true]);
    // `both_keys` opens `[oidc]`, so the provider's key follows it.
    assert_eq!(pkce("require_pkce = false\n"), [false, false, true, true]);
    let text = problems(&format!(
        "{}[[oidc.clients]]\nid = \"spa\"\npublic = true\nredirect_uris = [\"https://d.example.com/cb\"]\nrequire_pkce = false\n",
        both_keys()
    ));
    assert!(
        text.contains("a `public` client always needs PKCE"),
        "{text}"
    );
}

#[test]
fn an_rs256_client_needs_an_rsa_key() {
    let text = problems(&format!(
        "[oidc]\nsigning_keys = [\"{}\"]\n[[oidc.clients]]\nid = \"grafana\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://g.example.com/cb\"]\n",
        key("ec-p256.pem")
    ));
    assert!(
        text.contains("RS256 (the default), but `oidc.signing_keys` has no RSA key"),
        "{text}"
    );
}

#[test]
fn the_identity_token_needs_keys_a_header_of_its_own_and_a_header_for_its_apps() {
    let config = load_text(&format!(
        "{}[identity_token]\nheader = \"Remote-Jwt\"\n[[apps]]\nhost = \"a.example.com\"\nidentity_token = false\n",
        both_keys()
    ))
    .unwrap();
    assert_eq!(config.identity_token.unwrap().header.as_str(), "remote-jwt");
    assert_eq!(config.access.apps()[0].identity_token, Some(false));
    let text = problems("[identity_token]\nheader = \"Remote-Jwt\"\n");
    assert!(text.contains("set `[oidc] signing_keys`"), "{text}");
    // The identity's headers and the two every check answer carries are the answer's own.
    for taken in ["Remote-User", "Cache-Control", "date"] {
        let text = problems(&format!(
            "{}[identity_token]\nheader = \"{taken}\"\n",
            both_keys()
        ));
        assert!(
            text.contains("must be a header name of its own"),
            "{taken}: {text}"
        );
    }
    let text = problems("[[apps]]\nhost = \"a.example.com\"\nidentity_token = true\n");
    assert!(
        text.contains("`[identity_token] header` is not set"),
        "{text}"
    );
    let text = problems(&format!(
        "{}[identity_token]\nheader = \"Remote-Jwt\"\n[[apps]]\nhost = \"a.example.com\"\nheaders = {{ Remote-Jwt = \"forged\" }}\n",
        both_keys()
    ));
    assert!(text.contains("sets `remote-jwt` in `headers`"), "{text}");
}

#[test]
fn the_signing_keys_come_from_the_environment_too() {
    let text = format!(
        "app_url = \"https://auth.example.com\"\n[[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n"
    );
    let env: HashMap<String, String> = [(
        "POSTERN_OIDC_SIGNING_KEYS".to_owned(),
        format!("{},{}", key("ec-p256.pem"), key("rsa-2048.pem")),
    )]
    .into();
    let config = load(&Sources {
        file: Some((&text, Path::new("/etc/postern/postern.toml"))),
        env: &env,
        cli: &[],
    })
    .unwrap();
    assert_eq!(
        config.oidc.unwrap().keys.first().algorithm,
        Algorithm::ES256
    );
}
