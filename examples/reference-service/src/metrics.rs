//! Prometheus metrics with the conventional names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

/// Labels of `http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Labels of the pool gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: String,
}

/// Labels of the breaker gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub pool: Family<PoolLabels, Gauge>,
    pub pool_max: Gauge,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_errors: Counter,
    pub breaker: Family<DependencyLabels, Gauge>,
    pub resident_memory: Gauge,
}

impl Metrics {
    /// All metrics, registered; with `missing_metric`, `http_requests_total` is counted
    /// but never registered, so it is never exported.
    pub fn new(missing_metric: bool) -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            pool: Family::default(),
            pool_max: Gauge::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_errors: Counter::default(),
            breaker: Family::default(),
            resident_memory: Gauge::default(),
        };
        if !missing_metric {
            registry.register(
                "http_requests",
                "HTTP requests by method, route and status",
                m.requests.clone(),
            );
        }
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            m.durations.clone(),
        );
        registry.register(
            "db_pool_connections",
            "PostgreSQL pool connections by state",
            m.pool.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "PostgreSQL pool size",
            m.pool_max.clone(),
        );
        registry.register(
            "cache_hits",
            "Order reads answered by Redis",
            m.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Order reads Redis did not have",
            m.cache_misses.clone(),
        );
        registry.register(
            "cache_errors",
            "Redis calls that failed or timed out",
            m.cache_errors.clone(),
        );
        registry.register(
            "circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            m.breaker.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the service process",
            m.resident_memory.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Resident memory of this process, from /proc/self/statm (0 where unavailable).
pub fn resident_memory_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
