//! Alerts on a real Prometheus and Alertmanager, induced through the test-driven
//! exporter: fired, routed, resolved, silent, and the ways they fail.

mod common;

use std::time::Duration;

use readiness_core::{AlertState, AlertTimeline, AttachmentKind as _, Verdict};
use readiness_observability::{Exporter, Induced, Pair, RuleFile, Target};

use common::{ALERTMANAGER, RULES, message, recorder};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn pair_on(exporter: &Exporter) -> Result<Pair, readiness_core::Error> {
    Pair::builder()
        .scrape(Target::new("app", exporter.target()))
        .rule_file(RuleFile::new("app.yml", RULES))
        .alertmanager_config(ALERTMANAGER)
        .with_recorder(recorder())
        .start()
        .await
}

fn timeline(e: &readiness_core::Evidence) -> AlertTimeline {
    e.attachments
        .iter()
        .find_map(AlertTimeline::of)
        .cloned()
        .expect("the evidence holds the alert's timeline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_fires_routes_to_the_pager_and_resolves() -> TestResult {
    let exporter = Exporter::start().await?;
    let ratio = exporter.gauge("app_error_ratio", "Share of failed requests")?;
    exporter.gauge("queue_depth", "Jobs waiting")?.set(&[], 0.0);
    ratio.set(&[], 0.0);
    let pair = pair_on(&exporter).await?;
    assert_eq!(pair.routes()["ErrorsHigh"], vec!["pager".to_owned()]);
    assert_eq!(pair.routes()["QueueSlow"], vec!["chat".to_owned()]);

    let induced = Induced::now("error ratio set to 50%");
    ratio.set(&[], 0.5);
    let fired = pair
        .alert("ErrorsHigh")
        .within(Duration::from_secs(15))
        .routed_to("pager")
        .with_label("severity", "critical")
        .try_assert_fires(&induced)
        .await
        .map_err(|f| message(&f))?;
    assert_eq!(fired.verdict, Verdict::Pass);
    let t = timeline(&fired);
    let pending = t.first(AlertState::Pending);
    let firing = t.first(AlertState::Firing).expect("firing in the timeline");
    let notified = t
        .first(AlertState::Notified)
        .expect("notified in the timeline");
    assert!(pending.is_none_or(|p| p <= firing), "{t:?}");
    // Prometheus's alerts are polled: a state is known to one poll interval.
    let poll = t.poll_interval.as_secs_f64() * 1e3;
    assert!(firing <= notified + poll, "{t:?}");

    // The timeline agrees with Prometheus's own ALERTS series and Alertmanager's alerts.
    let series = pair
        .alerts_series("ErrorsHigh", Duration::from_secs(60))
        .await?;
    let (first_firing, _) = series.get("firing").expect("ALERTS has a firing series");
    let polled = t.induced_at + Duration::from_secs_f64(firing / 1e3);
    let gap = (polled - *first_firing).abs();
    assert!(
        gap <= time::Duration::seconds(2),
        "ALERTS says firing at {first_firing}, the harness saw it at {polled}"
    );
    let held = pair.alertmanager_alerts().await?;
    assert!(
        held.iter().any(
            |(l, s)| l.get("alertname").map(String::as_str) == Some("ErrorsHigh") && s == "active"
        ),
        "Alertmanager holds ErrorsHigh as active: {held:?}"
    );

    // Claimed cleared while the cause stays: the alert does not resolve, and says so.
    let not_cleared = pair
        .alert("ErrorsHigh")
        .within(Duration::from_secs(3))
        .try_assert_resolves(&Induced::now("nothing cleared"))
        .await
        .expect_err("the cause is still there");
    assert_eq!(not_cleared.verdict(), Verdict::Fail);
    let m = message(&not_cleared);
    assert!(
        m.contains("ErrorsHigh not resolved within 3s: still firing in Prometheus"),
        "{m}"
    );

    let cleared = Induced::now("error ratio back to 0");
    ratio.set(&[], 0.0);
    let resolved = pair
        .alert("ErrorsHigh")
        .within(Duration::from_secs(15))
        .routed_to("pager")
        .try_assert_resolves(&cleared)
        .await
        .map_err(|f| message(&f))?;
    let t = timeline(&resolved);
    assert!(t.first(AlertState::ResolvedNotified).is_some(), "{t:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_that_clears_before_its_for_never_fires_and_the_test_says_so() -> TestResult {
    let exporter = Exporter::start().await?;
    exporter.gauge("app_error_ratio", "x")?.set(&[], 0.0);
    let queue = exporter.gauge("queue_depth", "Jobs waiting")?;
    queue.set(&[], 0.0);
    let pair = pair_on(&exporter).await?;

    let induced = Induced::now("queue depth 500 for 2 s");
    queue.set(&[], 500.0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    queue.set(&[], 0.0);
    let failure = pair
        .alert("QueueSlow")
        .within(Duration::from_secs(9))
        .routed_to("chat")
        .try_assert_fires(&induced)
        .await
        .expect_err("a blip shorter than for: 5s never fires");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let m = message(&failure);
    assert!(m.contains("QueueSlow not notified within 9s"), "{m}");
    assert!(m.contains("was pending at +"), "{m}");
    assert!(m.contains("and dropped at +"), "{m}");
    assert!(
        m.contains("before its for: 5s had passed; it never fired"),
        "{m}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_receiver_an_absent_series_and_an_unknown_alert_are_told_apart() -> TestResult {
    let exporter = Exporter::start().await?;
    let ratio = exporter.gauge("app_error_ratio", "x")?;
    ratio.set(&[], 0.0);
    // queue_depth is never exported: QueueSlow's series is absent.
    let pair = pair_on(&exporter).await?;

    let induced = Induced::now("error ratio set to 50%");
    ratio.set(&[], 0.5);
    let wrong = pair
        .alert("ErrorsHigh")
        .within(Duration::from_secs(10))
        .routed_to("chat")
        .try_assert_fires(&induced)
        .await
        .expect_err("ErrorsHigh pages, it does not go to chat");
    let m = message(&wrong);
    assert!(m.contains("it was notified to pager at +"), "{m}");
    assert!(m.contains("amtool routes its rule labels to pager"), "{m}");

    let absent = pair
        .alert("QueueSlow")
        .within(Duration::from_secs(3))
        .try_assert_fires(&Induced::now("nothing"))
        .await
        .expect_err("QueueSlow's series is absent");
    let m = message(&absent);
    assert!(m.contains("it was never pending: `queue_depth > 100` selects series queue_depth, absent from every scraped target"), "{m}");

    let unknown = pair
        .alert("NoSuchAlert")
        .try_assert_fires(&Induced::now("nothing"))
        .await
        .expect_err("no such rule");
    assert_eq!(unknown.verdict(), Verdict::Error);
    let m = message(&unknown);
    assert!(
        m.contains("no alerting rule named NoSuchAlert is loaded (loaded: ErrorsHigh, QueueSlow)"),
        "{m}"
    );

    let nothing_to_resolve = pair
        .alert("QueueSlow")
        .try_assert_resolves(&Induced::now("nothing"))
        .await
        .expect_err("QueueSlow never fired");
    assert_eq!(nothing_to_resolve.verdict(), Verdict::Error);
    assert!(
        message(&nothing_to_resolve)
            .contains("no instance of QueueSlow was firing when the cause was cleared")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_holds_on_a_healthy_window_and_breaks_on_a_false_positive() -> TestResult {
    let exporter = Exporter::start().await?;
    let ratio = exporter.gauge("app_error_ratio", "x")?;
    ratio.set(&[], 0.01);
    exporter.gauge("queue_depth", "x")?.set(&[], 3.0);
    let pair = pair_on(&exporter).await?;
    let quiet = pair
        .try_assert_silent(Duration::from_secs(3))
        .await
        .map_err(|f| message(&f))?;
    assert!(
        quiet
            .summary
            .as_deref()
            .is_some_and(|s| s.starts_with("silent over 3s: none of 2 alerting rules"))
    );

    ratio.set(&[], 0.2);
    let noisy = pair
        .try_assert_silent(Duration::from_secs(4))
        .await
        .expect_err("ErrorsHigh fires during the window");
    let m = message(&noisy);
    assert!(m.contains("not silent: ErrorsHigh"), "{m}");

    let rollup = pair
        .try_assert_all_alerts_fired()
        .expect_err("QueueSlow never fired");
    assert!(message(&rollup).contains("alerts fired in testing: 1 of 2; never fired: QueueSlow"));

    let empty = Pair::builder().with_recorder(recorder()).start().await?;
    let blind = empty
        .try_assert_silent(Duration::from_secs(1))
        .await
        .expect_err("no rule: silence proves nothing");
    assert_eq!(blind.verdict(), Verdict::Error);
    assert!(message(&blind).contains("no alerting rule is loaded"));
    let none = empty
        .try_assert_all_alerts_fired()
        .expect_err("no rule to fire");
    assert_eq!(none.verdict(), Verdict::Error);
    Ok(())
}
