//! The one executor of the open and the closed model, for every kind of worker: a
//! transaction ([`crate::Load::run`], [`crate::Load::run_mix`]) or a keep-alive connection
//! of the lean HTTP path ([`crate::Load::run_raw`]).
//!
//! - Open model: a dispatcher waits for each intended start time of the schedule (of this
//!   shard) and hands the arrival to an idle lane, opening a new one while fewer than the
//!   lane limit exist; with none free the arrival is counted as not started, never
//!   skipped. Latency is measured from the intended start (coordinated omission
//!   corrected).
//! - Closed model: one lane per virtual user of this shard, each starting its next
//!   iteration when the last finished (ramping users wait while the stage has fewer
//!   users). Iteration ids come from one counter, unique across lanes and shards.
//!
//! After the schedule (or the duration) the executor waits up to the drain time for the
//! iterations still running. Every iteration that finished counts; each one still running
//! then is recorded as unfinished at its intended start, with its age as its latency (a
//! lower bound), and its task is stopped. Records go to a few lock stripes, so no
//! collector can be lost and memory does not grow with the lanes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio::time::Instant;

use readiness_core::{Error, Result};

use crate::metrics::{ErrorClass, Metrics, Outcome, Second};
use crate::pace::{Pacer, Timer};
use crate::schedule::{MAX_ITERATIONS, Model};
use crate::shard::{Shard, shard_users};
use crate::watch::{AbortRule, progress};

/// What one lane runs. A lane holds the worker's per-lane state (a connection of the raw
/// path; nothing for a transaction) and runs one iteration at a time.
pub(crate) trait Worker: Send + Sync + 'static {
    /// Per-lane state.
    type Lane: Send + 'static;
    /// A new lane's state.
    fn lane(&self) -> Self::Lane;
    /// Which named transaction of a mix iteration `i` runs (0 for a single one).
    fn part(&self, i: u64) -> usize;
    /// Runs iteration `i` on `lane`.
    fn iterate<'a>(
        &'a self,
        lane: &'a mut Self::Lane,
        i: u64,
    ) -> impl Future<Output = Outcome> + Send + 'a;
}

/// How to run: the model, this shard of it, the bounds.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) model: Model,
    pub(crate) shard: Option<Shard>,
    /// Open model: most iterations in flight (lanes).
    pub(crate) max_in_flight: usize,
    pub(crate) drain: Duration,
    pub(crate) abort: Option<AbortRule>,
    pub(crate) timer: Timer,
    /// Named transactions (1 for a single transaction).
    pub(crate) parts: usize,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Executed {
    pub(crate) metrics: Metrics,
    /// Per named transaction of a mix; empty for one transaction.
    pub(crate) by_name: Vec<Metrics>,
    pub(crate) aborted: Option<String>,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) elapsed: Duration,
}

/// An iteration in flight on a lane: which transaction, its intended start (from the
/// start of the run) and when that was.
#[derive(Debug, Clone, Copy)]
struct Running {
    part: usize,
    at: Duration,
    due: Instant,
}

/// The metrics of one lock stripe: the total and, for a mix, per name.
#[derive(Debug, Default)]
struct Tally {
    total: Metrics,
    by_name: Vec<Metrics>,
}

impl Tally {
    fn record(&mut self, part: usize, at: Duration, latency: Duration, outcome: &Outcome) {
        self.total.record(at, latency, outcome);
        if let Some(m) = self.by_name.get_mut(part) {
            m.record(at, latency, outcome);
        }
    }
    fn not_started(&mut self, part: usize, at: Duration) {
        self.total.record_not_started(at);
        if let Some(m) = self.by_name.get_mut(part) {
            m.record_not_started(at);
        }
    }
}

/// What the lanes, the dispatcher and the watcher share.
struct Shared {
    start: Instant,
    stripes: Vec<Mutex<Tally>>,
    running: Vec<Mutex<Option<Running>>>,
    stop: AtomicBool,
    reason: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn new(lanes: usize, parts: usize, deadline: Duration) -> Self {
        let stripes = std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4)
            .min(lanes)
            .max(1);
        let per_name = if parts > 1 { parts } else { 0 };
        Shared {
            start: Instant::now(),
            stripes: (0..stripes)
                .map(|_| {
                    Mutex::new(Tally {
                        total: Metrics::with_deadline(deadline),
                        by_name: (0..per_name)
                            .map(|_| Metrics::with_deadline(deadline))
                            .collect(),
                    })
                })
                .collect(),
            running: (0..lanes).map(|_| Mutex::new(None)).collect(),
            stop: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Lane `k` starts an iteration.
    fn begin(&self, k: usize, running: Running) {
        *lock(&self.running[k]) = Some(running);
    }

    /// Lane `k` finished its iteration: recorded, and the lane is free. (No `await` lies
    /// between the two, so a stopped task has always done both or neither.)
    fn finish(&self, k: usize, outcome: &Outcome) {
        let Some(r) = lock(&self.running[k]).take() else {
            return;
        };
        let latency = r.due.elapsed();
        lock(&self.stripes[k % self.stripes.len()]).record(r.part, r.at, latency, outcome);
    }

    fn not_started(&self, part: usize, at: Duration) {
        lock(&self.stripes[0]).not_started(part, at);
    }

    /// After the drain, with every task stopped: what is still running is unfinished.
    fn record_unfinished(&self) {
        let now = Instant::now();
        for (k, slot) in self.running.iter().enumerate() {
            if let Some(r) = lock(slot).take() {
                let age = now.saturating_duration_since(r.due);
                let outcome = Err(ErrorClass::Unfinished);
                lock(&self.stripes[k % self.stripes.len()]).record(r.part, r.at, age, &outcome);
            }
        }
    }

    /// Second `s` of the run, merged over the stripes.
    fn second(&self, s: usize) -> Second {
        let mut merged = Second::default();
        for stripe in &self.stripes {
            if let Some(x) = lock(stripe).total.seconds().get(s) {
                merged.absorb(x);
            }
        }
        merged
    }

    fn into_metrics(self, lag: Metrics) -> (Metrics, Vec<Metrics>) {
        let mut total = lag;
        let mut by_name: Vec<Metrics> = Vec::new();
        for stripe in self.stripes {
            let tally = stripe.into_inner().unwrap_or_else(|p| p.into_inner());
            total.merge(&tally.total);
            if by_name.is_empty() {
                by_name = tally.by_name;
            } else {
                for (mine, theirs) in by_name.iter_mut().zip(&tally.by_name) {
                    mine.merge(theirs);
                }
            }
        }
        (total, by_name)
    }
}

/// Runs `worker` under `plan`.
pub(crate) async fn execute<W: Worker>(plan: &Plan, worker: Arc<W>) -> Result<Executed> {
    let started_at = OffsetDateTime::now_utc();
    let lanes = match &plan.model {
        Model::Open { .. } => plan.max_in_flight.max(1),
        closed => {
            let users = closed.max_users() as u64;
            let (share, _) = match plan.shard {
                Some(s) => shard_users(users, s),
                None => (users, 0),
            };
            if share == 0 {
                return Err(Error::InvalidInput(format!(
                    "shard {} of {users} virtual users has none; use fewer shards",
                    plan.shard.map(|s| s.to_string()).unwrap_or_default()
                )));
            }
            share as usize
        }
    };
    let shared = Arc::new(Shared::new(lanes, plan.parts, plan.model.duration()));
    let watcher = watch(plan, &shared);
    let mut tasks = JoinSet::new();
    let lag = match &plan.model {
        Model::Open { .. } => dispatch(plan, &worker, &shared, lanes, &mut tasks).await,
        _ => {
            closed_lanes(plan, &worker, &shared, lanes, &mut tasks);
            Ok(Metrics::default())
        }
    };
    // Drain: the iterations running get until the end of the model plus the drain time.
    let end = match &plan.model {
        Model::Open { .. } => Instant::now(),
        closed => shared.start + closed.duration(),
    }
    .max(Instant::now());
    let _ = tokio::time::timeout_at(end + plan.drain, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.shutdown().await;
    shared.record_unfinished();
    if let Some(w) = watcher {
        w.abort();
        let _ = w.await;
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    // A dispatcher that could not start (no timerfd) fails the run once all is stopped.
    let lag = lag?;
    let elapsed = shared.start.elapsed();
    let shared =
        Arc::try_unwrap(shared).map_err(|_| Error::Other("a lane outlived the run".into()))?;
    let aborted = lock(&shared.reason).take();
    let (metrics, by_name) = shared.into_metrics(lag);
    Ok(Executed {
        metrics,
        by_name,
        aborted,
        started_at,
        elapsed,
    })
}

/// The open model's idle lanes: (lane number, its state).
type Idle<L> = Arc<Mutex<Vec<(usize, L)>>>;

/// The open model's dispatcher: paces the schedule, hands each arrival to an idle lane.
/// Returns the scheduling lag.
async fn dispatch<W: Worker>(
    plan: &Plan,
    worker: &Arc<W>,
    shared: &Arc<Shared>,
    lanes: usize,
    tasks: &mut JoinSet<()>,
) -> Result<Metrics> {
    let schedule = plan
        .model
        .schedule()
        .ok_or_else(|| Error::Other("not an open model".into()))?;
    let mut lag = Metrics::default();
    let mut pacer = Pacer::new(plan.timer)?;
    let idle: Idle<W::Lane> = Arc::new(Mutex::new(Vec::new()));
    let mut opened = 0;
    let (step, mut i) = Shard::stride(plan.shard);
    while let Some(at) = schedule.intended(i) {
        if shared.stopped() {
            break;
        }
        let due = shared.start + at;
        pacer.until(due).await;
        lag.record_lag(Instant::now().saturating_duration_since(due));
        let part = worker.part(i);
        let lane = lock(&idle).pop().or_else(|| {
            (opened < lanes).then(|| {
                opened += 1;
                (opened - 1, worker.lane())
            })
        });
        match lane {
            // Never silently skipped: an iteration that could not start is an error.
            None => shared.not_started(part, at),
            Some((k, mut state)) => {
                shared.begin(k, Running { part, at, due });
                let (w, sh, idle) = (worker.clone(), shared.clone(), idle.clone());
                tasks.spawn(async move {
                    let outcome = guarded(w.iterate(&mut state, i)).await;
                    sh.finish(k, &outcome);
                    lock(&idle).push((k, state));
                });
            }
        }
        while tasks.try_join_next().is_some() {}
        i += step;
    }
    Ok(lag)
}

/// The closed model: one lane per virtual user of this shard.
fn closed_lanes<W: Worker>(
    plan: &Plan,
    worker: &Arc<W>,
    shared: &Arc<Shared>,
    lanes: usize,
    tasks: &mut JoinSet<()>,
) {
    let end = shared.start + plan.model.duration();
    let (step, offset) = Shard::stride(plan.shard);
    let first_user = match plan.shard {
        Some(s) => shard_users(plan.model.max_users() as u64, s).1,
        None => 0,
    };
    let next = Arc::new(AtomicU64::new(0));
    let think = plan.model.think_time();
    for k in 0..lanes {
        let (w, sh, next, model) = (
            worker.clone(),
            shared.clone(),
            next.clone(),
            plan.model.clone(),
        );
        let user = first_user + k as u64;
        tasks.spawn(async move {
            let mut lane = w.lane();
            while Instant::now() < end && !sh.stopped() {
                // Ramping users: this user waits while the stage has fewer users.
                if (model.users_at(sh.start.elapsed()) as u64) <= user {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= MAX_ITERATIONS {
                    break;
                }
                let i = n * step + offset;
                let due = Instant::now();
                let at = due - sh.start;
                sh.begin(
                    k,
                    Running {
                        part: w.part(i),
                        at,
                        due,
                    },
                );
                let outcome = guarded(w.iterate(&mut lane, i)).await;
                sh.finish(k, &outcome);
                if !think.is_zero() {
                    tokio::time::sleep_until((Instant::now() + think).min(end)).await;
                }
            }
        });
    }
}

/// An iteration whose transaction panics is a failed iteration saying so, not a lane lost
/// (nor an iteration counted as still running when the run ends).
async fn guarded(iteration: impl Future<Output = Outcome>) -> Outcome {
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(iteration)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(ErrorClass::User(format!("the transaction panicked: {why}")))
        })
}

/// The watcher: at the end of every second, the progress line and the abort rule. None
/// when there is neither a terminal to show progress on nor a rule to judge.
fn watch(plan: &Plan, shared: &Arc<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if plan.abort.is_none() && !terminal {
        return None;
    }
    let (sh, rule, name) = (shared.clone(), plan.abort, plan.name.clone());
    let bound = plan.model.duration().as_secs() as usize + 1;
    Some(tokio::spawn(async move {
        let mut seconds: Vec<Second> = Vec::new();
        for s in 1..=bound {
            tokio::time::sleep_until(sh.start + Duration::from_secs(s as u64)).await;
            seconds.push(sh.second(s - 1));
            progress(&name, &seconds);
            if let Some(why) = rule.and_then(|r| r.breached(&seconds)) {
                lock(&sh.reason).get_or_insert(why);
                sh.stop.store(true, Ordering::Relaxed);
                return;
            }
        }
    }))
}
