use super::*;
use crate::users::User;

fn provider(allow: AllowList) -> OAuthProvider {
    OAuthProvider {
        id: "generic".into(),
        label: "Generic".into(),
        kind: ProviderKind::Oidc,
        client_id: "postern".into(),
        client_secret: "secret".into(),
        scopes: vec!["openid".into()],
        issuer: None,
        auth_url: None,
        token_url: None,
        userinfo_url: None,
        jwks_url: None,
        groups_claim: Some("groups".into()),
        username_claim: None,
        allow,
        link_local_users: false,
    }
}

fn claims(email: &str, verified: bool, groups: &[&str]) -> ProviderClaims {
    ProviderClaims {
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Carol".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        username: None,
    }
}

fn users() -> UserTable {
    UserTable::new([User::new(
        "alice@example.com".into(),
        String::new(),
        String::new(),
        String::new(),
        Vec::new(),
        None,
    )])
}

#[test]
fn a_listed_domain_admits_only_verified_emails() {
    let p = provider(AllowList {
        domains: vec!["example.org".into()],
        ..AllowList::default()
    });
    let ok = sign_in_as(&p, &claims("Carol@Example.org", true, &[]), &users()).unwrap();
    assert!(matches!(ok, SignInAs::External { ref user, .. } if user == "Carol@Example.org"));
    assert_eq!(
        sign_in_as(&p, &claims("carol@example.org", false, &[]), &users()),
        Err(Refusal::UnverifiedEmail)
    );
    assert_eq!(
        sign_in_as(&p, &claims("carol@evil.org", true, &[]), &users()),
        Err(Refusal::NotAllowed)
    );
}

#[test]
fn groups_and_emails_each_admit() {
    let p = provider(AllowList {
        emails: vec!["dave@x.org".into()],
        groups: vec!["staff".into()],
        ..AllowList::default()
    });
    assert!(sign_in_as(&p, &claims("carol@y.org", true, &["staff"]), &users()).is_ok());
    assert!(sign_in_as(&p, &claims("dave@x.org", true, &[]), &users()).is_ok());
    assert_eq!(
        sign_in_as(&p, &claims("dave@x.org", false, &[]), &users()),
        Err(Refusal::UnverifiedEmail)
    );
}

#[test]
fn a_local_name_is_refused_unless_linking_is_on() {
    let mut p = provider(AllowList {
        all: true,
        ..AllowList::default()
    });
    assert_eq!(
        sign_in_as(&p, &claims("ALICE@example.com", true, &[]), &users()),
        Err(Refusal::LocalName("ALICE@example.com".into()))
    );
    p.link_local_users = true;
    assert_eq!(
        sign_in_as(&p, &claims("ALICE@example.com", true, &[]), &users()),
        Ok(SignInAs::Local("alice@example.com".into()))
    );
}

#[test]
fn a_name_that_only_looks_different_is_still_the_local_name() {
    let p = provider(AllowList {
        all: true,
        ..AllowList::default()
    });
    for disguised in [
        " alice@example.com",
        "alice@example.com\t",
        "alice@\u{7f}example.com",
    ] {
        assert!(
            matches!(
                sign_in_as(&p, &claims(disguised, true, &[]), &users()),
                Err(Refusal::LocalName(_))
            ),
            "{disguised:?}"
        );
    }
}

#[test]
fn a_username_claim_replaces_the_email() {
    let mut p = provider(AllowList {
        all: true,
        ..AllowList::default()
    });
    p.username_claim = Some("preferred_username".into());
    let mut c = claims("carol@y.org", false, &[]);
    assert_eq!(
        sign_in_as(&p, &c, &users()),
        Err(Refusal::NoUsername("preferred_username".into()))
    );
    c.username = Some("carol".into());
    let SignInAs::External { user, email, .. } = sign_in_as(&p, &c, &users()).unwrap() else {
        panic!("external");
    };
    assert_eq!((user.as_str(), email.as_str()), ("carol", ""));
}

/// `username_claim = "email"` takes the email as the name only when the provider verified it:
/// an unverified address is whatever the account typed in, and `allow_users` matches names.
#[test]
fn the_email_as_username_claim_is_taken_only_verified() {
    let mut p = provider(AllowList {
        all: true,
        ..AllowList::default()
    });
    p.username_claim = Some("email".into());
    let mut c = claims("ceo@corp.example", false, &[]);
    c.username = Some("ceo@corp.example".into());
    assert_eq!(sign_in_as(&p, &c, &users()), Err(Refusal::UnverifiedEmail));
    c.email_verified = true;
    let SignInAs::External { user, .. } = sign_in_as(&p, &c, &users()).unwrap() else {
        panic!("external");
    };
    assert_eq!(user, "ceo@corp.example");
}
