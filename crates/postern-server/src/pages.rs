//! The server-rendered pages. One struct per page, each carrying the shared `PageContext`
//! (title, stylesheet URLs); templates live in `web/templates/` and escape every value.

use askama::Template;
use http::StatusCode;

use crate::respond::{self, HttpResponse};
use crate::state::AppState;

/// What every page needs from the config.
pub struct PageContext<'a> {
    pub title: &'a str,
    pub stylesheet_url: &'a str,
    pub theme_url: &'a str,
    pub icon_url: &'a str,
    pub passkey_script_url: &'a str,
}

impl<'a> PageContext<'a> {
    pub fn new(state: &'a AppState) -> Self {
        Self {
            title: &state.config.ui.title,
            stylesheet_url: &state.assets.stylesheet_url,
            theme_url: &state.assets.theme_url,
            icon_url: &state.assets.icon_url,
            passkey_script_url: &state.assets.passkey_script_url,
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub page: PageContext<'a>,
    pub csrf: &'a str,
    pub redirect_uri: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
    /// Why the sign-in will not return to the app that sent the browser here, if it will not.
    pub return_notice: Option<&'a str>,
    /// One "Sign in with ..." button per provider.
    pub providers: Vec<ProviderButton<'a>>,
    /// False when there are no local users: then the page offers only the providers.
    pub password_form: bool,
    /// "Sign in with a passkey" and passkey autofill (`webauthn.passwordless`).
    pub passkey: bool,
}

pub struct ProviderButton<'a> {
    pub label: &'a str,
    /// `/api/oauth/login/<id>?redirect_uri=...`, built by the server.
    pub href: String,
}

#[derive(Template)]
#[template(path = "totp.html")]
pub struct TotpPage<'a> {
    pub page: PageContext<'a>,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
    /// The user has a TOTP secret: the code form.
    pub code: bool,
    /// The user has a passkey: the "Use a passkey" button.
    pub passkey: bool,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub page: PageContext<'a>,
    /// `Some((user, csrf))` when signed in.
    pub signed_in: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    pub page: PageContext<'a>,
    pub user: &'a str,
    pub display_name: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "unauthorized.html")]
pub struct UnauthorizedPage<'a> {
    pub page: PageContext<'a>,
    pub user: Option<&'a str>,
    /// The session's CSRF token, for the "Switch account" form (empty when signed out).
    pub csrf: &'a str,
    /// A configured app's name, or "that app".
    pub app: &'a str,
    /// A `Reason` code, or `None` when the link carried none (or a forged one).
    pub reason: Option<&'a str>,
    /// `/login`, with the app's address as `redirect_uri` when postern would follow it.
    pub login_again: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub page: PageContext<'a>,
    pub status: u16,
    pub heading: &'a str,
    pub message: &'a str,
}

/// Renders a page; a template failure is logged and answered 500.
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => respond::page(status, html),
        Err(err) => respond::internal_error("rendering a page", &err),
    }
}

/// A page that explains an error to a person.
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> HttpResponse {
    render(
        status,
        &ErrorPage {
            page: PageContext::new(state),
            status: status.as_u16(),
            heading,
            message,
        },
    )
}
