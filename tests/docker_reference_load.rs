//! The end-to-end readiness suite of the reference service, load criteria: each passes on
//! the healthy service and fails, with the right message, when a defect is switched on.
//! The service runs as a container next to PostgreSQL and Redis.

mod common;

use std::time::Duration;

use common::{self_test, stack};
use readiness::load::{Load, Model, http, soak, try_assert_no_memory_drift, try_assert_p95_under};
use readiness::{Bytes, Verdict};
use reference_service::stack::{Service, Stack, StackOptions};
use rstest::rstest;

async fn seed(s: &Stack) {
    let client = reqwest::Client::new();
    for i in 0..20 {
        let r = client
            .post(format!("{}/orders", s.url))
            .header("authorization", "Bearer write-token")
            .json(&serde_json::json!({ "customer": format!("c{}", i % 4), "item": "widget", "quantity": 1 }))
            .send()
            .await
            .expect("seed");
        assert_eq!(r.status(), 201);
    }
}

async fn search_load(s: &Stack) -> readiness::load::Report {
    let url = format!("{}/orders/search?customer=c1", s.url);
    let model = Model::constant_rate(20.0, Duration::from_secs(3)).expect("model");
    Load::new("search_orders", model)
        .with_recorder(self_test())
        .run(http::get(&url).with_timeout(Duration::from_secs(5)))
        .await
        .expect("run")
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_search_p95_passes_when_healthy(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    seed(&s).await;
    let report = search_load(&s).await;
    let evidence =
        try_assert_p95_under(&report, Duration::from_millis(150)).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_slow_search_defect_fails_search_p95(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_defect("slow_search"))]
    s: Stack,
) {
    seed(&s).await;
    let report = search_load(&s).await;
    let failure = try_assert_p95_under(&report, Duration::from_millis(150))
        .expect_err("slow_search must fail p95");
    let msg = failure.to_string();
    assert!(
        msg.contains(
            "readiness criterion failed: load.p95 (p95 latency of search_orders under 150ms)"
        ),
        "{msg}"
    );
    assert!(msg.contains("x over the limit"), "{msg}");
    assert!(msg.contains("/orders/search?customer=c1"), "{msg}");
}

async fn soak_run(s: &Stack) -> readiness::load::SoakReport {
    let url = format!("{}/health/live", s.url);
    let model = Model::constant_rate(200.0, Duration::from_secs(6)).expect("model");
    let Service::Container(service) = &s.service else {
        panic!("container mode")
    };
    let faults = readiness::dr::fault::Faults::new().await.expect("docker");
    let memory = faults.memory_of(service.as_ref());
    soak(
        &Load::new("live", model).with_recorder(self_test()),
        http::get(&url).with_timeout(Duration::from_secs(5)),
        Duration::from_millis(250),
        memory,
    )
    .await
    .expect("soak")
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_soak_memory_drift_passes_when_healthy(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let report = soak_run(&s).await;
    // Docker answers a stats call in about a second: a handful of samples.
    assert!(
        report.memory().len() >= 4,
        "{} memory samples",
        report.memory().len()
    );
    let ok = try_assert_no_memory_drift(&report, Bytes(32 * 1024 * 1024));
    if let Ok(e) = &ok {
        eprintln!("{}", e.summary.as_deref().unwrap_or_default());
    }
    assert!(
        ok.is_ok(),
        "{}",
        ok.err().map(|f| f.to_string()).unwrap_or_default()
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_leak_defect_fails_soak_memory_drift(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_defect("leak"))]
    s: Stack,
) {
    let report = soak_run(&s).await;
    let failure =
        try_assert_no_memory_drift(&report, Bytes(32 * 1024 * 1024)).expect_err("leak must fail");
    let msg = failure.to_string();
    assert!(
        msg.contains("readiness criterion failed: load.soak_memory"),
        "{msg}"
    );
}
