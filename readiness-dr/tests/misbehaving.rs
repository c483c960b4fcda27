//! readiness-dr's criteria against targets that misbehave — a health check that never
//! answers, one that flaps, writes that stall, an upstream that accepts and stays silent —
//! and with nothing to measure. None of them may ever pass.
#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use readiness_core::{Error, Probe, Ratio, Verdict};
use readiness_dr::degrade::{
    fast_answers, try_assert_circuit_opens_within, try_assert_degrades_gracefully,
};
use readiness_dr::fault::Fault;
use readiness_dr::history::{self, WriteError, Writer};
use readiness_dr::proxy::Proxy;
use readiness_dr::recovery::{self, Health, Recovery, RecoveryReport};
use readiness_dr::rollback::{Decision, RollbackPolicy, try_assert_rollback_within};
use readiness_dr::switch::{switch, try_assert_zero_downtime_switch};
use readiness_load::{Load, Model};

use common::recorder;

async fn recovery_of(health: Health<'_>) -> RecoveryReport {
    Recovery::of("target", health)
        .with_interval(Duration::from_millis(50))
        .with_attempt_timeout(Duration::from_millis(100))
        .with_settle(Duration::from_millis(300))
        .with_deadline(Duration::from_secs(1))
        .with_recorder(recorder())
        .measure(&Fault::now("fault"), &[])
        .await
        .unwrap()
}

/// Not recovered: a limit inside the deadline fails, one beyond it is an error.
fn never_passes(report: &RecoveryReport, why: &str) {
    assert_eq!(report.rto(), None, "{why}");
    let f = recovery::try_assert_rto_within(report, Duration::from_millis(500)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Fail, "{why}: {f}");
    assert!(f.to_string().contains("not recovered"), "{f}");
    let f = recovery::try_assert_rto_within(report, Duration::from_secs(60)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Error, "{why}: {f}");
    assert!(matches!(f.cause(), Some(Error::NothingMeasured(_))), "{f}");
}

#[tokio::test]
async fn a_health_check_that_never_answers_never_recovers() {
    let report = recovery_of(Health::from_fn("silent", std::future::pending)).await;
    assert!(report.timeline.samples.len() >= 5);
    assert!(
        report
            .timeline
            .samples
            .iter()
            .all(|s| !s.ok && s.detail.starts_with("no answer within")),
        "{:?}",
        report.timeline.samples
    );
    never_passes(&report, "silent");
}

#[tokio::test]
async fn a_flapping_health_check_never_settles() {
    let n = Arc::new(AtomicU64::new(0));
    let health = Health::from_fn("flapping", move || {
        let ok = n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
        async move { (ok, if ok { "200" } else { "503" }.to_owned()) }
    });
    let report = recovery_of(health).await;
    assert!(report.timeline.samples.iter().any(|s| s.ok));
    never_passes(&report, "flapping");
}

#[tokio::test]
async fn a_half_answering_check_recovers_only_from_its_last_failure_on() {
    let n = Arc::new(AtomicU64::new(0));
    let health = Health::from_fn("late", move || {
        let ok = n.fetch_add(1, Ordering::Relaxed) >= 6;
        async move { (ok, String::new()) }
    });
    let report = recovery_of(health).await;
    let (low, high) = report.bound().unwrap();
    assert!(
        low >= Duration::from_millis(250),
        "six bad answers first: {low:?}"
    );
    assert!(high > low);
    let e = recovery::try_assert_rto_within(&report, Duration::from_secs(1)).unwrap();
    e.verify().unwrap();
}

#[tokio::test]
async fn stalling_writes_are_indeterminate_and_judge_nothing() {
    let writing = Writer::new("stalling")
        .with_interval(Duration::from_millis(1))
        .with_timeout(Duration::from_millis(50))
        .with_max_writes(5)
        .with_recorder(recorder())
        .start(|_| std::future::pending::<Result<(), WriteError>>())
        .unwrap();
    assert_eq!(writing.wait_for(5, Duration::from_secs(5)).await, 5);
    writing.mark(&Fault::now("fault"));
    // Every stalled write turned up after all: recovered, never acknowledged.
    let history = writing.stop().await.unwrap().read_back(1..=5);
    let counts = history.history.counts();
    assert_eq!(
        (counts.indeterminate, counts.recovered, counts.ok),
        (5, 5, 0)
    );
    for f in [
        history::try_assert_no_acknowledged_write_lost(&history).unwrap_err(),
        history::try_assert_rpo_within(&history, Duration::from_secs(300)).unwrap_err(),
    ] {
        assert_eq!(f.verdict(), Verdict::Error, "{f}");
        assert!(f.to_string().contains("no write was acknowledged"), "{f}");
    }
}

/// Accepts connections and never answers.
async fn silent_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..1_000 {
            match listener.accept().await {
                Ok((s, _)) => held.push(s),
                Err(_) => break,
            }
        }
    });
    (addr, task)
}

/// 20 requests a second for a second through a proxy in front of `blue`, each on a new
/// connection and given `timeout`; after 300 ms the proxy switches to `green` and waits up
/// to `drain` for blue's connections.
async fn switch_under_load(
    name: &str,
    blue: &str,
    green: &str,
    timeout: Duration,
    drain: Duration,
) -> (readiness_load::Report, readiness_dr::switch::Switched) {
    let proxy = Proxy::start("front", blue).await.unwrap();
    let url = format!("http://{}/", proxy.listen_addr());
    let load = Load::new(
        name,
        Model::constant_rate(20.0, Duration::from_secs(1)).unwrap(),
    )
    .with_recorder(recorder());
    let run = load.run(
        readiness_load::http::get(&url)
            .with_new_connection_per_request()
            .with_timeout(timeout),
    );
    let switching = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        switch(&proxy, green, drain, || async { Ok(vec![]) })
            .await
            .unwrap()
    };
    let (report, switched) = tokio::join!(run, switching);
    (report.unwrap(), switched)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_between_silent_colours_fails_the_zero_downtime_switch() {
    let (blue, blue_task) = silent_upstream().await;
    let (green, green_task) = silent_upstream().await;
    let (report, switched) = switch_under_load(
        "silent",
        &blue,
        &green,
        Duration::from_millis(200),
        Duration::from_millis(100),
    )
    .await;
    let f =
        try_assert_zero_downtime_switch(&report, &switched, Duration::from_secs(2)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    assert!(
        f.to_string().contains(&format!(
            "{} of {} requests failed",
            report.failed(),
            report.attempts()
        )),
        "{f}"
    );
    assert_eq!(report.failed(), report.attempts(), "nothing ever answered");
    blue_task.abort();
    green_task.abort();
}

/// Answers every request `200 ok`, each after `delay`.
async fn slow_upstream(delay: Duration) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        for _ in 0..1_000 {
            let Ok((mut s, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(delay).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_between_slow_colours_loses_nothing_and_fails_its_p99() {
    // Every request answers, each after 150 ms: zero downtime holds, a p99 of 20 ms cannot.
    let (blue, blue_task) = slow_upstream(Duration::from_millis(150)).await;
    let (green, green_task) = slow_upstream(Duration::from_millis(150)).await;
    let (report, switched) = switch_under_load(
        "slow",
        &blue,
        &green,
        Duration::from_secs(30),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    let f =
        try_assert_zero_downtime_switch(&report, &switched, Duration::from_millis(20)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    assert_eq!(f.evidence().criterion.id, "dr.switch_p99", "{f}");
    assert!(f.to_string().contains("p99"), "{f}");
    blue_task.abort();
    green_task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_service_neither_degrades_gracefully_nor_answers_fast() {
    let (silent, task) = silent_upstream().await;
    let url = format!("http://{silent}/orders/1");
    let report = Load::new(
        "silent",
        Model::constant_rate(20.0, Duration::from_secs(1)).unwrap(),
    )
    .with_recorder(recorder())
    .run(readiness_load::http::get(&url).with_timeout(Duration::from_millis(200)))
    .await
    .unwrap();
    let f = try_assert_degrades_gracefully(
        &report,
        "nothing",
        Ratio::percent(1.0).unwrap(),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    assert!(f.to_string().contains("dr.degrades_gracefully"), "{f}");

    let opened = recovery_of(fast_answers(Probe::http(&url), Duration::from_millis(50))).await;
    assert_eq!(opened.rto(), None);
    let f = try_assert_circuit_opens_within(&opened, Duration::from_millis(500)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");
    assert!(f.to_string().contains("not fast"), "{f}");
    let f = try_assert_circuit_opens_within(&opened, Duration::from_secs(60)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Error, "{f}");
    task.abort();
}

#[tokio::test]
async fn a_load_with_no_request_judges_nothing_under_a_fault() {
    let (up, task) = silent_upstream().await;
    // The transaction of a mix whose weight is zero: no request of it was ever due.
    let get = |up: &str| {
        readiness_load::http::get(format!("http://{up}/")).with_timeout(Duration::from_millis(50))
    };
    let mix = readiness_load::Mix::new()
        .with("busy", 1, get(&up))
        .with("empty", 0, get(&up));
    let report = Load::new(
        "empty",
        Model::constant_rate(20.0, Duration::from_millis(100)).unwrap(),
    )
    .with_recorder(recorder())
    .run_mix(mix)
    .await
    .unwrap()
    .transaction("empty")
    .unwrap();
    assert_eq!(report.attempts(), 0);
    let f = try_assert_degrades_gracefully(
        &report,
        "nothing",
        Ratio::percent(1.0).unwrap(),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert_eq!(f.verdict(), Verdict::Error, "{f}");
    let switched = readiness_dr::switch::Switched {
        from: up.clone(),
        to: up.clone(),
        at: Fault::now("switch"),
        drained_in: None,
        events: vec![],
    };
    let f =
        try_assert_zero_downtime_switch(&report, &switched, Duration::from_secs(1)).unwrap_err();
    assert_eq!(f.verdict(), Verdict::Error, "{f}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_new_colour_is_rolled_back_and_the_failed_requests_are_counted() {
    let (blue, blue_task) = silent_upstream().await;
    let (green, green_task) = silent_upstream().await;
    let proxy = Proxy::start("front", &blue).await.unwrap();

    // Bad input: refused before the proxy switches.
    let e = RollbackPolicy::new(Duration::from_millis(100), Duration::from_millis(50))
        .with_failure_limit(0)
        .roll_out(&proxy, &green, Probe::http(format!("http://{green}/")))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("failure limit or a success count of 0"),
        "{e}"
    );
    assert_eq!(proxy.upstream(), blue);

    let front = format!("http://{}/", proxy.listen_addr());
    let load = Load::new(
        "silent",
        Model::constant_rate(20.0, Duration::from_secs(2)).unwrap(),
    )
    .with_recorder(recorder());
    let run = load.run(readiness_load::http::get(&front).with_timeout(Duration::from_millis(100)));
    let policy = RollbackPolicy::new(Duration::from_millis(100), Duration::from_millis(50))
        .with_sample(2)
        .with_failure_limit(2);
    let probe = Probe::http(format!("http://{green}/"));
    let (report, rollout) = tokio::join!(run, policy.roll_out(&proxy, &green, probe));
    let (report, rollout) = (report.unwrap(), rollout.unwrap());
    assert!(
        matches!(rollout.decision, Decision::RolledBack(_)),
        "{rollout:?}"
    );
    assert!(
        rollout
            .checks
            .iter()
            .all(|c| c.breached && c.error_rate == 1.0)
    );
    let e = try_assert_rollback_within(&rollout, &report, Duration::from_secs(5)).unwrap();
    let summary = e.summary.unwrap_or_default();
    assert!(summary.contains("100% errors"), "{summary}");
    assert!(
        !summary.contains(" 0 requests of"),
        "the user's failures are counted: {summary}"
    );
    blue_task.abort();
    green_task.abort();
}
