//! The end-to-end readiness suite of the reference service, recovery criteria: each passes
//! on the healthy service and fails, with the right message, when a defect is switched on.
//! The service runs as a container next to PostgreSQL and Redis.

mod common;

use std::time::Duration;

use common::{self_test, stack};
use readiness::dr::degrade::{
    fast_answers, try_assert_circuit_opens_within, try_assert_degrades_gracefully,
};
use readiness::dr::fault::Faults;
use readiness::dr::history::{History, Writer, try_assert_no_acknowledged_write_lost};
use readiness::dr::proxy::Proxy;
use readiness::dr::recovery::{Health, Recovery, RecoveryReport, try_assert_rto_within};
use readiness::dr::rollback::{Decision, RollbackPolicy, Rollout, try_assert_rollback_within};
use readiness::dr::switch::{Switched, switch, try_assert_zero_downtime_switch};
use readiness::{Probe, Ratio, Verdict};
use reference_service::stack::{SERVICE_PORT, Service, Stack, StackOptions};
use rstest::rstest;

fn service(
    s: &Stack,
) -> &readiness::testcontainers::ContainerAsync<readiness::testcontainers::GenericImage> {
    match &s.service {
        Service::Container(c) => c,
        Service::Process(_) => panic!("the suite runs the service as a container"),
    }
}

/// Orders `w-<seq>` posted every 10 ms; the service killed with SIGKILL after 100
/// acknowledged ones; the orders read back from PostgreSQL itself.
async fn write_then_kill(s: &Stack) -> History {
    let writing = Writer::new("orders")
        .with_interval(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(2))
        .with_recorder(self_test())
        .start(s.order_writer())
        .expect("writer");
    assert!(writing.wait_for(100, Duration::from_secs(30)).await >= 100);
    let faults = Faults::new().await.expect("docker");
    let killed = faults.kill(service(s), "SIGKILL").await.expect("kill");
    writing.mark(&killed);
    let history = writing.stop().await.expect("history");
    // Whatever the service had in hand is now written or gone for good.
    tokio::time::sleep(Duration::from_secs(2)).await;
    history.read_back(s.orders_written().await.expect("read back"))
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_no_acknowledged_order_is_lost_when_the_healthy_service_is_killed(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let history = write_then_kill(&s).await;
    let evidence =
        try_assert_no_acknowledged_write_lost(&history).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(history.history.counts().ok >= 100);
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_unacked_write_loss_defect_fails_no_acknowledged_write_lost(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_defect("unacked_write_loss"))]
    s: Stack,
) {
    let history = write_then_kill(&s).await;
    let failure =
        try_assert_no_acknowledged_write_lost(&history).expect_err("acknowledged orders were lost");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.no_ack_write_lost"), "{text}");
    assert!(text.contains("acknowledged writes: seq"), "{text}");
    assert!(history.history.counts().lost > 0);
}

/// PostgreSQL made slow (paused) while the service is killed and started again; resumed
/// 3 s later. The recovery of `/health/ready` is timed from the kill.
async fn restart_behind_a_slow_database(s: &Stack) -> RecoveryReport {
    let faults = Faults::new().await.expect("docker");
    let service = service(s);
    faults.pause(&s.postgres).await.expect("pause");
    let killed = faults.kill(service, "SIGKILL").await.expect("kill");
    faults.start(service).await.expect("start");
    tokio::time::sleep(Duration::from_secs(3)).await;
    faults.unpause(&s.postgres).await.expect("unpause");
    Recovery::of(
        "orders service",
        Health::http_of(service, SERVICE_PORT, "/health/ready"),
    )
    .with_interval(Duration::from_millis(200))
    .with_settle(Duration::from_secs(1))
    .with_deadline(Duration::from_secs(20))
    .with_recorder(self_test())
    .measure(&killed, &faults.events())
    .await
    .expect("measure")
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_the_healthy_service_restarted_behind_a_slow_database_meets_its_rto(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let report = restart_behind_a_slow_database(&s).await;
    let evidence =
        try_assert_rto_within(&report, Duration::from_secs(15)).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(
        report.rto().expect("recovered") >= Duration::from_secs(3),
        "not before the database"
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_crash_on_slow_dependency_defect_fails_the_rto(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_defect("crash_on_slow_dependency"))]
    s: Stack,
) {
    let report = restart_behind_a_slow_database(&s).await;
    let failure =
        try_assert_rto_within(&report, Duration::from_secs(15)).expect_err("it never comes back");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.rto"), "{text}");
    assert!(text.contains("not recovered"), "{text}");
}

/// Blue (the stack's service) and green (another instance) behind the fault proxy; a load
/// of 200 ms requests through it, new connection each, 20/s for 5 s; after 1.5 s the proxy
/// switches to green and blue gets SIGTERM.
async fn blue_green_switch(s: &Stack) -> (readiness::load::Report, Switched) {
    use readiness::load::{Load, Model, http};
    let blue = service(s);
    let (_green, green_url) = s.start_another_service().await.expect("green");
    let blue_addr = s.url.trim_start_matches("http://").to_owned();
    let green_addr = green_url.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start("front", &blue_addr).await.expect("proxy");
    let url = format!("http://{}/debug/sleep?ms=200", proxy.listen_addr());
    let load = Load::new(
        "sleep_through_switch",
        Model::constant_rate(20.0, Duration::from_secs(5)).expect("model"),
    )
    .with_recorder(self_test());
    let get = http::get(&url)
        .with_new_connection_per_request()
        .with_timeout(Duration::from_secs(5));
    let load = load.run(get);
    let faults = Faults::new().await.expect("docker");
    let switching = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        switch(&proxy, &green_addr, Duration::from_secs(10), || async {
            Ok(vec![faults.kill(blue, "SIGTERM").await?])
        })
        .await
        .expect("switch")
    };
    let (report, switched) = tokio::join!(load, switching);
    (report.expect("load"), switched)
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_the_healthy_service_switches_blue_to_green_without_a_failed_request(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_env("REFERENCE_DEBUG_ENDPOINTS", "1"))]
    s: Stack,
) {
    let (report, switched) = blue_green_switch(&s).await;
    let evidence = try_assert_zero_downtime_switch(&report, &switched, Duration::from_secs(2))
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(switched.drained_in.is_some(), "blue drained");
    assert!(report.attempts() >= 90, "{}", report.summary());
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_no_graceful_drain_defect_fails_the_zero_downtime_switch(
    #[future(awt)]
    #[from(stack)]
    #[with(
        StackOptions::new()
            .with_env("REFERENCE_DEBUG_ENDPOINTS", "1")
            .with_defect("no_graceful_drain")
    )]
    s: Stack,
) {
    let (report, switched) = blue_green_switch(&s).await;
    let failure = try_assert_zero_downtime_switch(&report, &switched, Duration::from_secs(2))
        .expect_err("blue dropped its in-flight requests");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.zero_downtime"), "{text}");
    assert!(text.contains("requests failed"), "{text}");
}

/// 20 requests/s for 3 s against `url`, each bounded by 2 s.
async fn load_during_fault(name: &str, url: &str) -> readiness::load::Report {
    use readiness::load::{Load, Model, http};
    Load::new(
        name,
        Model::constant_rate(20.0, Duration::from_secs(3)).expect("model"),
    )
    .with_recorder(self_test())
    .run(http::get(url).with_timeout(Duration::from_secs(2)))
    .await
    .expect("load")
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_the_service_degrades_gracefully_with_redis_paused_and_not_without_postgres(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let order = s.readable_order().await.expect("an order reads back");
    let faults = Faults::new().await.expect("docker");

    let paused = faults
        .pause(s.redis.as_ref().expect("redis"))
        .await
        .expect("pause");
    let report = load_during_fault("get_order", &order).await;
    let evidence = try_assert_degrades_gracefully(
        &report,
        &paused.what,
        Ratio::percent(1.0).expect("1%"),
        Duration::from_secs(1),
    )
    .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    faults
        .unpause(s.redis.as_ref().expect("redis"))
        .await
        .expect("unpause");

    // Searches need PostgreSQL: with it paused they time out, they do not degrade.
    let paused = faults.pause(&s.postgres).await.expect("pause");
    let search = format!("{}/orders/search?customer=c1", s.url);
    let report = load_during_fault("search_orders", &search).await;
    let failure = try_assert_degrades_gracefully(
        &report,
        &paused.what,
        Ratio::percent(1.0).expect("1%"),
        Duration::from_secs(1),
    )
    .expect_err("no answer without the database");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.degrades_gracefully"), "{text}");
    assert!(
        text.contains(&format!(
            "{} of {} requests failed",
            report.failed(),
            report.attempts()
        )),
        "{text}"
    );
    assert!(report.failed() > 0);
}

/// Redis paused; the time until `GET order` answers within 50 ms and stays fast for 1 s.
async fn answers_fast_after_redis_pauses(s: &Stack) -> RecoveryReport {
    let order = s.readable_order().await.expect("an order reads back");
    let faults = Faults::new().await.expect("docker");
    let paused = faults
        .pause(s.redis.as_ref().expect("redis"))
        .await
        .expect("pause");
    Recovery::of(
        "orders service",
        fast_answers(Probe::http(&order), Duration::from_millis(50)),
    )
    .with_interval(Duration::from_millis(100))
    .with_settle(Duration::from_secs(1))
    .with_deadline(Duration::from_secs(10))
    .with_recorder(self_test())
    .measure(&paused, &faults.events())
    .await
    .expect("measure")
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_the_circuit_breaker_opens_within_bound_when_redis_stalls(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let report = answers_fast_after_redis_pauses(&s).await;
    let evidence = try_assert_circuit_opens_within(&report, Duration::from_secs(5))
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(
        report.timeline.samples.iter().any(|s| !s.ok),
        "slow before it opened"
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_a_breaker_that_never_opens_fails_the_circuit_check(
    #[future(awt)]
    #[from(stack)]
    #[with(StackOptions::new().with_env("BREAKER_FAILURES", "1000000"))]
    s: Stack,
) {
    let report = answers_fast_after_redis_pauses(&s).await;
    let failure = try_assert_circuit_opens_within(&report, Duration::from_secs(5))
        .expect_err("every call waits for the cache timeout");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.circuit_opens"), "{text}");
    assert!(text.contains("not fast"), "{text}");
}

/// Rolls `proxy` out to `green` under `policy` while a search load of 10/s for `secs`
/// runs through the proxy.
async fn rollout_under_load(
    proxy: &Proxy,
    green: &str,
    policy: &RollbackPolicy,
    secs: u64,
) -> (Rollout, readiness::load::Report) {
    use readiness::load::{Load, Model, http};
    let front = format!("http://{}/orders/search?customer=c1", proxy.listen_addr());
    let load = Load::new(
        "search_through_rollout",
        Model::constant_rate(10.0, Duration::from_secs(secs)).expect("model"),
    )
    .with_recorder(self_test());
    let run = load.run(http::get(&front).with_timeout(Duration::from_secs(2)));
    let probe = Probe::http(format!("http://{green}/orders/search?customer=c1"));
    let (report, rollout) = tokio::join!(run, policy.roll_out(proxy, green, probe));
    (rollout.expect("rollout"), report.expect("load"))
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_a_slow_green_is_rolled_back_by_the_policy_and_a_healthy_one_is_promoted(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    s.readable_order().await.expect("an order reads back");
    let blue = s.url.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start("front", &blue).await.expect("proxy");
    let (_slow, slow_url) = s
        .start_another_service_with(&[("REFERENCE_DEFECT", "slow_search")])
        .await
        .expect("green");
    let slow = slow_url.trim_start_matches("http://").to_owned();
    let quick = RollbackPolicy::new(Duration::from_millis(500), Duration::from_millis(100))
        .with_sample(5)
        .with_failure_limit(2);

    // A slow green breaches the p95 trigger and is rolled back within 5 s.
    let (rollout, report) = rollout_under_load(&proxy, &slow, &quick, 6).await;
    assert!(
        matches!(rollout.decision, Decision::RolledBack(_)),
        "{rollout:?}"
    );
    assert_eq!(proxy.upstream(), blue, "back on blue");
    let evidence = try_assert_rollback_within(&rollout, &report, Duration::from_secs(5))
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(
        evidence
            .summary
            .as_deref()
            .unwrap_or_default()
            .contains("failed in between")
    );

    // A policy that waits for 6 failed checks rolls back too late for a 3 s limit.
    let patient = quick.clone().with_failure_limit(6);
    let (rollout, report) = rollout_under_load(&proxy, &slow, &patient, 12).await;
    let failure = try_assert_rollback_within(&rollout, &report, Duration::from_secs(3))
        .expect_err("six checks take longer");
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(failure.to_string().contains("dr.rollback"), "{failure}");
    assert!(failure.to_string().contains("first breach"), "{failure}");

    // A healthy green is promoted: nothing was rolled back, nothing to judge.
    let (_green, green_url) = s.start_another_service().await.expect("green");
    let green = green_url.trim_start_matches("http://").to_owned();
    let (rollout, report) = rollout_under_load(&proxy, &green, &quick, 3).await;
    assert!(
        matches!(rollout.decision, Decision::Promoted),
        "{rollout:?}"
    );
    assert_eq!(proxy.upstream(), green);
    let failure = try_assert_rollback_within(&rollout, &report, Duration::from_secs(5))
        .expect_err("nothing to roll back");
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        failure.to_string().contains("nothing was rolled back"),
        "{failure}"
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn docker_a_failover_to_green_after_blue_is_killed_meets_its_rto(
    #[future(awt)]
    #[from(stack)]
    s: Stack,
) {
    let (_green, green_url) = s.start_another_service().await.expect("green");
    let proxy = Proxy::start("front", s.url.trim_start_matches("http://"))
        .await
        .expect("proxy");
    let faults = Faults::new().await.expect("docker");
    let killed = faults.kill(service(&s), "SIGKILL").await.expect("kill");
    // The failover: a second later the front points at green.
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy
        .set_upstream(green_url.trim_start_matches("http://"))
        .await
        .expect("failover");
    let mut events = faults.events();
    events.extend(proxy.events());
    let front = format!("http://{}/health/ready", proxy.listen_addr());
    let report = Recovery::of("orders front", Health::probe(Probe::http(&front)))
        .with_interval(Duration::from_millis(100))
        .with_settle(Duration::from_secs(1))
        .with_deadline(Duration::from_secs(20))
        .with_recorder(self_test())
        .measure(&killed, &events)
        .await
        .expect("measure");
    let evidence =
        try_assert_rto_within(&report, Duration::from_secs(5)).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert!(
        report.rto().expect("recovered") >= Duration::from_millis(900),
        "not before the failover"
    );
    assert!(
        report
            .timeline
            .events
            .iter()
            .any(|e| e.what.starts_with("switched upstream"))
    );
}
