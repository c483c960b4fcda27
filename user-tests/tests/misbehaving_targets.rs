//! A team's readiness tests against targets that misbehave: silent, half-answering,
//! stalling, redirecting off loopback, refusing. None of them may ever pass; a criterion
//! with nothing to measure is an error. A healthy target passes, so the harness is not
//! just failing everything. Every target is an in-process server on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use readiness::load::{
    ErrorClass, Load, Model, Report, http, try_assert_error_rate_under, try_assert_p95_under,
    try_assert_percentile_under, try_assert_throughput_at_least,
};
use readiness::{
    Category, Check, Observation, Percentile, Probe, Rate, Ratio, Recorder, Threshold, Verdict,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a target answers the n-th request (counted over all connections).
#[derive(Clone, Copy)]
enum Behaviour {
    /// 200 after 2 ms.
    Healthy,
    /// Accepts, reads, never answers.
    Silent,
    /// Every other request is never answered (its connection is held open, silent).
    HalfAnswering,
    /// Holds every request that arrives in the first 300 ms of each second until the
    /// second's 300 ms are over.
    Stalling,
    /// 302 to 0.0.0.0 (this machine, but not loopback to the guard).
    RedirectingTo(u16),
}

async fn serve(mut s: TcpStream, requests: Arc<AtomicUsize>, how: Behaviour, t0: Instant) {
    let mut buf = vec![0u8; 4096];
    let mut pending = Vec::new();
    for _ in 0..100_000 {
        let Ok(read) = s.read(&mut buf).await else {
            return;
        };
        if read == 0 {
            return;
        }
        pending.extend_from_slice(&buf[..read]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let n = requests.fetch_add(1, Ordering::SeqCst);
            let answer = match how {
                Behaviour::Silent => None,
                Behaviour::HalfAnswering if n % 2 == 1 => None,
                Behaviour::Healthy | Behaviour::HalfAnswering => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned())
                }
                Behaviour::Stalling => {
                    let phase = t0.elapsed().as_millis() % 1000;
                    if phase < 300 {
                        tokio::time::sleep(Duration::from_millis((300 - phase) as u64)).await;
                    }
                    Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned())
                }
                Behaviour::RedirectingTo(port) => Some(format!(
                    "HTTP/1.1 302 Found\r\nlocation: http://0.0.0.0:{port}/\r\ncontent-length: 0\r\n\r\n"
                )),
            };
            match answer {
                Some(a) => {
                    if s.write_all(a.as_bytes()).await.is_err() {
                        return;
                    }
                }
                // Hold the connection open and say nothing, until the test ends.
                None => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
    }
}

/// A target on 127.0.0.1 (or `bind`) that behaves as told; counts connections.
async fn target_on(bind: &str, how: Behaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let requests = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    tokio::spawn(async move {
        for _ in 0..10_000 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(s, requests.clone(), how, t0));
        }
    });
    (format!("http://{addr}/orders"), accepted)
}

async fn target(how: Behaviour) -> String {
    target_on("127.0.0.1:0", how).await.0
}

/// This crate's evidence goes to a directory of its own, as a team would choose.
fn recorder(dir: &tempfile::TempDir) -> Recorder {
    Recorder::new(dir.path())
}

/// `GET url` at 50/s for 1 s, a 1 s timeout per request and a 300 ms drain.
async fn load(url: &str, dir: &tempfile::TempDir) -> Report {
    Load::new(
        "orders",
        Model::constant_rate(50.0, Duration::from_secs(1)).expect("model"),
    )
    .with_drain(Duration::from_millis(300))
    .with_recorder(recorder(dir))
    .run(http::get(url).with_timeout(Duration::from_secs(1)))
    .await
    .expect("the load runs")
}

fn one_percent() -> Ratio {
    Ratio::percent(1.0).expect("1%")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_target_passes_every_criterion() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = load(&target(Behaviour::Healthy).await, &dir).await;
    let ms = Duration::from_millis;
    for result in [
        try_assert_p95_under(&report, ms(200)),
        try_assert_error_rate_under(&report, one_percent()),
        try_assert_throughput_at_least(&report, Rate::per_second(40.0).expect("rate")),
    ] {
        let e = result.unwrap_or_else(|f| panic!("a healthy target passes:\n{f}"));
        assert_eq!(e.verdict, Verdict::Pass);
        assert_eq!(e.verify(), Ok(()), "the record agrees with its numbers");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_target_never_passes_and_its_latency_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = load(&target(Behaviour::Silent).await, &dir).await;
    let p95 = try_assert_p95_under(&report, Duration::from_millis(100))
        .expect_err("a silent target never passes p95");
    assert_eq!(p95.verdict(), Verdict::Error, "{p95}");
    assert!(p95.to_string().contains("no iteration succeeded"), "{p95}");
    let errors = try_assert_error_rate_under(&report, one_percent())
        .expect_err("a silent target never passes the error rate");
    assert_eq!(errors.verdict(), Verdict::Fail, "{errors}");
    assert!(errors.to_string().contains("observed: 100%"), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_answering_target_fails_latency_and_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = load(&target(Behaviour::HalfAnswering).await, &dir).await;
    assert!(report.succeeded() > 0, "{}", report.summary());
    assert!(report.failed() > 0, "{}", report.summary());
    let p95 = try_assert_p95_under(&report, Duration::from_millis(100))
        .expect_err("the hanging half is slow");
    assert_eq!(p95.verdict(), Verdict::Fail, "{p95}");
    let errors = try_assert_error_rate_under(&report, one_percent()).expect_err("half fail");
    assert_eq!(errors.verdict(), Verdict::Fail, "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalling_target_fails_p99_because_latency_counts_from_the_intended_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = Load::new(
        "orders",
        Model::constant_rate(100.0, Duration::from_secs(2)).expect("model"),
    )
    .with_recorder(recorder(&dir))
    .run(http::get(target(Behaviour::Stalling).await).with_timeout(Duration::from_secs(2)))
    .await
    .expect("runs");
    // 30% of arrivals wait up to 300 ms: p99 is far over 100 ms even though the target
    // answers every request and most of them fast.
    assert_eq!(report.failed(), 0, "{}", report.summary());
    let p99 = try_assert_percentile_under(&report, Percentile::P99, Duration::from_millis(100))
        .expect_err("the stalls show");
    assert_eq!(p99.verdict(), Verdict::Fail, "{p99}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_off_loopback_is_refused_and_fails_the_load() {
    let dir = tempfile::tempdir().expect("tmp");
    // A healthy server on 0.0.0.0: a connection to it would be the load escaping.
    let (escape_url, escaped) = target_on("0.0.0.0:0", Behaviour::Healthy).await;
    let port: u16 = escape_url
        .trim_start_matches("http://0.0.0.0:")
        .trim_end_matches("/orders")
        .parse()
        .expect("port");
    let report = load(&target(Behaviour::RedirectingTo(port)).await, &dir).await;
    assert_eq!(escaped.load(Ordering::SeqCst), 0);
    let total = report.metrics().total();
    assert_eq!(
        total.errors().get(&ErrorClass::Redirect),
        Some(&report.attempts()),
        "{}",
        report.summary()
    );
    let errors = try_assert_error_rate_under(&report, one_percent()).expect_err("refused");
    assert!(errors.to_string().contains("redirect refused"), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_port_has_nothing_to_measure_for_latency() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let report = load(&format!("http://127.0.0.1:{port}/"), &dir).await;
    let p95 = try_assert_p95_under(&report, Duration::from_secs(1)).expect_err("nothing");
    assert_eq!(p95.verdict(), Verdict::Error, "{p95}");
    assert!(
        p95.to_string()
            .contains("no iteration succeeded: 50 connect"),
        "{p95}"
    );
    assert!(p95.to_string().contains("is the target listening"), "{p95}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_off_loopback_is_refused_before_any_traffic() {
    let e = Load::new(
        "far",
        Model::constant_rate(10.0, Duration::from_secs(1)).expect("model"),
    )
    .run(http::get("http://192.0.2.1/"))
    .await
    .expect_err("refused");
    assert!(
        e.to_string()
            .contains("`http::get(url).allow_non_loopback()`"),
        "the opt-in named exists: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_gets_ready_fails_readiness_with_the_time_waited() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = target(Behaviour::Silent).await;
    let check = Check::new("svc.ready", "ready within 1s", Category::RELIABILITY)
        .with_threshold(Threshold::at_most(Duration::from_secs(1)))
        .with_recorder(recorder(&dir))
        .run(async {
            let report = Probe::http(&url)
                .with_attempt_timeout(Duration::from_millis(200))
                .with_interval(Duration::from_millis(100))
                .until_ok(Duration::from_millis(1500))
                .await?;
            Ok(match report.first_ok {
                Some(t) => Observation::new(t),
                None => Observation::at_least(report.elapsed),
            })
        })
        .await;
    let failure = check.expect_err("never ready");
    assert_eq!(failure.verdict(), Verdict::Fail, "{failure}");
    assert!(
        failure.to_string().contains("observed: at least 1."),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_of_a_misbehaving_run_is_no_go_and_judges_records_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = load(&target(Behaviour::HalfAnswering).await, &dir).await;
    let _ = try_assert_p95_under(&report, Duration::from_millis(100));
    let _ = try_assert_error_rate_under(&report, one_percent());
    let config = dir.path().join("readiness.toml");
    std::fs::write(
        &config,
        "[report.categories]\nperformance = 1\nreliability = 1\n",
    )
    .expect("config");
    let mut options = readiness::report::Options::new(dir.path());
    options.config = Some(config.clone());
    let card = readiness::report::make(&options).expect("scorecard");
    assert_eq!(card.verdict, readiness::report::Decision::NoGo);
    // Turn the failing p95 into a "pass" by hand: the report does not believe it.
    let file = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("evidence");
    let text = std::fs::read_to_string(&file).expect("read");
    let forged = text.replacen("\"verdict\":\"fail\"", "\"verdict\":\"pass\"", 1);
    assert_ne!(forged, text);
    std::fs::write(&file, forged).expect("write");
    let card = readiness::report::make(&options).expect("scorecard");
    assert_eq!(card.verdict, readiness::report::Decision::NoGo);
    assert!(
        card.findings
            .iter()
            .any(|f| f.kind == readiness::report::FindingKind::InconsistentRecord),
        "{:?}",
        card.findings
    );
}
