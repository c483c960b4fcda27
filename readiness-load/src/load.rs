//! The load builder: the model, the bounds, the shard and where the evidence goes; `run`
//! hands a transaction, a mix or the lean HTTP path to the one executor.

use std::sync::Arc;
use std::time::Duration;

use readiness_core::{Error, Recorder, Result};

use crate::executor::{Executed, Plan, Worker, execute};
use crate::metrics::Outcome;
use crate::pace::Timer;
use crate::raw;
use crate::report::Report;
use crate::schedule::Model;
use crate::shard::Shard;
use crate::transaction::{Mix, Picker, Transaction};
use crate::watch::AbortRule;

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
    timer: Timer,
    recorder: Option<Recorder>,
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
            timer: Timer::Tokio,
            recorder: None,
        }
    }
    /// How the open model waits for each start time (default [`Timer::Tokio`];
    /// [`Timer::Fine`] for sub-millisecond scheduling lag).
    pub fn with_timer(mut self, timer: Timer) -> Self {
        self.timer = timer;
        self
    }
    /// Stops the run early when `rule` is breached (the report says why).
    pub fn with_abort_on(mut self, rule: AbortRule) -> Self {
        self.abort = Some(rule);
        self
    }
    /// Runs only this shard of the load (see [`Shard`]); without it, `READINESS_SHARD`
    /// is read when the load runs.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }
    /// What the transaction targets, for evidence (default: what the transaction says,
    /// e.g. "GET http://127.0.0.1:8080/orders/1").
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    /// Most iterations running at once in the open model (default 10,000; for
    /// [`Load::run_raw`], the most connections): an iteration due while this many run is
    /// not started and counted as an error. This bounds memory when the target stalls.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// How long to wait at the end for iterations still running (default 10 s). Every
    /// iteration that finished counts; those still running then are unfinished: errors,
    /// with their age as their latency (a lower bound).
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }
    /// Where the assertions on the report record their evidence (default: the evidence
    /// directory, see [`Recorder::global`]).
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// The same load under another model.
    pub(crate) fn with_model(mut self, model: Model) -> Self {
        self.model = model;
        self
    }
    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }
    /// The transaction's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `transaction` (called with the iteration id) under the model. A transaction
    /// that may not run (a target off loopback) is refused before any traffic.
    pub async fn run(&self, transaction: impl Transaction) -> Result<Report> {
        transaction.check()?;
        let remote = match transaction.staging() {
            Some(staging) => {
                staging.check_load(self.model.peak_rate(), self.model.duration())?;
                Some(staging.describe())
            }
            None => None,
        };
        let target = self.target.clone().or_else(|| transaction.target());
        let worker = Arc::new(One(transaction));
        let mut report = self.execute(worker, 1, target, Vec::new()).await?;
        report.remote = remote;
        Ok(report)
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
        let picker = Picker::new(mix.entries.iter().map(|e| e.weight))
            .ok_or_else(|| Error::InvalidInput("the weights of a mix add up to zero".into()))?;
        for e in &mix.entries {
            (e.check)()?;
            if e.on_staging {
                return Err(Error::InvalidInput(format!(
                    "{} aims at staging: run it on its own (Load::run), where the staging caps apply",
                    e.name
                )));
            }
        }
        let names: Vec<String> = mix.entries.iter().map(|e| e.name.clone()).collect();
        let parts = names.len();
        let targets: Vec<&str> = mix
            .entries
            .iter()
            .filter_map(|e| e.target.as_deref())
            .collect();
        let target = self
            .target
            .clone()
            .or_else(|| (!targets.is_empty()).then(|| targets.join(", ")));
        let worker = Arc::new(Mixed {
            picker,
            calls: mix.entries.into_iter().map(|e| e.call).collect(),
        });
        self.execute(worker, parts, target, names).await
    }

    /// Runs the lean HTTP/1.1 path against `target`: one keep-alive connection per lane
    /// (closed model: per virtual user; open model: opened as needed, at most
    /// [`Load::with_max_in_flight`]), a request built once, no allocation per request.
    pub async fn run_raw(&self, target: &raw::Target) -> Result<Report> {
        if let Model::RampingUsers { .. } = self.model {
            return Err(Error::InvalidInput(
                "the raw path runs a constant number of connections; use Load::run for ramping users"
                    .into(),
            ));
        }
        let armed = target.arm()?;
        let described = self
            .target
            .clone()
            .unwrap_or_else(|| format!("GET {}", armed.url()));
        self.execute(Arc::new(armed), 1, Some(described), Vec::new())
            .await
    }

    async fn execute<W: Worker>(
        &self,
        worker: Arc<W>,
        parts: usize,
        target: Option<String>,
        names: Vec<String>,
    ) -> Result<Report> {
        let shard = match self.shard {
            Some(s) => Some(s),
            None => Shard::from_settings()?,
        };
        // A `svc.sigkill` / `svc.sigterm` mutant strikes halfway through the first load.
        readiness_core::mutant::load_started(self.model.duration());
        let plan = Plan {
            name: self.name.clone(),
            model: self.model.clone(),
            shard,
            max_in_flight: self.max_in_flight,
            drain: self.drain,
            abort: self.abort,
            timer: self.timer,
            parts,
        };
        let Executed {
            metrics,
            by_name,
            aborted,
            started_at,
            elapsed,
        } = execute(&plan, worker).await?;
        let mut scenario = self.model.to_string();
        if let Some(s) = shard {
            scenario.push_str(&format!(", shard {s}"));
        }
        Ok(Report {
            name: self.name.clone(),
            scenario,
            target,
            started_at,
            elapsed,
            duration: self.model.duration(),
            drain: self.drain,
            metrics,
            by_name: names.into_iter().zip(by_name).collect(),
            shard,
            aborted,
            recorder: self.recorder.clone(),
            remote: None,
        })
    }
}

/// One transaction.
struct One<T>(T);

impl<T: Transaction> Worker for One<T> {
    type Lane = ();
    fn lane(&self) {}
    fn part(&self, _: u64) -> usize {
        0
    }
    fn iterate<'a>(
        &'a self,
        _: &'a mut (),
        i: u64,
    ) -> impl std::future::Future<Output = Outcome> + Send + 'a {
        self.0.call(i)
    }
}

/// A mix: iteration i runs the transaction the picker gives.
struct Mixed {
    picker: Picker,
    calls: Vec<crate::transaction::Boxed>,
}

impl Worker for Mixed {
    type Lane = ();
    fn lane(&self) {}
    fn part(&self, i: u64) -> usize {
        self.picker.pick(i)
    }
    fn iterate<'a>(
        &'a self,
        _: &'a mut (),
        i: u64,
    ) -> impl std::future::Future<Output = Outcome> + Send + 'a {
        (self.calls[self.picker.pick(i)])(i)
    }
}
