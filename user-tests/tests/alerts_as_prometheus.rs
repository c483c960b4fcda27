//! A team's alert checks held against what Prometheus and Alertmanager themselves did:
//! a blip shorter than `for` (pending, never sent), two instances of one job (one
//! resolves while the other flapped), a receiver the team keeps without resolves, and a
//! rule whose selector matches nothing. Ground truth is Prometheus's own `ALERTS` series
//! and what reached the webhook, read without the harness's judgement.

use std::time::{Duration, Instant};

use readiness::Verdict;
use readiness::observability::{Exporter, Induced, Pair, RuleFile, Target};

fn recorder(dir: &tempfile::TempDir) -> readiness::Recorder {
    readiness::Recorder::new(dir.path())
}

const RECEIVERS: &str = "route: {receiver: pager, group_by: [alertname, instance], group_wait: 0s, group_interval: 1s, repeat_interval: 1h,
  routes: [{matchers: ['severity=\"warning\"'], receiver: chat}]}
receivers:
  - name: pager
    pagerduty_configs: [{routing_key: not-a-real-key}]
  - name: chat
    slack_configs: [{api_url: 'https://hooks.slack.example.invalid/x', channel: '#ops', send_resolved: false}]
";

const RULES: &str = r#"groups:
  - name: team
    rules:
      - alert: QueueBacklog
        expr: queue_depth > 100
        for: 4s
        labels: {severity: critical}
      - alert: HighLatency
        expr: latency_seconds > 1
        labels: {severity: critical}
      - alert: DiskFilling
        expr: disk_used_ratio > 0.9
        labels: {severity: warning}
"#;

/// How many samples of `ALERTS{alertname, alertstate}` Prometheus holds over the last
/// `range`: Prometheus's own record of the alert's states.
async fn alerts_series(pair: &Pair, alert: &str, state: &str, range: &str) -> usize {
    pair.query(&format!(
        "count_over_time(ALERTS{{alertname=\"{alert}\",alertstate=\"{state}\"}}[{range}])"
    ))
    .await
    .expect("query")
    .len()
}

/// An exporter with one gauge set to `value`, and a pair scraping it as `job` with the
/// team's rules and receivers.
async fn one_gauge(
    job: &str,
    gauge: &str,
    value: f64,
    dir: &tempfile::TempDir,
) -> (Exporter, readiness::observability::Gauge, Pair) {
    let exporter = Exporter::start().await.expect("exporter");
    let g = exporter.gauge(gauge, "a gauge").expect("gauge");
    g.set(&[], value);
    let pair = Pair::builder()
        .scrape(Target::new(job, exporter.target()))
        .rule_file(RuleFile::new("team.yml", RULES))
        .alertmanager_config(RECEIVERS)
        .with_recorder(recorder(dir))
        .start()
        .await
        .expect("pair");
    (exporter, g, pair)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_shorter_than_for_is_silent_and_only_a_strict_silence_refuses_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_exporter, queue, pair) = one_gauge("worker", "queue_depth", 0.0, &dir).await;
    let window = Duration::from_secs(5);
    let blip = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        queue.set(&[], 500.0);
        // Held for two evaluations, well under the rule's `for: 4s`.
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        queue.set(&[], 0.0);
    };
    let scoped = pair.alert("QueueBacklog");
    let (lenient, strict, ()) = tokio::join!(
        scoped.silence().watch(window),
        scoped.silence().strict().watch(window),
        blip
    );
    let (lenient, strict) = (lenient.expect("watched"), strict.expect("watched"));

    // Ground truth: Prometheus held the alert pending and never firing; nothing was sent.
    assert!(alerts_series(&pair, "QueueBacklog", "pending", "30s").await > 0);
    assert_eq!(
        alerts_series(&pair, "QueueBacklog", "firing", "30s").await,
        0
    );
    assert!(
        pair.webhook().notifications().is_empty(),
        "Prometheus sends no pending alert"
    );

    let evidence = lenient
        .judge()
        .expect("a pending blip is not a false positive");
    assert_eq!(evidence.verdict, Verdict::Pass);
    let summary = evidence.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("pending, never fired (not counted") && summary.contains("QueueBacklog"),
        "the pending blip is shown: {summary}"
    );
    let refused = strict.judge().expect_err("strict refuses pending");
    assert_eq!(refused.verdict(), Verdict::Fail);
    assert!(
        refused.to_string().contains("not silent: QueueBacklog"),
        "{refused}"
    );
    assert!(refused.to_string().contains("pending"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_one_job_resolve_and_stay_silent_each_by_its_labels() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (
        Exporter::start().await.expect("exporter a"),
        Exporter::start().await.expect("exporter b"),
    );
    let latency_a = a.gauge("latency_seconds", "p99").expect("gauge");
    let latency_b = b.gauge("latency_seconds", "p99").expect("gauge");
    latency_a.set(&[], 0.1);
    latency_b.set(&[], 0.1);
    let pair = Pair::builder()
        .scrape(Target::new("api", a.target()).with_label("instance", "a"))
        .scrape(Target::new("api", b.target()).with_label("instance", "b"))
        .rule_file(RuleFile::new("team.yml", RULES))
        .alertmanager_config(RECEIVERS)
        .with_recorder(recorder(&dir))
        .start()
        .await
        .expect("two instances of one job are one scrape config");
    pair.wait_for_scrapes().await.expect("scraped");
    let up = pair.query("up{job=\"api\"}").await.expect("query");
    let mut instances: Vec<String> = up
        .iter()
        .filter_map(|(l, _)| l.get("instance").cloned())
        .collect();
    instances.sort();
    assert_eq!(
        instances,
        ["a", "b"],
        "both instances scraped under job api"
    );

    let alert_a = pair
        .alert("HighLatency")
        .with_label("instance", "a")
        .within(Duration::from_secs(20));
    let slow_a = Induced::now("instance a slow");
    latency_a.set(&[], 3.0);
    alert_a.try_assert_fires(&slow_a).await.expect("a fires");

    // While a fires, b stays silent, and the unscoped silence names a.
    let only_b = pair.alert("HighLatency").with_label("instance", "b");
    let (b_quiet, everything) = tokio::join!(
        only_b.silence().watch(Duration::from_secs(3)),
        pair.silence().watch(Duration::from_secs(3))
    );
    let b_quiet = b_quiet.expect("watched").judge().expect("b never fired");
    assert!(
        b_quiet
            .criterion
            .title
            .contains("HighLatency{instance=\"b\"} never fires"),
        "{}",
        b_quiet.criterion.title
    );
    let noisy = everything.expect("watched").judge().expect_err("a fires");
    assert!(
        noisy.to_string().contains("HighLatency{instance=\"a\"")
            && !noisy.to_string().contains("instance=\"b\""),
        "{noisy}"
    );

    // b flaps: fires, then clears, before a is cleared.
    latency_b.set(&[], 3.0);
    pair.alert("HighLatency")
        .with_label("instance", "b")
        .within(Duration::from_secs(20))
        .try_assert_fires(&Induced::now("instance b slow"))
        .await
        .expect("b fires");
    latency_b.set(&[], 0.1);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let cleared = Induced::now("instance a fast again");
    latency_a.set(&[], 0.1);
    let resolved = alert_a
        .try_assert_resolves(&cleared)
        .await
        .expect("a resolves although b changed last");
    assert_eq!(resolved.verdict, Verdict::Pass);
    // Ground truth: a resolved notification for instance a reached the pager.
    let resolved_a = pair.webhook().notifications().iter().any(|n| {
        n.receiver == "pager"
            && n.alerts.iter().any(|x| {
                x.status == "resolved" && x.labels.get("instance").map(String::as_str) == Some("a")
            })
    });
    assert!(resolved_a, "Alertmanager sent the resolve of a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_kept_without_resolves_is_told_at_once_not_waited_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_exporter, disk, pair) = one_gauge("db", "disk_used_ratio", 0.5, &dir).await;
    assert_eq!(pair.sends_resolved("chat"), Some(false));
    assert_eq!(pair.sends_resolved("pager"), Some(true));
    let alert = pair
        .alert("DiskFilling")
        .routed_to("chat")
        .within(Duration::from_secs(20));
    disk.set(&[], 0.95);
    alert
        .try_assert_fires(&Induced::now("disk 95% full"))
        .await
        .expect("fires to chat");
    let cleared = Induced::now("disk 50% full");
    disk.set(&[], 0.5);
    let never = alert
        .try_assert_resolves(&cleared)
        .await
        .expect_err("chat never gets a resolve");
    assert_eq!(never.verdict(), Verdict::Error);
    assert!(
        never.to_string().contains("send_resolved: false"),
        "{never}"
    );
    // Ground truth: Prometheus resolves it, Alertmanager sends chat nothing.
    for _ in 0..40 {
        if alerts_series(&pair, "DiskFilling", "firing", "1s").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resolves = pair
        .webhook()
        .notifications()
        .iter()
        .filter(|n| n.status == "resolved")
        .count();
    assert_eq!(resolves, 0, "the team's config sends no resolve to chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_that_matches_nothing_is_named_by_the_label_that_differs() {
    let dir = tempfile::tempdir().expect("tmp");
    let exporter = Exporter::start().await.expect("exporter");
    let errors = exporter.gauge("request_errors", "Errors").expect("gauge");
    errors.set(&[("route", "/web")], 5.0);
    let rules = r#"groups:
  - name: team
    rules:
      - alert: ApiErrors
        expr: request_errors{job="api"} > 0
      - alert: ApiRouteErrors
        expr: request_errors{route="/api"} > 0
"#;
    let mut pair = Pair::builder()
        .scrape(Target::new("web", exporter.target()))
        .rule_file(RuleFile::new("team.yml", rules))
        .with_recorder(recorder(&dir))
        .start()
        .await
        .expect("pair");
    pair.wait_for_scrapes().await.expect("scraped");
    // Ground truth: the series exists, under job web, and neither selector matches it.
    assert_eq!(pair.query("request_errors").await.expect("q").len(), 1);
    assert!(
        pair.query("request_errors{job=\"api\"}")
            .await
            .expect("q")
            .is_empty()
    );

    // The job is a target label: no target has job api, so it fails without waiting.
    let started = Instant::now();
    let within = Duration::from_secs(120);
    let f = pair
        .alert("ApiErrors")
        .within(within)
        .try_assert_fires(&Induced::now("errors on /web"))
        .await
        .expect_err("job api does not exist here");
    assert_eq!(f.verdict(), Verdict::Fail);
    assert!(
        started.elapsed() < within,
        "failed at once, not after the bound"
    );
    assert!(
        f.to_string()
            .contains("selects job=\"api\", which no scraped target has (job is \"web\" here)"),
        "{f}"
    );
    // A label of the metric itself is known only from the series: named after the wait.
    let f = pair
        .alert("ApiRouteErrors")
        .within(Duration::from_secs(4))
        .try_assert_fires(&Induced::now("errors on /web"))
        .await
        .expect_err("route /api has no series");
    assert!(
        f.to_string().contains(
            "`request_errors{route=\"/api\"}` matches no series: request_errors has route=\"/web\", not \"/api\""
        ),
        "{f}"
    );

    // promtool's message names the user's file, not the container's copy.
    let file = dir.path().join("broken.rules.yml");
    std::fs::write(
        &file,
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(x[5m]) >\n",
    )
    .expect("write");
    let err = pair
        .replace_rules(&[RuleFile::read(&file).expect("read")])
        .await
        .expect_err("promtool refuses it");
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(!text.contains("/etc/readiness"), "{text}");
}
