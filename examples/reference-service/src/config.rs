//! Configuration, from the environment only.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::defects::Defects;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[error("bad configuration: {0}")]
pub struct ConfigError(pub String);

/// Every setting of the service. Variables (defaults in brackets):
///
/// | variable | meaning |
/// |---|---|
/// | `DATABASE_URL` | PostgreSQL, `postgres://user:pw@host:port/db` (required) |
/// | `REDIS_URL` | Redis, `redis://host:port/` (unset: no cache) |
/// | `BIND_ADDR` | listen address [`127.0.0.1:8080`] |
/// | `DB_POOL_SIZE` | connections in the pool [16] |
/// | `DB_ACQUIRE_TIMEOUT_MS` | wait for a pooled connection [2000] |
/// | `DB_QUERY_TIMEOUT_MS` | one query [2000] |
/// | `RATE_LIMIT_PER_MINUTE` | requests per client token (or address) per minute [1000] |
/// | `WRITE_TOKENS` / `READ_TOKENS` | comma-separated bearer tokens [`write-token` / `read-token`] |
/// | `CORS_ALLOWED_ORIGINS` | comma-separated origins allowed by CORS [none] |
/// | `BODY_LIMIT_BYTES` | largest request body [16384] |
/// | `BREAKER_FAILURES` / `BREAKER_OPEN_MS` / `BREAKER_SUCCESSES` | Redis circuit breaker [5 / 2000 / 2] |
/// | `CACHE_TIMEOUT_MS` / `CACHE_TTL_SECS` | one cache call / entry lifetime [100 / 60] |
/// | `STARTUP_TIMEOUT_SECS` | how long to wait for PostgreSQL at start [60] |
/// | `SHUTDOWN_GRACE_SECS` | how long SIGTERM waits for in-flight requests [30] |
/// | `REFERENCE_DEFECT` | comma-separated defects to switch on (see [`crate::defects`]) |
/// | `REFERENCE_DEBUG_ENDPOINTS` | `1` adds `GET /debug/sleep?ms=N` (drain tests) |
/// | `RUST_LOG` | log filter [`info`]; logs are JSON lines on stdout |
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub bind: SocketAddr,
    pub db_pool_size: usize,
    pub db_acquire_timeout: Duration,
    pub db_query_timeout: Duration,
    pub rate_limit_per_minute: u32,
    pub write_tokens: HashSet<String>,
    pub read_tokens: HashSet<String>,
    pub cors_allowed_origins: Vec<String>,
    pub body_limit_bytes: usize,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
    pub breaker_successes: u32,
    pub cache_timeout: Duration,
    pub cache_ttl_secs: u64,
    pub startup_timeout: Duration,
    pub shutdown_grace: Duration,
    pub defects: Defects,
    pub debug_endpoints: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let num = |key: &str, default: u64| -> Result<u64, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| {
                    ConfigError(format!(
                        "{key}={v:?} is not a whole number (default {default})"
                    ))
                }),
            }
        };
        let list = |key: &str, default: &str| -> HashSet<String> {
            get(key)
                .unwrap_or_else(|| default.to_owned())
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let database_url = get("DATABASE_URL")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConfigError(
                    "DATABASE_URL is not set; set it to postgres://user:password@host:5432/db"
                        .into(),
                )
            })?;
        let bind = get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind.parse().map_err(|_| {
            ConfigError(format!(
                "BIND_ADDR={bind:?} is not an address like 127.0.0.1:8080"
            ))
        })?;
        let rate = num("RATE_LIMIT_PER_MINUTE", 1000)?;
        if rate == 0 || rate > u64::from(u32::MAX) {
            return Err(ConfigError(format!(
                "RATE_LIMIT_PER_MINUTE={rate} must be between 1 and {}",
                u32::MAX
            )));
        }
        let pool = num("DB_POOL_SIZE", 16)?;
        if pool == 0 {
            return Err(ConfigError("DB_POOL_SIZE must be at least 1".into()));
        }
        let ms = |key: &str, default: u64| num(key, default).map(Duration::from_millis);
        let secs = |key: &str, default: u64| num(key, default).map(Duration::from_secs);
        let defects = Defects::parse(get("REFERENCE_DEFECT").as_deref().unwrap_or(""))
            .map_err(|e| ConfigError(format!("REFERENCE_DEFECT: {e}")))?;
        Ok(Config {
            database_url,
            redis_url: get("REDIS_URL").filter(|s| !s.is_empty()),
            bind,
            db_pool_size: pool as usize,
            db_acquire_timeout: ms("DB_ACQUIRE_TIMEOUT_MS", 2000)?,
            db_query_timeout: ms("DB_QUERY_TIMEOUT_MS", 2000)?,
            rate_limit_per_minute: rate as u32,
            write_tokens: list("WRITE_TOKENS", "write-token"),
            read_tokens: list("READ_TOKENS", "read-token"),
            cors_allowed_origins: list("CORS_ALLOWED_ORIGINS", "").into_iter().collect(),
            body_limit_bytes: num("BODY_LIMIT_BYTES", 16 * 1024)? as usize,
            breaker_failures: num("BREAKER_FAILURES", 5)?.max(1) as u32,
            breaker_open: ms("BREAKER_OPEN_MS", 2000)?,
            breaker_successes: num("BREAKER_SUCCESSES", 2)?.max(1) as u32,
            cache_timeout: ms("CACHE_TIMEOUT_MS", 100)?,
            cache_ttl_secs: num("CACHE_TTL_SECS", 60)?.max(1),
            startup_timeout: secs("STARTUP_TIMEOUT_SECS", 60)?,
            shutdown_grace: secs("SHUTDOWN_GRACE_SECS", 30)?,
            defects,
            debug_endpoints: get("REFERENCE_DEBUG_ENDPOINTS").as_deref() == Some("1"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_errors() {
        let c = from(&[("DATABASE_URL", "postgres://u:p@127.0.0.1/db")]).expect("valid");
        assert_eq!(c.rate_limit_per_minute, 1000);
        assert!(c.write_tokens.contains("write-token"));
        assert!(c.cors_allowed_origins.is_empty());
        let e =
            |pairs: &[(&str, &str)]| from(pairs).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e(&[]).contains("DATABASE_URL is not set"));
        assert!(
            e(&[("DATABASE_URL", "x"), ("DB_POOL_SIZE", "many")])
                .contains("DB_POOL_SIZE=\"many\" is not a whole number")
        );
        assert!(
            e(&[
                ("DATABASE_URL", "x"),
                ("REFERENCE_DEFECT", "slow_search,bogus")
            ])
            .contains("unknown defect \"bogus\"")
        );
    }
}
