//! The reference service's monitoring, judged on a real Prometheus and Alertmanager with
//! its own rule file and Alertmanager config (`monitoring/`): every alert fires when its
//! cause is induced, reaches the right receiver and resolves; none fires under a normal
//! load; health, logs and traces hold. The defects `missing_metric` and `always_ready`
//! are caught.
#![expect(clippy::unwrap_used, reason = "tests")]

#[expect(dead_code, reason = "this binary uses a part of the shared helpers")]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use readiness_core::{Recorder, Verdict};
use readiness_dr::fault::Faults;
use readiness_observability::{
    HealthEndpoints, Induced, LogLines, LogRules, OtlpReceiver, Pair, RuleFile, Target, Traces,
    assert_traces, try_assert_alert_routes, try_assert_logs, try_assert_rules_lint,
    try_assert_targets_up,
};

use common::{Stack, StackOptions, client, create, stack};

fn recorder() -> Recorder {
    Recorder::new(readiness_core::settings::target_dir().join("readiness-self-test"))
}

fn monitoring(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(file)
}

/// GETs `url` every `every` in the background until dropped (at most 3 minutes).
struct Traffic {
    task: tokio::task::JoinHandle<()>,
    sent: Arc<AtomicU64>,
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn traffic(urls: Vec<String>, every: Duration) -> Traffic {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let task = tokio::spawn(async move {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(180) {
            for url in &urls {
                let (c, url) = (c.clone(), url.clone());
                tokio::spawn(async move {
                    let _ = c.get(url).send().await;
                });
                counter.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(every).await;
        }
    });
    Traffic { task, sent }
}

async fn pair_for(s: &Stack) -> Pair {
    Pair::builder()
        .scrape(Target::new(
            "reference-service",
            s.url.trim_start_matches("http://"),
        ))
        .rule_file(RuleFile::read(monitoring("alerts.yml")).unwrap())
        .alertmanager_config(std::fs::read_to_string(monitoring("alertmanager.yml")).unwrap())
        .with_recorder(recorder())
        .start()
        .await
        .unwrap_or_else(|e| panic!("the pair failed to start: {e}"))
}

fn induced(f: &readiness_dr::fault::Fault) -> Induced {
    Induced::at(f.at, f.wall, f.what.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_every_alert_fires_routes_and_resolves_and_none_under_normal_load() {
    let mut s = stack(StackOptions::new().with_env("BREAKER_OPEN_MS", "1000")).await;
    let id = create(&s, "alerts").await;
    let load = traffic(
        vec![
            format!("{}/orders/{id}", s.url),
            format!("{}/orders?limit=5", s.url),
        ],
        Duration::from_millis(100),
    );
    let mut pair = pair_for(&s).await;
    let r = |e: Result<_, readiness_core::Failure>| e.unwrap_or_else(|f| panic!("{f}"));
    r(try_assert_targets_up(&pair.scrape().await));
    let routes = [
        ("ReferenceServiceDown", "pager"),
        ("ReferenceHighErrorRate", "pager"),
        ("ReferenceCacheDegraded", "chat"),
    ];
    let yaml = std::fs::read_to_string(monitoring("alertmanager.yml")).unwrap();
    r(try_assert_alert_routes(
        &pair.load_alertmanager_config(&yaml).await,
        &routes,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    r(try_assert_rules_lint(&pair.scrape().await));
    r(pair.try_assert_silent(Duration::from_secs(8)).await);
    assert!(
        load.sent.load(Ordering::Relaxed) > 100,
        "a normal load ran during the silence"
    );

    let faults = Faults::new().await.unwrap();
    let redis = s.redis.as_ref().unwrap();
    let paused = faults.pause(redis).await.unwrap();
    let alert = pair
        .alert("ReferenceCacheDegraded")
        .within(Duration::from_secs(20))
        .routed_to("chat");
    r(alert.try_assert_fires(&induced(&paused)).await);
    let back = faults.unpause(redis).await.unwrap();
    r(alert.try_assert_resolves(&induced(&back)).await);

    let paused = faults.pause(&s.postgres).await.unwrap();
    let alert = pair
        .alert("ReferenceHighErrorRate")
        .within(Duration::from_secs(25))
        .routed_to("pager")
        .with_label("severity", "critical");
    r(alert.try_assert_fires(&induced(&paused)).await);
    let back = faults.unpause(&s.postgres).await.unwrap();
    r(alert
        .within(Duration::from_secs(40))
        .try_assert_resolves(&induced(&back))
        .await);

    let stopped = Induced::now("SIGSTOP reference-service");
    s.signal("STOP").await.unwrap();
    let alert = pair
        .alert("ReferenceServiceDown")
        .within(Duration::from_secs(20))
        .routed_to("pager");
    let fired = alert.try_assert_fires(&stopped).await;
    let resumed = Induced::now("SIGCONT reference-service");
    s.signal("CONT").await.unwrap();
    r(fired);
    r(alert.try_assert_resolves(&resumed).await);

    let all = r(pair.try_assert_all_alerts_fired());
    assert_eq!(
        all.summary.as_deref(),
        Some("alerts fired in testing: 3 of 3")
    );
    s.wait_until_ready(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_defect_missing_metric_fails_the_error_rate_alert_naming_the_absent_series() {
    let s = stack(StackOptions::new().with_defect("missing_metric")).await;
    let _load = traffic(
        vec![format!("{}/orders?limit=5", s.url)],
        Duration::from_millis(100),
    );
    let pair = pair_for(&s).await;
    let faults = Faults::new().await.unwrap();
    let paused = faults.pause(&s.postgres).await.unwrap();
    let failure = pair
        .alert("ReferenceHighErrorRate")
        .within(Duration::from_secs(12))
        .routed_to("pager")
        .try_assert_fires(&induced(&paused))
        .await
        .expect_err("the alert's series is never exported");
    faults.unpause(&s.postgres).await.unwrap();
    assert_eq!(failure.verdict(), Verdict::Fail);
    let m = failure.to_string();
    assert!(
        m.contains("it was never pending")
            && m.contains("selects series http_requests_total, absent from every scraped target"),
        "{m}"
    );
    let lint = try_assert_rules_lint(&pair.scrape().await).expect_err("the lint sees it too");
    assert!(
        lint.to_string()
            .contains("absent-selector: ReferenceHighErrorRate: selects http_requests_total")
    );
}

async fn health_of(s: &Stack) -> Result<readiness_core::Evidence, readiness_core::Failure> {
    let faults = Faults::new().await.unwrap();
    let health = HealthEndpoints::new(&s.url).with_recorder(recorder());
    health
        .watch(
            "postgres",
            async { faults.pause(&s.postgres).await.map(|_| ()) },
            async { faults.unpause(&s.postgres).await.map(|_| ()) },
            Duration::from_secs(8),
        )
        .await
        .judge()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_health_follows_postgres_and_always_ready_is_caught() {
    let healthy = stack(StackOptions::new()).await;
    let e = health_of(&healthy).await.unwrap_or_else(|f| panic!("{f}"));
    assert!(
        e.summary.as_deref().unwrap().contains("live stayed good"),
        "{:?}",
        e.summary
    );

    let lying = stack(StackOptions::new().with_defect("always_ready")).await;
    let f = health_of(&lying)
        .await
        .expect_err("always_ready never says unready");
    assert_eq!(f.verdict(), Verdict::Fail);
    let m = f.to_string();
    assert!(
        m.contains("ready still answered good 8s after postgres was stopped (last: 200"),
        "{m}"
    );

    let mut gone = stack(StackOptions::new()).await;
    gone.signal("KILL").await.unwrap();
    gone.wait_exit(Duration::from_secs(10)).await.unwrap();
    let f = health_of(&gone).await.expect_err("nothing answers");
    assert_eq!(f.verdict(), Verdict::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_logs_are_structured_and_errors_appear_only_when_induced() {
    let s = stack(StackOptions::new()).await;
    let id = create(&s, "logs").await;
    for _ in 0..20 {
        let _ = client().get(format!("{}/orders/{id}", s.url)).send().await;
    }
    let normal = LogLines::new("reference-service", &s.log_text());
    let rules = LogRules::new().with_recorder(recorder());
    try_assert_logs(&normal, &rules.clone().expect_no_errors()).unwrap_or_else(|f| panic!("{f}"));

    let faults = Faults::new().await.unwrap();
    faults.pause(&s.postgres).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client()
            .get(format!("{}/orders?limit=5", s.url))
            .send()
            .await;
        statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
    }
    faults.unpause(&s.postgres).await.unwrap();
    assert!(statuses.contains(&503), "{statuses:?}");
    let after = LogLines::new("reference-service", &s.log_text()).after(normal.lines().len());
    try_assert_logs(&after, &rules.clone().expect_errors()).unwrap_or_else(|f| panic!("{f}"));
    let f = try_assert_logs(&after, &rules.expect_no_errors())
        .expect_err("error lines after the outage");
    assert!(
        f.to_string().contains("error line(s) under a normal load"),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_traces_link_the_request_span_to_its_database_span() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let s = stack(
        StackOptions::new()
            .with_env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .with_env("OTEL_BSP_SCHEDULE_DELAY", "200"),
    )
    .await;
    let requests = 5;
    for _ in 0..requests {
        let r = client()
            .get(format!("{}/orders?limit=5", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let traced = receiver
        .collect(&Traces::of("reference-service", requests).with_recorder(recorder()))
        .await;
    let e = assert_traces(&traced);
    assert!(
        e.summary.as_deref().unwrap().contains("request → db.query"),
        "{:?}",
        e.summary
    );
}
