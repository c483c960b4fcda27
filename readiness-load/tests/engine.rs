//! The engine against transactions with known behaviour, on Tokio's paused clock: every
//! start time, latency and count is exact, so the tests judge the engine and never the
//! machine.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use readiness_core::{Percentile, Rate, Ratio, Verdict};
use readiness_load::{ErrorClass, Load, Mix, Model, Report, metrics};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p(report: &Report, q: f64) -> f64 {
    ms(report
        .percentile(Percentile::new(q).expect("percentile"))
        .expect("timed"))
}

/// 90% of iterations take 10 ms, 10% take 50 ms.
async fn bimodal(i: u64) -> Result<(), ErrorClass> {
    let d = if i % 10 == 9 { 50 } else { 10 };
    tokio::time::sleep(Duration::from_millis(d)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn percentiles_match_the_configured_latency_distribution() {
    let model = Model::constant_rate(200.0, Duration::from_secs(2)).expect("model");
    let report = Load::new("bimodal", model).run(bimodal).await.expect("run");
    assert_eq!(report.attempts(), 400, "every scheduled iteration ran");
    assert_eq!(report.failed(), 0);
    // HDR keeps 3 significant figures: 10 ms reads back as at most 10.007 ms.
    assert!(
        (10.0..10.01).contains(&p(&report, 50.0)),
        "p50 {}",
        p(&report, 50.0)
    );
    assert!(
        (50.0..50.05).contains(&p(&report, 95.0)),
        "p95 {}",
        p(&report, 95.0)
    );
    assert_eq!(report.metrics().lag().len(), 400, "a lag sample per start");
    assert_eq!(
        report.metrics().lag().max(),
        1,
        "on the paused clock every start is on time"
    );
}

/// A target that stalls for `stall` at the start of every `period`, answering in `base`
/// otherwise: a request that arrives during a stall waits for its end.
fn stalling(
    t0: Instant,
    period: Duration,
    stall: Duration,
    base: Duration,
) -> impl Fn(u64) -> metrics::BoxedIteration + Send + Sync + 'static {
    move |_| {
        Box::pin(async move {
            let phase = Duration::from_nanos((t0.elapsed().as_nanos() % period.as_nanos()) as u64);
            if phase < stall {
                tokio::time::sleep(stall - phase).await;
            }
            tokio::time::sleep(base).await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn corrected_percentiles_match_the_stall_model_where_uncorrected_hide_it() {
    // Stalls of S = 250 ms every P = 1 s. In the open model a fraction f = S/P = 25% of the
    // intended starts fall in a stall and wait its remainder, uniform on (0, S); so for
    // q > 1 - f the corrected latency is base + S * (q - (1 - f)) / f:
    // p90 = 150 ms, p99 = 240 ms (+ base 2 ms).
    let (period, stall, base) = (
        Duration::from_secs(1),
        Duration::from_millis(250),
        Duration::from_millis(2),
    );
    let f = stall.as_secs_f64() / period.as_secs_f64();
    let predicted = |q: f64| ms(base) + ms(stall) * (q - (1.0 - f)) / f;

    let t0 = Instant::now();
    let model = Model::constant_rate(200.0, Duration::from_secs(4)).expect("model");
    let open = Load::new("stalling", model)
        .run(stalling(t0, period, stall, base))
        .await
        .expect("run");
    for q in [90.0, 99.0] {
        let (observed, expect) = (p(&open, q), predicted(q / 100.0));
        assert!(
            (observed - expect).abs() < 6.0,
            "corrected p{q}: observed {observed:.1}ms, model predicts {expect:.1}ms"
        );
    }

    // One closed-model user meets each stall once per period: the stall is hidden.
    let t0 = Instant::now();
    let closed = Load::new(
        "stalling",
        Model::closed(1, Duration::from_secs(4)).expect("model"),
    )
    .run(stalling(t0, period, stall, base))
    .await
    .expect("run");
    let hidden = p(&closed, 90.0);
    assert!(
        hidden < 3.0,
        "uncorrected p90 {hidden:.1}ms shows no stall (that is the point)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_target_cannot_grow_in_flight_work_and_the_run_stays_bounded() {
    let model = Model::constant_rate(100.0, Duration::from_secs(1)).expect("model");
    let report = Load::new("stuck", model)
        .with_max_in_flight(5)
        .with_drain(Duration::from_millis(200))
        .run(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .expect("run");
    // The last arrival is due at 0.99 s; the drain ends 200 ms later.
    assert_eq!(report.elapsed(), Duration::from_millis(1190), "bounded run");
    assert_eq!(report.not_started(), 95);
    assert_eq!(report.unfinished(), 5);
    assert_eq!(report.error_rate(), Some(Ratio::ONE));
    let summary = report.summary();
    assert!(
        summary.contains("95 not started, 5 unfinished"),
        "{summary}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_target_is_an_error_never_a_pass() {
    // Every request outlives the drain: before the fix this run reported 0 requests and
    // passed p95 < 100 ms with an observed 0 ms.
    let model = Model::constant_rate(50.0, Duration::from_secs(1)).expect("model");
    let report = Load::new("silent", model)
        .with_recorder(common::recorder())
        .with_target("GET http://127.0.0.1:9/ (accepts, never answers)")
        .with_drain(Duration::from_millis(300))
        .run(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .expect("run");
    assert_eq!((report.attempts(), report.unfinished()), (50, 50));
    // The oldest was due at 0 s, the drain ended at 0.98 s + 300 ms: its age is 1.28 s
    // (HDR keeps 3 significant figures: 1.28 s reads back as at most 1.2811 s).
    let oldest = ms(report
        .percentile(Percentile::new(100.0).expect("p"))
        .expect("timed"));
    assert!(
        (1280.0..1281.1).contains(&oldest),
        "an unfinished iteration counts at its age: {oldest}ms"
    );
    let failure = readiness_load::try_assert_p95_under(&report, Duration::from_millis(100))
        .expect_err("nothing succeeded");
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        failure
            .to_string()
            .contains("nothing to judge: no iteration succeeded: 50 unfinished"),
        "{failure}"
    );
    // The error rate, on the other hand, was measured: 100% failed.
    let failure =
        readiness_load::try_assert_error_rate_under(&report, Ratio::percent(1.0).expect("1%"))
            .expect_err("all failed");
    assert_eq!(failure.verdict(), Verdict::Fail);
}

#[tokio::test(start_paused = true)]
async fn a_few_hanging_iterations_keep_every_completed_one() {
    // 6 of 300 never come back: before the fix the whole run was dropped (0 requests).
    let model = Model::constant_rate(300.0, Duration::from_secs(1)).expect("model");
    let report = Load::new("hang6", model)
        .with_recorder(common::recorder())
        .with_drain(Duration::from_millis(300))
        .run(|i| async move {
            if i % 50 == 7 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(())
        })
        .await
        .expect("run");
    assert_eq!(
        (report.attempts(), report.succeeded(), report.unfinished()),
        (300, 294, 6)
    );
    // Each hanging one sits in the second it was meant to start in.
    let per_second: Vec<u64> = report
        .metrics()
        .seconds()
        .iter()
        .map(|s| {
            s.errors()
                .get(&ErrorClass::Unfinished)
                .copied()
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(per_second, vec![6]);
    // 2% hang: p95 is the healthy 2 ms (Tokio's timer fires on whole milliseconds, so a
    // 2 ms sleep from an arrival between ticks takes up to 3 ms), p99 is at least the drain.
    assert!(p(&report, 95.0) < 3.0, "p95 {}", p(&report, 95.0));
    assert!(p(&report, 99.0) >= 300.0, "p99 {}", p(&report, 99.0));
    assert!(
        readiness_load::try_assert_p95_under(&report, Duration::from_millis(5)).is_ok(),
        "the p95 of 294 fast answers passes"
    );
    let f = readiness_load::try_assert_percentile_under(
        &report,
        Percentile::P99,
        Duration::from_millis(5),
    )
    .expect_err("the hanging 2% fail p99");
    assert!(
        f.to_string().contains("6 iterations were still running"),
        "{f}"
    );
    let e = readiness_load::try_assert_error_rate_under(&report, Ratio::percent(1.0).expect("1%"))
        .expect_err("2% > 1%");
    assert!(e.to_string().contains("observed: 2%"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_closed_mix_runs_each_transaction_by_its_weight() {
    // Before the fix: weights 3:1 over 2 users ran 15,882 to 0.
    let model = Model::closed(2, Duration::from_secs(2)).expect("model");
    let step = || async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(())
    };
    let mix = Mix::new()
        .with("a", 3, move |_| step())
        .with("b", 1, move |_| step());
    let report = Load::new("mix", model).run_mix(mix).await.expect("run");
    let a = report.transaction("a").expect("a").attempts();
    let b = report.transaction("b").expect("b").attempts();
    assert_eq!(a + b, 4000, "2 users x 2 s / 1 ms");
    let share = a as f64 / (a + b) as f64;
    assert!((share - 0.75).abs() < 0.01, "a ran {a}, b ran {b}");
}

#[tokio::test(start_paused = true)]
async fn iteration_ids_are_unique_in_both_models() {
    for model in [
        Model::closed(4, Duration::from_millis(100)).expect("closed"),
        Model::constant_rate(500.0, Duration::from_secs(1)).expect("open"),
    ] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let report = Load::new("ids", model.clone())
            .run(move |i| {
                log.lock().expect("lock").push(i);
                async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok(())
                }
            })
            .await
            .expect("run");
        let mut ids = seen.lock().expect("lock").clone();
        ids.sort_unstable();
        let n = ids.len() as u64;
        assert_eq!(
            ids,
            (0..n).collect::<Vec<_>>(),
            "{model}: ids 0..{n}, each once"
        );
        assert_eq!(report.attempts(), n);
    }
}

#[tokio::test(start_paused = true)]
async fn ramping_virtual_users_follow_the_stages_second_by_second() {
    let model = Model::ramping_users(
        0,
        &[(Duration::from_secs(2), 10), (Duration::from_secs(1), 10)],
    )
    .expect("model");
    let report = Load::new("ramp", model)
        .run(|_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })
        .await
        .expect("run");
    let per_second: Vec<u64> = report.metrics().seconds().iter().map(|s| s.ok()).collect();
    assert_eq!(per_second.len(), 3, "{per_second:?}");
    // About 2.5, 7.5 and 10 users at 100 iterations per user-second.
    assert!(
        per_second[0] < per_second[1] && per_second[1] < per_second[2],
        "{per_second:?}"
    );
    assert_eq!(per_second[2], 1000, "10 users x 10 ms: {per_second:?}");
}

async fn quick_report() -> Report {
    let model = Model::constant_rate(100.0, Duration::from_secs(1)).expect("model");
    Load::new("quick", model)
        .with_target("in-process sleep")
        .with_recorder(common::recorder())
        .run(|i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if i % 50 == 0 {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            }
        })
        .await
        .expect("run")
}

#[tokio::test(start_paused = true)]
async fn p95_passes_and_its_evidence_rederives_the_number() {
    let report = quick_report().await;
    let evidence = readiness_load::assert_p95_under(&report, Duration::from_millis(200));
    assert_eq!(evidence.criterion.id, "load.p95");
    assert_eq!(evidence.subject, "quick/load.p95");
    let hist = evidence
        .attachment::<readiness_core::LatencyHistogram>()
        .expect("histogram attached");
    // 98 answers judged; the two fast 500s are kept apart in the timeline, not judged.
    assert_eq!(hist.histogram.decode().expect("decodes").len(), 98);
    let timeline = evidence
        .attachment::<readiness_core::Timeline>()
        .expect("timeline attached");
    let failed: u64 = timeline
        .seconds
        .iter()
        .filter_map(|s| s.failed_histogram.as_ref())
        .map(|h| h.decode().expect("decodes").len())
        .sum();
    assert_eq!(failed, 2);
    assert_eq!(evidence.verify(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn error_rate_and_throughput_pass_and_fail_with_the_observed_quantity() {
    let report = quick_report().await;
    assert_eq!(report.error_rate(), Some(Ratio::new(0.02).expect("2%")));
    let five = Ratio::percent(5.0).expect("5%");
    assert!(readiness_load::try_assert_error_rate_under(&report, five).is_ok());
    let f = readiness_load::try_assert_error_rate_under(&report, Ratio::percent(1.0).expect("1%"))
        .expect_err("2% > 1%");
    assert!(
        f.to_string().contains("margin:   2.00x over the limit"),
        "{f}"
    );

    let ninety = Rate::per_second(90.0).expect("rate");
    let ok = readiness_load::try_assert_throughput_at_least(&report, ninety).expect("98/s");
    assert_eq!(ok.verify(), Ok(()));
    let f = readiness_load::try_assert_throughput_at_least(
        &report,
        Rate::per_second(200.0).expect("rate"),
    )
    .expect_err("98/s < 200/s");
    // Before the fix the observed line printed the p95.
    assert!(f.to_string().contains("observed: 98/s\n"), "{f}");
}

#[tokio::test(start_paused = true)]
async fn a_mix_of_named_transactions_has_metrics_per_name() {
    let mix = Mix::new()
        .with("browse", 3, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        })
        .with("checkout", 1, |_| async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Err(ErrorClass::Status5xx)
        });
    let model = Model::constant_rate(200.0, Duration::from_secs(2)).expect("model");
    let report = Load::new("shop", model)
        .with_recorder(common::recorder())
        .run_mix(mix)
        .await
        .expect("run");
    let browse = report.transaction("browse").expect("browse");
    let checkout = report.transaction("checkout").expect("checkout");
    assert_eq!(browse.attempts() + checkout.attempts(), 400);
    assert!(
        browse.attempts().abs_diff(300) <= 8,
        "{}",
        browse.attempts()
    );
    assert_eq!(browse.failed(), 0);
    assert_eq!(checkout.failed(), checkout.attempts());
    assert!(readiness_load::try_assert_p95_under(&browse, Duration::from_millis(25)).is_ok());
    let f = readiness_load::try_assert_p95_under(&checkout, Duration::from_millis(25))
        .expect_err("nothing of checkout succeeded");
    assert_eq!(f.verdict(), Verdict::Error);
    assert!(f.to_string().contains("no iteration succeeded"), "{f}");
    assert!(report.transaction("nope").is_none());
}

#[tokio::test(start_paused = true)]
async fn with_nothing_due_every_criterion_is_an_error() {
    // A transaction of a mix whose weight is zero: it was never due.
    let model = Model::constant_rate(100.0, Duration::from_secs(1)).expect("model");
    let mix = readiness_load::Mix::new()
        .with("busy", 1, |_| async { Ok(()) })
        .with("never", 0, |_| async { Ok(()) });
    let report = Load::new("quick", model)
        .with_recorder(common::recorder())
        .run_mix(mix)
        .await
        .expect("run")
        .transaction("never")
        .expect("a transaction of the mix");
    assert_eq!(report.attempts(), 0);
    let second = Duration::from_secs(1);
    let results = [
        readiness_load::try_assert_p95_under(&report, second),
        readiness_load::try_assert_error_rate_under(&report, Ratio::ONE),
        readiness_load::try_assert_throughput_at_least(
            &report,
            Rate::per_second(0.0).expect("rate"),
        ),
        readiness_load::try_assert_percentile_under_in_every_window(
            &report,
            Percentile::P95,
            second,
            second,
        ),
        readiness_load::try_assert_error_rate_under_in_every_window(&report, second, Ratio::ONE),
    ];
    for r in results {
        let f = r.expect_err("nothing to judge");
        assert_eq!(f.verdict(), Verdict::Error, "{f}");
        assert!(
            f.to_string()
                .contains("nothing to judge: no iteration was due"),
            "{f}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_transaction_that_panics_is_a_failed_iteration_saying_so() {
    let model = Model::constant_rate(10.0, Duration::from_secs(1)).expect("model");
    let report = Load::new("panics", model)
        .run(|i| async move {
            assert!(i % 2 == 0, "odd iteration {i}");
            Ok(())
        })
        .await
        .expect("run");
    assert_eq!((report.attempts(), report.succeeded()), (10, 5));
    assert_eq!(
        report.unfinished(),
        0,
        "a panic is not an iteration still running"
    );
    let total = report.metrics().total();
    assert!(
        total.errors().keys().any(|k| k
            .to_string()
            .starts_with("user: the transaction panicked: odd iteration")),
        "{:?}",
        total.errors()
    );
}
