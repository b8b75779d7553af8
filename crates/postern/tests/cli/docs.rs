//! Rule: every endpoint, config key, env var and CLI flag is in docs/ with its default. These
//! tests read the sources of truth (the schema table, the router, `--help`) and fail when
//! docs/ misses any of them.

use std::path::PathBuf;

use postern_core::config::schema::KEYS;

use crate::support::run;

fn workspace_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn every_config_key_env_var_and_default_is_documented() {
    let docs = workspace_file("docs/configuration.md");
    let mut missing = Vec::new();
    for key in KEYS {
        let name = key.path.rsplit('.').next().unwrap();
        if !docs.contains(&format!("`{name}`")) && !docs.contains(&format!("`{}`", key.path)) {
            missing.push(format!("key {}", key.path));
        }
        if let Some(env) = key.env_name().filter(|env| !docs.contains(env)) {
            missing.push(format!("env var {env}"));
        }
        if !docs.contains(key.default) {
            missing.push(format!("default {} of {}", key.default, key.path));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md misses:\n{}",
        missing.join("\n")
    );
}

/// Every schema key has its own row in a key table of docs/configuration.md: a first cell of
/// `` `key.path` `` (or the bare name at the top level), with its type, default and env var in
/// that same row.
#[test]
fn every_config_key_has_a_row_of_its_own() {
    let docs = workspace_file("docs/configuration.md");
    let rows: Vec<Vec<&str>> = docs
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let mut missing = Vec::new();
    for key in KEYS {
        let first_cell = format!("`{}`", key.path);
        let Some(row) = rows.iter().find(|row| row[0] == first_cell) else {
            missing.push(format!("no row for {}", key.path));
            continue;
        };
        if !row.iter().any(|cell| cell.contains(key.default)) {
            missing.push(format!(
                "{}: the row lacks the default {}",
                key.path, key.default
            ));
        }
        if let Some(env) = key.env_name()
            && !row.iter().any(|cell| cell.contains(&env))
        {
            missing.push(format!("{}: the row lacks {env}", key.path));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md:\n{}",
        missing.join("\n")
    );
}

/// A markdown table renders only when it is one block: a header row, a `| --- |` separator
/// with as many cells, then rows without a blank line between them. A blank line inside a
/// table turns the rest into a paragraph of pipes.
#[test]
fn every_table_in_the_docs_is_well_formed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        broken.extend(
            table_problems(&text)
                .into_iter()
                .map(|p| format!("{name}:{p}")),
        );
    }
    assert!(broken.is_empty(), "broken tables:\n{}", broken.join("\n"));
}

/// `line: problem` for each table block that would not render as one table.
fn table_problems(text: &str) -> Vec<String> {
    let cells = |line: &str| -> usize {
        // Pipes inside code spans (`a | b`) are not cell borders.
        let mut count = 0;
        let mut in_code = false;
        let mut previous = ' ';
        for c in line.trim().trim_matches('|').chars() {
            match c {
                '`' => in_code = !in_code,
                '|' if !in_code && previous != '\\' => count += 1,
                _ => {}
            }
            previous = c;
        }
        count + 1
    };
    let is_separator = |line: &str| {
        line.trim().trim_matches('|').split('|').all(|cell| {
            let cell = cell.trim().trim_matches(':');
            cell.len() >= 3 && cell.chars().all(|c| c == '-')
        })
    };
    let mut problems = Vec::new();
    let mut in_fence = false;
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || !line.starts_with('|') {
            index += 1;
            continue;
        }
        let start = index;
        while index < lines.len() && lines[index].starts_with('|') {
            index += 1;
        }
        let block = &lines[start..index];
        let number = start + 1;
        if block.len() < 2 || !is_separator(block[1]) {
            problems.push(format!(
                "{number}: a table row without a header and `| --- |` line above it (a blank line inside a table?)"
            ));
            continue;
        }
        let width = cells(block[0]);
        for (offset, row) in block.iter().enumerate() {
            if cells(row) != width {
                problems.push(format!(
                    "{}: {} cells where the header has {width}",
                    number + offset,
                    cells(row)
                ));
            }
        }
    }
    problems
}

#[test]
fn the_table_check_finds_a_table_split_by_a_blank_line() {
    let split = "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n| 3 | 4 |\n";
    assert_eq!(
        table_problems(split).len(),
        1,
        "{:?}",
        table_problems(split)
    );
    let ragged = "| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n";
    assert_eq!(table_problems(ragged).len(), 1);
    let fine = "| a | b |\n| --- | --- |\n| `x | y` | 2 |\n";
    assert!(table_problems(fine).is_empty());
}

#[test]
fn every_route_is_documented() {
    let docs = workspace_file("docs/api.md");
    let router = workspace_file("crates/postern-server/src/router.rs");
    let body = &router[router.find("fn route(").unwrap()..router.find("fn check_route(").unwrap()];
    let mut missing = Vec::new();
    for literal in body
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/') && !literal.ends_with('/'))
    {
        if !docs.contains(&format!("{literal}`")) && !docs.contains(&format!("{literal} ")) {
            missing.push(literal.to_owned());
        }
    }
    // The passkey routes have a table of their own, under `/api/webauthn/`.
    let passkeys = workspace_file("crates/postern-server/src/handlers/passkeys.rs");
    let table = &passkeys
        [passkeys.find("pub fn route(").unwrap()..passkeys.find("pub async fn serve").unwrap()];
    for literal in table
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|literal| !literal.ends_with('/'))
    {
        if !docs.contains(&format!("/api/webauthn/{literal}")) {
            missing.push(format!("/api/webauthn/{literal}"));
        }
    }
    for proxy in ["traefik", "caddy", "nginx", "envoy"] {
        if !docs.contains(&format!("/api/auth/{proxy}")) {
            missing.push(format!("/api/auth/{proxy}"));
        }
    }
    assert!(missing.is_empty(), "docs/api.md misses routes: {missing:?}");
}

#[test]
fn every_cli_command_and_flag_is_documented() {
    let docs = workspace_file("docs/configuration.md");
    let mut missing = Vec::new();
    for command in [
        &["serve"][..],
        &["hash-password"],
        &["config", "check"],
        &["healthcheck"],
        &["explain"],
        &["totp", "generate"],
        &["users", "unlock"],
        &["users", "revoke"],
        &["users", "totp-reset"],
        &["users", "passkeys"],
        &["store", "backup"],
        &["store", "export"],
        &["store", "import"],
    ] {
        let title = format!("postern {}", command.join(" "));
        if !docs.contains(&title) {
            missing.push(title.clone());
        }
        let mut args = command.to_vec();
        args.push("--help");
        let help = String::from_utf8(run(&args, "").stdout).unwrap();
        for flag in help
            .split_whitespace()
            .filter(|word| word.starts_with("--") && *word != "--help")
        {
            let flag = flag.trim_end_matches(|c: char| !c.is_alphanumeric());
            if !docs.contains(flag) {
                missing.push(format!("{title} {flag}"));
            }
        }
    }
    if !docs.contains("POSTERN_CONFIG") {
        missing.push("POSTERN_CONFIG".into());
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md misses:\n{}",
        missing.join("\n")
    );
}
