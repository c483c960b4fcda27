//! Stress and spike against a server of known capacity, on Tokio's paused clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use readiness_core::{Rate, Verdict};
use readiness_load::{BreakCriterion, ErrorClass, Spike, Stress, metrics::BoxedIteration};

fn rate(r: f64) -> Rate {
    Rate::per_second(r).expect("a rate")
}

/// A FIFO server that serves `capacity` requests per second, one at a time: a request waits
/// for its turn, then takes 1/capacity. Above capacity its queue (and latency) grows.
fn queue_server(capacity: f64) -> impl Fn(u64) -> BoxedIteration + Send + Sync + 'static {
    let service = Duration::from_secs_f64(1.0 / capacity);
    let next_free = Arc::new(Mutex::new(Instant::now()));
    move |_| {
        let done_at = {
            let mut free = next_free.lock().expect("lock");
            let start = (*free).max(Instant::now());
            *free = start + service;
            *free
        };
        Box::pin(async move {
            tokio::time::sleep_until(done_at).await;
            Ok::<(), ErrorClass>(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn stress_finds_the_ceiling_of_a_server_within_ten_percent() {
    let capacity = 400.0;
    let stress = Stress::new(
        "queue",
        rate(200.0),
        rate(40.0),
        rate(800.0),
        Duration::from_secs(2),
    )
    .expect("stress")
    .with_recorder(common::recorder())
    .with_break(BreakCriterion::new(
        readiness_core::Ratio::percent(1.0).expect("1%"),
        Duration::from_millis(100),
    ));
    let report = stress.run(queue_server(capacity)).await.expect("run");
    let ceiling = report.ceiling().expect("a step held").value();
    assert!(
        (ceiling - capacity).abs() <= capacity * 0.1,
        "ceiling {ceiling}/s, capacity {capacity}/s: {:?}",
        report.steps()
    );
    let broke = report.steps().last().expect("steps");
    assert!(
        broke.broke && broke.rate.value() > capacity,
        "{:?}",
        report.steps()
    );

    let ok = readiness_load::try_assert_capacity_at_least(&report, rate(300.0))
        .expect("360+/s >= 300/s");
    assert_eq!(ok.verdict, Verdict::Pass);
    let steps = ok
        .attachment::<readiness_core::StressSteps>()
        .expect("steps attached");
    assert_eq!(steps.ceiling, report.ceiling());
    let f = readiness_load::try_assert_capacity_at_least(&report, rate(600.0))
        .expect_err("below 600/s");
    let msg = f.to_string();
    assert!(
        msg.contains(
            "readiness criterion failed: load.capacity (capacity of queue at least 600/s)"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("(achieved by the highest step that held); broke at "),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stress_that_never_breaks_or_breaks_at_once_decides_only_what_its_bound_can() {
    let stress = Stress::new(
        "queue",
        rate(100.0),
        rate(100.0),
        rate(200.0),
        Duration::from_secs(1),
    )
    .expect("stress")
    .with_break(BreakCriterion::new(
        readiness_core::Ratio::percent(1.0).expect("1%"),
        Duration::from_millis(100),
    ))
    .with_recorder(common::recorder());
    // Capacity 1000/s: no step breaks; the capacity is at least ~200/s.
    let held = stress.run(queue_server(1000.0)).await.expect("run");
    assert!(held.steps().iter().all(|s| !s.broke));
    assert!(readiness_load::try_assert_capacity_at_least(&held, rate(150.0)).is_ok());
    let f = readiness_load::try_assert_capacity_at_least(&held, rate(500.0))
        .expect_err("never tested up to 500/s");
    assert_eq!(f.verdict(), Verdict::Error, "{f}");
    // Capacity 50/s: the first step breaks; below 100/s, so 150/s is missed, 20/s unknown.
    let broke = stress.run(queue_server(50.0)).await.expect("run");
    assert_eq!(broke.ceiling(), None);
    let f = readiness_load::try_assert_capacity_at_least(&broke, rate(150.0))
        .expect_err("below the first step");
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    assert!(f.to_string().contains("observed: at most 100/s"), "{f}");
    let f =
        readiness_load::try_assert_capacity_at_least(&broke, rate(20.0)).expect_err("undecided");
    assert_eq!(f.verdict(), Verdict::Error, "{f}");
}

/// 100/s for 2 s, a 5x spike (500/s) for 1 s, 100/s for 4 s.
fn five_x_of_100() -> Spike {
    Spike {
        baseline: readiness_core::Rate::per_second(100.0).expect("a rate"),
        factor: 5.0,
        before: Duration::from_secs(2),
        spike: Duration::from_secs(1),
        after: Duration::from_secs(4),
    }
}

#[tokio::test(start_paused = true)]
async fn spike_recovery_matches_the_servers_known_recovery_within_one_step() {
    // Capacity 300/s, baseline 100/s, a 5x spike (500/s) for 1 s: a backlog of
    // (500 - 300) x 1 s = 200 requests drains at 300 - 100 = 200/s, so the server is back
    // to baseline latency 1.0 s after the spike.
    let spike = five_x_of_100();
    let load = spike
        .load("queue")
        .expect("model")
        .with_recorder(common::recorder());
    let report = spike.run(&load, queue_server(300.0)).await.expect("run");
    let known = 1.0;
    let measured = report.recovery_time().expect("recovered").as_secs_f64();
    assert!(
        (measured - known).abs() <= 1.0,
        "measured {measured}s, known {known}s: {:?}",
        report.recovery()
    );
    assert!(
        readiness_load::try_assert_spike_recovers_within(&report, Duration::from_secs(3)).is_ok()
    );
    let f = readiness_load::try_assert_spike_recovers_within(&report, Duration::ZERO)
        .expect_err("not instant");
    assert!(f.to_string().contains("load.spike_recovery"), "{f}");
    assert!(f.to_string().contains("baseline band p95 <="), "{f}");
}

#[tokio::test(start_paused = true)]
async fn a_spike_judged_against_the_objective_recovers_when_latency_is_back_within_it() {
    let spike = five_x_of_100();
    let load = spike
        .load("queue")
        .expect("model")
        .with_recorder(common::recorder());
    let objective = Duration::from_millis(500);
    // Capacity 300/s: the backlog is gone a second after the spike; a looser band than the
    // baseline's is met no later.
    let report = spike.run(&load, queue_server(300.0)).await.expect("run");
    let relative = report.recovery_time().expect("recovered");
    let judged = report.with_objective(objective);
    assert_eq!(judged.band(), Some(objective));
    let absolute = judged.recovery_time().expect("recovered");
    assert!(
        absolute <= relative,
        "{absolute:?} after, {relative:?} against the baseline"
    );
    assert!(
        readiness_load::try_assert_spike_recovers_within(&judged, Duration::from_secs(2)).is_ok()
    );
    // Capacity 120/s: 380 requests behind after the spike drain at 20/s, about 19 s: not
    // back within the objective by the end of the run, a failure (at least 4 s).
    let report = spike.run(&load, queue_server(120.0)).await.expect("run");
    let f = readiness_load::try_assert_spike_recovers_within(
        &report.with_objective(objective),
        Duration::from_secs(2),
    )
    .expect_err("still queued");
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    let text = f.to_string();
    assert!(text.contains("objective p95 <= 500ms"), "{text}");
    assert!(text.contains("at least 4s"), "{text}");
}

#[test]
fn bad_stress_and_spike_input_is_refused() {
    let e = Stress::new(
        "x",
        rate(0.0),
        rate(10.0),
        rate(100.0),
        Duration::from_secs(1),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("0 < start <= max and step > 0"), "{e}");
    let e = Stress::new(
        "x",
        rate(10.0),
        rate(10.0),
        rate(100.0),
        Duration::from_millis(10),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("at least 1s"), "{e}");
    let spike = Spike {
        baseline: readiness_core::Rate::per_second(10.0).expect("a rate"),
        factor: 0.5,
        before: Duration::from_secs(1),
        spike: Duration::from_secs(1),
        after: Duration::from_secs(1),
    };
    let e = spike
        .model()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("spike factor must be 1 or more"), "{e}");
}
