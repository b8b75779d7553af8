use postern_store::{RecordKind, UserRecord};

use super::*;

fn alice() -> UserRecord {
    UserRecord {
        user: "alice".into(),
        kind: RecordKind::Credentials,
        id: "current".into(),
        value: b"{\"kept\":null,\"revoked_at\":7}".to_vec(),
    }
}

fn problem(text: &str) -> String {
    match read(text.as_bytes()) {
        Err(ImportError::Bad { line, why }) => format!("{line}: {why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_export_reads_back_byte_for_byte() {
    let records = vec![
        alice(),
        UserRecord {
            user: "bob".into(),
            id: "other".into(),
            value: b"{}".to_vec(),
            ..alice()
        },
    ];
    let bytes = to_bytes(&records, "embedded");
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(
            "{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"embedded\",\"records\":2}\n"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3);
    assert_eq!(read(bytes.as_slice()).unwrap(), records);
}

#[test]
fn an_empty_store_exports_a_header_alone() {
    let bytes = to_bytes(&[], "redis");
    assert_eq!(read(bytes.as_slice()).unwrap(), Vec::new());
}

#[test]
fn a_file_that_is_not_an_export_is_refused_on_line_one() {
    assert!(problem("").starts_with("1: the file is empty"));
    assert!(problem("hello\n").starts_with("1: not an export"));
    assert!(problem("{\"format\":\"other\",\"version\":1}\n").starts_with("1: not an export"));
}

#[test]
fn a_newer_or_missing_version_is_refused() {
    let newer =
        "{\"format\":\"postern-user-records\",\"version\":2,\"store\":\"x\",\"records\":0}\n";
    assert!(problem(newer).contains("newer postern (format version 2"));
    let none = "{\"format\":\"postern-user-records\",\"store\":\"x\",\"records\":0}\n";
    assert!(problem(none).contains("no valid version"));
}

#[test]
fn a_file_cut_short_is_refused_whole() {
    let bytes = to_bytes(&[alice(), alice()], "embedded");
    let text = String::from_utf8(bytes).unwrap();
    let cut: String = text
        .lines()
        .take(2)
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(problem(&cut).contains("announces 2 record(s) but the file holds 1"));
}

#[test]
fn a_bad_record_line_is_named_by_its_number() {
    let header =
        "{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"x\",\"records\":1}\n";
    let unknown =
        format!("{header}{{\"user\":\"a\",\"kind\":\"passkeys2\",\"id\":\"1\",\"value\":\"\"}}\n");
    assert!(problem(&unknown).starts_with("2: unknown record kind `passkeys2`"));
    let not_base64 = format!(
        "{header}{{\"user\":\"a\",\"kind\":\"credentials\",\"id\":\"1\",\"value\":\"*\"}}\n"
    );
    assert!(problem(&not_base64).starts_with("2: the value is not base64"));
    let extra = format!(
        "{header}{{\"user\":\"a\",\"kind\":\"credentials\",\"id\":\"1\",\"value\":\"\",\"x\":1}}\n"
    );
    assert!(problem(&extra).starts_with("2: not a record line"));
    let empty_user =
        format!("{header}{{\"user\":\"\",\"kind\":\"credentials\",\"id\":\"1\",\"value\":\"\"}}\n");
    assert!(problem(&empty_user).starts_with("2: the user and the id must not be empty"));
}

/// A credentials value postern could not read would make that user's sign-ins fail (closed):
/// the import refuses it, naming the line, and says nothing of the value (it holds secrets).
#[test]
fn a_credentials_value_that_does_not_read_is_refused() {
    use base64::Engine as _;
    let header =
        "{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"x\",\"records\":1}\n";
    for value in [
        &b"{\"totp\":7}"[..],
        b"{\"kept\":null",
        b"",
        b"SECRETSECRET",
    ] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let file = format!(
            "{header}{{\"user\":\"a\",\"kind\":\"credentials\",\"id\":\"current\",\"value\":\"{encoded}\"}}\n"
        );
        let why = problem(&file);
        assert!(
            why.starts_with("2: a's credentials record does not read"),
            "{why}"
        );
        assert!(!why.contains("SECRET"), "{why}");
    }
}
