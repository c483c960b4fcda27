//! The HTML report opens in headless Chromium with every chart drawn and no script error;
//! a screenshot is left in target/readiness-self-test/report-screenshot.png for a person to
//! look at.

mod common;

use std::process::Command;

use readiness_report::{Format, make, write_outputs};

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!(
        "headless Chromium is needed for this test and was not found: install Debian's \
         `chromium` package (.ci/run does)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn html_report_draws_every_chart_without_errors_in_headless_chromium() {
    let browser = chromium();
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    std::fs::create_dir_all(&evidence).expect("dir");
    common::rich(&evidence).await;
    let card = make(&common::defaults(&evidence)).expect("scorecard");
    let out = tmp.path().join("out");
    let written = write_outputs(&card, &[Format::Html], &out).expect("html");
    let html_path = &written[0];
    let html = std::fs::read_to_string(html_path).expect("read");
    // Self-contained: nothing loaded from anywhere (URLs in the text, like the target
    // under test or the SVG namespace, are not fetched).
    for loader in [
        "src=", "href=", "url(", "@import", "<link", "<iframe", "fetch(",
    ] {
        assert!(!html.contains(loader), "the page loads something: {loader}");
    }
    // Every kind of attachment the harness writes has at least one chart.
    use readiness_core::AttachmentKind as _;
    for kind in [
        readiness_core::Timeline::KIND,
        readiness_core::LatencyHistogram::KIND,
        readiness_core::StressSteps::KIND,
        readiness_core::SpikeRecovery::KIND,
        readiness_core::DriftSeries::KIND,
        readiness_core::ScalingLevels::KIND,
        readiness_core::ProbeReport::KIND,
        readiness_core::RecoveryTimeline::KIND,
        readiness_core::WriteHistory::KIND,
        readiness_core::AlertTimeline::KIND,
        readiness_core::RateLimitTimeline::KIND,
    ] {
        assert!(
            html.contains(&format!("data-kind=\"{kind}\"")),
            "a chart for {kind}"
        );
    }
    let charts = html.matches("class=\"chart\"").count();
    assert!(charts >= 10, "{charts} charts");
    // The alerts section: each alert fired, and the roll-up of fired rules.
    assert!(
        html.contains("<h2 id=\"alerts\">Alerts fired in testing</h2>"),
        "alerts section"
    );
    assert!(html.contains("alerts fired in testing: 2 of 3; never fired: QueueSlow"));
    assert!(html.contains(
        "<td>ErrorsHigh</td><td class=\"pass\">pass</td><td>pager</td><td class=num>1.38 s</td>"
    ));

    // The security section: each failed probe, each finding with its severity.
    assert!(
        html.contains("<h2 id=\"security\">Security probes</h2>"),
        "security section"
    );
    assert!(html.contains(
        "<td>sec.rate_limit</td><td>GET /orders</td><td>a at 3/s</td><td>at most 2 accepted</td><td>4 accepted</td>"
    ));
    assert!(html.contains(
        "<td class=\"fail\">critical</td><td>CVE-2023-38545</td><td>libcurl4 7.88.1-10</td><td>7.88.1-10+deb12u4</td>"
    ));

    let url = format!("file://{}", html_path.display());
    let profile = tmp.path().join("profile");
    let base = |cmd: &mut Command| {
        cmd.arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--disable-dev-shm-usage")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--enable-logging=stderr")
            .arg("--v=0")
            .arg("--virtual-time-budget=5000");
    };
    let mut dump = Command::new(&browser);
    base(&mut dump);
    let run = dump
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&run.stdout);
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "chromium failed: {log}");
    let drawn = dom.matches("data-drawn=\"true\"").count();
    assert_eq!(
        drawn, charts,
        "every chart drawn ({drawn} of {charts})\n{log}"
    );
    assert!(
        dom.contains("data-errors=\"0\""),
        "no script error in the page: {dom}"
    );
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    // No chart is empty: every one drew at least one point.
    assert!(!dom.contains("data-points=\"0\""), "a chart with no point");

    let shot = readiness_core::settings::target_dir()
        .join("readiness-self-test")
        .join("report-screenshot.png");
    std::fs::create_dir_all(shot.parent().expect("parent")).expect("dir");
    let mut screenshot = Command::new(&browser);
    base(&mut screenshot);
    let run = screenshot
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,3000")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
}
