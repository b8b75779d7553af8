//! No secret in any log line: a real `postern serve` at `debug` with `log.checks = "all"`
//! sees every kind of credential (passwords right and wrong, session and pending cookies, a
//! TOTP code, a recovery code, bearer and refresh tokens, Basic credentials, a token in the
//! original URL's query), then every line of its log is searched for each of them. OAuth
//! authorization codes and `state` values need a real provider: the end-to-end OIDC sign-in
//! (`tests/e2e/scenarios/oidc_login.rs`) searches its postern's log for those.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use postern_core::totp::TotpKey;

use crate::support::{HASH, PASSWORD, Running, TempDir, free_port};

const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const RECOVERY: &str = "k3v7q-mz2ha";
const WRONG_PASSWORD: &str = "wrong-password-4f7e2a91";
const SERVER_SECRET: &str = "a-server-secret-that-must-never-be-logged";
const METRICS_TOKEN: &str = "metrics-token-never-logged-7c1d";
const QUERY_SECRET: &str = "query-secret-5b8e0f";

/// One HTTP/1.1 request, with a JSON body if `body` is not empty; the whole answer as text.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let body = (!body.is_empty()).then_some(("application/json", body));
    send(port, method, path, headers, body)
}

/// One HTTP/1.1 request with an optional `(content type, body)`; the whole answer as text.
fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((kind, body)) = body {
        text.push_str(&format!(
            "Content-Type: {kind}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body.map_or("", |(_, body)| body));
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn cookie(answer: &str, name: &str) -> String {
    let prefix = format!("set-cookie: {name}=");
    answer
        .lines()
        .find_map(|line| {
            let lower = line.to_ascii_lowercase();
            lower.starts_with(&prefix).then(|| {
                line[prefix.len()..]
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| panic!("no {name} cookie in:\n{answer}"))
}

fn json_field(answer: &str, field: &str) -> String {
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
}

fn check(port: u16, uri: &str, credential: (&str, &str)) -> String {
    request(
        port,
        "GET",
        "/api/auth/traefik",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-Method", "GET"),
            ("Accept", "application/json"),
            credential,
        ],
        "",
    )
}

/// A form POST with the account page's CSRF field; the whole answer as text.
fn account_form(port: u16, path: &str, session: &str, fields: &[(&str, &str)]) -> String {
    let page = request(port, "GET", "/account", &[("Cookie", session)], "");
    let marker = "name=\"csrf\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field:\n{page}"))
        + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let mut body = format!("csrf={}", urlencoding(csrf));
    for (name, value) in fields {
        body.push_str(&format!("&{name}={}", urlencoding(value)));
    }
    let form = Some(("application/x-www-form-urlencoded", body.as_str()));
    send(port, "POST", path, &[("Cookie", session)], form)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Sets up TOTP for the session's user on `/account`; the secret the page showed.
fn enrol_totp(port: u16, session: &str) -> String {
    let setup = account_form(port, "/account/totp-setup", session, &[]);
    assert!(setup.starts_with("HTTP/1.1 200"), "{setup}");
    let marker = "id=\"totp-secret\">";
    let start = setup
        .find(marker)
        .unwrap_or_else(|| panic!("no secret:\n{setup}"))
        + marker.len();
    let secret = setup[start..start + setup[start..].find('<').unwrap()].replace(' ', "");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = TotpKey::parse(&secret).unwrap().code_at(now);
    let confirmed = account_form(port, "/account/totp-confirm", session, &[("code", &code)]);
    assert!(confirmed.starts_with("HTTP/1.1 303"), "{confirmed}");
    secret
}

fn login_body(user: &str, password: &str) -> String {
    format!("{{\"username\":\"{user}\",\"password\":\"{password}\"}}")
}

#[test]
fn no_credential_of_any_kind_reaches_the_log_at_debug_with_every_check_logged() {
    let dir = TempDir::new("secrets");
    let recovery_hash = postern_core::password::hash_password(RECOVERY.as_bytes()).unwrap();
    let metrics_token = dir.write("metrics-token", METRICS_TOKEN);
    let port = free_port();
    let config = format!(
        "app_url = \"http://127.0.0.1:{port}\"\nsecret = \"{SERVER_SECRET}\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n\
         [api]\nbasic_auth = true\n\
         [log]\nlevel = \"debug\"\nformat = \"json\"\nchecks = \"all\"\n\
         [metrics]\nlisten = \"127.0.0.1:{}\"\ntoken_file = \"{}\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n\
         [[users]]\nname = \"tess\"\npassword_hash = \"{HASH}\"\ntotp_secret = \"{TOTP_SECRET}\"\n\
         recovery_codes = [\"{recovery_hash}\"]\n",
        free_port(),
        metrics_token.display()
    );
    let path = dir.write("postern.toml", &config);
    let mut running = Running::start(&dir, &path, port);
    let mut secrets: Vec<String> = [
        PASSWORD,
        WRONG_PASSWORD,
        HASH,
        TOTP_SECRET,
        RECOVERY,
        &recovery_hash,
        SERVER_SECRET,
        METRICS_TOKEN,
        QUERY_SECRET,
    ]
    .map(str::to_owned)
    .to_vec();

    // A password sign-in, its session on the check path, and a wrong password.
    let signed_in = request(
        port,
        "POST",
        "/api/login",
        &[],
        &login_body("alice", PASSWORD),
    );
    let session = cookie(&signed_in, "postern_session");
    let session_header = format!("postern_session={session}");
    assert!(check(port, "/", ("Cookie", &session_header)).starts_with("HTTP/1.1 200"));
    let uri = format!("/reports?token={QUERY_SECRET}");
    assert!(check(port, &uri, ("Cookie", &session_header)).starts_with("HTTP/1.1 200"));
    let wrong = request(
        port,
        "POST",
        "/api/login",
        &[],
        &login_body("alice", WRONG_PASSWORD),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    secrets.push(session);

    // TOTP: the pending cookie, a code, then a recovery code in place of one.
    let code = TotpKey::parse(TOTP_SECRET).unwrap().code_at(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    for second_factor in [code.as_str(), RECOVERY] {
        let first = request(
            port,
            "POST",
            "/api/login",
            &[],
            &login_body("tess", PASSWORD),
        );
        let pending = cookie(&first, "postern_pending");
        let pending_header = format!("postern_pending={pending}");
        let done = request(
            port,
            "POST",
            "/api/totp",
            &[("Cookie", &pending_header)],
            &format!("{{\"code\":\"{second_factor}\"}}"),
        );
        let session = cookie(&done, "postern_session");
        let session_header = format!("postern_session={session}");
        assert!(check(port, "/", ("Cookie", &session_header)).starts_with("HTTP/1.1 200"));
        secrets.extend([pending, session]);
    }
    secrets.push(code);

    // Bearer tokens: a pair, a check with the access token, a refresh.
    let pair = request(
        port,
        "POST",
        "/api/auth/login",
        &[],
        &login_body("alice", PASSWORD),
    );
    let access = json_field(&pair, "access_token");
    let refresh = json_field(&pair, "refresh_token");
    let bearer = format!("Bearer {access}");
    assert!(check(port, "/", ("Authorization", &bearer)).starts_with("HTTP/1.1 200"));
    let refreshed = request(
        port,
        "POST",
        "/api/auth/refresh",
        &[],
        &format!("{{\"refresh_token\":\"{refresh}\"}}"),
    );
    secrets.extend([access, refresh, json_field(&refreshed, "access_token")]);

    // Basic credentials, right and wrong.
    for password in [PASSWORD, WRONG_PASSWORD] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
        let basic = format!("Basic {encoded}");
        check(port, "/", ("Authorization", &basic));
        secrets.push(encoded);
    }

    // TOTP set up on the account page (alice's session is a recent sign-in): the secret it
    // shows. Last: from now on alice's password alone no longer signs her in.
    secrets.push(enrol_totp(port, &session_header));

    // A check without a usable target logs at debug: proof that debug lines are written.
    let no_target = request(
        port,
        "GET",
        "/api/auth/traefik",
        &[("Cookie", &session_header)],
        "",
    );
    assert!(no_target.starts_with("HTTP/1.1 400"), "{no_target}");

    running.terminate();
    running.wait_exit(Duration::from_secs(10));
    let log = running.log_text();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .filter(|line| line.contains("\"target\":\"check\""))
            .count()
            >= 6,
        "check lines missing:\n{log}"
    );
    assert!(log.contains("\"level\":\"DEBUG\""), "not at debug:\n{log}");
    for line in lines {
        // The timestamp's microseconds could match a 6-digit TOTP code by chance.
        let searched = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(mut json) => {
                json.as_object_mut()
                    .map(|fields| fields.remove("timestamp"));
                json.to_string()
            }
            Err(_) => line.to_owned(),
        };
        for secret in &secrets {
            assert!(
                !searched.contains(secret.as_str()),
                "a secret ({}…) in the log line:\n{line}",
                &secret[..4.min(secret.len())]
            );
        }
    }
}
