//! The TOML config: a model printed to TOML loads to exactly the values written; the loaded
//! text parsed and printed again loads to the same config; and any document made of known and
//! unknown keys with values of any type is loaded or refused with problems, never a panic.

use std::collections::HashMap;
use std::path::Path;

use postern_core::config::{Config, ConfigProblems, Sources, load, schema};
use proptest::prelude::*;
use toml::{Table, Value};

use postern_testkit::fuzz_config;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE";
/// Loading validates a whole config: costlier than one string parse.
const WEIGHT: u32 = 8;

fn load_text(text: &str) -> Result<Config, ConfigProblems> {
    let no_env: HashMap<String, String> = HashMap::new();
    load(&Sources {
        file: Some((text, Path::new("/etc/postern/postern.toml"))),
        env: &no_env,
        cli: &[],
    })
}

/// The part of a config the model writes.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    app_host: String,
    cookie_name: Option<String>,
    idle_timeout_secs: Option<u64>,
    idle_in_minutes: bool,
    max_sessions: Option<u32>,
    title: Option<String>,
    basic_auth: Option<bool>,
    /// (name, email, groups)
    users: Vec<(String, String, Vec<String>)>,
    /// (host, policy, public path)
    apps: Vec<(String, Option<String>, Option<String>)>,
}

fn model() -> impl Strategy<Value = Model> {
    let user = (
        "[a-z][a-z0-9_.-]{0,7}",
        any::<bool>(),
        proptest::collection::vec("[a-z]{1,4}", 0..3),
    );
    let app = (
        prop_oneof![
            "([a-z]{1,5}\\.)?[a-z]{1,6}\\.example\\.com",
            "\\*\\.[a-z]{1,6}\\.example\\.net",
            "[A-Z]{1,4}\\.example\\.org\\.?"
        ],
        proptest::option::of(prop_oneof!["one_factor", "two_factor", "bypass", "deny"]),
        proptest::option::of(
            prop::sample::select(vec!["/public(/.*)?", "/health", "/static/[a-z]+\\.css"])
                .prop_map(str::to_owned),
        ),
    );
    (
        "[a-z]{1,8}\\.example\\.com",
        proptest::option::of("[A-Za-z0-9_.-]{1,16}"),
        // Up to the default max_lifetime (12h), which it may not exceed.
        proptest::option::of(60u64..=43_200),
        any::<bool>(),
        proptest::option::of(1u32..1_000_000),
        proptest::option::of("[A-Za-z0-9 é'\"\\\\&<>]{1,20}"),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(user, 1..4),
        proptest::collection::vec(app, 0..4),
    )
        .prop_map(
            |(
                app_host,
                cookie_name,
                idle,
                minutes,
                max_sessions,
                title,
                basic_auth,
                users,
                apps,
            )| {
                let mut seen = std::collections::HashSet::new();
                Model {
                    app_host,
                    cookie_name: cookie_name.filter(|name| name != "postern_csrf"),
                    idle_timeout_secs: idle.map(|secs| if minutes { secs / 60 * 60 } else { secs }),
                    idle_in_minutes: minutes,
                    max_sessions,
                    title: title
                        .map(|title| title.trim().to_owned())
                        .filter(|title| !title.is_empty()),
                    basic_auth,
                    users: users
                        .into_iter()
                        .filter(|(name, _, _)| seen.insert(name.clone()))
                        // Emails are unique (sign-in by email): derive them from the name.
                        .map(|(name, with_email, groups)| {
                            let email = if with_email {
                                format!("{name}@example.com")
                            } else {
                                String::new()
                            };
                            (name, email, groups)
                        })
                        .collect(),
                    apps: apps
                        .into_iter()
                        .filter(|(host, _, _)| {
                            seen.insert(host.to_ascii_lowercase().trim_end_matches('.').to_owned())
                        })
                        .map(|(host, policy, public)| {
                            // Rules a policy can never reach are a config error; keep the model valid.
                            let public = public
                                .filter(|_| !matches!(policy.as_deref(), Some("deny" | "bypass")));
                            (host, policy, public)
                        })
                        .collect(),
                }
            },
        )
}

/// The model as a TOML document.
fn print(model: &Model) -> String {
    let mut root = Table::new();
    root.insert(
        "app_url".into(),
        Value::String(format!("https://{}", model.app_host)),
    );
    root.insert(
        "secret".into(),
        Value::String("a-secret-that-is-long-enough-for-postern".into()),
    );
    let mut session = Table::new();
    if let Some(name) = &model.cookie_name {
        session.insert("cookie_name".into(), Value::String(name.clone()));
    }
    if let Some(secs) = model.idle_timeout_secs {
        let value = if model.idle_in_minutes {
            Value::String(format!("{}m", secs / 60))
        } else {
            Value::Integer(i64::try_from(secs).unwrap())
        };
        session.insert("idle_timeout".into(), value);
    }
    if let Some(max) = model.max_sessions {
        session.insert("max_sessions".into(), Value::Integer(max.into()));
    }
    root.insert("session".into(), Value::Table(session));
    if let Some(title) = &model.title {
        let mut ui = Table::new();
        ui.insert("title".into(), Value::String(title.clone()));
        root.insert("ui".into(), Value::Table(ui));
    }
    if let Some(basic) = model.basic_auth {
        let mut api = Table::new();
        api.insert("basic_auth".into(), Value::Boolean(basic));
        root.insert("api".into(), Value::Table(api));
    }
    let users = model
        .users
        .iter()
        .map(|(name, email, groups)| {
            let mut user = Table::new();
            user.insert("name".into(), Value::String(name.clone()));
            user.insert("password_hash".into(), Value::String(HASH.into()));
            if !email.is_empty() {
                user.insert("email".into(), Value::String(email.clone()));
            }
            user.insert(
                "groups".into(),
                Value::Array(groups.iter().cloned().map(Value::String).collect()),
            );
            Value::Table(user)
        })
        .collect();
    root.insert("users".into(), Value::Array(users));
    let apps = model
        .apps
        .iter()
        .map(|(host, policy, public)| {
            let mut app = Table::new();
            app.insert("host".into(), Value::String(host.clone()));
            if let Some(policy) = policy {
                app.insert("policy".into(), Value::String(policy.clone()));
            }
            if let Some(public) = public {
                app.insert(
                    "public_paths".into(),
                    Value::Array(vec![Value::String(public.clone())]),
                );
            }
            Value::Table(app)
        })
        .collect();
    root.insert("apps".into(), Value::Array(apps));
    toml::to_string(&root).unwrap()
}

/// What a loaded config says about the keys the model writes (and the defaults it leaves).
fn summary(config: &Config) -> String {
    let mut users: Vec<String> = config
        .users
        .iter()
        .map(|user| format!("{}|{}|{:?}", user.name, user.email, user.groups))
        .collect();
    users.sort();
    let apps: Vec<String> = config
        .access
        .apps()
        .iter()
        .map(|app| {
            format!(
                "{}|{:?}|{:?}",
                app.host,
                app.policy,
                app.public_paths.as_ref().map(|set| set.patterns().to_vec())
            )
        })
        .collect();
    format!(
        "{}\n{}\n{:?}\n{:?}\n{}\n{}\n{}\n{:?}\n{:?}\n{:?}",
        config.app_url,
        config.session.cookie_name,
        config.session.cookie_domain,
        config.session.policy,
        config.session.max_sessions,
        config.ui.title,
        config.api.basic_auth,
        config.server.listen,
        users,
        apps,
    )
}

/// A value of any type a key might be given.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        "[a-z0-9:/.*\\-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "30m",
            "0s",
            "1",
            "-5m",
            "12h",
            "99999999999d",
            "1.5h",
            "m"
        ])
        .prop_map(|s| Value::String(s.into())),
        prop::sample::select(vec![
            "https://auth.example.com",
            "http://[::1]:3000",
            "redis://localhost",
            "127.0.0.1:0",
            "10.0.0.0/8",
        ])
        .prop_map(|s| Value::String(s.into())),
        (-1e9f64..1e9).prop_map(Value::Float),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_]{1,12}", inner), 0..3)
                .prop_map(|pairs| Value::Table(pairs.into_iter().collect())),
        ]
    })
}

/// Documents over the known keys (and a few unknown ones), each with a value of any type.
fn any_document() -> impl Strategy<Value = Table> {
    let key = prop_oneof![
        8 => (0..schema::KEYS.len()).prop_map(|index| schema::KEYS[index].path.to_owned()),
        1 => "[a-z_]{1,10}(\\.[a-z_]{1,10})?",
        1 => prop::sample::select(vec!["users", "apps", "oauth.github", "oauth.x.client_id", "apps.host"])
            .prop_map(str::to_owned),
    ];
    proptest::collection::vec((key, any_value()), 0..10).prop_map(|pairs| {
        let mut root = Table::new();
        for (path, value) in pairs {
            insert(&mut root, &path, value);
        }
        root
    })
}

fn insert(table: &mut Table, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            table.insert(path.to_owned(), value);
        }
        Some((first, rest)) => {
            let entry = table
                .entry(first.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(WEIGHT))]

    #[test]
    fn a_printed_model_loads_to_the_values_written(model in model()) {
        let text = print(&model);
        let config = match load_text(&text) {
            Ok(config) => config,
            Err(problems) => return Err(TestCaseError::fail(format!("{problems}\n{text}"))),
        };
        prop_assert_eq!(config.app_url.host_str(), Some(model.app_host.as_str()));
        prop_assert_eq!(&config.session.cookie_name, model.cookie_name.as_deref().unwrap_or("postern_session"));
        prop_assert_eq!(config.session.policy.idle_timeout, model.idle_timeout_secs.unwrap_or(1800));
        prop_assert_eq!(config.session.max_sessions, model.max_sessions.map_or(100_000, |max| max as usize));
        prop_assert_eq!(&config.ui.title, model.title.as_deref().unwrap_or("postern"));
        prop_assert_eq!(config.api.basic_auth, model.basic_auth.unwrap_or(false));
        prop_assert_eq!(config.users.len(), model.users.len());
        for (name, email, groups) in &model.users {
            let user = config.users.get(name).unwrap();
            prop_assert_eq!(&user.email, email);
            prop_assert_eq!(&user.groups, groups);
        }
        prop_assert_eq!(config.access.apps().len(), model.apps.len());
        for ((host, policy, _), app) in model.apps.iter().zip(config.access.apps()) {
            prop_assert_eq!(&app.host, &host.to_ascii_lowercase().trim_end_matches('.').to_owned());
            prop_assert_eq!(app.policy.map(|policy| policy.name()), policy.as_deref());
        }
    }

    #[test]
    fn a_loaded_config_parsed_and_printed_again_loads_the_same(model in model()) {
        let text = print(&model);
        let first = load_text(&text).unwrap();
        let reprinted = toml::to_string(&toml::from_str::<Table>(&text).unwrap()).unwrap();
        let second = load_text(&reprinted).unwrap();
        prop_assert_eq!(summary(&first), summary(&second));
    }

    #[test]
    fn any_document_is_loaded_or_refused_with_problems(document in any_document(), base in any::<bool>()) {
        let mut document = document;
        if base {
            // On top of a valid base, so validation (not only the first type error) runs.
            for (key, value) in toml::from_str::<Table>(&print(&Model {
                app_host: "auth.example.com".into(),
                cookie_name: None,
                idle_timeout_secs: None,
                idle_in_minutes: false,
                max_sessions: None,
                title: None,
                basic_auth: None,
                users: vec![("alice".into(), String::new(), vec![])],
                apps: vec![],
            })).unwrap() {
                document.entry(key).or_insert(value);
            }
        }
        let text = toml::to_string(&document).unwrap();
        match load_text(&text) {
            Ok(config) => prop_assert!(!summary(&config).is_empty()),
            Err(problems) => {
                prop_assert!(!problems.0.is_empty());
                prop_assert!(problems.0.iter().all(|problem| !problem.trim().is_empty()));
            }
        }
        // Raw text near TOML is answered too.
        let _ = load_text(&text.replace('=', "= ="));
    }
}
