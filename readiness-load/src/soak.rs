//! Soak (drift of latency and of the target's memory over a long run) and linear scaling.

use std::time::Duration;

use tokio::time::Instant;

use readiness_core::stats::{Slope, slope};
use readiness_core::{
    Bytes, Category, CheckResultExt, DriftSeries, Evidence, Failure, Percentile, Quantity, Rate,
    Ratio, ScalingLevels, Threshold,
};

use crate::assertions::check_of;
use crate::load::Load;
use crate::metrics::percentile;
use crate::report::Report;
use crate::transaction::Transaction;

/// Resident memory of process `pid` in bytes, from `/proc/<pid>/status` (`VmRSS`).
pub fn rss_of_pid(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// What a soak run measured: read through methods, so a test cannot rewrite it before it
/// asserts.
#[derive(Debug, Clone)]
pub struct SoakReport {
    report: Report,
    latency: Vec<(f64, f64)>,
    memory: Vec<(f64, f64)>,
}

impl SoakReport {
    /// The load.
    pub fn report(&self) -> &Report {
        &self.report
    }
    /// (seconds since start, p95 ms) per second of the run.
    pub fn latency(&self) -> &[(f64, f64)] {
        &self.latency
    }
    /// (seconds since start, bytes) memory samples of the target.
    pub fn memory(&self) -> &[(f64, f64)] {
        &self.memory
    }
    /// The slope of p95 (ms per second).
    pub fn latency_slope(&self) -> Option<Slope> {
        slope(&self.latency)
    }
    /// The slope of the target's memory (bytes per second).
    pub fn memory_slope(&self) -> Option<Slope> {
        slope(&self.memory)
    }
}

/// Runs `load` while sampling the target's memory with `memory` every `every`.
/// (An async sampler: `/proc` for a process, the Docker API for a container.)
pub async fn soak<M, MF>(
    load: &Load,
    transaction: impl Transaction,
    every: Duration,
    memory: M,
) -> readiness_core::Result<SoakReport>
where
    M: Fn() -> MF + Send + 'static,
    MF: std::future::Future<Output = Option<u64>> + Send,
{
    let start = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let horizon = load.model().duration() + Duration::from_secs(60);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && start.elapsed() < horizon {
            if let Some(bytes) = memory().await {
                samples.push((start.elapsed().as_secs_f64(), bytes as f64));
            }
            tokio::time::sleep(every.max(Duration::from_millis(10))).await;
        }
        samples
    });
    let report = load.run(transaction).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let memory = sampler.await.unwrap_or_default();
    let report = report?;
    let latency = report
        .metrics()
        .seconds()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let p95 = percentile(&s.latency(), Percentile::P95)?;
            Some((i as f64 + 0.5, p95.as_secs_f64() * 1e3))
        })
        .collect();
    Ok(SoakReport {
        report,
        latency,
        memory,
    })
}

fn soak_check(
    report: &SoakReport,
    id: &str,
    title: String,
    what: &str,
    slope: Option<Slope>,
    unit: &str,
) -> readiness_core::Check {
    let described = match slope {
        Some(s) => format!(
            "{what} slope {:.3} {unit}/min (95% interval {:.3} .. {:.3}, n = {})",
            s.per_second * 60.0,
            s.low * 60.0,
            s.high * 60.0,
            s.n
        ),
        None => format!("{what}: too few samples for a slope"),
    };
    check_of(&report.report, id, title, Category::RELIABILITY)
        .with_summary(described)
        .with_attachment(DriftSeries::new(
            report.latency.clone(),
            report.memory.clone(),
        ))
}

/// `load.soak_memory`: the target's memory does not grow faster than `max_per_minute`.
/// Drift is declared only when the whole 95% interval of the slope lies above the limit:
/// the observed value is the interval's lower end.
pub fn try_assert_no_memory_drift(
    report: &SoakReport,
    max_per_minute: Bytes,
) -> Result<Evidence, Failure> {
    let s = report.memory_slope();
    let check = soak_check(
        report,
        "load.soak_memory",
        format!(
            "memory of {} grows at most {} per minute",
            report.report.name,
            Quantity::bytes(max_per_minute.0)
        ),
        "memory",
        s.map(|s| Slope {
            per_second: s.per_second / 1048576.0,
            low: s.low / 1048576.0,
            high: s.high / 1048576.0,
            n: s.n,
        }),
        "MiB",
    )
    .with_threshold(Threshold::at_most(max_per_minute));
    let Some(s) = s else {
        return Err(check.nothing_measured(format!(
            "{} memory samples, 3 needed for a slope; soak longer or sample more often",
            report.memory.len()
        )));
    };
    check.judge(Quantity::bytes((s.low * 60.0).max(0.0) as u64))
}

/// Panics unless [`try_assert_no_memory_drift`] passes.
#[track_caller]
pub fn assert_no_memory_drift(report: &SoakReport, max_per_minute: Bytes) -> Evidence {
    try_assert_no_memory_drift(report, max_per_minute).or_panic()
}

/// `load.soak_latency`: p95 does not grow faster than `max_per_minute` (judged, like
/// memory, on the lower end of the 95% interval).
pub fn try_assert_no_latency_drift(
    report: &SoakReport,
    max_per_minute: Duration,
) -> Result<Evidence, Failure> {
    let s = report.latency_slope();
    let check = soak_check(
        report,
        "load.soak_latency",
        format!(
            "p95 of {} grows at most {} per minute",
            report.report.name,
            Quantity::duration(max_per_minute)
        ),
        "p95",
        s,
        "ms",
    )
    .with_threshold(Threshold::at_most(max_per_minute));
    let Some(s) = s else {
        return Err(check.nothing_measured(format!(
            "{} seconds with latency, 3 needed for a slope; soak longer",
            report.latency.len()
        )));
    };
    check.judge(Quantity::millis((s.low * 60.0).max(0.0)))
}

/// Panics unless [`try_assert_no_latency_drift`] passes.
#[track_caller]
pub fn assert_no_latency_drift(report: &SoakReport, max_per_minute: Duration) -> Evidence {
    try_assert_no_latency_drift(report, max_per_minute).or_panic()
}

/// Both drift checks; panics with the first that fails (its id says which).
#[track_caller]
pub fn assert_no_drift(
    report: &SoakReport,
    max_p95_per_minute: Duration,
    max_memory_per_minute: Bytes,
) -> (Evidence, Evidence) {
    let latency = try_assert_no_latency_drift(report, max_p95_per_minute).or_panic();
    let memory = try_assert_no_memory_drift(report, max_memory_per_minute).or_panic();
    (latency, memory)
}

/// `load.linear_scaling`: throughput grows in proportion to the users: for every level,
/// (throughput / first throughput) / (users / first users) is at least `1 - tolerance`.
/// `levels` are (users, report of a closed-model run).
pub fn try_assert_scales_linearly(
    levels: &[(usize, &Report)],
    tolerance: Ratio,
) -> Result<Evidence, Failure> {
    let title = format!("throughput scales linearly with users (within {tolerance})");
    let Some((_, first)) = levels.first() else {
        let check = readiness_core::Check::new("load.linear_scaling", title, Category::CAPACITY);
        return Err(check.nothing_measured("no user level ran"));
    };
    let mut check = readiness_core::Check::new("load.linear_scaling", title, Category::CAPACITY)
        .with_subject(format!("{}/load.linear_scaling", first.name))
        .with_started_at(first.started_at)
        .with_threshold(Threshold::at_least(
            Ratio::new(1.0 - tolerance.value()).unwrap_or(Ratio::ZERO),
        ));
    if let Some(r) = &first.recorder {
        check = check.with_recorder(r.clone());
    }
    let rows: Vec<(usize, Option<Rate>)> =
        levels.iter().map(|(u, r)| (*u, r.throughput())).collect();
    if rows.len() < 2 {
        return Err(check.nothing_measured("linear scaling needs at least 2 user levels"));
    }
    let (u0, t0) = rows[0];
    let Some(t0) = t0.map(Rate::value).filter(|t| *t > 0.0) else {
        return Err(check.nothing_measured(format!(
            "the first level ({u0} users) completed no iteration to scale from"
        )));
    };
    let throughput: Vec<(usize, f64)> = rows
        .iter()
        .map(|&(u, t)| (u, t.map_or(0.0, Rate::value)))
        .collect();
    let efficiency: Vec<f64> = throughput
        .iter()
        .map(|&(u, t)| (t / t0) / (u as f64 / u0.max(1) as f64))
        .collect();
    let worst = efficiency.iter().copied().fold(f64::INFINITY, f64::min);
    let summary = throughput
        .iter()
        .zip(&efficiency)
        .map(|(&(u, t), e)| format!("{u} users: {t:.0}/s ({:.0}% efficient)", e * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    check
        .with_scenario(format!(
            "closed model, {} per level",
            Quantity::duration(first.duration)
        ))
        .with_summary(summary)
        .with_attachment(ScalingLevels::new(throughput, efficiency))
        .judge(Quantity::ratio(worst.clamp(0.0, 1.0)))
}

/// Panics unless [`try_assert_scales_linearly`] passes.
#[track_caller]
pub fn assert_scales_linearly(levels: &[(usize, &Report)], tolerance: Ratio) -> Evidence {
    try_assert_scales_linearly(levels, tolerance).or_panic()
}
