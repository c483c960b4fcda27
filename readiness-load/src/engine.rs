//! The engine: runs a transaction under a [`Model`] and measures it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};

use readiness_core::{Error, Percentile, Result};

use crate::metrics::{ErrorClass, Metrics, percentile};
use crate::schedule::Model;

/// A load to run: the model, a name for the transaction, bounds.
#[derive(Debug, Clone)]
#[must_use]
pub struct Load {
    model: Model,
    name: String,
    target: Option<String>,
    max_in_flight: usize,
    drain: Duration,
}

impl Load {
    /// A load of `model`, transaction named `name`.
    pub fn new(name: impl Into<String>, model: Model) -> Self {
        Load {
            model,
            name: name.into(),
            target: None,
            max_in_flight: 10_000,
            drain: Duration::from_secs(10),
        }
    }
    /// What the transaction targets, for evidence ("GET http://127.0.0.1:8080/orders/1").
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    /// Most iterations running at once in the open model (default 10,000); an iteration
    /// due while this many run is not started and is counted in `not_started`. This bounds
    /// memory when the target stalls.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// How long to wait at the end for iterations still running (default 10 s); those
    /// still running then count as unfinished (timeouts).
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }
    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs `transaction` (called with the iteration number) under the model.
    pub async fn run<F, Fut>(&self, transaction: F) -> Result<Report>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), ErrorClass>> + Send + 'static,
    {
        let transaction = Arc::new(transaction);
        let started_at = OffsetDateTime::now_utc();
        let start = Instant::now();
        let metrics = match &self.model {
            Model::Open { .. } => self.run_open(transaction, start).await?,
            Model::Closed { users, duration } => {
                self.run_closed(transaction, start, *users, *duration).await
            }
        };
        Ok(Report {
            name: self.name.clone(),
            scenario: self.model.to_string(),
            target: self.target.clone(),
            started_at,
            elapsed: start.elapsed(),
            metrics,
        })
    }

    async fn run_open<F, Fut>(&self, transaction: Arc<F>, start: Instant) -> Result<Metrics>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), ErrorClass>> + Send + 'static,
    {
        let schedule = self
            .model
            .schedule()
            .ok_or_else(|| Error::Other("not an open model".into()))?;
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let (tx, mut rx) =
            mpsc::unbounded_channel::<(Duration, Duration, std::result::Result<(), ErrorClass>)>();
        let collector = tokio::spawn(async move {
            let mut m = Metrics::default();
            while let Some((at, latency, outcome)) = rx.recv().await {
                m.record(at, latency, &outcome);
            }
            m
        });
        let mut lags = Metrics::default();
        let mut not_started = Vec::new();
        let mut i = 0u64;
        while let Some(at) = schedule.intended(i) {
            let due = start + at;
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            lags.record_lag(Instant::now().saturating_duration_since(due));
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (t, tx) = (transaction.clone(), tx.clone());
                    tokio::spawn(async move {
                        let outcome = t(i).await;
                        // Coordinated omission corrected: from the intended start.
                        let _ = tx.send((at, due.elapsed(), outcome));
                        drop(permit);
                    });
                }
                Err(_) => not_started.push(at),
            }
            i += 1;
        }
        drop(tx);
        let drained = tokio::time::timeout(self.drain, async {
            let _ = permits.acquire_many(self.max_in_flight as u32).await;
        })
        .await
        .is_ok();
        let running = self.max_in_flight - permits.available_permits();
        let mut metrics = if drained {
            collector
                .await
                .map_err(|e| Error::Other(format!("collector failed: {e}")))?
        } else {
            // Iterations still running hold a sender: stop waiting for them.
            collector.abort();
            Metrics::default()
        };
        if !drained {
            tracing::warn!(
                running,
                "load drain time over with iterations still running"
            );
        }
        metrics.unfinished = if drained { 0 } else { running as u64 };
        metrics.lag = lags.lag;
        metrics.not_started = not_started.len() as u64;
        for at in not_started {
            // Never silently skipped: an iteration that could not start is an error.
            metrics.record_not_started(at);
        }
        Ok(metrics)
    }

    async fn run_closed<F, Fut>(
        &self,
        transaction: Arc<F>,
        start: Instant,
        users: usize,
        duration: Duration,
    ) -> Metrics
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), ErrorClass>> + Send + 'static,
    {
        let end = start + duration;
        let mut tasks = Vec::with_capacity(users);
        for user in 0..users {
            let t = transaction.clone();
            tasks.push(tokio::spawn(async move {
                let mut m = Metrics::default();
                let mut n = 0u64;
                while Instant::now() < end && n < crate::schedule::MAX_ITERATIONS {
                    let began = Instant::now();
                    let outcome = t(n * users as u64 + user as u64).await;
                    m.record(began - start, began.elapsed(), &outcome);
                    n += 1;
                }
                m
            }));
        }
        let mut total = Metrics::default();
        for task in tasks {
            match tokio::time::timeout(self.drain + duration, task).await {
                Ok(Ok(m)) => total.merge(&m),
                _ => total.unfinished += 1,
            }
        }
        total
    }
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The transaction's name.
    pub name: String,
    /// The model, in words ("constant arrival rate 200/s for 30s").
    pub scenario: String,
    /// What was targeted.
    pub target: Option<String>,
    /// When the run started.
    pub started_at: OffsetDateTime,
    /// How long it took, drain included.
    pub elapsed: Duration,
    /// The measurements.
    pub metrics: Metrics,
}

impl Report {
    /// Latency at percentile `p` over the whole run.
    pub fn percentile(&self, p: Percentile) -> Duration {
        percentile(&self.metrics.total().latency, p)
    }
    /// Finished iterations, successful or not.
    pub fn requests(&self) -> u64 {
        let t = self.metrics.total();
        t.ok + t.error_count()
    }
    /// Failed iterations (not-started ones included).
    pub fn errors(&self) -> u64 {
        self.metrics.total().error_count() + self.metrics.unfinished
    }
    /// errors / (requests + unfinished).
    pub fn error_rate(&self) -> f64 {
        let all = self.requests() + self.metrics.unfinished;
        if all == 0 {
            0.0
        } else {
            self.errors() as f64 / all as f64
        }
    }
    /// Successful iterations per second over the load's duration.
    pub fn throughput(&self, duration: Duration) -> f64 {
        self.metrics.total().ok as f64 / duration.as_secs_f64().max(1e-9)
    }
    /// "p95 812.4ms (p50 41ms, p99 1.92s, max 2.31s; 12,004 requests, 0.8% errors)".
    pub fn summary(&self, headline: Percentile) -> String {
        let t = self.metrics.total();
        let d = |x: Duration| readiness_core::Quantity::duration(x).to_string();
        let mut errors: Vec<String> = t.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
        if self.metrics.unfinished > 0 {
            errors.push(format!("{} unfinished", self.metrics.unfinished));
        }
        let classes = if errors.is_empty() {
            String::new()
        } else {
            format!(": {}", errors.join(", "))
        };
        format!(
            "{headline} {}  (p50 {}, p99 {}, max {}; {} requests, {} errors{classes})",
            d(percentile(&t.latency, headline)),
            d(percentile(&t.latency, Percentile::P50)),
            d(percentile(&t.latency, Percentile::P99)),
            d(Duration::from_micros(t.latency.max())),
            readiness_core::Quantity::count(self.requests()),
            readiness_core::Quantity::ratio(self.error_rate()),
        )
    }
}
