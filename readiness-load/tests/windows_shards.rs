//! Windowed assertions, abort-on-breach and shards, on Tokio's paused clock.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use readiness_core::{Percentile, Ratio};
use readiness_load::{AbortRule, ErrorClass, Load, Model, Shard, metrics};

/// 5 ms, except 80 ms during seconds 2..3 of the run.
fn slow_in_third_second(
    t0: Instant,
) -> impl Fn(u64) -> metrics::BoxedIteration + Send + Sync + 'static {
    move |_| {
        Box::pin(async move {
            let slow = (2.0..3.0).contains(&t0.elapsed().as_secs_f64());
            tokio::time::sleep(Duration::from_millis(if slow { 80 } else { 5 })).await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_bad_window_fails_the_windowed_check_while_the_whole_run_passes() {
    let t0 = Instant::now();
    let model = Model::constant_rate(100.0, Duration::from_secs(5)).expect("model");
    let report = Load::new("windowed", model)
        .with_recorder(common::recorder())
        .run(slow_in_third_second(t0))
        .await
        .expect("run");
    // Over the whole run only 20% is slow: p50 is fine.
    assert!(
        readiness_load::try_assert_percentile_under(
            &report,
            Percentile::P50,
            Duration::from_millis(40)
        )
        .is_ok()
    );
    // Over the whole run p99 is the slow second's: a limit under it fails, one over passes
    // (each percentile judge with both verdicts).
    let p99 = readiness_load::try_assert_percentile_under(
        &report,
        Percentile::P99,
        Duration::from_millis(40),
    )
    .expect_err("p99 is the slow second's 80 ms");
    assert!(p99.to_string().contains("load.p99"), "{p99}");
    assert!(
        readiness_load::try_assert_percentile_under(
            &report,
            Percentile::P99,
            Duration::from_millis(150)
        )
        .is_ok()
    );
    let p50 = readiness_load::try_assert_percentile_under(
        &report,
        Percentile::P50,
        Duration::from_millis(2),
    )
    .expect_err("p50 is 5 ms");
    assert!(p50.to_string().contains("load.p50"), "{p50}");
    // In 1 s windows the third second's p50 is 80 ms.
    let failure = readiness_load::try_assert_percentile_under_in_every_window(
        &report,
        Percentile::P50,
        Duration::from_secs(1),
        Duration::from_millis(40),
    )
    .expect_err("the slow window fails");
    let msg = failure.to_string();
    assert!(msg.contains("load.p50_window"), "{msg}");
    assert!(msg.contains("worst window seconds 2..3"), "{msg}");
    // A limit the slow window meets passes.
    assert!(
        readiness_load::try_assert_percentile_under_in_every_window(
            &report,
            Percentile::P50,
            Duration::from_secs(1),
            Duration::from_millis(150)
        )
        .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn abort_on_breach_stops_a_run_that_has_already_lost() {
    let model = Model::constant_rate(100.0, Duration::from_secs(10)).expect("model");
    let report = Load::new("failing", model)
        .with_abort_on(AbortRule::ErrorRateOver {
            max: readiness_core::Ratio::percent(10.0).expect("10%"),
            window: Duration::from_secs(1),
            min_requests: 10,
        })
        .run(|_| async { Err(ErrorClass::Status5xx) })
        .await
        .expect("run");
    // Judged at the end of the first second (Tokio's timer wakes on whole milliseconds,
    // so an arrival or two of the next second may already have started).
    let why = report.aborted().expect("aborted");
    assert!(
        why.starts_with("error rate 100% over 10% in seconds 0..1"),
        "{why}"
    );
    assert!(
        (100..=105).contains(&report.attempts()),
        "stopped after the first second: {}",
        report.attempts()
    );
    assert!(
        report.elapsed() < Duration::from_millis(1100),
        "{:?}",
        report.elapsed()
    );

    // The same rule does not stop a healthy run.
    let model = Model::constant_rate(100.0, Duration::from_secs(2)).expect("model");
    let healthy = Load::new("healthy", model)
        .with_abort_on(AbortRule::PercentileOver {
            q: Percentile::P95,
            limit: Duration::from_millis(500),
            window: Duration::from_secs(1),
        })
        .run(|_| async { Ok(()) })
        .await
        .expect("run");
    assert_eq!(healthy.aborted(), None);
    assert_eq!(healthy.attempts(), 200);
}

#[test]
fn shard_parsing_says_what_to_write() {
    assert_eq!(Shard::parse("2/4").ok(), Some(Shard { index: 2, count: 4 }));
    for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
        let e = Shard::parse(bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("must be i/n with 1 <= i <= n"), "{bad}: {e}");
    }
    // Users split exactly, none twice.
    let shares: Vec<(u64, u64)> = (1..=3)
        .map(|i| readiness_load::shard_users(10, Shard { index: i, count: 3 }))
        .collect();
    assert_eq!(shares, vec![(4, 0), (3, 4), (3, 7)]);
}

#[tokio::test(start_paused = true)]
async fn three_shards_together_run_the_load_and_give_the_same_verdict_as_one_process() {
    let tx = |i: u64| async move {
        tokio::time::sleep(Duration::from_millis(if i.is_multiple_of(10) {
            30
        } else {
            3
        }))
        .await;
        Ok(())
    };
    let model = Model::constant_rate(150.0, Duration::from_secs(2)).expect("model");
    let whole = Load::new("sharded", model.clone())
        .with_shard(Shard { index: 1, count: 1 })
        .run(tx)
        .await
        .expect("run");
    let mut merged = metrics::Metrics::default();
    let mut iterations = Vec::new();
    for index in 1..=3 {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let part = Load::new("sharded", model.clone())
            .with_shard(Shard { index, count: 3 })
            .run(move |i| {
                record.lock().expect("lock").push(i);
                tx(i)
            })
            .await
            .expect("run");
        assert!(
            part.scenario().ends_with(&format!("shard {index}/3")),
            "{}",
            part.scenario()
        );
        merged.merge(part.metrics());
        iterations.extend(seen.lock().expect("lock").iter().copied());
    }
    iterations.sort_unstable();
    assert_eq!(
        iterations,
        (0..300).collect::<Vec<u64>>(),
        "every arrival once, across shards"
    );
    let (a, b) = (whole.metrics().total(), merged.total());
    assert_eq!(a.ok(), b.ok());
    let (a, b) = (a.latency(), b.latency());
    let p = |h: &hdrhistogram::Histogram<u64>, q| h.value_at_quantile(q) as f64 / 1000.0;
    for q in [0.5, 0.95] {
        assert!(
            (p(&a, q) - p(&b, q)).abs() < 6.0,
            "q{q}: one process {} ms, shards {} ms",
            p(&a, q),
            p(&b, q)
        );
    }
    // Same verdict on the same limits.
    let limit = Duration::from_millis(20);
    let one = a.value_at_quantile(0.95) <= limit.as_micros() as u64;
    let three = b.value_at_quantile(0.95) <= limit.as_micros() as u64;
    assert_eq!(one, three);
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_errors_fails_the_windowed_error_rate_and_shards_are_recorded() {
    let t0 = Instant::now();
    let model = Model::constant_rate(100.0, Duration::from_secs(4)).expect("model");
    // Errors only during second 1..2: 25% over the run, 100% in that window.
    let report = Load::new("bursty", model)
        .with_recorder(common::recorder())
        .with_shard(Shard { index: 1, count: 1 })
        .run(move |_| async move {
            if (1.0..2.0).contains(&t0.elapsed().as_secs_f64()) {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            }
        })
        .await
        .expect("run");
    let thirty = Ratio::percent(30.0).expect("30%");
    assert!(
        readiness_load::try_assert_error_rate_under(&report, thirty).is_ok(),
        "about 25% over the run"
    );
    let failure = readiness_load::try_assert_error_rate_under_in_every_window(
        &report,
        Duration::from_secs(1),
        thirty,
    )
    .expect_err("the burst window fails");
    let msg = failure.to_string();
    assert!(msg.contains("load.error_rate_window"), "{msg}");
    assert!(msg.contains("worst window seconds 1..2"), "{msg}");
    assert_eq!(
        failure.evidence().context.shard.as_deref(),
        Some("1/1"),
        "the shard is in the evidence"
    ); // A limit every window meets (the burst's 100%) passes: the judge has both verdicts.
    let evidence = readiness_load::try_assert_error_rate_under_in_every_window(
        &report,
        Duration::from_secs(1),
        Ratio::percent(100.0).expect("100%"),
    )
    .expect("every window at most 100%");
    assert_eq!(evidence.criterion.id, "load.error_rate_window");
}
