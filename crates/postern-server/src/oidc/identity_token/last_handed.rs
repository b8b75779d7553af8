//! The token each thread handed out last. Checks come in runs of one user and app (a page
//! and its assets, a client that polls), so most find their token here: they compare a few
//! short strings and skip the kept tokens' SipHash and lock. Under callgrind, on row c3 of
//! postern-bench, the token added about 890 instructions a check with the table alone (and
//! its header name cloned) and about 310 with this first and the name borrowed
//! (docs/performance.md, the twenty-second session). A check of someone else than the
//! thread's last costs the compare, the table as before, then the copy of what it found
//! into the thread's last.

use std::cell::RefCell;

use http::HeaderValue;
use postern_core::UnixSeconds;

use super::{SignIn, TokenFor};

thread_local! {
    static LAST_HANDED: RefCell<LastHanded> = const { RefCell::new(LastHanded::NONE) };
}

/// The last token and what it is for, in buffers reused from one token to the next: a
/// thread that hands out tokens for other users and apps allocates nothing once its
/// buffers have grown.
struct LastHanded {
    /// `IdentityTokens::id` of the cache it came from: several may share a thread (each test
    /// builds its own), and none hands out another's.
    cache_id: u64,
    user: String,
    aud: String,
    provider: String,
    /// Whether `provider` holds one (a provider's user) or nothing (a local user).
    has_provider: bool,
    sign_in: Option<SignIn>,
    second: UnixSeconds,
    subject_changes: u64,
    value: Option<HeaderValue>,
}

impl LastHanded {
    const NONE: Self = Self {
        cache_id: 0,
        user: String::new(),
        aud: String::new(),
        provider: String::new(),
        has_provider: false,
        sign_in: None,
        second: 0,
        subject_changes: 0,
        value: None,
    };

    fn is_for(&self, cache_id: u64, wanted: &TokenFor<'_>) -> bool {
        let provider = self.has_provider.then_some(self.provider.as_str());
        self.cache_id == cache_id
            && self.sign_in == Some(wanted.sign_in)
            && self.user == wanted.user
            && self.aud == wanted.aud
            && provider == wanted.provider
    }

    fn remember(
        &mut self,
        cache_id: u64,
        wanted: &TokenFor<'_>,
        second: UnixSeconds,
        subject_changes: u64,
        value: &HeaderValue,
    ) {
        self.cache_id = cache_id;
        overwrite(&mut self.user, wanted.user);
        overwrite(&mut self.aud, wanted.aud);
        overwrite(&mut self.provider, wanted.provider.unwrap_or_default());
        self.has_provider = wanted.provider.is_some();
        self.sign_in = Some(wanted.sign_in);
        self.second = second;
        self.subject_changes = subject_changes;
        self.value = Some(value.clone());
    }
}

/// `text` in `buffer`, in the room it has (a `String` assigned anew would allocate).
fn overwrite(buffer: &mut String, text: &str) {
    buffer.clear();
    buffer.push_str(text);
}

/// The token this thread last handed out from the cache `cache_id`, if it is for `wanted`,
/// was signed in the second `now` and no subject id changed since (the table's own
/// conditions).
pub(super) fn find(
    cache_id: u64,
    wanted: &TokenFor<'_>,
    now: UnixSeconds,
    subject_changes: u64,
) -> Option<HeaderValue> {
    // `try_`: never a panic, not even while the thread winds down; a miss goes to the table.
    LAST_HANDED
        .try_with(|last| {
            let last = last.try_borrow().ok()?;
            let fresh = last.second == now && last.subject_changes == subject_changes;
            if fresh && last.is_for(cache_id, wanted) {
                last.value.clone()
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// Notes the token this thread is handing out from the cache `cache_id`: for `wanted`,
/// signed in `second`, when `SubjectIds::changes` was `subject_changes`.
pub(super) fn remember(
    cache_id: u64,
    wanted: &TokenFor<'_>,
    second: UnixSeconds,
    subject_changes: u64,
    value: &HeaderValue,
) {
    let _ = LAST_HANDED.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            last.remember(cache_id, wanted, second, subject_changes, value);
        }
    });
}

/// Forgets this thread's last token, so that a test's next lookup reads the table.
#[cfg(test)]
pub(super) fn forget() {
    LAST_HANDED.set(LastHanded::NONE);
}
