//! Durable user records in Redis: one hash per user and kind (`<prefix>records:{user}:<kind>`,
//! field = record id), with no TTL, on the user's Cluster slot. Every owner is also in one set
//! (`<prefix>record-owners`), so export finds them on any deployment without scanning keys.

use redis::AsyncCommands;

use super::RedisStore;
use crate::{RecordKind, StoreError, UserRecord};

impl RedisStore {
    pub async fn record(
        &self,
        user: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.user_records(user, kind);
        let id = id.to_owned();
        self.run(|mut conn| async move { conn.hget(key, id).await })
            .await
    }

    pub async fn records(
        &self,
        user: &str,
        kind: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let key = self.keys.user_records(user, kind);
        let mut found: Vec<(String, Vec<u8>)> = self
            .run(|mut conn| async move { conn.hgetall(key).await })
            .await?;
        found.sort();
        Ok(found)
    }

    pub async fn put_record(
        &self,
        user: &str,
        kind: &str,
        id: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = self.keys.user_records(user, kind);
        let owners = self.keys.record_owners();
        let owner = user.to_lowercase();
        let id = id.to_owned();
        // The owner is listed first: a record is never out of export's sight. The two keys
        // sit on different Cluster slots, so these are two calls, not a transaction.
        self.run(|mut conn| async move {
            conn.sadd::<_, _, i64>(owners, owner).await?;
            conn.hset::<_, _, _, i64>(key, id, value).await.map(drop)
        })
        .await
    }

    /// Every record of every listed owner, of every known kind.
    pub async fn all_records(&self) -> Result<Vec<UserRecord>, StoreError> {
        let owners = self.keys.record_owners();
        let users: Vec<String> = self
            .run(|mut conn| async move { conn.smembers(owners).await })
            .await?;
        let mut all = Vec::new();
        for user in users {
            for &kind in RecordKind::ALL {
                for (id, value) in self.records(&user, kind.name()).await? {
                    all.push(UserRecord {
                        user: user.clone(),
                        kind,
                        id,
                        value,
                    });
                }
            }
        }
        Ok(all)
    }

    pub async fn delete_record(&self, user: &str, kind: &str, id: &str) -> Result<(), StoreError> {
        let key = self.keys.user_records(user, kind);
        let id = id.to_owned();
        self.run(|mut conn| async move { conn.hdel::<_, _, i64>(key, id).await.map(drop) })
            .await
    }
}
