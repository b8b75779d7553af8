//! What a browser or a script does at postern's own pages: the login form, the JSON login,
//! logout. Talks to postern directly, as the browser would after following a redirect.

use http::StatusCode;
use url::Url;

use super::client::{Request, Response, path_and_query, send_to};
use super::postern::{ALICE, ALICE_PASSWORD, CSRF_COOKIE, Postern, SESSION_COOKIE};

/// The login page as served: its pre-session cookie and hidden fields.
pub struct LoginForm {
    pub csrf_cookie: String,
    pub csrf: String,
    pub redirect_uri: String,
}

impl LoginForm {
    /// Opens `login_url` (the Location of a login redirect) like a browser.
    pub async fn open(login_url: &Url) -> Self {
        let page = send_to(
            login_url,
            Request::get(&path_and_query(login_url)).browser(),
        )
        .await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "GET {login_url}: {}",
            page.describe()
        );
        Self::read(&page, None)
    }

    /// Reads the form from a page; `previous_cookie` stands when the page set no new one.
    pub fn read(page: &Response, previous_cookie: Option<&str>) -> Self {
        let html = page.text();
        let csrf_cookie = page
            .set_cookie(CSRF_COOKIE)
            .or_else(|| previous_cookie.map(str::to_owned))
            .unwrap_or_else(|| {
                panic!(
                    "the login page set no {CSRF_COOKIE} cookie: {}",
                    page.describe()
                )
            });
        let csrf = hidden_input(&html, "csrf")
            .unwrap_or_else(|| panic!("no hidden csrf input in:\n{html}"));
        let redirect_uri = hidden_input(&html, "redirect_uri").unwrap_or_default();
        Self {
            csrf_cookie,
            csrf,
            redirect_uri,
        }
    }

    /// Submits the form as the browser would.
    pub async fn submit(&self, postern: &Postern, username: &str, password: &str) -> Response {
        self.submit_to(&postern.url("/login"), username, password)
            .await
    }

    /// Submits the form to `login_url` (one replica, or the proxy in front of them all).
    pub async fn submit_to(&self, login_url: &Url, username: &str, password: &str) -> Response {
        let fields = [
            ("username", username),
            ("password", password),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("csrf", self.csrf.as_str()),
        ];
        let request = Request::post("/login")
            .browser()
            .cookie(&self.csrf_cookie)
            .form(&fields);
        send_to(login_url, request).await
    }
}

/// A session for alice through `POST /api/login`: the quick way when the test is not about
/// the login form. Returns the cookie as `name=value`.
pub async fn api_login(postern: &Postern) -> String {
    api_login_at(&postern.url("/api/login")).await
}

/// The same for another configured user (every e2e user has alice's password).
pub async fn api_login_as(postern: &Postern, user: &str) -> String {
    api_login_as_at(&postern.url("/api/login"), user).await
}

/// `api_login` at an explicit `/api/login` URL: one replica, or the proxy's portal.
pub async fn api_login_at(login_url: &Url) -> String {
    api_login_as_at(login_url, ALICE).await
}

async fn api_login_as_at(login_url: &Url, user: &str) -> String {
    let body = serde_json::json!({ "username": user, "password": ALICE_PASSWORD });
    let response = send_to(
        login_url,
        Request::post("/api/login").api_client().json(&body),
    )
    .await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "POST /api/login: {}",
        response.describe()
    );
    response.set_cookie(SESSION_COOKIE).unwrap_or_else(|| {
        panic!(
            "POST /api/login set no {SESSION_COOKIE}: {}",
            response.describe()
        )
    })
}

/// Logs the session out the way the portal's logout button does: CSRF token from
/// `/api/csrf`, then `POST /api/logout` with it.
pub async fn logout(postern: &Postern, session_cookie: &str) -> Response {
    logout_at(&postern.url("/"), session_cookie).await
}

/// `logout` against the portal at `base` (one replica, or the proxy's portal).
pub async fn logout_at(base: &Url, session_cookie: &str) -> Response {
    let csrf = send_to(
        &base.join("/api/csrf").expect("csrf URL"),
        Request::get("/api/csrf")
            .api_client()
            .cookie(session_cookie),
    )
    .await;
    assert_eq!(
        csrf.status,
        StatusCode::OK,
        "GET /api/csrf: {}",
        csrf.describe()
    );
    let token = csrf.json()["csrfToken"]
        .as_str()
        .expect("csrfToken in /api/csrf")
        .to_owned();
    let request = Request::post("/api/logout")
        .api_client()
        .cookie(session_cookie)
        .header("X-CSRF-Token", &token)
        .json(&serde_json::json!({}));
    send_to(&base.join("/api/logout").expect("logout URL"), request).await
}

/// The decoded `value` of `<input ... name="NAME" ... value="...">`, attributes in any order.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    html.split("<input")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or_default())
        .find_map(|tag| {
            (attribute(tag, "name")? == name).then(|| attribute(tag, "value").unwrap_or_default())
        })
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(decode_entities(&tag[start..end]))
}

/// Undoes the HTML escaping a template engine applies to attribute values.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
