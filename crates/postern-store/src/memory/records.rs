//! Durable user records, kept in memory: they last as long as the process (postern says so at
//! start). One ordered map, so a user's records of one kind are a range.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lock;
use crate::{RecordKind, UserRecord};

#[derive(Default)]
pub struct Records {
    /// (user in lower case, kind, id) -> record.
    map: Mutex<BTreeMap<(String, String, String), Vec<u8>>>,
    /// How many `map` holds, kept under its lock and read without it.
    count: AtomicUsize,
}

impl Records {
    /// The Basic and bearer checks read the user's credentials record on every request; with
    /// none kept (a memory store where nobody changed a factor, the usual case) that costs one
    /// atomic load, not the lock and the three copies of the key.
    pub fn get(&self, user: &str, kind: &str, id: &str) -> Option<Vec<u8>> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        lock(&self.map)
            .get(&(user.to_lowercase(), kind.to_owned(), id.to_owned()))
            .cloned()
    }

    pub fn of_kind(&self, user: &str, kind: &str) -> Vec<(String, Vec<u8>)> {
        let start = (user.to_lowercase(), kind.to_owned(), String::new());
        lock(&self.map)
            .range(start.clone()..)
            .take_while(|((owner, of_kind, _), _)| *owner == start.0 && *of_kind == start.1)
            .map(|((_, _, id), value)| (id.clone(), value.clone()))
            .collect()
    }

    pub fn put(&self, user: &str, kind: &str, id: &str, value: Vec<u8>) {
        let mut records = lock(&self.map);
        let key = (user.to_lowercase(), kind.to_owned(), id.to_owned());
        if records.insert(key, value).is_none() {
            self.count.fetch_add(1, Ordering::Release);
        }
    }

    pub fn delete(&self, user: &str, kind: &str, id: &str) {
        let mut records = lock(&self.map);
        let key = (user.to_lowercase(), kind.to_owned(), id.to_owned());
        if records.remove(&key).is_some() {
            self.count.fetch_sub(1, Ordering::Release);
        }
    }

    /// Every record of a known kind (export).
    pub fn all(&self) -> Vec<UserRecord> {
        lock(&self.map)
            .iter()
            .filter_map(|((user, kind, id), value)| {
                Some(UserRecord {
                    user: user.clone(),
                    kind: RecordKind::from_name(kind)?,
                    id: id.clone(),
                    value: value.clone(),
                })
            })
            .collect()
    }
}
