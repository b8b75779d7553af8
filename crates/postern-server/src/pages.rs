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
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub page: PageContext<'a>,
    pub user: &'a str,
    pub client: &'a str,
    /// What each granted scope releases, in words.
    pub scopes: Vec<&'static str>,
    pub csrf: &'a str,
    /// The id of the pending authorization in the store.
    pub request: &'a str,
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

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub page: PageContext<'a>,
    /// The session's CSRF token, in every form.
    pub csrf: &'a str,
    /// What the last action did ("Your password is changed."), from a fixed list.
    pub notice: Option<&'a str>,
    pub error: Option<String>,
    pub profile: Profile,
    /// `None`: the password form is shown; else why it is not.
    pub password_absent: Option<String>,
    pub totp: TotpPart,
    /// `Some` while the user has TOTP: their recovery codes.
    pub recovery: Option<RecoveryPart>,
    /// Why the user cannot change their second factors here, if they cannot.
    pub factors_locked: Option<String>,
    /// The `two_factor` apps the user reaches: they must keep a second factor.
    pub required_by: String,
    pub passkeys: PasskeysPart,
    /// `Some` where postern is an OpenID Provider: the clients the user allowed.
    pub consents: Option<Vec<ConsentRow>>,
    pub sessions: Vec<SessionRow>,
}

/// The passkeys part of the account page.
pub struct PasskeysPart {
    pub rows: Vec<PasskeyRow>,
    /// Why the user has no passkeys here at all (a provider's user), if so.
    pub absent: Option<String>,
}

pub struct PasskeyRow {
    /// The credential id (base64url), the `id` of the rename and remove forms.
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

/// An OpenID client the user allowed.
pub struct ConsentRow {
    pub client: String,
    /// The scopes, space-separated.
    pub scopes: String,
    pub granted: String,
}

pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub groups: String,
    pub signed_in_with: String,
}

/// The TOTP part of the account page.
pub struct TotpPart {
    /// `admin` (set by the administrator), `on` (the user's own), `off`, `enrolling`.
    pub state: &'static str,
    /// For `on`: since when.
    pub since: String,
    /// For `enrolling`: the secret in groups of four, the QR code (an SVG `data:` URL) and
    /// the `otpauth://` URI it holds. Shown only while the set-up waits for its code.
    pub secret: String,
    pub qr_data_url: String,
}

pub struct RecoveryPart {
    pub left: usize,
    pub total: usize,
    /// Made by the user (else the administrator's).
    pub own: bool,
    /// Codes just made: shown this once.
    pub new_codes: Vec<String>,
}

pub struct SessionRow {
    /// The token hash in hex: the id of `DELETE /api/sessions/{id}`.
    pub id: String,
    pub current: bool,
    pub started: String,
    pub last_seen: String,
    pub ip: String,
    pub user_agent: String,
    pub method: String,
}

/// "Confirm it's you": the password again before a change of second factors.
#[derive(Template)]
#[template(path = "account_reauth.html")]
pub struct ReauthPage<'a> {
    pub page: PageContext<'a>,
    pub csrf: &'a str,
    pub user: &'a str,
    /// The account page's section to come back to.
    pub section: &'a str,
    pub error: Option<String>,
    /// The user has a passkey: the page offers it as well as the password.
    pub passkey: bool,
}
