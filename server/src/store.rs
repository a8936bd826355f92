//! Shared short-lived state: rate-limit counters, the WeChat access-token cache, locks.
//!
//! One small trait, two implementations: Redis in production (shared by every instance) and an
//! in-process map for the embedded default. Keys are namespaced with the configured prefix.
//! Nothing here is a source of truth: losing it loses at most a cache or a counter window.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use redis::{AsyncCommands, Script, aio::ConnectionManager};
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
#[error("shared store unavailable: {0}")]
pub struct StoreError(String);

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        Self(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A counter in a fixed window: how many hits so far, and when the window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCount {
    pub count: u64,
    pub resets_in: Duration,
}

#[async_trait]
pub trait SharedStore: Send + Sync + 'static {
    /// `redis` or `in-process`, for readiness reports.
    fn kind(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<String>>;
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<()>;
    /// Sets only when the key is absent; true when this call set it.
    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<bool>;
    /// Deletes only when the key still holds `expected`; true when this call deleted it.
    async fn compare_and_delete(&self, key: &str, expected: &str) -> StoreResult<bool>;
    /// Counts one hit in the window that `key` names, starting the window on the first hit.
    async fn hit(&self, key: &str, window: Duration) -> StoreResult<WindowCount>;
    /// Several keys in one round trip.
    async fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<String>>>;
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Adds one to the counter (created at 0) and returns the new value; the key lives `ttl`.
    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<i64>;
    /// Raises the counter to at least `value` (recovering a counter lost with the store).
    async fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> StoreResult<()>;
    /// Adds `delta` to an existing counter and returns the new value; `None` (and nothing
    /// created) when the key is absent or expired.
    async fn adjust(&self, key: &str, delta: i64) -> StoreResult<Option<i64>>;
    /// Takes one unit from an existing counter for `token`, atomically: `Repeat` when `marker`
    /// already holds `token` (the same attempt again: nothing taken); `-1`, with nothing taken
    /// and the marker left as it was, when none is left; otherwise the unit is taken, the
    /// marker set to `token` for `ttl` (the marker names the last attempt let through) and the
    /// counter's new value returned. `Missing` when the counter does not exist.
    async fn take_unit(
        &self,
        counter: &str,
        marker: &str,
        token: &str,
        ttl: Duration,
    ) -> StoreResult<Unit>;
}

/// What [`SharedStore::take_unit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Missing,
    Repeat,
    /// The counter after taking one (`-1`: there was none left, nothing taken).
    Left(i64),
}

pub type Store = Arc<dyn SharedStore>;

/// Redis, through a reconnecting connection manager.
pub struct RedisStore {
    manager: ConnectionManager,
    prefix: String,
    compare_and_delete: Script,
    hit: Script,
    incr: Script,
    raise_to: Script,
    adjust: Script,
    take_unit: Script,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            manager,
            prefix: prefix.to_string(),
            compare_and_delete: Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            ),
            hit: Script::new(
                "local n = redis.call('INCR', KEYS[1]) \
                 if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                 local ttl = redis.call('PTTL', KEYS[1]) \
                 if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end \
                 return {n, ttl}",
            ),
            incr: Script::new(
                "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return n",
            ),
            take_unit: Script::new(
                "if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end \
                 if redis.call('GET', KEYS[2]) == ARGV[1] then return 'repeat' end \
                 if tonumber(redis.call('GET', KEYS[1])) <= 0 then return -1 end \
                 redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) \
                 return redis.call('DECR', KEYS[1])",
            ),
            adjust: Script::new(
                "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) else return false end",
            ),
            raise_to: Script::new(
                "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
                 if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end \
                 return 1",
            ),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[async_trait]
impl SharedStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.manager.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        let mut conn = self.manager.clone();
        Ok(conn.get(self.key(key)).await?)
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<()> {
        let mut conn = self.manager.clone();
        let _: () = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        let mut conn = self.manager.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(reply.is_some())
    }

    async fn compare_and_delete(&self, key: &str, expected: &str) -> StoreResult<bool> {
        let mut conn = self.manager.clone();
        let deleted: i64 = self
            .compare_and_delete
            .key(self.key(key))
            .arg(expected)
            .invoke_async(&mut conn)
            .await?;
        Ok(deleted == 1)
    }

    async fn hit(&self, key: &str, window: Duration) -> StoreResult<WindowCount> {
        let mut conn = self.manager.clone();
        let (count, ttl): (u64, i64) = self
            .hit
            .key(self.key(key))
            .arg(millis(window))
            .invoke_async(&mut conn)
            .await?;
        Ok(WindowCount {
            count,
            resets_in: Duration::from_millis(u64::try_from(ttl.max(0)).unwrap_or(0)),
        })
    }
    async fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.manager.clone();
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        Ok(redis::cmd("MGET").arg(keys).query_async(&mut conn).await?)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.manager.clone();
        let _: i64 = conn.del(self.key(key)).await?;
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<i64> {
        let mut conn = self.manager.clone();
        Ok(self
            .incr
            .key(self.key(key))
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await?)
    }

    async fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> StoreResult<()> {
        let mut conn = self.manager.clone();
        let _: i64 = self
            .raise_to
            .key(self.key(key))
            .arg(value)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn adjust(&self, key: &str, delta: i64) -> StoreResult<Option<i64>> {
        let mut conn = self.manager.clone();
        Ok(self
            .adjust
            .key(self.key(key))
            .arg(delta)
            .invoke_async(&mut conn)
            .await?)
    }
    async fn take_unit(
        &self,
        counter: &str,
        marker: &str,
        token: &str,
        ttl: Duration,
    ) -> StoreResult<Unit> {
        let mut conn = self.manager.clone();
        let reply: redis::Value = self
            .take_unit
            .key(self.key(counter))
            .key(self.key(marker))
            .arg(token)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(match reply {
            redis::Value::Int(left) => Unit::Left(left),
            redis::Value::SimpleString(s) if s == "repeat" => Unit::Repeat,
            redis::Value::BulkString(b) if b == b"repeat" => Unit::Repeat,
            _ => Unit::Missing,
        })
    }
}

/// The embedded default: a map guarded by a mutex, expiring lazily.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_entries<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if entries.len() > 10_000 {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        if let Some(key) = entries
            .iter()
            .find(|(_, (_, expires))| *expires <= now)
            .map(|(k, _)| k.clone())
        {
            entries.remove(&key);
        }
        f(&mut entries)
    }
}

fn live(entry: Option<&(String, Instant)>) -> Option<&(String, Instant)> {
    entry.filter(|(_, expires)| *expires > Instant::now())
}

#[async_trait]
impl SharedStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.with_entries(|e| live(e.get(key)).map(|(v, _)| v.clone())))
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<()> {
        self.with_entries(|e| e.insert(key.to_string(), (value.to_string(), Instant::now() + ttl)));
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        Ok(self.with_entries(|e| {
            if live(e.get(key)).is_some() {
                return false;
            }
            e.insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
            true
        }))
    }

    async fn compare_and_delete(&self, key: &str, expected: &str) -> StoreResult<bool> {
        Ok(self.with_entries(|e| match live(e.get(key)) {
            Some((value, _)) if value == expected => e.remove(key).is_some(),
            _ => false,
        }))
    }

    async fn hit(&self, key: &str, window: Duration) -> StoreResult<WindowCount> {
        Ok(self.with_entries(|e| {
            let now = Instant::now();
            let (count, expires) = match live(e.get(key)) {
                Some((count, expires)) => (count.parse::<u64>().unwrap_or(0) + 1, *expires),
                None => (1, now + window),
            };
            e.insert(key.to_string(), (count.to_string(), expires));
            WindowCount {
                count,
                resets_in: expires.saturating_duration_since(now),
            }
        }))
    }
    async fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<String>>> {
        Ok(self.with_entries(|e| {
            keys.iter()
                .map(|k| live(e.get(k)).map(|(v, _)| v.clone()))
                .collect()
        }))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.with_entries(|e| e.remove(key));
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<i64> {
        Ok(self.with_entries(|e| {
            let n = live(e.get(key)).map_or(0, |(v, _)| v.parse::<i64>().unwrap_or(0)) + 1;
            e.insert(key.to_string(), (n.to_string(), Instant::now() + ttl));
            n
        }))
    }

    async fn raise_to(&self, key: &str, value: i64, ttl: Duration) -> StoreResult<()> {
        self.with_entries(|e| {
            let n = live(e.get(key)).map_or(0, |(v, _)| v.parse::<i64>().unwrap_or(0));
            if n < value {
                e.insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
            }
        });
        Ok(())
    }
    async fn adjust(&self, key: &str, delta: i64) -> StoreResult<Option<i64>> {
        Ok(self.with_entries(|e| {
            let (value, expires) = live(e.get(key)).cloned()?;
            let n = value.parse::<i64>().unwrap_or(0) + delta;
            e.insert(key.to_string(), (n.to_string(), expires));
            Some(n)
        }))
    }
    async fn take_unit(
        &self,
        counter: &str,
        marker: &str,
        token: &str,
        ttl: Duration,
    ) -> StoreResult<Unit> {
        Ok(self.with_entries(|e| {
            let Some((value, expires)) = live(e.get(counter)).cloned() else {
                return Unit::Missing;
            };
            if live(e.get(marker)).is_some_and(|(held, _)| held == token) {
                return Unit::Repeat;
            }
            let left = value.parse::<i64>().unwrap_or(0);
            if left <= 0 {
                return Unit::Left(-1);
            }
            e.insert(
                marker.to_string(),
                (token.to_string(), Instant::now() + ttl),
            );
            e.insert(counter.to_string(), ((left - 1).to_string(), expires));
            Unit::Left(left - 1)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_honours_ttl_and_compare_and_delete() {
        let store = MemoryStore::new();
        store.set("k", "v1", Duration::from_secs(60)).await.unwrap();
        assert!(
            !store
                .set_if_absent("k", "v2", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(!store.compare_and_delete("k", "other").await.unwrap());
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some("v1"));
        assert!(store.compare_and_delete("k", "v1").await.unwrap());
        assert_eq!(store.get("k").await.unwrap(), None);
        store
            .set("short", "x", Duration::from_millis(20))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(store.get("short").await.unwrap(), None);
    }

    #[tokio::test]
    async fn memory_store_counts_hits_in_a_window() {
        let store = MemoryStore::new();
        for expected in 1..=3 {
            let count = store.hit("rl", Duration::from_secs(60)).await.unwrap();
            assert_eq!(count.count, expected);
            assert!(count.resets_in <= Duration::from_secs(60));
        }
    }

    #[tokio::test]
    async fn units_are_taken_once_per_token_and_only_from_an_existing_counter() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        assert_eq!(
            store.take_unit("c", "m:a", "t1", ttl).await.unwrap(),
            Unit::Missing
        );
        assert_eq!(store.adjust("c", 1).await.unwrap(), None, "nothing created");
        store.set("c", "1", ttl).await.unwrap();
        let table = [
            ("m:a", "t1", Unit::Left(0)),
            ("m:a", "t1", Unit::Repeat),
            ("m:a", "t2", Unit::Left(-1)),
            ("m:b", "t1", Unit::Left(-1)),
        ];
        for (marker, token, expected) in table {
            assert_eq!(
                store.take_unit("c", marker, token, ttl).await.unwrap(),
                expected
            );
        }
        // Refusals took nothing: a unit given back is one seat again.
        assert_eq!(store.adjust("c", 1).await.unwrap(), Some(1));
    }
}
