//! What a TOML error says, without the text it quotes. The toml crate's own message prints
//! the whole source line under the error, and a typed field's message quotes the value found;
//! either may be a secret (`secret`, a `client_secret`, a Redis password, a user's
//! `totp_secret`): the problem list goes to stderr at start and to the log on every reload.

/// `line L, column C: <the parser's message>`, or the message alone when the parser gave no
/// position. The message keeps what was expected, never the value found.
pub(super) fn describe(err: &toml::de::Error, text: &str) -> String {
    let message = without_found_value(err.message().trim());
    match err.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// serde's messages for a value of the wrong type or form quote it (`invalid type: string
/// "…", expected a sequence`): only the kind and what was expected are kept.
fn without_found_value(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if message.starts_with(kind) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{kind}: expected {expected}"),
                None => kind.to_owned(),
            };
        }
    }
    message.to_owned()
}

/// 1-based line and column (in characters) of byte `offset` in `text` (an offset inside a
/// character counts from that character's start).
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-value-that-must-not-be-printed";

    fn error_of(text: &str) -> String {
        let err = text.parse::<toml::Table>().unwrap_err();
        describe(&err, text)
    }

    #[test]
    fn a_bad_escape_in_a_secret_is_located_but_not_quoted() {
        let text = format!("app_url = \"https://auth.example.com\"\nsecret = \"{SECRET}\\q\"\n");
        let described = error_of(&text);
        assert!(described.starts_with("line 2, column "), "{described}");
        assert!(!described.contains(SECRET), "{described}");
        // The crate's own message does quote it: the reason this module exists.
        let raw = text.parse::<toml::Table>().unwrap_err().to_string();
        assert!(raw.contains(SECRET), "{raw}");
    }

    #[test]
    fn an_unterminated_or_unquoted_secret_is_not_quoted_either() {
        for text in [
            format!("[oauth.github]\nclient_secret = \"{SECRET}\n"),
            format!("[session]\nredis_url = redis://:{SECRET}@redis:6379\n"),
        ] {
            let described = error_of(&text);
            assert!(described.starts_with("line 2, column "), "{described}");
            assert!(!described.contains(SECRET), "{described}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_and_column("ä = 1\nb = ü", 3), (1, 3));
        assert_eq!(line_and_column("ä = 1\nb = ü", 11), (2, 5));
        assert_eq!(line_and_column("ä = 1\nb = ü", 12), (2, 5), "inside ü");
        assert_eq!(line_and_column("abc", 99), (1, 4));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct User {
            groups: Vec<String>,
        }
        let text = format!("groups = \"{SECRET}\"\n");
        let err = toml::from_str::<User>(&text).unwrap_err();
        assert!(err.message().contains(SECRET), "{}", err.message());
        let described = describe(&err, &text);
        assert!(!described.contains(SECRET), "{described}");
        assert!(described.contains("invalid type: expected"), "{described}");
    }
}
