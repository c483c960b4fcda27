//! The README's first readiness test, word for word, through the umbrella crate, so the
//! README stays true (the README's blocks are also compiled as doc tests of `readiness`).

use std::time::{Duration, Instant};

use readiness::{Category, Check, CheckResultExt, Probe, Recorder, Threshold, Verdict, containers};

/// The harness's own tests write where a user's report never looks.
fn self_test() -> Recorder {
    Recorder::new(readiness::settings::target_dir().join("readiness-self-test"))
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_postgres_is_ready_within_five_seconds() {
    let evidence = Check::new(
        "deps.postgres_ready",
        "PostgreSQL ready within 5s",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Duration::from_secs(5)))
    .with_scenario("fresh container")
    .with_recorder(self_test())
    .run(async {
        let started = Instant::now();
        let pg = containers::start(containers::postgres()?).await?;
        let port = pg.get_host_port_ipv4(containers::POSTGRES_PORT).await?;
        Probe::tcp(format!("127.0.0.1:{port}"))
            .until_ok(Duration::from_secs(5))
            .await?;
        Ok(started.elapsed())
    })
    .await
    .or_panic();
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert_eq!(evidence.verify(), Ok(()));
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "readiness criterion failed: deps.postgres_ready (PostgreSQL ready within 1ms)"
)]
async fn docker_an_impossible_limit_fails_with_the_criterion_named() {
    Check::new(
        "deps.postgres_ready",
        "PostgreSQL ready within 1ms",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Duration::from_millis(1)))
    .with_recorder(self_test())
    .run(async {
        let started = Instant::now();
        let _pg = containers::start(containers::postgres()?).await?;
        Ok(started.elapsed())
    })
    .await
    .or_panic();
}
