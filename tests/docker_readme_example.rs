//! The README's first readiness test, through the umbrella crate, so the README stays true.

use std::time::{Duration, Instant};

use readiness::{Category, Check, Quantity, Threshold, Verdict, containers};

#[tokio::test(flavor = "multi_thread")]
async fn docker_postgres_is_ready_within_five_seconds() {
    let started = Instant::now();
    let pg = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    let port = pg
        .get_host_port_ipv4(containers::POSTGRES_PORT)
        .await
        .unwrap();
    let probe = readiness::Probe::tcp(format!("127.0.0.1:{port}"))
        .unwrap()
        .until_ok(Duration::from_secs(5))
        .await;
    assert!(probe.first_ok.is_some(), "{:?}", probe.samples.last());

    let evidence = Check::new(
        "deps.postgres_ready",
        "PostgreSQL ready within 5s",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Quantity::secs(5.0)).unwrap())
    .with_scenario("fresh container")
    .with_attachment(probe.attachment())
    .assert(Quantity::duration(started.elapsed()));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert_eq!(evidence.attachments[0].kind, "probe_samples/v1");
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "readiness criterion failed: deps.postgres_ready (PostgreSQL ready within 1ms)"
)]
async fn docker_an_impossible_limit_fails_with_the_criterion_named() {
    let started = Instant::now();
    let _pg = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    Check::new(
        "deps.postgres_ready",
        "PostgreSQL ready within 1ms",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Quantity::millis(1.0)).unwrap())
    .assert(Quantity::duration(started.elapsed()));
}
