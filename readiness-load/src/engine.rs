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
    abort: Option<AbortRule>,
    shard: Option<Shard>,
    timer: crate::Timer,
}

/// When a run stops early because a threshold is already lost (k6's `abortOnFail`).
/// Judged at the end of every second of the run, on the seconds finished so far.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AbortRule {
    /// Stop when the error rate of the last `window` seconds is over `max_ratio`
    /// (with at least `min_requests` finished in the window).
    ErrorRateOver {
        /// The ratio, 0.01 = 1%.
        max_ratio: f64,
        /// Seconds judged together.
        window: u32,
        /// Fewer requests than this in the window never abort.
        min_requests: u64,
    },
    /// Stop when the percentile `q` of the last `window` seconds is over `limit`.
    PercentileOver {
        /// The percentile (95.0 = p95).
        q: Percentile,
        /// The limit.
        limit: Duration,
        /// Seconds judged together.
        window: u32,
    },
}

impl AbortRule {
    /// Why the run should stop, judged on the completed `seconds` (none: keep going).
    pub fn breached(&self, seconds: &[crate::metrics::Second]) -> Option<String> {
        let last = |w: u32| {
            let w = (w as usize).max(1);
            let from = seconds.len().saturating_sub(w);
            let mut t = crate::metrics::Second::default();
            for s in &seconds[from..] {
                t.absorb(s);
            }
            (seconds.len(), t)
        };
        match *self {
            AbortRule::ErrorRateOver {
                max_ratio,
                window,
                min_requests,
            } => {
                let (n, t) = last(window);
                let all = t.ok + t.error_count();
                let rate = if all == 0 {
                    0.0
                } else {
                    t.error_count() as f64 / all as f64
                };
                (all >= min_requests.max(1) && rate > max_ratio).then(|| {
                    format!(
                        "error rate {} over {} in seconds {}..{}",
                        readiness_core::Quantity::ratio(rate),
                        readiness_core::Quantity::ratio(max_ratio),
                        n.saturating_sub(window as usize),
                        n
                    )
                })
            }
            AbortRule::PercentileOver { q, limit, window } => {
                let (n, t) = last(window);
                let latency = t.latency();
                let observed = percentile(&latency, q);
                (!latency.is_empty() && observed > limit).then(|| {
                    format!(
                        "{q} {} over {} in seconds {}..{}",
                        readiness_core::Quantity::duration(observed),
                        readiness_core::Quantity::duration(limit),
                        n.saturating_sub(window as usize),
                        n
                    )
                })
            }
        }
    }
}

/// One shard of a load split across processes or machines: `index` of `count`, 1-based
/// (`READINESS_SHARD=2/4`). Shard i takes every count-th arrival of the open model's
/// schedule (so the shards together follow it exactly) or its share of the virtual users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Parses `i/n` with 1 <= i <= n.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::InvalidInput(format!(
                "READINESS_SHARD={text:?} must be i/n with 1 <= i <= n, e.g. 2/4"
            ))
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard from `READINESS_SHARD` (or `[settings]` in readiness.toml), if set.
    pub fn from_settings() -> Result<Option<Shard>> {
        readiness_core::settings::get("READINESS_SHARD")?
            .filter(|s| !s.is_empty())
            .map(|s| Shard::parse(&s))
            .transpose()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
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
            abort: None,
            shard: None,
            timer: crate::Timer::Tokio,
        }
    }
    /// How the open model waits for each start time (default [`crate::Timer::Tokio`];
    /// [`crate::Timer::Fine`] for sub-millisecond scheduling lag).
    pub fn with_timer(mut self, timer: crate::Timer) -> Self {
        self.timer = timer;
        self
    }
    /// Stops the run early when `rule` is breached (the report says why).
    pub fn with_abort_on(mut self, rule: AbortRule) -> Self {
        self.abort = Some(rule);
        self
    }
    /// Runs only this shard of the load (see [`Shard`]); [`Load::run`] also reads
    /// `READINESS_SHARD` when no shard is set here.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
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
        let tagged = move |i: u64| {
            let f = transaction(i);
            async move { (0usize, f.await) }
        };
        self.run_tagged(tagged, vec![self.name.clone()], Arc::new(|_| 0))
            .await
    }

    /// Runs a [`Mix`] of named transactions: iteration i runs the transaction its weight
    /// picks; the report has the metrics of each name ([`Report::transaction`]) and their
    /// total.
    pub async fn run_mix(&self, mix: Mix) -> Result<Report> {
        if mix.entries.is_empty() {
            return Err(Error::InvalidInput(
                "a mix needs at least one transaction".into(),
            ));
        }
        let names: Vec<String> = mix.entries.iter().map(|e| e.0.clone()).collect();
        let weights: Vec<u64> = mix.entries.iter().map(|e| u64::from(e.1)).collect();
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return Err(Error::InvalidInput(
                "the weights of a mix add up to zero".into(),
            ));
        }
        let pick = Arc::new(move |i: u64| {
            let mut k = i % total;
            for (idx, w) in weights.iter().enumerate() {
                if k < *w {
                    return idx;
                }
                k -= w;
            }
            0
        });
        let chooser = pick.clone();
        let entries: Vec<MixTransaction> = mix.entries.into_iter().map(|e| e.2).collect();
        let tagged = move |i: u64| {
            let idx = chooser(i);
            let f = entries[idx](i);
            async move { (idx, f.await) }
        };
        self.run_tagged(tagged, names, pick).await
    }

    async fn run_tagged<F, Fut>(
        &self,
        transaction: F,
        names: Vec<String>,
        pick: Picker,
    ) -> Result<Report>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (usize, crate::metrics::Outcome)> + Send + 'static,
    {
        let transaction = Arc::new(transaction);
        let parts = names.len();
        let shard = match self.shard {
            Some(s) => Some(s),
            None => Shard::from_settings()?,
        };
        let started_at = OffsetDateTime::now_utc();
        let start = Instant::now();
        let abort = Arc::new(std::sync::Mutex::new(None::<String>));
        let (metrics, by_name) = match &self.model {
            Model::Open { .. } => {
                self.run_open(transaction, start, shard, abort.clone(), parts, pick)
                    .await?
            }
            closed => {
                let users = closed.max_users();
                let (share, first) = match shard {
                    Some(s) => shard_users(users as u64, s),
                    None => (users as u64, 0),
                };
                if share == 0 {
                    return Err(Error::InvalidInput(format!(
                        "shard {} of {users} virtual users has none; use fewer shards",
                        shard.map(|s| s.to_string()).unwrap_or_default()
                    )));
                }
                self.run_closed(
                    transaction,
                    start,
                    (share as usize, first),
                    closed.duration(),
                    abort.clone(),
                    parts,
                )
                .await
            }
        };
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!();
        }
        let aborted = abort.lock().map(|a| a.clone()).unwrap_or(None);
        let mut scenario = self.model.to_string();
        if let Some(s) = shard {
            scenario.push_str(&format!(", shard {s}"));
        }
        Ok(Report {
            name: self.name.clone(),
            scenario,
            target: self.target.clone(),
            started_at,
            elapsed: start.elapsed(),
            metrics,
            by_name: names.into_iter().zip(by_name).collect(),
            shard,
            aborted,
        })
    }

    async fn run_open<F, Fut>(
        &self,
        transaction: Arc<F>,
        start: Instant,
        shard: Option<Shard>,
        abort: Arc<std::sync::Mutex<Option<String>>>,
        parts: usize,
        pick: Picker,
    ) -> Result<(Metrics, Vec<Metrics>)>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (usize, crate::metrics::Outcome)> + Send + 'static,
    {
        let schedule = self
            .model
            .schedule()
            .ok_or_else(|| Error::Other("not an open model".into()))?;
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
        let rule = self.abort;
        let flag = abort.clone();
        let name = self.name.clone();
        let collector = tokio::spawn(async move {
            let mut m = Metrics::default();
            let mut by_name = per_name(parts);
            let mut watch = Watch {
                name,
                rule,
                flag,
                start,
                seen: 0,
            };
            while let Some((idx, at, latency, outcome)) = rx.recv().await {
                m.record(at, latency, &outcome);
                if let Some(part) = by_name.get_mut(idx) {
                    part.record(at, latency, &outcome);
                }
                watch.after_record(&m);
            }
            (m, by_name)
        });
        let mut lags = Metrics::default();
        let mut not_started = Vec::new();
        let mut pacer = crate::pace::Pacer::new(self.timer)?;
        let (step, mut i) = match shard {
            Some(s) => (u64::from(s.count), u64::from(s.index - 1)),
            None => (1, 0),
        };
        while let Some(at) = schedule.intended(i) {
            if abort.lock().map(|a| a.is_some()).unwrap_or(false) {
                break;
            }
            let due = start + at;
            pacer.until(due).await;
            lags.record_lag(Instant::now().saturating_duration_since(due));
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (t, tx) = (transaction.clone(), tx.clone());
                    tokio::spawn(async move {
                        let (idx, outcome) = t(i).await;
                        // Coordinated omission corrected: from the intended start.
                        let _ = tx.send((idx, at, due.elapsed(), outcome));
                        drop(permit);
                    });
                }
                Err(_) => not_started.push((pick(i), at)),
            }
            i += step;
        }
        drop(tx);
        let drained = tokio::time::timeout(self.drain, async {
            let _ = permits.acquire_many(self.max_in_flight as u32).await;
        })
        .await
        .is_ok();
        let running = self.max_in_flight - permits.available_permits();
        let (mut metrics, mut by_name): (Metrics, Vec<Metrics>) = if drained {
            collector
                .await
                .map_err(|e| Error::Other(format!("collector failed: {e}")))?
        } else {
            // Iterations still running hold a sender: stop waiting for them.
            collector.abort();
            (Metrics::default(), per_name(parts))
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
        for (idx, at) in not_started {
            // Never silently skipped: an iteration that could not start is an error.
            metrics.record_not_started(at);
            if let Some(part) = by_name.get_mut(idx) {
                part.record_not_started(at);
            }
        }
        Ok((metrics, by_name))
    }

    async fn run_closed<F, Fut>(
        &self,
        transaction: Arc<F>,
        start: Instant,
        (users, first_user): (usize, u64),
        duration: Duration,
        abort: Arc<std::sync::Mutex<Option<String>>>,
        parts: usize,
    ) -> (Metrics, Vec<Metrics>)
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (usize, crate::metrics::Outcome)> + Send + 'static,
    {
        let end = start + duration;
        let mut tasks = Vec::with_capacity(users);
        let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
        for user in 0..users {
            let (t, tx, abort) = (transaction.clone(), tx.clone(), abort.clone());
            let user = first_user + user as u64;
            let model = self.model.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < end && n < crate::schedule::MAX_ITERATIONS {
                    if abort.lock().map(|a| a.is_some()).unwrap_or(false) {
                        break;
                    }
                    // Ramping users: this user waits while the stage has fewer users.
                    if (model.users_at(start.elapsed()) as u64) <= user {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    let began = Instant::now();
                    let (idx, outcome) = t(n * 1_000_000 + user).await;
                    let _ = tx.send((idx, began - start, began.elapsed(), outcome));
                    n += 1;
                }
            }));
        }
        drop(tx);
        let mut total = Metrics::default();
        let mut by_name = per_name(parts);
        let mut watch = Watch {
            name: self.name.clone(),
            rule: self.abort,
            flag: abort.clone(),
            start,
            seen: 0,
        };
        let deadline = tokio::time::Instant::from_std(end + self.drain);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((idx, at, latency, outcome))) => {
                    total.record(at, latency, &outcome);
                    if let Some(part) = by_name.get_mut(idx) {
                        part.record(at, latency, &outcome);
                    }
                    watch.after_record(&total);
                }
                Ok(None) => break,
                Err(_) => {
                    total.unfinished = tasks.iter().filter(|t| !t.is_finished()).count() as u64;
                    break;
                }
            }
        }
        for t in &tasks {
            t.abort();
        }
        (total, by_name)
    }
}

/// Metrics per transaction of a mix; none for a single transaction (its metrics are the
/// total).
fn per_name(parts: usize) -> Vec<Metrics> {
    if parts > 1 {
        (0..parts).map(|_| Metrics::default()).collect()
    } else {
        Vec::new()
    }
}

/// (transaction index, intended start, latency, outcome) of one finished iteration.
type Record = (usize, Duration, Duration, crate::metrics::Outcome);

/// Which transaction of a mix iteration i runs.
type Picker = Arc<dyn Fn(u64) -> usize + Send + Sync>;

/// A transaction of a [`Mix`].
pub type MixTransaction = Box<dyn Fn(u64) -> crate::metrics::BoxedIteration + Send + Sync>;

/// Named transactions with weights, run together by [`Load::run_mix`] (k6's scenarios with
/// several requests, Locust's tasks with weights).
#[derive(Default)]
#[must_use]
pub struct Mix {
    entries: Vec<(String, u32, MixTransaction)>,
}

impl std::fmt::Debug for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.0, e.1)))
            .finish()
    }
}

impl Mix {
    /// An empty mix.
    pub fn new() -> Self {
        Mix::default()
    }
    /// Adds transaction `name` with `weight` (out of the sum of the weights).
    pub fn with<F, Fut>(mut self, name: impl Into<String>, weight: u32, transaction: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::metrics::Outcome> + Send + 'static,
    {
        self.entries.push((
            name.into(),
            weight,
            Box::new(move |i| Box::pin(transaction(i))),
        ));
        self
    }
}

/// Watches a run second by second: the progress line and the abort rule.
struct Watch {
    name: String,
    rule: Option<AbortRule>,
    flag: Arc<std::sync::Mutex<Option<String>>>,
    start: Instant,
    seen: usize,
}

impl Watch {
    /// After each record: when a new second has finished, show it and judge the rule.
    fn after_record(&mut self, m: &Metrics) {
        let done = self.start.elapsed().as_secs() as usize;
        if done <= self.seen || m.seconds.len() < done {
            return;
        }
        self.seen = done;
        progress(&self.name, m, done);
        if let Some(why) = self.rule.and_then(|r| r.breached(&m.seconds[..done]))
            && let Ok(mut a) = self.flag.lock()
        {
            a.get_or_insert(why);
        }
    }
}

/// The live progress line: on stderr when it is a terminal, nothing otherwise.
fn progress(name: &str, m: &Metrics, done: usize) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal()
        && let Some(line) = progress_line(name, m, done)
    {
        eprint!("\r\x1b[2K{line}");
    }
}

/// "get_order 12s  200/s  p95 41ms  errors 0%" for the last finished second.
pub(crate) fn progress_line(name: &str, m: &Metrics, done: usize) -> Option<String> {
    let last = done.checked_sub(1).and_then(|i| m.seconds.get(i))?;
    let all = last.ok + last.error_count();
    let errors = if all == 0 {
        0.0
    } else {
        last.error_count() as f64 / all as f64
    };
    Some(format!(
        "{name} {done}s  {all}/s  p95 {}  errors {}",
        readiness_core::Quantity::duration(percentile(&last.latency(), Percentile::P95)),
        readiness_core::Quantity::ratio(errors)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_rate_p95_and_errors_of_the_last_second() {
        let mut m = Metrics::default();
        for i in 0..200u64 {
            let outcome = if i < 2 {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            };
            m.record(
                Duration::from_millis(11_000 + i),
                Duration::from_millis(40),
                &outcome,
            );
        }
        assert_eq!(
            progress_line("get_order", &m, 12).as_deref(),
            Some("get_order 12s  200/s  p95 40ms  errors 1%")
        );
        assert_eq!(progress_line("get_order", &m, 0), None);
    }
}

/// Shard `s`'s share of `users` virtual users and the number of its first user.
pub fn shard_users(users: u64, s: Shard) -> (u64, u64) {
    let (n, i, k) = (users, u64::from(s.index - 1), u64::from(s.count));
    let share = n / k + u64::from(i < n % k);
    (share, i * (n / k) + i.min(n % k))
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
    /// The measurements, all transactions together.
    pub metrics: Metrics,
    /// The measurements of each named transaction of a mix ([`Load::run_mix`]); empty for
    /// a single transaction, whose measurements are `metrics`.
    pub by_name: Vec<(String, Metrics)>,
    /// The shard this run was, if the load was split.
    pub shard: Option<Shard>,
    /// Why the run stopped early, if an abort rule was breached.
    pub aborted: Option<String>,
}

impl Report {
    /// The report of one named transaction of a mix, to judge it on its own.
    pub fn transaction(&self, name: &str) -> Option<Report> {
        if self.by_name.is_empty() {
            return (self.name == name).then(|| self.clone());
        }
        let (_, metrics) = self.by_name.iter().find(|(n, _)| n == name)?;
        Some(Report {
            name: name.to_owned(),
            scenario: self.scenario.clone(),
            target: self.target.clone(),
            started_at: self.started_at,
            elapsed: self.elapsed,
            metrics: metrics.clone(),
            by_name: Vec::new(),
            shard: self.shard,
            aborted: self.aborted.clone(),
        })
    }

    /// Latency at percentile `p` over the whole run.
    pub fn percentile(&self, p: Percentile) -> Duration {
        percentile(&self.metrics.total().latency(), p)
    }
    /// Finished iterations, successful or not.
    pub fn requests(&self) -> u64 {
        self.metrics.ok_count() + self.metrics.error_count()
    }
    /// Failed iterations (not-started ones included).
    pub fn errors(&self) -> u64 {
        self.metrics.error_count() + self.metrics.unfinished
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
        self.metrics.ok_count() as f64 / duration.as_secs_f64().max(1e-9)
    }
    /// "p95 812.4ms (p50 41ms, p99 1.92s, max 2.31s; 12,004 requests, 0.8% errors)".
    pub fn summary(&self, headline: Percentile) -> String {
        let t = self.metrics.total();
        let latency = t.latency();
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
            d(percentile(&latency, headline)),
            d(percentile(&latency, Percentile::P50)),
            d(percentile(&latency, Percentile::P99)),
            d(Duration::from_micros(latency.max())),
            readiness_core::Quantity::count(self.requests()),
            readiness_core::Quantity::ratio(self.error_rate()),
        )
    }
}
