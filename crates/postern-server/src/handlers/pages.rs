//! Pages that only show state: the portal's home, the logout page, "no access", assets.

use http::{Request, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use postern_core::access::Reason;
use postern_core::csrf::CsrfBinding;
use serde::Deserialize;

use crate::assets::Asset;
use crate::error::AppResult;
use crate::pages::{self, HomePage, LogoutPage, PageContext, UnauthorizedPage};
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;

/// `GET /`: who is signed in, or on to the login page.
pub async fn home<B>(state: &AppState, request: &Request<B>) -> AppResult {
    Ok(match sessions::current(state, request.headers()).await? {
        Some(session) => {
            let csrf = state.csrf.token_for(CsrfBinding::Session(&session.key));
            let user = &session.user;
            pages::render(
                StatusCode::OK,
                &HomePage {
                    page: PageContext::new(state),
                    user: &user.name,
                    display_name: &user.display_name,
                    csrf: &csrf,
                },
            )
        }
        // Relative, so a browser that reached postern on another address than `app_url`
        // (`serve --listen` on another port) stays where postern answers.
        None => respond::redirect(StatusCode::FOUND, "login"),
    })
}

/// `GET /logout`: a page with a sign-out button (a GET never changes state).
pub async fn logout<B>(state: &AppState, request: &Request<B>) -> AppResult {
    Ok(match sessions::current(state, request.headers()).await? {
        Some(session) => {
            let csrf = state.csrf.token_for(CsrfBinding::Session(&session.key));
            pages::render(
                StatusCode::OK,
                &LogoutPage {
                    page: PageContext::new(state),
                    signed_in: Some((&session.user.name, &csrf)),
                },
            )
        }
        None => pages::render(
            StatusCode::OK,
            &LogoutPage {
                page: PageContext::new(state),
                signed_in: None,
            },
        ),
    })
}

/// `GET /unauthorized?app=<name>&reason=<code>`: where a browser lands when an app's rules
/// refuse it. Both parameters are checked: an unknown app name or reason is not shown, so the
/// page cannot be made to say anything the rules did not.
pub async fn unauthorized<B>(state: &AppState, request: &Request<B>) -> HttpResponse {
    let query: UnauthorizedQuery =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    // "account": a provider's user outside its allow-list (never signed in, so no app).
    let reason = match query.reason.as_deref() {
        Some("account") => Some("account"),
        code => code.and_then(Reason::from_code).map(Reason::code),
    };
    let live = state.live.load();
    let rules = &live.access;
    let app = query
        .app
        .as_deref()
        .filter(|name| rules.apps().iter().any(|app| app.name == *name))
        .unwrap_or("that app");
    let session = sessions::current(state, request.headers())
        .await
        .ok()
        .flatten();
    let user = session.as_ref().map(|session| session.user.name.as_str());
    // Where a new sign-in goes: back to the app, when postern would follow its address.
    let login_again = match query
        .redirect_uri
        .as_deref()
        .and_then(|raw| state.redirects.validate(raw))
    {
        Some(target) => format!(
            "/login?redirect_uri={}",
            utf8_percent_encode(target.as_str(), NON_ALPHANUMERIC)
        ),
        None => "/login".to_owned(),
    };
    let csrf = session
        .as_ref()
        .map(|session| state.csrf.token_for(CsrfBinding::Session(&session.key)));
    pages::render(
        StatusCode::FORBIDDEN,
        &UnauthorizedPage {
            page: PageContext::new(state),
            user,
            csrf: csrf.as_deref().unwrap_or_default(),
            app,
            reason,
            login_again: &login_again,
        },
    )
}

#[derive(Deserialize, Default)]
struct UnauthorizedQuery {
    app: Option<String>,
    reason: Option<String>,
    redirect_uri: Option<String>,
}

pub fn asset(state: &AppState, asset: &Asset) -> HttpResponse {
    let (content_type, body) = state.assets.body(asset);
    respond::asset(content_type, body)
}
