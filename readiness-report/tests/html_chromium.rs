//! The HTML report opens in headless Chromium with every chart drawn and no script error,
//! at a desktop's width and a phone's: no label of a chart overlaps another, the criterion's
//! limit is drawn where the chart has its unit, the capacity plan and the defect matrix are
//! drawn, and nothing is wider than a phone's screen. Screenshots are left in
//! target/readiness-self-test/report-{desktop,phone}.png for a person to look at.

mod common;

use std::process::Command;

use readiness_report::{Format, Matrix, MatrixRow, make, write_outputs};

/// A config with a capacity plan from the stress's ceiling.
const CAPACITY: &str = "[report.capacity]\npeak_rate = 60.0\ngrowth_per_month = 0.1\n";

/// The value of `attribute` on every element of `dom` that has it.
fn attributes<'a>(dom: &'a str, attribute: &str) -> Vec<&'a str> {
    let key = format!("{attribute}=\"");
    dom.match_indices(&key)
        .map(|(i, _)| {
            let rest = &dom[i + key.len()..];
            &rest[..rest.find('"').expect("a closing quote")]
        })
        .collect()
}

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
    let mut options = common::defaults(&evidence);
    let config = tmp.path().join("capacity.toml");
    std::fs::write(&config, CAPACITY).expect("config");
    options.config = Some(config);
    // The run is a row of a defect matrix (as a review's healthy run is): the report draws it.
    let first = make(&options).expect("scorecard");
    let run = first.runs[0].id.to_string();
    let row = |defect: Option<&str>, expected: &[&str], failed: &[&str]| MatrixRow {
        defect: defect.map(str::to_owned),
        run: run.clone(),
        expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        failed: failed.iter().map(|s| (*s).to_owned()).collect(),
        not_measured: Vec::new(),
        verdict: first.verdict,
        seconds: 100.0,
    };
    Matrix {
        rows: vec![
            row(None, &[], &[]),
            row(
                Some("slow_search"),
                &["load.p95"],
                &["load.p95", "load.spike"],
            ),
            row(Some("no_auth"), &["sec.auth_required"], &[]),
        ],
    }
    .save(&evidence)
    .expect("matrix saved");
    let card = make(&options).expect("scorecard");
    assert!(card.capacity.is_some(), "a capacity plan");
    assert!(card.matrix.is_some(), "the defect matrix");
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

    // No label of any chart overlaps another; the limits are drawn.
    let overlaps = attributes(&dom, "data-overlaps");
    assert_eq!(overlaps.len(), charts, "every chart counted its overlaps");
    assert!(
        overlaps.iter().all(|o| *o == "0"),
        "overlapping labels: {overlaps:?}"
    );
    let limits: usize = attributes(&dom, "data-limits")
        .iter()
        .map(|l| l.parse::<usize>().expect("a count"))
        .sum();
    assert!(limits >= 8, "the criteria's limits drawn: {limits}");
    assert!(
        dom.contains("data-kind=\"capacity\""),
        "the capacity plan drawn"
    );
    assert!(
        dom.contains("<table class=\"grid\">") && dom.contains("<td class=\"miss\">·</td>"),
        "the defect matrix drawn, the missed defect marked"
    );

    // At a phone's width (a 390 px frame: a headless window is at least 500 px wide),
    // nothing wider than the screen and no label overlapping.
    let frame = html_path.with_file_name("phone.html");
    std::fs::write(
        &frame,
        "<!DOCTYPE html><html><body><iframe id=f src=\"scorecard.html\" width=390 height=844>\
         </iframe><script>document.getElementById('f').addEventListener('load', function () {\
         var d = this.contentDocument, b = d.body;\
         ['data-viewport-width', 'data-scroll-width', 'data-errors'].forEach(function (a) {\
         document.body.setAttribute(a, b.getAttribute(a)); });\
         document.body.setAttribute('data-overlap-counts', Array.prototype.map.call(\
         d.querySelectorAll('.chart'), function (c) { return c.getAttribute('data-overlaps'); })\
         .join(',')); });</script></body></html>",
    )
    .expect("frame page");
    let mut phone = Command::new(&browser);
    base(&mut phone);
    let run = phone
        .arg("--allow-file-access-from-files")
        .arg("--dump-dom")
        .arg(format!("file://{}", frame.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&run.stdout);
    let read = |name: &str| -> u32 {
        attributes(&dom, name)
            .first()
            .unwrap_or_else(|| panic!("{name} of the framed page: {dom}"))
            .parse()
            .expect("a number")
    };
    let (viewport, scroll) = (read("data-viewport-width"), read("data-scroll-width"));
    assert_eq!(viewport, 390, "the phone's width");
    assert!(
        scroll <= viewport,
        "the page is {scroll} px wide on a {viewport} px screen"
    );
    assert_eq!(read("data-errors"), 0, "no script error at a phone's width");
    let counts = attributes(&dom, "data-overlap-counts")[0];
    assert!(
        counts.split(',').count() == charts && counts.split(',').all(|o| o == "0"),
        "overlapping labels at a phone's width: {counts}"
    );

    let dir = readiness_core::settings::target_dir().join("readiness-self-test");
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, size) in [("desktop", "1280,12000"), ("phone", "390,16000")] {
        let shot = dir.join(format!("report-{name}.png"));
        let mut screenshot = Command::new(&browser);
        base(&mut screenshot);
        let run = screenshot
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("--window-size={size}"))
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
}
