//! Rules, Alertmanager config and scrape criteria on a real pair: each passes on a good
//! setup, fails with the tool's own message on a broken one, and is an `error` when there
//! is nothing to judge.

mod common;

use std::time::Duration;

use readiness_core::{Count, Ratio, Threshold, Verdict};
use readiness_observability::{
    Exporter, Exposition, MetricsLint, Pair, RuleFile, Target, try_assert_alert_routes,
    try_assert_metric_exists, try_assert_metrics_lint, try_assert_query, try_assert_rules_lint,
    try_assert_rules_load, try_assert_targets_up,
};

use common::{ALERTMANAGER, RULES, message, recorder};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BAD_EXPR: &str = "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: rate(app_errors_total[5m] > 1\n";
const BAD_FIELD: &str = "groups:\n  - name: broken\n    rules:\n      - alert: Typo\n        expr: up == 0\n        fore: 5s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rules_fail_with_promtools_message_and_the_good_rules_stay() -> TestResult {
    let mut pair = Pair::builder().with_recorder(recorder()).start().await?;
    let start = pair.start_time();
    assert!(
        start > Duration::ZERO && start < Duration::from_secs(60),
        "{start:?}"
    );

    let loaded = try_assert_rules_load(&pair.load_rules(&[RuleFile::new("app.yml", RULES)]).await)
        .map_err(|f| message(&f))?;
    assert!(
        loaded
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("2 alerting rule(s): ErrorsHigh, QueueSlow"))
    );

    let f = try_assert_rules_load(
        &pair
            .load_rules(&[RuleFile::new("broken.yml", BAD_EXPR)])
            .await,
    )
    .expect_err("an unclosed parenthesis");
    assert_eq!(f.verdict(), Verdict::Fail);
    let m = message(&f);
    assert!(
        m.contains("broken.yml refused: promtool check rules rejected it"),
        "{m}"
    );
    assert!(
        m.contains("5:15: group \"broken\", rule 1, \"Broken\": could not parse expression"),
        "{m}"
    );
    assert!(m.contains("unclosed left parenthesis"), "{m}");

    let f = try_assert_rules_load(
        &pair
            .load_rules(&[RuleFile::new("typo.yml", BAD_FIELD)])
            .await,
    )
    .expect_err("an unknown field");
    let m = message(&f);
    assert!(m.contains("line 6: field fore not found"), "{m}");
    // The rules loaded before the refused files are still the ones Prometheus runs.
    assert_eq!(pair.alert_rules().len(), 2);

    let f = try_assert_rules_load(&pair.load_rules(&[]).await).expect_err("no file");
    assert_eq!(f.verdict(), Verdict::Error);
    let f = try_assert_rules_load(&pair.load_rules(&[RuleFile::new("../x.yml", RULES)]).await)
        .expect_err("a path is not a file name");
    assert_eq!(f.verdict(), Verdict::Error);
    assert!(
        message(&f).contains("use letters, digits"),
        "{}",
        message(&f)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_config_is_checked_by_amtool_and_each_route_resolved() -> TestResult {
    let mut pair = Pair::builder()
        .rule_file(RuleFile::new("app.yml", RULES))
        .with_recorder(recorder())
        .start()
        .await?;
    let routes = [("ErrorsHigh", "pager"), ("QueueSlow", "chat")];
    let loaded = pair.load_alertmanager_config(ALERTMANAGER).await;
    let ok = try_assert_alert_routes(&loaded, &routes).map_err(|f| message(&f))?;
    assert!(
        ok.summary
            .as_deref()
            .is_some_and(|s| s.contains("ErrorsHigh → pager"))
    );

    // The same measurement judged against another expectation: the judge is pure.
    let f =
        try_assert_alert_routes(&loaded, &[("ErrorsHigh", "chat")]).expect_err("ErrorsHigh pages");
    assert!(
        message(&f).contains("ErrorsHigh routes to pager, expected chat"),
        "{}",
        message(&f)
    );

    let unknown_receiver = ALERTMANAGER.replace("      receiver: pager", "      receiver: pagr");
    let f = try_assert_alert_routes(
        &pair.load_alertmanager_config(&unknown_receiver).await,
        &routes,
    )
    .expect_err("a route to a receiver that does not exist");
    let m = message(&f);
    assert!(m.contains("amtool check-config rejected it"), "{m}");
    assert!(
        m.contains("undefined receiver \"pagr\" used in route"),
        "{m}"
    );
    assert!(!m.contains("/etc/readiness"), "the container's path: {m}");

    let mut empty = Pair::builder().with_recorder(recorder()).start().await?;
    let f = try_assert_alert_routes(&empty.load_alertmanager_config(ALERTMANAGER).await, &routes)
        .expect_err("no rule to route");
    assert_eq!(f.verdict(), Verdict::Error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_metrics_and_queries_are_judged_through_a_real_scrape() -> TestResult {
    let exporter = Exporter::start().await?;
    exporter
        .gauge("app_error_ratio", "Share of failed requests")?
        .set(&[], 0.02);
    exporter
        .counter("app_requests_total", "Requests")?
        .inc_by(&[("route", "/orders")], 10.0)?;
    let pair = Pair::builder()
        .scrape(Target::new("app", exporter.target()))
        .rule_file(RuleFile::new("app.yml", RULES))
        .with_recorder(recorder())
        .start()
        .await?;

    let scraped = pair.scrape().await;
    try_assert_targets_up(&scraped).map_err(|f| message(&f))?;
    let exists =
        try_assert_metric_exists(&scraped, "app_requests_total").map_err(|f| message(&f))?;
    assert!(
        exists
            .summary
            .as_deref()
            .is_some_and(|s| s.ends_with("series of app_requests_total from app")),
        "{:?}",
        exists.summary
    );
    let errors = pair.evaluate("max(app_error_ratio)").await;
    let q = try_assert_query(&errors, Threshold::at_most(Ratio::percent(5.0)?))
        .map_err(|f| message(&f))?;
    assert_eq!(q.verdict, Verdict::Pass);

    let f = try_assert_metric_exists(&scraped, "app_request_total").expect_err("a typo");
    let m = message(&f);
    assert!(
        m.contains(
            "series app_request_total is absent: no scraped target exports it (targets up: app)"
        ),
        "{m}"
    );
    assert!(
        m.contains("similar names exported: app_requests_total"),
        "{m}"
    );
    let f = try_assert_query(&errors, Threshold::at_most(Ratio::percent(1.0)?))
        .expect_err("2% is above 1%");
    assert_eq!(f.verdict(), Verdict::Fail);
    let f = try_assert_query(
        &pair.evaluate("max(no_such_metric)").await,
        Threshold::at_most(Count(1)),
    )
    .expect_err("no sample");
    assert_eq!(f.verdict(), Verdict::Error);
    assert!(message(&f).contains("gives no sample"));
    let f = try_assert_query(
        &pair.evaluate("app_requests_total or app_error_ratio").await,
        Threshold::at_most(Count(100)),
    )
    .expect_err("two samples");
    assert!(message(&f).contains("gives 2 samples; aggregate it to one"));

    // The rules select queue_depth, which nothing exports, and rate() nothing: the lint
    // names the absent selector.
    let f = try_assert_rules_lint(&scraped).expect_err("queue_depth is absent");
    let m = message(&f);
    assert!(
        m.contains("absent-selector: QueueSlow: selects queue_depth"),
        "{m}"
    );

    exporter.fail_scrapes(503);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scraped = pair.scrape().await;
    let f = try_assert_targets_up(&scraped).expect_err("the exporter answers 503");
    let m = message(&f);
    assert!(
        m.contains(&format!(
            "job app at http://{}/metrics is down",
            exporter.target()
        )),
        "{m}"
    );
    assert!(m.contains("503"), "{m}");
    let f = try_assert_metric_exists(&scraped, "app_requests_total").expect_err("nothing scraped");
    assert_eq!(f.verdict(), Verdict::Error);

    let none = Pair::builder().with_recorder(recorder()).start().await?;
    let f = try_assert_targets_up(&none.scrape().await).expect_err("no target");
    assert_eq!(f.verdict(), Verdict::Error);
    let f = try_assert_rules_lint(&none.scrape().await).expect_err("no rule");
    assert_eq!(f.verdict(), Verdict::Error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_lint_names_each_check_that_fails() -> TestResult {
    let exporter = Exporter::start().await?;
    exporter.gauge("queue_depth", "Jobs waiting")?.set(&[], 1.0);
    exporter.gauge("app_error_ratio", "x")?.set(&[], 0.0);
    let sloppy = "groups:\n  - name: sloppy\n    rules:\n      - alert: QueueGrows\n        expr: rate(queue_depth[1m]) > 1\n        labels: {severity: critical}\n      - alert: NoLabels\n        expr: app_error_ratio > 0.5\n";
    // RULES with a `for` on the paging alert: clean.
    let clean = RULES.replace(
        "      - alert: ErrorsHigh\n",
        "      - alert: ErrorsHigh\n        for: 30s\n",
    );
    let pair = Pair::builder()
        .scrape(Target::new("app", exporter.target()))
        .rule_file(RuleFile::new("app.yml", clean))
        .with_recorder(recorder())
        .start()
        .await?;
    try_assert_rules_lint(&pair.scrape().await).map_err(|f| message(&f))?;

    let mut pair = pair;
    try_assert_rules_load(
        &pair
            .load_rules(&[RuleFile::new("sloppy.yml", sloppy)])
            .await,
    )
    .map_err(|f| message(&f))?;
    let f = try_assert_rules_lint(&pair.scrape().await).expect_err("sloppy rules");
    let m = message(&f);
    for needle in [
        "paging-for: QueueGrows: severity critical pages with no `for`",
        "runbook: QueueGrows: no runbook_url annotation",
        "rate-on-counter: QueueGrows: rate(queue_depth) but queue_depth is a gauge",
        "severity-label: NoLabels: no severity label",
    ] {
        assert!(m.contains(needle), "{needle} in {m}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_lint_reads_a_real_endpoint() -> TestResult {
    let exporter = Exporter::start().await?;
    exporter
        .counter("app_requests_total", "Requests")?
        .inc_by(&[], 1.0)?;
    exporter
        .histogram("app_latency_seconds", "Latency", &[0.1, 1.0])?
        .observe(&[], 0.2);
    let lint = MetricsLint::default()
        .max_values_per_label(3)
        .with_recorder(recorder());
    try_assert_metrics_lint(&Exposition::read(&exporter.url()).await, &lint)
        .map_err(|f| message(&f))?;

    exporter
        .counter("app_errors", "Errors, badly named")?
        .inc_by(&[], 1.0)?;
    let users = exporter.gauge("app_session_seconds", "Per user")?;
    for u in 0..5 {
        users.set(&[("user", &format!("u{u}"))], 1.0);
    }
    let f = try_assert_metrics_lint(&Exposition::read(&exporter.url()).await, &lint)
        .expect_err("a counter without _total and a label per user");
    let m = message(&f);
    assert!(m.contains("counter-total: app_errors"), "{m}");
    assert!(
        m.contains("cardinality: app_session_seconds: label user has 5 values, limit 3"),
        "{m}"
    );

    let empty = Exporter::start().await?;
    let f = try_assert_metrics_lint(&Exposition::read(&empty.url()).await, &lint)
        .expect_err("no metric");
    assert_eq!(f.verdict(), Verdict::Error);
    let f = try_assert_metrics_lint(&Exposition::read("http://192.0.2.1/metrics").await, &lint)
        .expect_err("not loopback");
    assert_eq!(f.verdict(), Verdict::Error);
    Ok(())
}
