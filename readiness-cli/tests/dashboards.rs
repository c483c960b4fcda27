//! The scorecard in the dashboards a team already has: `readiness report` writes
//! OpenMetrics text (scorecard.prom) and pushes it to a real Pushgateway (Debian's
//! prometheus-pushgateway, `READINESS_IMAGE_PUSHGATEWAY`); a real Prometheus scrapes both,
//! the Pushgateway and the file served as OpenMetrics, and PromQL reads back the run's
//! verdict and a criterion's observed value. Needs Docker.

#[path = "../../readiness-report/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use readiness_core::Recorder;
use readiness_core::containers::{self, PUSHGATEWAY_PORT};
use readiness_observability::{Pair, Target};
use readiness_report::openmetrics::CONTENT_TYPE;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn report(evidence: &Path, config: &Path, out: &Path, push: &str) -> (Option<i32>, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_readiness"))
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("READINESS_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .current_dir(std::env::temp_dir())
        .arg("report")
        .arg(evidence)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(["--format", "json,openmetrics", "--push", push])
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run.status.code(), text)
}

/// Serves `body` as OpenMetrics on a loopback port, to every request (at most 10,000).
async fn serve(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        for _ in 0..10_000 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0; 8192];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
    });
    address
}

/// The samples of `expr` once there are `want` of them with `value` (or whatever there
/// is after 60 tries, half a second apart).
async fn samples(
    pair: &Pair,
    expr: &str,
    value: Option<f64>,
) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut last = Vec::new();
    for _ in 0..60 {
        last = pair.query(expr).await.expect("query");
        if !last.is_empty() && value.is_none_or(|v| last.iter().all(|(_, x)| *x == v)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_scorecard_reads_back_with_promql_and_the_next_push_replaces_it() {
    let (tmp, evidence, config) = common::golden_dir();
    let gateway = containers::start(containers::pushgateway().expect("image"))
        .await
        .expect("the Pushgateway starts (images/with-local-images builds it)");
    let port = gateway
        .get_host_port_ipv4(PUSHGATEWAY_PORT)
        .await
        .expect("port");
    let push = format!("http://127.0.0.1:{port}");

    // The golden run is a no-go (load.p99 must pass and failed); p95 observed 41.5 ms.
    let out = tmp.path().join("out");
    let (code, text) = report(&evidence, &config, &out, &push);
    assert_eq!(code, Some(1), "no-go, pushed: {text}");
    assert!(
        text.contains(&format!(
            "pushed the scorecard to {push}/metrics/job/readiness"
        )),
        "{text}"
    );
    let file = std::fs::read_to_string(out.join("scorecard.prom")).expect("scorecard.prom");
    assert!(file.ends_with("# EOF\n"), "{file}");
    let served = serve(file).await;

    let pair = Pair::builder()
        .scrape(Target::new("pushgateway", format!("127.0.0.1:{port}")))
        .scrape(Target::new("scorecard_file", served))
        .scrape_interval(Duration::from_secs(1))
        .with_recorder(Recorder::new(tmp.path().join("pair-evidence")))
        .start()
        .await
        .expect("Prometheus and Alertmanager start");
    let health = pair.wait_for_scrapes().await.expect("targets");
    for t in &health {
        // The file is read by Prometheus's OpenMetrics parser (its content type says so):
        // a scrape error here is text OpenMetrics refuses.
        assert_eq!(t.health, "up", "{} scraped: {}", t.job, t.last_error);
    }

    // Through the Pushgateway (the push's job becomes exported_job) and from the file.
    for source in [r#"exported_job="readiness""#, r#"job="scorecard_file""#] {
        let go = samples(&pair, &format!("readiness_run_go{{{source}}}"), None).await;
        assert_eq!(go.len(), 1, "{source}: one verdict: {go:?}");
        assert_eq!(go[0].1, 0.0, "{source}: the verdict is no-go: {go:?}");
        assert!(!go[0].0["run"].is_empty(), "{source}: the run is a label");
        let p95 = samples(
            &pair,
            &format!(r#"readiness_criterion_observed{{criterion="load.p95",{source}}}"#),
            None,
        )
        .await;
        assert_eq!(p95.len(), 1, "{source}: {p95:?}");
        assert!(
            (p95[0].1 - 0.0415).abs() < 1e-9,
            "{source}: p95 41.5 ms in seconds: {p95:?}"
        );
        assert_eq!(p95[0].0["unit"], "seconds");
        let failed = samples(
            &pair,
            &format!(r#"readiness_criterion_status{{status="fail",{source}}} == 1"#),
            None,
        )
        .await;
        let ids: Vec<&str> = failed
            .iter()
            .map(|(l, _)| l["criterion"].as_str())
            .collect();
        assert_eq!(ids, ["load.p99"], "{source}");
        let limit = samples(
            &pair,
            &format!(r#"readiness_criterion_threshold{{criterion="load.p99",{source}}}"#),
            None,
        )
        .await;
        assert_eq!(limit.len(), 1, "{source}: {limit:?}");
        assert_eq!((limit[0].0["kind"].as_str(), limit[0].1), ("at_most", 1.0));
    }

    // The next push replaces the group: the gateway holds the latest run only.
    let good = tmp.path().join("good");
    std::fs::create_dir_all(&good).expect("dir");
    common::all_pass(&good);
    let weighs = tmp.path().join("weighs.toml");
    std::fs::write(
        &weighs,
        "[report.categories]\nperformance = 20\nrecovery = 15\n",
    )
    .expect("config");
    let (code, text) = report(&good, &weighs, &tmp.path().join("out-good"), &push);
    assert_eq!(code, Some(0), "go, pushed: {text}");
    let go = samples(
        &pair,
        r#"readiness_run_go{exported_job="readiness"}"#,
        Some(1.0),
    )
    .await;
    assert_eq!(go.len(), 1, "one verdict after the second push: {go:?}");
    assert_eq!(go[0].1, 1.0, "the latest run is a go: {go:?}");
    // The scrape that saw the new verdict saw the old run's series gone (stale).
    let gone = pair
        .query(
            r#"readiness_criterion_observed{criterion="load.error_rate",exported_job="readiness"}"#,
        )
        .await
        .expect("query");
    assert!(
        gone.is_empty(),
        "the first run's criteria are gone: {gone:?}"
    );
}

#[test]
fn a_push_nobody_answers_exits_2_after_the_files_are_written() {
    let (tmp, evidence, config) = common::golden_dir();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let out = tmp.path().join("out");
    let (code, text) = report(
        &evidence,
        &config,
        &out,
        &format!("http://127.0.0.1:{port}"),
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the scorecard was written, but the push to")
            && text.contains("is the Pushgateway up"),
        "{text}"
    );
    assert!(
        out.join("scorecard.prom").is_file(),
        "the files were written"
    );
    let (code, text) = report(&evidence, &config, &out, "127.0.0.1:9091");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("give the Pushgateway's URL"), "{text}");
}
