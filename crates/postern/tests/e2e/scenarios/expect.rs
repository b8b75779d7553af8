//! Assertions shared by the scenarios.

use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use url::Url;

use crate::harness::client::Response;
use crate::harness::postern::Postern;
use crate::harness::upstream::Echo;

/// `response` sends the browser to postern's login page with `original` as `redirect_uri`.
/// Returns the login URL.
pub fn login_redirect(
    response: &Response,
    status: StatusCode,
    postern: &Postern,
    original: &Url,
) -> Url {
    assert_eq!(
        response.status,
        status,
        "expected a {status} to the login page: {}",
        response.describe()
    );
    let location = response
        .location()
        .unwrap_or_else(|| panic!("no Location: {}", response.describe()));
    assert_eq!(
        location.origin(),
        postern.app_url().origin(),
        "login redirect leaves the portal: {location}"
    );
    assert_eq!(
        location.path(),
        "/login",
        "login redirect to the wrong page: {location}"
    );
    let redirect_uri = location
        .query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no redirect_uri in {location}"));
    assert_eq!(
        redirect_uri,
        original.as_str(),
        "redirect_uri is not the URL the browser asked for"
    );
    location
}

/// A 401 for a script: nothing in it sends the client anywhere.
fn unauthorized_without_location(response: &Response) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "expected 401: {}",
        response.describe()
    );
    assert!(
        response.location().is_none(),
        "a 401 for an API client must not carry Location: {}",
        response.describe()
    );
}

/// postern's API-mode refusal: 401, and nothing that would send a script anywhere.
pub fn plain_unauthorized(response: &Response) {
    unauthorized_without_location(response);
    assert_eq!(
        response.json()["status"],
        401,
        "postern's JSON body: {}",
        response.describe()
    );
    // nginx's auth_request already copies postern's challenge; a config that adds it again
    // would send two.
    let challenges = response.headers.get_all(WWW_AUTHENTICATE).iter().count();
    assert!(
        challenges <= 1,
        "WWW-Authenticate sent {challenges} times: {:?}",
        response.headers
    );
}

/// postern's refusal on its nginx endpoint to a script: 401 with an empty body (nginx's
/// auth_request never reads one) and no `Location`.
pub fn nginx_endpoint_unauthorized(response: &Response) {
    unauthorized_without_location(response);
    assert!(
        response.body.is_empty(),
        "the nginx endpoint answers without a body: {}",
        response.describe()
    );
}

/// The app received alice's identity, each header exactly once, and no underscore spelling.
pub fn upstream_saw_alice(echo: &Echo) {
    let expected = [
        ("remote-user", "alice"),
        ("remote-email", "alice@example.com"),
        ("remote-name", "Alice Example"),
        ("remote-groups", "admins,dev"),
    ];
    for (name, value) in expected {
        assert_eq!(
            echo.values(name),
            vec![value.to_owned()],
            "the app's `{name}` header"
        );
    }
    let underscored: Vec<String> = echo
        .header_names()
        .into_iter()
        .filter(|name| name.starts_with("remote_"))
        .collect();
    assert!(
        underscored.is_empty(),
        "the app received underscore identity headers: {underscored:?}"
    );
}
