//! # reference-service
//!
//! A small but real orders service for the readiness harness to judge: HTTP API on axum,
//! PostgreSQL for data (migrations at start, a pool with a size and an acquire timeout),
//! Redis as a read-through cache behind a circuit breaker, `/health/live` and
//! `/health/ready`, Prometheus `/metrics`, JSON logs with request ids, per-token rate
//! limiting, token auth on writes, restrictive CORS, a body size limit, configuration by
//! environment ([`config::Config`]), and a SIGTERM drain. It has deliberate defects that
//! are off by default ([`defects`]).
//!
//! Run it as a process:
//!
//! ```sh
//! DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/ \
//!   cargo run -p reference-service
//! ```
//!
//! or as a container (`READINESS_IMAGE_REFERENCE`, built by `images/build.sh reference`)
//! next to its dependencies with [`stack::Stack`].
//!
//! | route | what |
//! |---|---|
//! | `POST /orders` | create (`Authorization: Bearer <write token>`; 401 without, 403 read-only) |
//! | `GET /orders/{id}` | one order, read through the cache (`x-cache: hit/miss/bypass`) |
//! | `GET /orders?after=&limit=` | a page, keyset pagination (`next_after`) |
//! | `GET /orders/search?customer=` | by customer (the indexed column) |
//! | `GET /health/live`, `GET /health/ready` | liveness; readiness (PostgreSQL answers; Redis down = `degraded`) |
//! | `GET /metrics` | Prometheus text |
//! | `GET /openapi.json` | the OpenAPI 3.0.3 description of these routes ([`app::openapi`]) |
//!
//! `/health/*`, `/metrics` and `/openapi.json` are not rate limited. Token values are never
//! logged (only how many there are), unless the `logs_token` defect is on.
//!
//! Logs are JSON lines on stdout with the request id; traces go to an OTLP/HTTP collector
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set ([`telemetry`]).

pub mod app;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod db;
pub mod defects;
pub mod metrics;
#[cfg(feature = "stack")]
pub mod stack;
pub mod telemetry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::db::Store;

/// Why the service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A dependency could not be reached at start.
    #[error("failed to start: {0}")]
    Startup(String),
    /// The listener failed.
    #[error("server error: {0}")]
    Serve(String),
}

/// Connects, migrates, serves until SIGTERM or Ctrl-C, then drains.
pub async fn run(config: Config) -> Result<(), ServiceError> {
    let config = Arc::new(config);
    tracing::info!(defects = %config.defects, bind = %config.bind, "starting");
    log_auth(&config);
    let pool = db::pool(&config).map_err(ServiceError::Startup)?;
    let store = Store {
        pool,
        query_timeout: config.db_query_timeout,
        leak_on_timeout: config.defects.has("pool_leak"),
    };
    wait_for_postgres(&config, &store).await?;
    db::migrate(&store.pool, config.defects.has("slow_search"))
        .await
        .map_err(|e| ServiceError::Startup(format!("migrations failed: {e}")))?;
    if config.defects.has("slow_start") {
        // A warm-up done before listening, as a service that loads everything at start.
        tracing::warn!(
            seconds = defects::SLOW_START.as_secs(),
            "warming up before listening (defect slow_start)"
        );
        tokio::time::sleep(defects::SLOW_START).await;
    }

    let metrics = Arc::new(metrics::Metrics::new(config.defects.has("missing_metric")));
    let breaker = breaker::Breaker::new(
        config.breaker_failures,
        config.breaker_open,
        config.breaker_successes,
    );
    let cache = cache::Cache::new(
        config.redis_url.as_deref(),
        breaker,
        config.cache_timeout,
        config.cache_ttl_secs,
        metrics.clone(),
    )
    .map_err(ServiceError::Startup)?;
    let (write_buffer, writer) = if config.defects.has("unacked_write_loss") {
        let (tx, rx) = mpsc::channel(10_000);
        (
            Some(tx),
            Some(tokio::spawn(delayed_writer(store.clone(), rx))),
        )
    } else {
        (None, None)
    };
    let state = app::AppState::new(config.clone(), store, cache, metrics, write_buffer);
    let app = app::router(state);

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| ServiceError::Startup(format!("cannot listen on {}: {e}", config.bind)))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServiceError::Serve(e.to_string()))?;
    let debug = if config.defects.has("debug_port") {
        serve_debug_port(&config).await
    } else {
        None
    };
    tracing::info!(addr = %local, "listening");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop_rx.changed().await;
    });
    let server = tokio::spawn(async move { server.await });
    let signal = shutdown_signal().await;
    if config.defects.has("no_graceful_drain") {
        tracing::warn!(signal, "exiting at once (defect no_graceful_drain)");
        std::process::exit(0);
    }
    tracing::info!(
        signal,
        grace_secs = config.shutdown_grace.as_secs(),
        "draining in-flight requests"
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(config.shutdown_grace, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("drained; bye"),
        Ok(Ok(Err(e))) => return Err(ServiceError::Serve(e.to_string())),
        Ok(Err(e)) => return Err(ServiceError::Serve(e.to_string())),
        Err(_) => tracing::warn!("grace period over with requests still in flight"),
    }
    if let Some(writer) = writer {
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }
    if let Some(debug) = debug {
        debug.abort();
    }
    Ok(())
}

/// Says how auth is configured: how many tokens, never their values; with the
/// `logs_token` defect, the values themselves, as a careless service does.
fn log_auth(config: &Config) {
    if config.defects.has("logs_token") {
        let joined = |tokens: &std::collections::HashSet<String>| {
            let mut v: Vec<&str> = tokens.iter().map(String::as_str).collect();
            v.sort_unstable();
            v.join(",")
        };
        tracing::info!(
            write_tokens = %joined(&config.write_tokens),
            read_tokens = %joined(&config.read_tokens),
            "auth configured"
        );
    } else {
        tracing::info!(
            write_tokens = config.write_tokens.len(),
            read_tokens = config.read_tokens.len(),
            "auth configured"
        );
    }
}

/// The `debug_port` defect: a second listener on [`defects::DEBUG_PORT`] of the
/// `BIND_ADDR` address serving [`app::debug_router`]; the task ends with the process. A
/// port already taken is logged, not fatal.
async fn serve_debug_port(config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    let addr = std::net::SocketAddr::new(config.bind.ip(), defects::DEBUG_PORT);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %addr, error = %e, "cannot listen on the debug port (defect debug_port)");
            return None;
        }
    };
    tracing::warn!(addr = %addr, "debug endpoints listening (defect debug_port)");
    let app = app::debug_router(config);
    Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "debug listener failed");
        }
    }))
}

/// Waits for PostgreSQL with backoff until the startup timeout; with the
/// `crash_on_slow_dependency` defect, one short attempt and out.
async fn wait_for_postgres(config: &Config, store: &Store) -> Result<(), ServiceError> {
    if config.defects.has("crash_on_slow_dependency") {
        let quick = tokio::time::timeout(Duration::from_secs(1), store.ping()).await;
        return match quick {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServiceError::Startup(format!(
                "postgres not ready (defect crash_on_slow_dependency): {e}"
            ))),
            Err(_) => Err(ServiceError::Startup(
                "postgres not ready within 1s (defect crash_on_slow_dependency)".into(),
            )),
        };
    }
    let deadline = Instant::now() + config.startup_timeout;
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .with_max_times(1000);
    (|| async {
        let result = store.ping().await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "waiting for postgres");
        }
        result
    })
    .retry(policy)
    .when(|_| Instant::now() < deadline)
    .await
    .map_err(|e| {
        ServiceError::Startup(format!(
            "postgres not reachable within {:?}: {e}",
            config.startup_timeout
        ))
    })
}

/// The `unacked_write_loss` defect: orders already acknowledged are written a second later.
async fn delayed_writer(store: Store, mut rx: mpsc::Receiver<db::Order>) {
    let mut batch = Vec::new();
    loop {
        let closed = tokio::select! {
            got = rx.recv() => match got { Some(o) => { batch.push(o); false } None => true },
            _ = tokio::time::sleep(Duration::from_secs(1)) => false,
        };
        if !batch.is_empty() && (closed || batch.len() >= 1000 || rx.is_empty()) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            while let Ok(o) = rx.try_recv() {
                batch.push(o);
            }
            if let Err(e) = store.insert_with_ids(&batch).await {
                tracing::error!(error = %e, lost = batch.len(), "buffered writes failed");
            }
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

/// Resolves with the signal's name on SIGTERM or Ctrl-C.
async fn shutdown_signal() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => "SIGTERM",
    }
}
