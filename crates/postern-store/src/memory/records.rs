//! Durable user records, kept in memory: they last as long as the process (postern says so at
//! start). One ordered map, so a user's records of one kind are a range.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::lock;
use crate::{RecordKind, UserRecord};

/// (user in lower case, kind, id) -> record.
#[derive(Default)]
pub struct Records(Mutex<BTreeMap<(String, String, String), Vec<u8>>>);

impl Records {
    pub fn get(&self, user: &str, kind: &str, id: &str) -> Option<Vec<u8>> {
        lock(&self.0)
            .get(&(user.to_lowercase(), kind.to_owned(), id.to_owned()))
            .cloned()
    }

    pub fn of_kind(&self, user: &str, kind: &str) -> Vec<(String, Vec<u8>)> {
        let start = (user.to_lowercase(), kind.to_owned(), String::new());
        lock(&self.0)
            .range(start.clone()..)
            .take_while(|((owner, of_kind, _), _)| *owner == start.0 && *of_kind == start.1)
            .map(|((_, _, id), value)| (id.clone(), value.clone()))
            .collect()
    }

    pub fn put(&self, user: &str, kind: &str, id: &str, value: Vec<u8>) {
        lock(&self.0).insert((user.to_lowercase(), kind.to_owned(), id.to_owned()), value);
    }

    pub fn delete(&self, user: &str, kind: &str, id: &str) {
        lock(&self.0).remove(&(user.to_lowercase(), kind.to_owned(), id.to_owned()));
    }

    /// Every record of a known kind (export).
    pub fn all(&self) -> Vec<UserRecord> {
        lock(&self.0)
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
