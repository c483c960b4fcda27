//! Soak (drift of latency and of the target's memory over a long run) and linear scaling.

use std::future::Future;
use std::time::{Duration, Instant};

use readiness_core::{
    Attachment, Category, Check, CheckResultExt, Evidence, Failure, Percentile, Quantity, Threshold,
};

use crate::engine::{Load, Report};
use crate::metrics::{ErrorClass, percentile};

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

/// A least-squares slope with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Slope {
    /// Units of y per second of x.
    pub per_second: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
    /// Points.
    pub n: usize,
}

/// Fits y = a + b x; `None` with fewer than 3 points or no spread in x.
pub fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    let a = my - b * mx;
    let sse: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    // Student's t, 97.5% quantile, for n - 2 degrees of freedom.
    let df = n - 2;
    let t = match df {
        1 => 12.71,
        2 => 4.30,
        3 => 3.18,
        4 => 2.78,
        5 => 2.57,
        6..=9 => 2.36 - (df as f64 - 6.0) * 0.04,
        10..=19 => 2.23 - (df as f64 - 10.0) * 0.012,
        20..=29 => 2.09 - (df as f64 - 20.0) * 0.004,
        30..=59 => 2.04,
        60..=119 => 2.00,
        _ => 1.96,
    };
    Some(Slope {
        per_second: b,
        low: b - t * se,
        high: b + t * se,
        n,
    })
}

/// What a soak run measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The load.
    pub report: Report,
    /// (seconds since start, p95 ms) per second of the run.
    pub latency: Vec<(f64, f64)>,
    /// (seconds since start, bytes) memory samples of the target.
    pub memory: Vec<(f64, f64)>,
}

impl SoakReport {
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
pub async fn soak<F, Fut, M, MF>(
    load: &Load,
    transaction: F,
    every: Duration,
    memory: M,
) -> readiness_core::Result<SoakReport>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ErrorClass>> + Send + 'static,
    M: Fn() -> MF + Send + 'static,
    MF: Future<Output = Option<u64>> + Send,
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
        .metrics
        .seconds
        .iter()
        .enumerate()
        .filter(|(_, s)| s.ok + s.error_count() > 0)
        .map(|(i, s)| {
            (
                i as f64 + 0.5,
                percentile(&s.latency(), Percentile::P95).as_secs_f64() * 1e3,
            )
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
) -> Check {
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
    Check::new(id, title, Category::RELIABILITY)
        .with_started_at(report.report.started_at)
        .with_scenario(&report.report.scenario)
        .with_summary(described)
        .with_attachment(Attachment::new(
            "soak",
            "soak/v1",
            serde_json::json!({ "p95_ms": report.latency, "memory_bytes": report.memory, "slope": slope }),
        ))
}

/// `load.soak_memory`: the target's memory does not grow faster than
/// `max_bytes_per_minute`. Drift is declared only when the whole 95% interval of the slope
/// lies above the limit: the observed value is the interval's lower end.
pub fn try_assert_no_memory_drift(
    report: &SoakReport,
    max_bytes_per_minute: u64,
) -> Result<Evidence, Failure> {
    let s = report.memory_slope();
    let check = soak_check(
        report,
        "load.soak_memory",
        format!(
            "memory of {} grows at most {} per minute",
            report.report.name,
            Quantity::bytes(max_bytes_per_minute)
        ),
        "memory",
        s.map(|s| Slope {
            per_second: s.per_second / 1048576.0,
            low: s.low / 1048576.0,
            high: s.high / 1048576.0,
            n: s.n,
        }),
        "MiB",
    );
    let Some(s) = s else {
        return Err(check.error(readiness_core::Error::InvalidInput(
            "fewer than 3 memory samples; soak longer or sample more often".into(),
        )));
    };
    check.judge_with(
        Threshold::at_most(Quantity::bytes(max_bytes_per_minute)),
        Quantity::bytes((s.low * 60.0).max(0.0) as u64),
    )
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
    );
    let Some(s) = s else {
        return Err(check.error(readiness_core::Error::InvalidInput(
            "fewer than 3 seconds with latency; soak longer".into(),
        )));
    };
    check.judge_with(
        Threshold::at_most(Quantity::duration(max_per_minute)),
        Quantity::millis((s.low * 60.0).max(0.0)),
    )
}

/// Both drift checks; panics with the first that fails (its id says which).
#[track_caller]
pub fn assert_no_drift(
    report: &SoakReport,
    max_p95_per_minute: Duration,
    max_bytes_per_minute: u64,
) -> (Evidence, Evidence) {
    let latency = try_assert_no_latency_drift(report, max_p95_per_minute).or_panic();
    let memory = try_assert_no_memory_drift(report, max_bytes_per_minute).or_panic();
    (latency, memory)
}

/// `load.linear_scaling`: throughput grows in proportion to the users: for every level,
/// (throughput / first throughput) / (users / first users) is at least `1 - tolerance`.
/// `levels` are (users, report of a closed-model run of `duration`).
pub fn try_assert_scales_linearly(
    levels: &[(usize, &Report)],
    duration: Duration,
    tolerance: f64,
) -> Result<Evidence, Failure> {
    let title = format!(
        "throughput scales linearly with users (within {})",
        Quantity::ratio(tolerance)
    );
    let mut check = Check::new("load.linear_scaling", title, Category::CAPACITY);
    let rows: Vec<(usize, f64)> = levels
        .iter()
        .map(|(u, r)| (*u, r.throughput(duration)))
        .collect();
    let Some(&(u0, t0)) = rows.first().filter(|_| rows.len() >= 2) else {
        return Err(check.error(readiness_core::Error::InvalidInput(
            "linear scaling needs at least 2 user levels".into(),
        )));
    };
    if let Some((_, r)) = levels.first() {
        check = check.with_started_at(r.started_at);
    }
    let efficiency: Vec<f64> = rows
        .iter()
        .map(|&(u, t)| (t / t0.max(1e-9)) / (u as f64 / u0.max(1) as f64))
        .collect();
    let worst = efficiency.iter().copied().fold(f64::INFINITY, f64::min);
    let summary = rows
        .iter()
        .zip(&efficiency)
        .map(|(&(u, t), e)| format!("{u} users: {:.0}/s ({:.0}% efficient)", t, e * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    let check = check
        .with_scenario(format!(
            "closed model, {} per level",
            Quantity::duration(duration)
        ))
        .with_summary(summary)
        .with_attachment(Attachment::new(
            "scaling",
            "scaling/v1",
            serde_json::json!({ "levels": rows, "efficiency": efficiency }),
        ));
    check.judge_with(
        Threshold::at_least(Quantity::ratio((1.0 - tolerance).clamp(0.0, 1.0))),
        Quantity::ratio(worst.clamp(0.0, 1.0)),
    )
}

/// Panics unless [`try_assert_scales_linearly`] passes.
#[track_caller]
pub fn assert_scales_linearly(
    levels: &[(usize, &Report)],
    duration: Duration,
    tolerance: f64,
) -> Evidence {
    try_assert_scales_linearly(levels, duration, tolerance).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..20).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let s = slope(&line).expect("slope");
        assert!((s.per_second - 2.0).abs() < 1e-9 && (s.high - s.low) < 1e-6);
        let flat: Vec<(f64, f64)> = (0..20)
            .map(|x| (x as f64, if x % 2 == 0 { 10.0 } else { 11.0 }))
            .collect();
        let s = slope(&flat).expect("slope");
        assert!(
            s.low < 0.0 && s.high > 0.0,
            "the interval of noise holds zero: {s:?}"
        );
        assert!(slope(&line[..2]).is_none());
    }
}
