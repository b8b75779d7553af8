use super::*;

#[test]
fn a_session_will_do_unless_too_old_or_asked_again() {
    let fresh = Freshness::default();
    assert!(fresh.session_will_do(Some("alice-sub"), "s1", 100, 5000));
    let max_age = Freshness {
        max_age: Some(60),
        ..Freshness::default()
    };
    assert!(max_age.session_will_do(Some("alice-sub"), "s1", 100, 160));
    assert!(!max_age.session_will_do(Some("alice-sub"), "s1", 100, 161));
    let login = Freshness {
        force_login: true,
        ..Freshness::default()
    };
    assert!(!login.session_will_do(Some("alice-sub"), "s1", 100, 101));
    // Back from the login page: a session started since then satisfies both.
    let back = Freshness {
        force_login: true,
        max_age: Some(1),
        signed_in_after: Some(200),
        ..Freshness::default()
    };
    assert!(back.session_will_do(Some("alice-sub"), "s1", 200, 260));
    assert!(!back.session_will_do(Some("alice-sub"), "s1", 199, 260));
    let replaced = Freshness {
        replaced_session: Some("s1".into()),
        ..back
    };
    assert!(!replaced.session_will_do(Some("alice-sub"), "s1", 200, 260));
    assert!(replaced.session_will_do(Some("alice-sub"), "s2", 200, 260));
    let hinted = Freshness {
        hinted_subject: Some("bob-sub".into()),
        ..Freshness::default()
    };
    assert!(!hinted.session_will_do(Some("alice-sub"), "s1", 100, 101));
    assert!(hinted.session_will_do(Some("bob-sub"), "s1", 100, 101));
    // Subject ids are compared exactly: another spelling is another subject.
    assert!(!hinted.session_will_do(Some("BOB-sub"), "s1", 100, 101));
    assert!(!hinted.session_will_do(None, "s1", 100, 101));
}
