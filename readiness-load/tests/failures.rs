//! Every failure block the load engine's assertions print, pinned by snapshots: a change
//! to what a user reads when a criterion fails is seen in review. The runs are on Tokio's
//! paused clock, so every number in them is exact.

mod common;

use std::time::Duration;

use readiness_core::{Bytes, Failure, Percentile, Rate, Ratio};
use readiness_load::{
    BreakCriterion, ErrorClass, Load, Model, Report, Spike, Stress, metrics::BoxedIteration,
};

/// The failure block with the evidence directory and the process id redacted.
fn redacted(failure: Failure) -> String {
    failure.redacted(&common::self_test_dir())
}

fn rate(r: f64) -> Rate {
    Rate::per_second(r).expect("a rate")
}

fn percent(p: f64) -> Ratio {
    Ratio::percent(p).expect("a percentage")
}

/// 100/s for 2 s against a transaction: 10 ms, 80 ms for every 10th, a 5xx every 25th
/// (and a connection refused every 50th), slower in the second second.
async fn run(name: &str, model: Model) -> Report {
    Load::new(name, model)
        .with_target("GET http://127.0.0.1:8080/orders (in-process)")
        .with_recorder(common::recorder())
        .with_drain(Duration::from_millis(500))
        .run(|i| async move {
            let slow = if i % 10 == 9 { 80 } else { 10 };
            let second = if i >= 100 { 30 } else { 0 };
            tokio::time::sleep(Duration::from_millis(slow + second)).await;
            match i {
                _ if i % 50 == 49 => Err(ErrorClass::Connect),
                _ if i % 25 == 24 => Err(ErrorClass::Status5xx),
                _ => Ok(()),
            }
        })
        .await
        .expect("run")
}

async fn orders() -> Report {
    run(
        "orders",
        Model::constant_rate(100.0, Duration::from_secs(2)).expect("model"),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn latency_error_rate_and_throughput() {
    let report = orders().await;
    let ms = Duration::from_millis;
    let p95 = readiness_load::try_assert_p95_under(&report, ms(50)).expect_err("p95 misses");
    insta::assert_snapshot!("p95", redacted(p95));
    let p99 = readiness_load::try_assert_percentile_under(&report, Percentile::P99, ms(100))
        .expect_err("p99 misses");
    insta::assert_snapshot!("p99", redacted(p99));
    let errors =
        readiness_load::try_assert_error_rate_under(&report, percent(1.0)).expect_err("6% > 1%");
    insta::assert_snapshot!("error_rate", redacted(errors));
    let throughput = readiness_load::try_assert_throughput_at_least(&report, rate(150.0))
        .expect_err("94/s < 150/s");
    insta::assert_snapshot!("throughput", redacted(throughput));
    let window = readiness_load::try_assert_percentile_under_in_every_window(
        &report,
        Percentile::P50,
        Duration::from_secs(1),
        ms(20),
    )
    .expect_err("the second second is slow");
    insta::assert_snapshot!("p50_window", redacted(window));
    let errors_window = readiness_load::try_assert_error_rate_under_in_every_window(
        &report,
        Duration::from_secs(1),
        percent(1.0),
    )
    .expect_err("every window has errors");
    insta::assert_snapshot!("error_rate_window", redacted(errors_window));
}

#[tokio::test(start_paused = true)]
async fn nothing_to_judge() {
    let silent = Load::new(
        "silent",
        Model::constant_rate(50.0, Duration::from_secs(1)).expect("model"),
    )
    .with_target("GET http://127.0.0.1:8080/orders (accepts, never answers)")
    .with_recorder(common::recorder())
    .with_drain(Duration::from_millis(300))
    .run(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    })
    .await
    .expect("run");
    let p95 = readiness_load::try_assert_p95_under(&silent, Duration::from_millis(100))
        .expect_err("nothing succeeded");
    insta::assert_snapshot!("p95_silent_target", redacted(p95));

    let nothing = nothing_due().await;
    let errors = readiness_load::try_assert_error_rate_under(&nothing, percent(1.0))
        .expect_err("nothing due");
    insta::assert_snapshot!("error_rate_nothing_due", redacted(errors));
}

/// `users` virtual users for 1 s behind a lock that lets two through at a time: eight do
/// no more than two.
async fn gated(users: usize) -> Report {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
    Load::new(
        "orders",
        Model::closed(users, Duration::from_secs(1)).expect("model"),
    )
    .with_recorder(common::recorder())
    .run(move |_| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        }
    })
    .await
    .expect("run")
}

/// A run in which no iteration was ever due: its only user arrives as the run ends.
async fn nothing_due() -> Report {
    let model = Model::ramping_users(
        0,
        &[(Duration::from_secs(1), 0), (Duration::from_millis(1), 1)],
    )
    .expect("model");
    let report = Load::new("orders", model)
        .with_recorder(common::recorder())
        .run(|_| async { Ok(()) })
        .await
        .expect("run");
    assert_eq!(report.attempts(), 0, "nothing was due");
    report
}

/// A FIFO server of `capacity` requests per second.
fn queue(capacity: f64) -> impl Fn(u64) -> BoxedIteration + Send + Sync + 'static {
    let service = Duration::from_secs_f64(1.0 / capacity);
    let next_free = std::sync::Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    move |_| {
        let done_at = {
            let mut free = next_free.lock().expect("lock");
            let start = (*free).max(tokio::time::Instant::now());
            *free = start + service;
            *free
        };
        Box::pin(async move {
            tokio::time::sleep_until(done_at).await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn capacity_and_spike() {
    let stress = Stress::new(
        "orders",
        rate(100.0),
        rate(100.0),
        rate(400.0),
        Duration::from_secs(1),
    )
    .expect("stress")
    .with_break(BreakCriterion::new(
        readiness_core::Ratio::percent(1.0).expect("1%"),
        Duration::from_millis(100),
    ))
    .with_target("in-process queue of 250/s")
    .with_recorder(common::recorder());
    let steps = stress.run(queue(250.0)).await.expect("stress");
    let capacity = readiness_load::try_assert_capacity_at_least(&steps, rate(300.0))
        .expect_err("ceiling 200/s");
    insta::assert_snapshot!("capacity", redacted(capacity));
    let undecided = stress.run(queue(50.0)).await.expect("stress");
    let capacity = readiness_load::try_assert_capacity_at_least(&undecided, rate(20.0))
        .expect_err("the first step broke");
    insta::assert_snapshot!("capacity_undecided", redacted(capacity));

    let spike = Spike {
        baseline: readiness_core::Rate::per_second(100.0).expect("a rate"),
        factor: 5.0,
        before: Duration::from_secs(2),
        spike: Duration::from_secs(1),
        after: Duration::from_secs(3),
    };
    let load = spike
        .load("orders")
        .expect("model")
        .with_recorder(common::recorder());
    let spiked = spike.run(&load, queue(250.0)).await.expect("spike");
    let recovery = readiness_load::try_assert_spike_recovers_within(&spiked, Duration::ZERO)
        .expect_err("not instant");
    insta::assert_snapshot!("spike_recovery", redacted(recovery));
}

#[tokio::test(start_paused = true)]
async fn drift_and_scaling() {
    // A target that keeps 1 MiB more every second (with a little noise) and answers 1 ms
    // slower every second, soaked for 20 s on the paused clock.
    let soaked = |every: Duration| async move {
        let start = tokio::time::Instant::now();
        let load = Load::new(
            "orders",
            Model::constant_rate(10.0, Duration::from_secs(20)).expect("model"),
        )
        .with_target("GET http://127.0.0.1:8080/orders (in-process)")
        .with_recorder(common::recorder());
        let slower = move |_| async move {
            let ms = 10 + start.elapsed().as_secs();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        };
        let memory = move || async move {
            let s = start.elapsed().as_secs();
            Some(100_000_000 + s * 1_048_576 + (s % 3) * 10_000)
        };
        readiness_load::soak(&load, slower, every, memory)
            .await
            .expect("soak")
    };
    let soak = soaked(Duration::from_secs(1)).await;
    let memory = readiness_load::try_assert_no_memory_drift(&soak, Bytes(8 * 1024 * 1024))
        .expect_err("60 MiB a minute");
    insta::assert_snapshot!("soak_memory", redacted(memory));
    let latency = readiness_load::try_assert_no_latency_drift(&soak, Duration::from_millis(10))
        .expect_err("60 ms a minute");
    insta::assert_snapshot!("soak_latency", redacted(latency));
    // A sample every 15 s: two samples in a 20 s soak, too few for a slope.
    let short = soaked(Duration::from_secs(15)).await;
    let memory = readiness_load::try_assert_no_memory_drift(&short, Bytes(8 * 1024 * 1024))
        .expect_err("two samples");
    insta::assert_snapshot!("soak_memory_too_few_samples", redacted(memory));
    // Two seconds of load: too few for a slope of p95.
    let brief = Load::new(
        "orders",
        Model::constant_rate(10.0, Duration::from_secs(2)).expect("model"),
    )
    .with_recorder(common::recorder());
    let brief = readiness_load::soak(
        &brief,
        |_| async { Ok(()) },
        Duration::from_secs(1),
        || async { None },
    )
    .await
    .expect("soak");
    let latency = readiness_load::try_assert_no_latency_drift(&brief, Duration::from_millis(10))
        .expect_err("two seconds");
    assert_eq!(
        latency.verdict(),
        readiness_core::Verdict::Error,
        "{latency}"
    );
    assert!(
        latency.to_string().contains("3 needed for a slope"),
        "{latency}"
    );

    let eight = run(
        "orders",
        Model::closed(8, Duration::from_secs(1)).expect("model"),
    )
    .await;
    // Behind a lock that lets two through at a time, eight users do no more than two.
    let two = gated(2).await;
    let flat = gated(8).await;
    let scaling =
        readiness_load::try_assert_scales_linearly(&[(2, &two), (8, &flat)], percent(20.0))
            .expect_err("flat");
    insta::assert_snapshot!("linear_scaling", redacted(scaling));
    let none = nothing_due().await;
    let scaling =
        readiness_load::try_assert_scales_linearly(&[(2, &none), (8, &eight)], percent(20.0))
            .expect_err("nothing to scale from");
    insta::assert_snapshot!("linear_scaling_nothing", redacted(scaling));
}
