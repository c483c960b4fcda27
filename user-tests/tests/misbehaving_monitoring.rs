//! A team's monitoring checks, written as a user of `readiness` writes them, against
//! targets that misbehave: a metrics endpoint that serves garbage, one that hangs, an
//! alert on a series nobody exports, a blip shorter than an alert's `for`, and logs that
//! leak a token. Each must fail (or be an error) with a message that says why.

use std::time::Duration;

use readiness::Verdict;
use readiness::observability::{
    Exporter, Exposition, Induced, LogLines, LogRules, MetricsLint, Pair, Retention, RuleFile,
    Target, try_assert_logs, try_assert_metrics_lint, try_assert_targets_up,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn recorder(dir: &tempfile::TempDir) -> readiness::Recorder {
    readiness::Recorder::new(dir.path())
}

/// A loopback "metrics endpoint" that answers every request with `answer` (or, with
/// `None`, reads the request and never answers).
async fn endpoint(answer: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            match answer {
                Some(a) => {
                    let _ = s.write_all(a.as_bytes()).await;
                }
                None => held.push(s),
            }
        }
    });
    addr
}

const RULES: &str = r#"groups:
  - name: team
    rules:
      - alert: QueueBacklog
        expr: queue_depth > 100
        for: 3s
        labels: {severity: warning}
        annotations: {runbook_url: "https://runbooks.example.invalid/queue"}
      - alert: PaymentsFailing
        expr: rate(payments_failed_total[30s]) > 0
        labels: {severity: critical}
        annotations: {runbook_url: "https://runbooks.example.invalid/payments"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_that_serve_garbage_or_hang_are_named_with_the_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let garbage = endpoint(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 21\r\nconnection: close\r\n\r\nthis is { not metrics",
    ))
    .await;
    let hanging = endpoint(None).await;
    let pair = Pair::builder()
        .scrape(Target::new("garbage", &garbage))
        .scrape(Target::new("hanging", &hanging))
        .with_recorder(recorder(&dir))
        .start()
        .await
        .expect("pair");
    let failure = try_assert_targets_up(&pair.scrape().await).expect_err("both are down");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let m = failure.to_string();
    assert!(m.contains("2 of 2 target(s) down"), "{m}");
    assert!(
        m.contains(&format!("job garbage at http://{garbage}/metrics is down")),
        "{m}"
    );
    assert!(
        m.contains(&format!("job hanging at http://{hanging}/metrics is down")),
        "{m}"
    );
    assert!(m.contains("deadline"), "the hanging one timed out: {m}");

    // The lint of the same endpoints: garbage has no metric, the stall is bounded; both
    // are errors, never a pass.
    let lint = MetricsLint::default().with_recorder(recorder(&dir));
    for addr in [&garbage, &hanging] {
        let url = format!("http://{addr}/metrics");
        let f = try_assert_metrics_lint(&Exposition::read(&url).await, &lint)
            .expect_err("nothing to lint");
        assert_eq!(f.verdict(), Verdict::Error, "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_on_an_absent_series_and_a_blip_shorter_than_for_never_fire() {
    let dir = tempfile::tempdir().expect("tmp");
    let exporter = Exporter::start().await.expect("exporter");
    let queue = exporter
        .gauge("queue_depth", "Jobs waiting")
        .expect("gauge");
    queue.set(&[], 0.0);
    let pair = Pair::builder()
        .scrape(Target::new("worker", exporter.target()))
        .rule_file(RuleFile::new("team.yml", RULES))
        .alertmanager_config("route: {receiver: chat, group_wait: 0s, group_interval: 1s}\nreceivers: [{name: chat}]\n")
        .with_recorder(recorder(&dir))
        .start()
        .await
        .expect("pair");

    // Nobody exports payments_failed_total: the alert cannot fire, and the test says why.
    let f = pair
        .alert("PaymentsFailing")
        .within(Duration::from_secs(4))
        .try_assert_fires(&Induced::now("a payment failure, supposedly"))
        .await
        .expect_err("absent series");
    assert!(
        f.to_string()
            .contains("selects series payments_failed_total, absent from every scraped target"),
        "{f}"
    );

    // A 1 s blip under a 3 s `for`: pending, then dropped.
    let blip = Induced::now("queue depth 500 for 1 s");
    queue.set(&[], 500.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    queue.set(&[], 0.0);
    let f = pair
        .alert("QueueBacklog")
        .within(Duration::from_secs(7))
        .try_assert_fires(&blip)
        .await
        .expect_err("the blip never fires");
    assert!(
        f.to_string()
            .contains("before its for: 3s had passed; it never fired"),
        "{f}"
    );

    // And the real thing fires, to chat.
    let backlog = Induced::now("queue depth 500");
    queue.set(&[], 500.0);
    let fired = pair
        .alert("QueueBacklog")
        .within(Duration::from_secs(15))
        .routed_to("chat")
        .try_assert_fires(&backlog)
        .await;
    assert!(fired.is_ok(), "{:?}", fired.err().map(|f| f.to_string()));
    let roll = pair
        .try_assert_all_alerts_fired()
        .expect_err("PaymentsFailing never fired");
    assert!(
        roll.to_string()
            .contains("alerts fired in testing: 1 of 2; never fired: PaymentsFailing"),
        "{roll}"
    );
}

#[test]
fn logs_that_leak_a_token_fail_without_printing_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = r#"{"level":"INFO","message":"starting"}
{"level":"INFO","message":"calling upstream","authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.leak"}"#;
    let f = try_assert_logs(
        &LogLines::new("payments", text),
        &LogRules::new().with_recorder(recorder(&dir)),
    )
    .expect_err("a token in the logs");
    let m = f.to_string();
    assert!(
        m.contains("line 2 holds a secret (http-bearer-token)"),
        "{m}"
    );
    assert!(!m.contains("eyJhbGciOiJIUzI1NiJ9"), "{m}");
}

/// A "Prometheus" whose `/api/v1/status/flags` answers `body` (200, JSON).
async fn flags(body: &str) -> String {
    let text = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    format!(
        "http://{}",
        endpoint(Some(Box::leak(text.into_boxed_str()))).await
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_judged_from_what_prometheus_says_and_a_silent_one_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let month = Duration::from_secs(30 * 86_400);
    let judge = |url: String| {
        let dir = recorder(&dir);
        async move { Retention::read(&url).await.with_recorder(dir).judge(month) }
    };
    let kept = |time: &str, size: &str| {
        format!(
            r#"{{"status":"success","data":{{"storage.tsdb.retention.time":"{time}","storage.tsdb.retention.size":"{size}"}}}}"#
        )
    };

    let ok = judge(flags(&kept("45d", "0B")).await).await;
    assert!(ok.is_ok(), "{:?}", ok.err().map(|f| f.to_string()));

    let short = judge(flags(&kept("7d", "0B")).await)
        .await
        .expect_err("a week is not a month");
    assert_eq!(short.verdict(), Verdict::Fail);
    let m = short.to_string();
    assert!(m.contains("storage.tsdb.retention.time \"7d\""), "{m}");

    // Bounded by size alone: how many days it holds depends on the ingest rate.
    let sized = judge(flags(&kept("0s", "10GB")).await)
        .await
        .expect_err("nothing says how many days");
    assert_eq!(sized.verdict(), Verdict::Error);
    assert!(
        sized.to_string().contains("bounded by size alone (10GB)"),
        "{sized}"
    );

    // Not Prometheus's answer, and no answer at all: errors, the stall bounded.
    let garbage = judge(flags("<html>login</html>").await)
        .await
        .expect_err("not flags");
    assert_eq!(garbage.verdict(), Verdict::Error);
    assert!(
        garbage
            .to_string()
            .contains("cannot read /api/v1/status/flags"),
        "{garbage}"
    );
    let silent = judge(format!("http://{}", endpoint(None).await))
        .await
        .expect_err("no answer");
    assert_eq!(silent.verdict(), Verdict::Error);
    assert!(
        silent.to_string().contains("no answer within 10s"),
        "{silent}"
    );
}
