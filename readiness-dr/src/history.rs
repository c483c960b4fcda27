//! A Jepsen-style write history. A [`Writer`] issues sequenced, timestamped writes (1, 2,
//! 3, ..) through the test's own write function and records each as invoked, then
//! acknowledged, failed or indeterminate: a timeout or a dropped connection during a fault
//! is *indeterminate* (it may have been written), never *failed*. After the fault and the
//! recovery, a final read of what is there classifies them ([`History::read_back`]):
//! **lost** (acknowledged, absent), **recovered** (indeterminate, present), **unexpected**
//! (never written, present).
//!
//! `dr.no_ack_write_lost` ([`assert_no_acknowledged_write_lost`]) judges the lost count;
//! `dr.rpo` ([`assert_rpo_within`]) the data-loss window: from the acknowledgment of the
//! earliest lost write to the fault. The evidence lists every write
//! ([`WriteHistory`]), so the lost ones are named.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation,
    Quantity, Recorder, Result, Threshold, WriteHistory, WriteOutcome, WriteRecord,
};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fault::{Fault, ms_between};

/// How a write ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The system refused it: it was not written.
    Failed(String),
    /// The outcome is unknown (a timeout, a dropped connection): it may have been written.
    Indeterminate(String),
}

/// Issues sequenced writes until stopped, at most one in flight.
#[derive(Debug)]
#[must_use]
pub struct Writer {
    name: String,
    interval: Duration,
    timeout: Duration,
    max_writes: u64,
    recorder: Option<Recorder>,
}

#[derive(Debug)]
struct Shared {
    start: Instant,
    started_at: OffsetDateTime,
    writes: Vec<WriteRecord>,
    faults: Vec<Fault>,
}

impl Writer {
    /// A writer of `name` (`orders`, `redis keys`): a write every 10 ms, each bounded by
    /// 2 s (a write without an answer by then is indeterminate), at most 100,000.
    pub fn new(name: impl Into<String>) -> Self {
        Writer {
            name: name.into(),
            interval: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
            max_writes: 100_000,
            recorder: None,
        }
    }
    /// Time between the starts of two writes (a write that takes longer delays the next).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// How long a write may take before it counts as indeterminate.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The most writes to issue.
    pub fn with_max_writes(mut self, max: u64) -> Self {
        self.max_writes = max;
        self
    }
    /// Where the evidence of the assertions on this history goes.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Starts writing: `write(seq)` for seq = 1, 2, .. until [`Writing::stop`] or the
    /// maximum count.
    pub fn start<F, Fut>(self, write: F) -> Result<Writing>
    where
        F: Fn(u64) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), WriteError>> + Send + 'static,
    {
        if self.timeout.is_zero() {
            return Err(Error::InvalidInput(
                "a write timeout of 0s makes every write indeterminate; give one such as 2s".into(),
            ));
        }
        if self.max_writes == 0 {
            return Err(Error::InvalidInput(
                "a writer with at most 0 writes measures nothing; raise with_max_writes".into(),
            ));
        }
        let shared = Arc::new(Mutex::new(Shared {
            start: Instant::now(),
            started_at: OffsetDateTime::now_utc(),
            writes: Vec::new(),
            faults: Vec::new(),
        }));
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let (interval, timeout, max) = (self.interval, self.timeout, self.max_writes);
        let task_shared = shared.clone();
        let start = lock(&shared)?.start;
        let task = tokio::spawn(async move {
            let mut next = tokio::time::Instant::now();
            for seq in 1..=max {
                if *stop_rx.borrow() {
                    break;
                }
                let invoked = Instant::now();
                let outcome = match tokio::time::timeout(timeout, write(seq)).await {
                    Ok(Ok(())) => WriteOutcome::Ok,
                    Ok(Err(WriteError::Failed(_))) => WriteOutcome::Failed,
                    Ok(Err(WriteError::Indeterminate(_))) | Err(_) => WriteOutcome::Indeterminate,
                };
                let record = WriteRecord {
                    seq,
                    invoked_ms: ms_between(start, invoked),
                    completed_ms: ms_between(start, Instant::now()),
                    outcome,
                    found: None,
                };
                if let Ok(mut s) = task_shared.lock() {
                    s.writes.push(record);
                }
                next += interval;
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stop_rx.changed() => break,
                }
                if next < tokio::time::Instant::now() {
                    next = tokio::time::Instant::now();
                }
            }
        });
        Ok(Writing {
            name: self.name,
            shared,
            stop: stop_tx,
            task,
            recorder: self.recorder,
        })
    }
}

fn lock(shared: &Arc<Mutex<Shared>>) -> Result<std::sync::MutexGuard<'_, Shared>> {
    shared
        .lock()
        .map_err(|_| Error::Other("the write history was poisoned by a panic".into()))
}

/// A writer at work.
#[derive(Debug)]
pub struct Writing {
    name: String,
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    recorder: Option<Recorder>,
}

impl Writing {
    /// Marks `fault` in the history; the first fault marked ends the RPO window.
    pub fn mark(&self, fault: &Fault) {
        if let Ok(mut s) = self.shared.lock() {
            s.faults.push(fault.clone());
        }
    }
    /// How many writes have completed so far.
    pub fn completed(&self) -> usize {
        self.shared.lock().map(|s| s.writes.len()).unwrap_or(0)
    }
    /// Waits until at least `n` writes completed (or `deadline` passed); returns how many.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> usize {
        let until = Instant::now() + deadline;
        while self.completed() < n && Instant::now() < until && !self.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.completed()
    }
    /// Stops writing (the write in flight finishes or times out) and returns the history.
    pub async fn stop(mut self) -> Result<History> {
        let _ = self.stop.send(true);
        (&mut self.task)
            .await
            .map_err(|e| Error::Other(format!("the writer of {} panicked: {e}", self.name)))?;
        let s = lock(&self.shared)?;
        let events = s.faults.iter().map(|f| f.event_since(s.start)).collect();
        let fault_at_ms = s.faults.first().map(|f| ms_between(s.start, f.at));
        Ok(History {
            history: WriteHistory::new(
                self.name.clone(),
                s.started_at,
                events,
                fault_at_ms,
                s.writes.clone(),
            ),
            recorder: self.recorder.clone(),
        })
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A finished write history, before or after its final read.
#[derive(Debug, Clone)]
pub struct History {
    /// The writes and the final read.
    pub history: WriteHistory,
    recorder: Option<Recorder>,
}

impl History {
    /// Classifies every write by what the final read found (`present`: the sequence
    /// numbers there now). Present numbers that no write produced are unexpected.
    pub fn read_back(mut self, present: impl IntoIterator<Item = u64>) -> History {
        let present: BTreeSet<u64> = present.into_iter().collect();
        let written: BTreeSet<u64> = self.history.writes.iter().map(|w| w.seq).collect();
        for w in &mut self.history.writes {
            w.found = Some(present.contains(&w.seq));
        }
        self.history.unexpected = present.difference(&written).copied().collect();
        self.history.read_back = true;
        self
    }

    fn check(&self, id: &str, title: String) -> Check {
        let h = &self.history;
        let c = h.counts();
        let mut check = Check::new(id, title, Category::RECOVERY)
            .with_subject(format!("{}/{id}", h.name))
            .with_started_at(h.started_at)
            .with_combine(Combine::VerdictOnly)
            .with_scenario(format!(
                "{} sequenced writes of {}; {}",
                h.writes.len(),
                h.name,
                if h.events.is_empty() {
                    "no fault marked".to_owned()
                } else {
                    h.events
                        .iter()
                        .map(|e| format!("{} at {:.0}ms", e.what, e.at_ms))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .with_summary(format!(
                "{} acknowledged, {} failed, {} indeterminate; final read: {} lost, {} \
                 recovered, {} unexpected",
                c.ok, c.failed, c.indeterminate, c.lost, c.recovered, c.unexpected
            ))
            .with_attachment(h.clone());
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        check
    }

    /// Why there is nothing to judge, if so.
    fn nothing(&self) -> Option<&'static str> {
        if !self.history.read_back {
            Some("the history was never read back; call History::read_back with what is there")
        } else if self.history.counts().ok == 0 {
            Some("no write was acknowledged")
        } else {
            None
        }
    }
}

/// Sequence numbers as short ranges: `3-7, 9, 12-15`, at most `max` ranges.
pub fn ranges(seqs: &[u64], max: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut count = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        count += 1;
        if out.len() < max {
            out.push(if i == j {
                seqs[i].to_string()
            } else {
                format!("{}-{}", seqs[i], seqs[j])
            });
        }
        i = j + 1;
    }
    if count > max {
        out.push(format!("and {} more ranges", count - max));
    }
    out.join(", ")
}

/// `dr.no_ack_write_lost`: no acknowledged write is absent from the final read. The
/// failure names the lost writes by sequence number.
pub fn try_assert_no_acknowledged_write_lost(history: &History) -> Result<Evidence, Failure> {
    let title = format!("no acknowledged write of {} lost", history.history.name);
    let check = history
        .check("dr.no_ack_write_lost", title)
        .with_threshold(Threshold::at_most(Count(0)))
        .with_hint(
            "an acknowledged write must be durable: acknowledge only after the commit (and \
             the fsync your durability promise needs)",
        );
    if let Some(why) = history.nothing() {
        return Err(check.nothing_measured(why));
    }
    let lost: Vec<u64> = history.history.lost().iter().map(|w| w.seq).collect();
    let summary = if lost.is_empty() {
        "every acknowledged write is there".to_owned()
    } else {
        format!(
            "lost {} acknowledged writes: seq {}",
            lost.len(),
            ranges(&lost, 10)
        )
    };
    check.judge(Observation::new(Quantity::count(lost.len() as u64)).with_summary(summary))
}

/// Panics unless [`try_assert_no_acknowledged_write_lost`] passes.
#[track_caller]
pub fn assert_no_acknowledged_write_lost(history: &History) -> Evidence {
    try_assert_no_acknowledged_write_lost(history).or_panic()
}

/// `dr.rpo`: the data-loss window (from the acknowledgment of the earliest lost write to
/// the fault) is at most `limit`. Needs a fault marked with [`Writing::mark`].
pub fn try_assert_rpo_within(history: &History, limit: Duration) -> Result<Evidence, Failure> {
    let title = format!(
        "data loss of {} within {} (RPO)",
        history.history.name,
        Quantity::duration(limit)
    );
    let check = history
        .check("dr.rpo", title)
        .with_threshold(Threshold::at_most(limit))
        .with_hint(
            "the window is how far back the recovered state is: persist more often (AOF \
             fsync, WAL archiving, replication) to shorten it",
        );
    if let Some(why) = history.nothing() {
        return Err(check.nothing_measured(why));
    }
    let Some(window) = history.history.loss_window() else {
        return Err(check
            .nothing_measured("no fault was marked in the history; call Writing::mark(&fault)"));
    };
    let fault_ms = history.history.fault_at_ms.unwrap_or(f64::INFINITY);
    let (before, after): (Vec<&WriteRecord>, Vec<&WriteRecord>) = history
        .history
        .lost()
        .into_iter()
        .partition(|w| w.completed_ms <= fault_ms);
    let seqs = |ws: &[&WriteRecord]| ranges(&ws.iter().map(|w| w.seq).collect::<Vec<_>>(), 10);
    let mut summary = if before.is_empty() {
        "no write acknowledged before the fault lost".to_owned()
    } else {
        format!(
            "lost {} writes acknowledged in the {} before the fault: seq {}",
            before.len(),
            Quantity::duration(window),
            seqs(&before)
        )
    };
    if !after.is_empty() {
        summary.push_str(&format!(
            "; and {} acknowledged after it (see dr.no_ack_write_lost): seq {}",
            after.len(),
            seqs(&after)
        ));
    }
    check.judge(Observation::new(window).with_summary(summary))
}

/// Panics unless [`try_assert_rpo_within`] passes.
#[track_caller]
pub fn assert_rpo_within(history: &History, limit: Duration) -> Evidence {
    try_assert_rpo_within(history, limit).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_print_as_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8], 10), "1-3, 5, 7-8");
        assert_eq!(ranges(&[1, 3, 5], 2), "1, 3, and 1 more ranges");
        assert_eq!(ranges(&[], 2), "");
    }
}
