//! The engine against transactions and servers with known behaviour.

use std::time::{Duration, Instant};

use readiness_core::{Percentile, Verdict};
use readiness_load::{ErrorClass, Load, Model, http, metrics};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 90% of iterations take 10 ms, 10% take 50 ms.
async fn bimodal(i: u64) -> Result<(), ErrorClass> {
    let d = if i % 10 == 9 { 50 } else { 10 };
    tokio::time::sleep(Duration::from_millis(d)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn percentiles_match_the_configured_latency_distribution() {
    let model = Model::constant_rate(200.0, Duration::from_secs(2)).expect("model");
    let report = Load::new("bimodal", model).run(bimodal).await.expect("run");
    assert_eq!(report.requests(), 400, "every scheduled iteration ran");
    assert_eq!(report.errors(), 0);
    let (p50, p95) = (
        ms(report.percentile(Percentile::P50)),
        ms(report.percentile(Percentile::P95)),
    );
    assert!((10.0..20.0).contains(&p50), "p50 {p50}ms, configured 10ms");
    assert!(
        (50.0..60.0).contains(&p95),
        "p95 {p95}ms, configured 50ms for the slowest 10%"
    );
    // Scheduling lag is measured for every start (its size is the benchmark's business:
    // bench/peers.sh, fixed-rate table).
    assert_eq!(report.metrics.lag.len(), 400, "a lag sample per start");
}

/// A target that stalls for `stall` at the start of every `period`, answering in `base`
/// otherwise: a request that arrives during a stall waits for its end.
fn stalling(
    t0: Instant,
    period: Duration,
    stall: Duration,
    base: Duration,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ErrorClass>> + Send>>
+ Send
+ Sync
+ 'static {
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

#[tokio::test(flavor = "multi_thread")]
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
        let observed = ms(open.percentile(Percentile::new(q).expect("p")));
        let expect = predicted(q / 100.0);
        assert!(
            (observed - expect).abs() < 35.0,
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
    let hidden = ms(closed.percentile(Percentile::new(90.0).expect("p")));
    assert!(
        hidden < 20.0,
        "uncorrected p90 {hidden:.1}ms shows no stall (that is the point)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_target_cannot_grow_in_flight_work_and_the_run_stays_bounded() {
    let model = Model::constant_rate(100.0, Duration::from_secs(1)).expect("model");
    let started = Instant::now();
    let report = Load::new("stuck", model)
        .with_max_in_flight(5)
        .with_drain(Duration::from_millis(200))
        .run(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded run: {:?}",
        started.elapsed()
    );
    assert_eq!(report.metrics.not_started, 95);
    assert_eq!(report.metrics.unfinished, 5);
    assert_eq!(report.error_rate(), 1.0);
    assert!(
        report.summary(Percentile::P95).contains("95 not started"),
        "{}",
        report.summary(Percentile::P95)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_target_gives_a_bounded_run_with_classified_errors_and_a_failing_verdict() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let tx = http::get(&url, Duration::from_secs(1), false).expect("transaction");
    let started = Instant::now();
    let report = Load::new(
        "refused",
        Model::constant_rate(50.0, Duration::from_secs(1)).expect("model"),
    )
    .with_target(format!("GET {url}"))
    .run(tx)
    .await
    .expect("run");
    assert!(started.elapsed() < Duration::from_secs(5));
    let total = report.metrics.total();
    assert_eq!(
        total.errors.get(&ErrorClass::Connect),
        Some(&50),
        "{:?}",
        total.errors
    );
    let failure =
        readiness_load::try_assert_error_rate_under(&report, 0.01).expect_err("must fail");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let msg = failure.to_string();
    assert!(
        msg.contains("readiness criterion failed: load.error_rate"),
        "{msg}"
    );
    assert!(msg.contains("50 connect"), "{msg}");
    assert!(msg.contains(&format!("target:   GET {url}")), "{msg}");
}

#[test]
fn non_loopback_urls_are_refused_before_any_traffic() {
    let err = http::get("http://192.0.2.10/", Duration::from_secs(1), false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("is not on loopback"), "{err}");
}

async fn quick_report() -> readiness_load::Report {
    let model = Model::constant_rate(100.0, Duration::from_secs(1)).expect("model");
    Load::new("quick", model)
        .with_target("in-process sleep")
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

#[tokio::test(flavor = "multi_thread")]
async fn p95_passes_and_fails_with_the_story() {
    let report = quick_report().await;
    let evidence = readiness_load::assert_p95_under(&report, Duration::from_millis(200));
    assert_eq!(evidence.criterion.id, "load.p95");
    let hist = evidence
        .attachments
        .iter()
        .find(|a| a.kind == "hdr_histogram/v2+base64")
        .expect("histogram attached");
    let decoded = metrics::decode(hist.data["histogram"].as_str().expect("text")).expect("decodes");
    assert_eq!(decoded.len(), report.requests());

    let failure =
        readiness_load::try_assert_p95_under(&report, Duration::from_millis(2)).expect_err("fails");
    let msg = failure.to_string();
    for needle in [
        "readiness criterion failed: load.p95 (p95 latency of quick under 2ms)",
        "required: at most 2ms",
        "observed: p95 ",
        "100 requests, 2% errors: 2 5xx",
        "x over the limit",
        "scenario: constant arrival rate 100/s for 1s",
        "target:   in-process sleep",
        "evidence: ",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from:\n{msg}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn percentile_error_rate_and_throughput_pass_and_fail() {
    let report = quick_report().await;
    assert!(
        readiness_load::try_assert_percentile_under(&report, 99.0, Duration::from_millis(200))
            .is_ok()
    );
    let bad =
        readiness_load::try_assert_percentile_under(&report, 101.0, Duration::from_millis(200))
            .expect_err("bad p");
    assert_eq!(bad.verdict(), Verdict::Error);
    assert!(
        bad.to_string()
            .contains("a percentile must be greater than 0 and at most 100"),
        "{bad}"
    );

    assert!(
        readiness_load::try_assert_error_rate_under(&report, 0.05).is_ok(),
        "2% < 5%"
    );
    let f = readiness_load::try_assert_error_rate_under(&report, 0.01).expect_err("2% > 1%");
    assert!(
        f.to_string().contains("margin:   2.00x over the limit"),
        "{f}"
    );

    let one_second = Duration::from_secs(1);
    assert!(
        readiness_load::try_assert_throughput_at_least(&report, one_second, 90.0).is_ok(),
        "98/s"
    );
    let f = readiness_load::try_assert_throughput_at_least(&report, one_second, 200.0)
        .expect_err("98/s < 200/s");
    assert!(f.to_string().contains("observed: p95"), "{f}");
    assert!(f.to_string().contains("required: at least 200/s"), "{f}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ramping_virtual_users_raise_throughput_stage_by_stage() {
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
    let per_second: Vec<u64> = report.metrics.seconds.iter().map(|s| s.ok).collect();
    assert!(per_second.len() >= 3, "{per_second:?}");
    // About 2.5, 7.5 and 10 users at ~90 iterations per user-second.
    assert!(
        per_second[0] < per_second[1] && per_second[1] < per_second[2],
        "{per_second:?}"
    );
    assert!(
        (500..=1100).contains(&per_second[2]),
        "10 users x 10 ms: {per_second:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mix_of_named_transactions_has_metrics_per_name() {
    let mix = readiness_load::Mix::new()
        .with("browse", 3, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        })
        .with("checkout", 1, |i| async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            if i % 8 == 3 {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            }
        });
    let model = Model::constant_rate(200.0, Duration::from_secs(2)).expect("model");
    let report = Load::new("shop", model).run_mix(mix).await.expect("run");
    let browse = report.transaction("browse").expect("browse");
    let checkout = report.transaction("checkout").expect("checkout");
    assert_eq!(
        (browse.requests(), checkout.requests(), report.requests()),
        (300, 100, 400)
    );
    assert_eq!(browse.errors(), 0);
    assert_eq!(
        checkout.errors(),
        50,
        "every 2nd checkout iteration (i % 8 == 3) fails"
    );
    assert!(readiness_load::try_assert_p95_under(&browse, Duration::from_millis(25)).is_ok());
    let f = readiness_load::try_assert_p95_under(&checkout, Duration::from_millis(25))
        .expect_err("checkout is slow");
    assert!(
        f.to_string()
            .contains("load.p95 (p95 latency of checkout under 25ms)"),
        "{f}"
    );
    assert!(report.transaction("nope").is_none());
}
