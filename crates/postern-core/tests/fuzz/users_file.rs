//! users_file lines and tables: any text is parsed or reported line by line without a panic,
//! and changing one user's hash changes exactly that user's hash, in both formats.

use postern_core::users::parse_users_file;
use postern_core::users_file::with_new_hash;
use proptest::prelude::*;

use postern_testkit::fuzz_config;

const HASHES: [&str; 3] = [
    "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE",
    "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$Iv3HhCEYzVUahAJzkQE9PQ",
];
const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$2bTWNzFOHRfwnYJLJ0Q5nC3LVUpEJ8vzNsm8w0KV3ic";
const TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "alice",
        "Alice",
        "bob",
        "BOB",
        "carol",
        "[a-z][a-zA-Z0-9_.@-]{0,8}"
    ]
}

/// One line of a tinyauth file, without its ending.
fn line() -> impl Strategy<Value = String> {
    let user = (
        "[ \t]{0,2}",
        name(),
        "[ ]{0,1}",
        0..HASHES.len(),
        proptest::option::of(prop_oneof![Just(TOTP), Just(""), Just("  ")]),
    )
        .prop_map(|(indent, name, gap, hash, totp)| {
            let totp = totp.map(|totp| format!(":{totp}")).unwrap_or_default();
            format!("{indent}{name}{gap}:{}{totp}", HASHES[hash])
        });
    prop_oneof![
        6 => user,
        1 => "#[ a-z:$]{0,12}",
        1 => "[ \t]{0,3}",
        // Junk whose first field never equals a generated name.
        1 => "[!% ][^\n\r]{0,20}",
    ]
}

fn tinyauth_file() -> impl Strategy<Value = String> {
    proptest::collection::vec((line(), prop_oneof!["\n", "\r\n"]), 0..8).prop_flat_map(|lines| {
        let text: String = lines
            .iter()
            .map(|(line, ending)| format!("{line}{ending}"))
            .collect();
        // The last line may lack its ending.
        (Just(text), any::<bool>()).prop_map(|(text, trim)| {
            if trim {
                text.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                text
            }
        })
    })
}

/// What parsing sees: (name, hash, has TOTP) per user, and the problems.
fn summary(text: &str) -> (Vec<(String, String, bool)>, Vec<String>) {
    let (users, problems) = parse_users_file(text);
    let users = users
        .iter()
        .map(|user| {
            (
                user.name.clone(),
                user.password_hash.clone(),
                user.totp.is_some(),
            )
        })
        .collect();
    (users, problems)
}

/// A `[[users]]` document with comments, other tables, both quote styles and any key order.
fn toml_file() -> impl Strategy<Value = String> {
    let table = (
        name(),
        0..HASHES.len(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of("[a-z]{1,6}"),
        "[ \t]{0,2}",
    )
        .prop_map(|(name, hash, single_quotes, hash_first, group, indent)| {
            let quote = if single_quotes { '\'' } else { '"' };
            let name_line = format!("{indent}name = \"{name}\"\n");
            let hash_line = format!(
                "password_hash = {quote}{}{quote}  # set by hand\n",
                HASHES[hash]
            );
            let groups = group
                .map(|group| format!("groups = [\n  \"{group}\",\n]\n"))
                .unwrap_or_default();
            let (first, second) = if hash_first {
                (hash_line, name_line)
            } else {
                (name_line, hash_line)
            };
            format!("[[users]]\n{first}{groups}{second}")
        });
    let other = prop_oneof![
        Just("# [[users]] in a comment\n".to_owned()),
        Just("[[apps]]\nhost = \"a.example.com\"\nname = \"alice\"\n".to_owned()),
        Just("\n".to_owned()),
    ];
    proptest::collection::vec(prop_oneof![3 => table, 1 => other], 0..6)
        .prop_map(|parts| parts.concat())
}

/// (name, password_hash) of every `[[users]]` table.
fn toml_users(text: &str) -> Vec<(String, String)> {
    let value: toml::Table = toml::from_str(text).unwrap();
    value
        .get("users")
        .and_then(toml::Value::as_array)
        .map(|users| {
            users
                .iter()
                .map(|user| {
                    (
                        user["name"].as_str().unwrap().to_owned(),
                        user["password_hash"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn any_text_is_parsed_or_reported(text in prop_oneof![tinyauth_file(), any::<String>()]) {
        let (users, problems) = parse_users_file(&text);
        let lines = text.lines().filter(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        }).count();
        prop_assert_eq!(users.len() + problems.len(), lines);
    }

    #[test]
    fn a_new_hash_changes_that_user_only_in_lines(text in tinyauth_file(), user in name()) {
        let (users, problems) = summary(&text);
        let position = users.iter().position(|(name, _, _)| name.eq_ignore_ascii_case(&user));
        let old = position.map_or(HASHES[0], |position| users[position].1.as_str());
        let changed = with_new_hash(&text, &user, old, NEW_HASH, false).ok();
        match (position, changed) {
            (None, None) => {}
            (Some(position), Some(changed)) => {
                let mut expected = users.clone();
                expected[position].1 = NEW_HASH.to_owned();
                prop_assert_eq!(summary(&changed), (expected, problems));
                let before: Vec<&str> = text.split_inclusive('\n').collect();
                let after: Vec<&str> = changed.split_inclusive('\n').collect();
                prop_assert_eq!(before.len(), after.len());
                let differing = before.iter().zip(&after).filter(|(a, b)| a != b).count();
                prop_assert!(differing <= 1);
            }
            (position, changed) => {
                prop_assert!(false, "user at {:?}, rewritten: {:?}", position, changed);
            }
        }
    }

    #[test]
    fn a_new_hash_changes_that_user_only_in_tables(text in toml_file(), user in name()) {
        let users = toml_users(&text);
        let position = users.iter().position(|(name, _)| name.eq_ignore_ascii_case(&user));
        let old = position.map_or(HASHES[0], |position| users[position].1.as_str());
        let changed = with_new_hash(&text, &user, old, NEW_HASH, true).ok();
        match (position, changed) {
            (None, None) => {}
            (Some(position), Some(changed)) => {
                let mut expected = users.clone();
                expected[position].1 = NEW_HASH.to_owned();
                prop_assert_eq!(toml_users(&changed), expected);
                let before: toml::Table = toml::from_str(&text).unwrap();
                let mut after: toml::Table = toml::from_str(&changed).unwrap();
                // Put the old hash back: everything else must be as it was.
                if let Some(toml::Value::Array(tables)) = after.get_mut("users") {
                    tables[position]["password_hash"] = toml::Value::String(users[position].1.clone());
                }
                prop_assert_eq!(after, before);
            }
            (position, changed) => {
                prop_assert!(false, "user at {:?}, rewritten: {:?}", position, changed);
            }
        }
    }
}
