//! Pages that only show state: the portal's home, the logout page, "no access", assets.

use http::{Request, StatusCode};
use hyper::body::Incoming;
use postern_core::csrf::CsrfBinding;

use crate::assets::Asset;
use crate::pages::{self, HomePage, LogoutPage, PageContext, UnauthorizedPage};
use crate::respond::{self, HttpResponse};
use crate::sessions;
use crate::state::AppState;

/// `GET /`: who is signed in, or on to the login page.
pub async fn home(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    match sessions::current(state, request.headers()).await {
        Ok(Some(session)) => {
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
        Ok(None) => respond::redirect(StatusCode::FOUND, &state.login_url),
        Err(err) => crate::pages::unavailable_page(state, &err),
    }
}

/// `GET /logout`: a page with a sign-out button (a GET never changes state).
pub async fn logout(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    match sessions::current(state, request.headers()).await {
        Ok(Some(session)) => {
            let csrf = state.csrf.token_for(CsrfBinding::Session(&session.key));
            pages::render(
                StatusCode::OK,
                &LogoutPage {
                    page: PageContext::new(state),
                    signed_in: Some((&session.user.name, &csrf)),
                },
            )
        }
        Ok(None) => pages::render(
            StatusCode::OK,
            &LogoutPage {
                page: PageContext::new(state),
                signed_in: None,
            },
        ),
        Err(err) => crate::pages::unavailable_page(state, &err),
    }
}

/// `GET /unauthorized`: where a signed-in user lands when an app refuses them.
pub async fn unauthorized(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let session = sessions::current(state, request.headers())
        .await
        .ok()
        .flatten();
    let user = session.as_ref().map(|session| session.user.name.as_str());
    pages::render(
        StatusCode::FORBIDDEN,
        &UnauthorizedPage {
            page: PageContext::new(state),
            user,
            login_url: &state.login_url,
        },
    )
}

pub fn asset(state: &AppState, asset: &Asset) -> HttpResponse {
    let (content_type, body) = state.assets.body(asset);
    respond::asset(content_type, body)
}
