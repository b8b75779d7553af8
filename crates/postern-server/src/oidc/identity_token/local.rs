//! Each worker thread's own copies of the tokens it handed out this second. When one user
//! browses one app (a page and its assets; on a self-hosted server, often the only user),
//! every check wants the same token, and taken from the shared cache each would lock the
//! same shard and count references on the same bytes from every core: the cache line moves
//! between cores twice a check. A thread's copy is its own bytes, found without a lock.
//! Copied once per second per thread and token (one allocation of the token's size).

use std::cell::RefCell;

use http::HeaderValue;
use postern_core::UnixSeconds;

use super::{OwnedFor, TokenFor};

/// Copies a thread keeps, one per slot, the slot chosen by hash: room for the handful of
/// users and apps busy at once on one thread.
const SLOTS: usize = 64;

struct ThreadCopy {
    /// Which cache (`IdentityTokens::id`) the token is from.
    cache: u64,
    hash: u64,
    key: OwnedFor,
    second: UnixSeconds,
    value: HeaderValue,
}

thread_local! {
    /// Empty until the thread's first copy: threads that never check keep nothing.
    static COPIES: RefCell<Vec<Option<ThreadCopy>>> = const { RefCell::new(Vec::new()) };
}

/// From bits neither the shard (32–35) nor the shard's table (the lowest, the highest seven)
/// picks by.
fn slot(hash: u64) -> usize {
    usize::try_from((hash >> 40) % SLOTS as u64).unwrap_or(0)
}

/// This thread's copy of the token of cache `cache` for `wanted` (whose hash is `hash`)
/// signed in `second`.
pub(super) fn copied(
    cache: u64,
    hash: u64,
    wanted: &TokenFor<'_>,
    second: UnixSeconds,
) -> Option<HeaderValue> {
    // `try_`: never a panic, even from a thread being torn down.
    COPIES
        .try_with(|copies| {
            let copies = copies.try_borrow().ok()?;
            copies
                .get(slot(hash))?
                .as_ref()
                .filter(|copy| {
                    copy.cache == cache
                        && copy.hash == hash
                        && copy.second == second
                        && copy.key.is_for(wanted)
                })
                .map(|copy| copy.value.clone())
        })
        .ok()
        .flatten()
}

/// Keeps a copy of `value` of this thread's own, unless its slot holds another copy of this
/// second: two busy tokens on one slot would otherwise copy each other out on every check
/// (the second one then goes on to the shared cache, as it would with no copies).
pub(super) fn keep_copy(
    cache: u64,
    hash: u64,
    wanted: &TokenFor<'_>,
    second: UnixSeconds,
    value: &HeaderValue,
) {
    let _ = COPIES.try_with(|copies| {
        let Ok(mut copies) = copies.try_borrow_mut() else {
            return;
        };
        if copies.is_empty() {
            copies.resize_with(SLOTS, || None);
        }
        let Some(slot) = copies.get_mut(slot(hash)) else {
            return;
        };
        if slot.as_ref().is_some_and(|copy| copy.second == second) {
            return;
        }
        // Its own bytes: a clone would share the reference count this copy is to avoid.
        let Ok(own) = HeaderValue::from_bytes(value.as_bytes()) else {
            return;
        };
        *slot = Some(ThreadCopy {
            cache,
            hash,
            key: OwnedFor::of(wanted),
            second,
            value: own,
        });
    });
}
