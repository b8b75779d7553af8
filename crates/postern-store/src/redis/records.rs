//! Durable user records in Redis: one hash per user and kind (`<prefix>records:{user}:<kind>`,
//! field = record id), with no TTL, on the user's Cluster slot.

use redis::AsyncCommands;

use super::RedisStore;
use crate::StoreError;

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
        let id = id.to_owned();
        self.run(
            |mut conn| async move { conn.hset::<_, _, _, i64>(key, id, value).await.map(drop) },
        )
        .await
    }

    pub async fn delete_record(&self, user: &str, kind: &str, id: &str) -> Result<(), StoreError> {
        let key = self.keys.user_records(user, kind);
        let id = id.to_owned();
        self.run(|mut conn| async move { conn.hdel::<_, _, i64>(key, id).await.map(drop) })
            .await
    }
}
