//! What a TOML syntax error says, without the text it quotes. The toml crate's own message
//! prints the whole source line under the error, and that line may hold a secret (`secret`,
//! a `client_secret`, a Redis password, a user's `totp_secret`): the problem list goes to
//! stderr at start and to the log on every reload.

/// `line L, column C: <the parser's message>`, or the message alone when the parser gave no
/// position. The message itself names what was expected, never the value found.
pub(super) fn describe(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim();
    match err.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
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
        assert_eq!(line_and_column("abc", 99), (1, 4));
    }
}
