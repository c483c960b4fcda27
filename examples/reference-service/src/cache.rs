//! A read-through Redis cache behind a circuit breaker: while the breaker is open, reads go
//! straight to PostgreSQL (graceful degradation).

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use crate::breaker::{Breaker, State};
use crate::db::Order;
use crate::metrics::Metrics;

/// What a cache read found.
#[derive(Debug)]
pub enum Lookup {
    /// The order was cached.
    Hit(Order),
    /// Not cached (or not parseable).
    Miss,
    /// The cache was not asked: disabled, or the breaker is open.
    Bypass,
}

/// The Redis cache.
#[derive(Clone)]
pub struct Cache {
    client: Option<redis::Client>,
    conn: Arc<Mutex<Option<ConnectionManager>>>,
    pub breaker: Arc<Breaker>,
    timeout: Duration,
    ttl_secs: u64,
    metrics: Arc<Metrics>,
}

impl Cache {
    /// A cache for `url` (`None`: no cache, every lookup bypasses).
    pub fn new(
        url: Option<&str>,
        breaker: Breaker,
        timeout: Duration,
        ttl_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let client = url
            .map(|u| {
                redis::Client::open(u).map_err(|e| format!("REDIS_URL is not a Redis URL: {e}"))
            })
            .transpose()?;
        Ok(Cache {
            client,
            conn: Arc::new(Mutex::new(None)),
            breaker: Arc::new(breaker),
            timeout,
            ttl_secs,
            metrics,
        })
    }

    /// Whether a Redis URL was configured.
    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    /// The connection, opened on first use (so a Redis that is down at start is not fatal).
    async fn connection(&self) -> Result<ConnectionManager, String> {
        let Some(client) = &self.client else {
            return Err("no cache configured".into());
        };
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout * 5)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let c = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| e.to_string())?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Runs one Redis call through the breaker with the cache timeout.
    async fn call<T>(
        &self,
        f: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Option<Result<T, String>> {
        if !self.enabled() || !self.breaker.allow() {
            return None;
        }
        let result = tokio::time::timeout(self.timeout, async {
            let conn = self.connection().await?;
            f(conn).await.map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        match &result {
            Ok(_) => self.breaker.success(),
            Err(e) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(error = %e, breaker = self.breaker.state().name(), "redis call failed");
                self.breaker.failure();
            }
        }
        Some(result)
    }

    /// Looks an order up.
    pub async fn get(&self, id: i64) -> Lookup {
        match self
            .call(async move |mut c| c.get::<_, Option<String>>(key(id)).await)
            .await
        {
            None => Lookup::Bypass,
            Some(Ok(Some(json))) => match serde_json::from_str(&json) {
                Ok(order) => {
                    self.metrics.cache_hits.inc();
                    Lookup::Hit(order)
                }
                Err(_) => {
                    self.metrics.cache_misses.inc();
                    Lookup::Miss
                }
            },
            Some(Ok(None)) | Some(Err(_)) => {
                self.metrics.cache_misses.inc();
                Lookup::Miss
            }
        }
    }

    /// Stores an order (best effort).
    pub async fn put(&self, order: &Order) {
        let Ok(json) = serde_json::to_string(order) else {
            return;
        };
        let (id, ttl) = (order.id, self.ttl_secs);
        let _ = self
            .call(async move |mut c| c.set_ex::<_, _, ()>(key(id), json, ttl).await)
            .await;
    }

    /// `PING`, through the breaker (for readiness details).
    pub async fn ping(&self) -> Option<Result<(), String>> {
        self.call(async |mut c| {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }

    /// The breaker state.
    pub fn state(&self) -> State {
        self.breaker.state()
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("enabled", &self.enabled())
            .field("breaker", &self.breaker)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn key(id: i64) -> String {
    format!("order:{id}")
}
