//! The review, availability: the dependencies and the service start in time, the service
//! says honestly whether it can serve, and a deploy fails no request.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use std::time::{Duration, Instant};

use readiness::dr::fault::Faults;
use readiness::dr::proxy::Proxy;
use readiness::dr::switch::{assert_zero_downtime_switch, switch};
use readiness::load::{Load, Model, http};
use readiness::observability::{HealthEndpoints, assert_health_accurate};
use readiness::{
    Category, Check, CheckResultExt as _, Error, Observation, Probe, Quantity, Threshold,
    containers,
};
use reference_service::stack::Stack;
use review::stack;
use rstest::rstest;

/// PostgreSQL answers a query within 10 s of `docker run`.
#[tokio::test]
async fn postgres_answers_a_query_within_10s() {
    let limit = Duration::from_secs(10);
    Check::new(
        "deps.postgres_ready",
        format!(
            "PostgreSQL answers a query within {}",
            Quantity::duration(limit)
        ),
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(limit))
    .with_scenario(
        "fresh container from the catalogue, time from start to the first answered query",
    )
    .run(async {
        let started = Instant::now();
        let container = containers::start(containers::postgres()?).await?;
        let port = container
            .get_host_port_ipv4(containers::POSTGRES_PORT)
            .await?;
        let url =
            format!("host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres");
        let refused = |e: tokio_postgres::Error| Error::TargetRefused {
            target: url.clone(),
            reason: e.to_string(),
        };
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(refused)?;
        tokio::spawn(connection);
        client.query_one("SELECT 1", &[]).await.map_err(refused)?;
        Ok(Observation::new(started.elapsed())
            .with_target(format!("postgres://127.0.0.1:{port}/postgres")))
    })
    .await
    .or_panic();
}

/// The whole stack (PostgreSQL, Redis, the service) starts and the service reports ready
/// within 15 s (it takes 1–2 s here, also with both cores busy); a stack that does not start
/// is an error of this criterion.
#[tokio::test]
async fn service_reports_ready_within_15s() {
    let mut started: Option<Stack> = None;
    Check::new(
        "svc.ready",
        "the service reports ready within 15s of its start",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Duration::from_secs(15)))
    .with_scenario("PostgreSQL, Redis and the service in containers, /health/ready probed")
    .run(async {
        let stack = started.insert(Stack::start_containers(review::options()).await?);
        let url = format!("{}/health/ready", stack.url);
        let report = Probe::http(&url)
            .with_interval(Duration::from_millis(100))
            .until_ok(Duration::from_secs(30))
            .await?;
        let observed = match report.first_ok {
            Some(after) => Observation::new(stack.started_in + after),
            // Not ready by the deadline: at least that long, never a made-up number.
            None => Observation::at_least(stack.started_in + report.elapsed),
        };
        Ok(observed
            .with_target(format!("GET {url}"))
            .with_attachment(report))
    })
    .await
    .or_panic();
}

/// `/health/ready` follows PostgreSQL: not ready while it is paused, ready again after.
#[rstest]
#[tokio::test]
async fn health_follows_its_database(#[future(awt)] stack: Stack) {
    let faults = Faults::new().await.expect("Docker answers");
    let watch = HealthEndpoints::new(&stack.url)
        .watch(
            "postgres",
            async { faults.pause(&stack.postgres).await.map(|_| ()) },
            async { faults.unpause(&stack.postgres).await.map(|_| ()) },
            Duration::from_secs(8),
        )
        .await;
    assert_health_accurate(&watch);
}

/// A deploy: the old instance behind the fault proxy, a load of 200 ms requests through it
/// (a new connection each, as behind a load balancer, so some are always in flight), the
/// switch to a new instance with connection draining and SIGTERM to the old one: no request
/// may fail, and the p99 across the switch stays under 1 s.
#[rstest]
#[tokio::test]
async fn a_deploy_fails_no_request(#[future(awt)] stack: Stack) {
    let debug = [("REFERENCE_DEBUG_ENDPOINTS", "1")];
    let (old, old_url) = stack
        .start_another_service_with(&debug)
        .await
        .expect("the old instance starts");
    let (_new, new_url) = stack
        .start_another_service_with(&debug)
        .await
        .expect("the new instance starts");
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start("front", host(&old_url))
        .await
        .expect("the proxy starts");
    let front = format!("http://{}/debug/sleep?ms=200", proxy.listen_addr());
    let model = Model::constant_rate(20.0, Duration::from_secs(5)).expect("a valid model");
    let load = Load::new("requests_across_switch", model);
    let run = load.run(
        http::get(&front)
            .with_new_connection_per_request()
            .with_timeout(Duration::from_secs(5)),
    );
    let faults = Faults::new().await.expect("Docker answers");
    let switching = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        switch(&proxy, &host(&new_url), Duration::from_secs(10), || async {
            Ok(vec![faults.kill(&old, "SIGTERM").await?])
        })
        .await
    };
    let (report, switched) = tokio::join!(run, switching);
    assert_zero_downtime_switch(
        &report.expect("the load ran"),
        &switched.expect("the switch ran"),
        Duration::from_secs(1),
    );
}
