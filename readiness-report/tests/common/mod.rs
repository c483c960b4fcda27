//! Fixture evidence, written by the real crates (readiness-core's `Check`, readiness-load's
//! engine and assertions), never by hand.
#![expect(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the fixtures; the module is private to it"
)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use readiness_core::{
    Bytes, Category, Check, Count, Error, Evidence, Failure, Probe, Quantity, Rate, Ratio,
    Recorder, Threshold,
};
use readiness_load::{
    BreakCriterion, ErrorClass, Load, Model, Spike, Stress, metrics::BoxedIteration,
};

/// Keeps the evidence of a check whether it passed or not.
pub fn keep(result: Result<Evidence, Failure>) -> Evidence {
    match result {
        Ok(e) => e,
        Err(f) => f.evidence().clone(),
    }
}

/// Writes `evidence` into `dir` as the harness writes it.
pub fn record(dir: &Path, evidence: &Evidence) {
    Recorder::new(dir).record(evidence).expect("record");
}

fn at_most_ms(ms: u64) -> Threshold {
    Threshold::at_most(Duration::from_millis(ms))
}

/// Options for `dir` with the built-in defaults: an empty config file beside it, so no
/// `readiness.toml` of the workspace running the tests changes what they judge.
pub fn defaults(dir: &Path) -> readiness_report::Options {
    let config = dir.with_extension("defaults.toml");
    std::fs::write(&config, "").expect("empty config");
    let mut options = readiness_report::Options::new(dir);
    options.config = Some(config);
    options
}

/// `<target>/readiness-self-test`: where fixtures that are not kept in a test's own
/// directory go, never the evidence directory a user's report reads.
pub fn self_test() -> Recorder {
    Recorder::new(readiness_core::settings::target_dir().join("readiness-self-test"))
}

/// A deterministic run: fixed observations, judged by `Check` on a thread with a fixed name
/// (the test name in the evidence), so the outputs can be golden files.
pub fn golden(dir: &Path) {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("suite::checkout_readiness".into())
        .spawn(move || {
            let d = || dir.clone();
            let _ = Check::new(
                "load.p95",
                "p95 latency of search under 500ms",
                Category::PERFORMANCE,
            )
            .with_threshold(at_most_ms(500))
            .with_scenario("constant arrival rate 200/s for 30s")
            .with_target("GET http://127.0.0.1:8080/orders/search")
            .with_recorder(Recorder::new(d()))
            .judge(Quantity::millis(41.5));
            let _ = Check::new(
                "load.p99",
                "p99 latency of search under 1s",
                Category::PERFORMANCE,
            )
            .with_threshold(at_most_ms(1000))
            .with_scenario("constant arrival rate 200/s for 30s")
            .with_recorder(Recorder::new(d()))
            .judge(Quantity::millis(1920.0));
            let _ = Check::new(
                "load.error_rate",
                "error rate of search under 1%",
                Category::RELIABILITY,
            )
            .with_threshold(Threshold::at_most(Ratio::percent(1.0).expect("ratio")))
            .with_recorder(Recorder::new(d()))
            .judge(Quantity::ratio(0.002));
            let _ = Check::new(
                "sec.auth_required",
                "writes without a token are refused",
                Category::SECURITY,
            )
            .with_threshold(Threshold::at_most(Count(0)))
            .with_recorder(Recorder::new(d()))
            .judge(Quantity::count(0));
            let _ = Check::new("dr.rto", "PostgreSQL back within 30s", Category::RECOVERY)
                .with_threshold(Threshold::at_most(Duration::from_secs(30)))
                .with_recorder(Recorder::new(d()))
                .error(Error::Other(
                    "container postgres did not start: port 5432 taken".into(),
                ));
            let _ = Check::new(
                "load.capacity",
                "capacity of orders at least 1,000/s",
                Category::CAPACITY,
            )
            .with_threshold(Threshold::at_least(Rate::per_second(1000.0).expect("rate")))
            .with_recorder(Recorder::new(d()))
            .judge(Quantity::per_second(1200.0));
        })
        .expect("thread")
        .join()
        .expect("fixture thread");
}

/// A temporary directory with the [`golden`] evidence in `evidence/` and
/// [`GOLDEN_CONFIG`] in `readiness.toml`: (the directory, the evidence, the config).
pub fn golden_dir() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    std::fs::create_dir_all(&evidence).expect("dir");
    golden(&evidence);
    let config = tmp.path().join("readiness.toml");
    std::fs::write(&config, GOLDEN_CONFIG).expect("config");
    (tmp, evidence, config)
}

/// The only evidence file in `dir` and its first record line.
pub fn only_record(dir: &Path) -> (std::path::PathBuf, String) {
    let file = std::fs::read_dir(dir)
        .expect("list")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let text = std::fs::read_to_string(&file).expect("read");
    (file, text.lines().next().expect("a line").to_owned())
}

/// The `[report]` table used with [`golden`].
pub const GOLDEN_CONFIG: &str = r#"
[report]
min_score = 8.0
must_pass = ["load.p99"]
expected = ["obs.alert_fires"]
[report.categories]
performance = 15
reliability = 15
security = 15
recovery = 8
observability = 12
capacity = 10
[report.capacity]
peak_rate = 400.0
growth_per_month = 0.1
"#;

/// A passing run: the same criteria as [`golden`] all met, nothing expected missing.
pub fn all_pass(dir: &Path) {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("suite::healthy".into())
        .spawn(move || {
            for (id, cat, ms) in [
                ("load.p95", Category::PERFORMANCE, 41.0),
                ("load.p99", Category::PERFORMANCE, 90.0),
                ("dr.rto", Category::RECOVERY, 12.0),
            ] {
                Check::new(id, format!("{id} under 500ms"), cat)
                    .with_threshold(at_most_ms(500))
                    .with_recorder(Recorder::new(dir.clone()))
                    .judge(Quantity::millis(ms))
                    .expect("passes");
            }
        })
        .expect("thread")
        .join()
        .expect("fixture thread");
}

/// A FIFO server that serves `capacity` requests per second, one at a time.
pub fn queue_server(capacity: f64) -> impl Fn(u64) -> BoxedIteration + Send + Sync + 'static {
    let service = Duration::from_secs_f64(1.0 / capacity);
    let next_free = Arc::new(Mutex::new(Instant::now()));
    move |_| {
        let done_at = {
            let mut free = next_free.lock().expect("lock");
            let start = (*free).max(Instant::now());
            *free = start + service;
            *free
        };
        Box::pin(async move {
            tokio::time::sleep_until(done_at).await;
            Ok::<(), ErrorClass>(())
        })
    }
}

/// A transaction that takes `base` plus a jitter spread evenly over `jitter` (by iteration
/// number, so two runs draw the same distribution), and fails every `fail_every`-th time.
pub fn delayed(
    base: Duration,
    jitter: Duration,
    fail_every: u64,
) -> impl Fn(u64) -> BoxedIteration + Send + Sync + Clone + 'static {
    delayed_drawn(base, jitter, fail_every, 0)
}

/// [`delayed`] with the jitter drawn by `seed`: another seed is another sample of the same
/// distribution (a re-run of the same build).
pub fn delayed_drawn(
    base: Duration,
    jitter: Duration,
    fail_every: u64,
    seed: u64,
) -> impl Fn(u64) -> BoxedIteration + Send + Sync + Clone + 'static {
    move |i| {
        let draw = if seed == 0 {
            (i * 37) % 100
        } else {
            // SplitMix64 of (seed, i): uniform on 0..100.
            let mut z = (i ^ seed.rotate_left(32)).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % 100
        };
        let extra = jitter.mul_f64(draw as f64 / 100.0);
        Box::pin(async move {
            tokio::time::sleep(base + extra).await;
            if fail_every > 0 && i % fail_every == fail_every - 1 {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            }
        })
    }
}

/// A run with every kind of attachment the harness writes: per-second timelines and
/// histograms, stress steps, a spike, a soak, a scaling check and probe samples.
pub async fn rich(dir: &Path) {
    let limit = Duration::from_millis(50);
    let report = Load::new(
        "search",
        Model::constant_rate(100.0, Duration::from_secs(3)).expect("model"),
    )
    .with_recorder(self_test())
    .with_target("search (in-process)")
    .run(delayed(
        Duration::from_millis(5),
        Duration::from_millis(10),
        50,
    ))
    .await
    .expect("load");
    record(
        dir,
        &keep(readiness_load::try_assert_p95_under(&report, limit)),
    );
    record(
        dir,
        &keep(readiness_load::try_assert_error_rate_under(
            &report,
            Ratio::percent(1.0).expect("1%"),
        )),
    );

    let rate = |r: f64| Rate::per_second(r).expect("rate");
    let stress = Stress::new(
        "queue",
        rate(100.0),
        rate(100.0),
        rate(600.0),
        Duration::from_secs(1),
    )
    .expect("stress")
    .with_recorder(self_test())
    .with_break(BreakCriterion::new(
        readiness_core::Ratio::percent(1.0).expect("1%"),
        Duration::from_millis(100),
    ));
    let steps = stress.run(queue_server(300.0)).await.expect("stress");
    record(
        dir,
        &keep(readiness_load::try_assert_capacity_at_least(
            &steps,
            rate(200.0),
        )),
    );

    let spike = Spike {
        baseline: readiness_core::Rate::per_second(50.0).expect("a rate"),
        factor: 4.0,
        before: Duration::from_secs(2),
        spike: Duration::from_secs(1),
        after: Duration::from_secs(2),
    };
    let load = spike
        .load("queue")
        .expect("model")
        .with_recorder(self_test());
    let spiked = spike.run(&load, queue_server(150.0)).await.expect("spike");
    record(
        dir,
        &keep(readiness_load::try_assert_spike_recovers_within(
            &spiked,
            Duration::from_secs(3),
        )),
    );

    let soak_load = Load::new(
        "soak",
        Model::constant_rate(50.0, Duration::from_secs(3)).expect("model"),
    )
    .with_recorder(self_test());
    let soaked = readiness_load::soak(
        &soak_load,
        delayed(Duration::from_millis(2), Duration::from_millis(2), 0),
        Duration::from_millis(500),
        || async { readiness_load::rss_of_pid(std::process::id()) },
    )
    .await
    .expect("soak");
    record(
        dir,
        &keep(readiness_load::try_assert_no_memory_drift(
            &soaked,
            Bytes(512 * 1024 * 1024),
        )),
    );

    let mut levels = Vec::new();
    for users in [2usize, 4] {
        let r = Load::new(
            "scaling",
            Model::closed(users, Duration::from_secs(1)).expect("model"),
        )
        .with_recorder(self_test())
        .run(delayed(Duration::from_millis(10), Duration::ZERO, 0))
        .await
        .expect("closed");
        levels.push((users, r));
    }
    let refs: Vec<(usize, &readiness_load::Report)> = levels.iter().map(|(u, r)| (*u, r)).collect();
    record(
        dir,
        &keep(readiness_load::try_assert_scales_linearly(
            &refs,
            Ratio::percent(30.0).expect("30%"),
        )),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accept = tokio::spawn(async move {
        for _ in 0..100 {
            if listener.accept().await.is_err() {
                break;
            }
        }
    });
    let probe = Probe::tcp(addr.to_string())
        .with_interval(Duration::from_millis(20))
        .until_ok(Duration::from_secs(2))
        .await
        .expect("loopback");
    accept.abort();
    let e = keep(
        Check::new(
            "deps.reachable",
            "the dependency accepts connections",
            Category::RELIABILITY,
        )
        .with_threshold(at_most_ms(1000))
        .with_recorder(self_test())
        .with_attachment(probe.attachment())
        .judge(probe.first_ok.expect("the listener accepts")),
    );
    record(dir, &e);
    drills(dir);
}

/// A recovery and a write history as readiness-dr records them (the data made up, the
/// records judged from it).
fn drills(dir: &Path) {
    use readiness_core::{
        DrillEvent, RecoveryTimeline, Sample, WriteHistory, WriteOutcome, WriteRecord,
    };
    let samples: Vec<Sample> = (0..30)
        .map(|i| Sample {
            at_ms: f64::from(i) * 100.0,
            ok: i >= 12,
            latency_ms: if i >= 12 { 2.0 } else { 1000.0 },
            detail: if i >= 12 { "200" } else { "connection refused" }.into(),
        })
        .collect();
    let timeline = RecoveryTimeline::new(
        "http://127.0.0.1:1/health/ready",
        time::OffsetDateTime::now_utc(),
        vec![
            DrillEvent::new(0.0, "kill SIGKILL"),
            DrillEvent::new(300.0, "start"),
        ],
        (Duration::from_millis(100), Duration::from_secs(1)),
        samples,
        Duration::from_secs(3),
    );
    let rto = Duration::from_secs_f64(timeline.recovered_at_ms.expect("recovered") / 1e3);
    record(
        dir,
        &keep(
            Check::new("dr.rto", "service recovers within 2s", Category::RECOVERY)
                .with_threshold(Threshold::at_most(Duration::from_secs(2)))
                .with_recorder(self_test())
                .with_attachment(timeline)
                .judge(rto),
        ),
    );
    let writes = (1..=200u64)
        .map(|seq| WriteRecord {
            seq,
            invoked_ms: seq as f64 * 10.0,
            completed_ms: seq as f64 * 10.0 + 2.0,
            outcome: if seq == 200 {
                WriteOutcome::Indeterminate
            } else {
                WriteOutcome::Ok
            },
            found: Some(seq < 150),
        })
        .collect();
    let history = WriteHistory::new(
        "orders",
        time::OffsetDateTime::now_utc(),
        vec![DrillEvent::new(2005.0, "kill SIGKILL")],
        Some(2005.0),
        writes,
    );
    alerts(dir);
    security(dir);
    let lost = history.counts().lost;
    record(
        dir,
        &keep(
            Check::new(
                "dr.no_ack_write_lost",
                "no acknowledged write lost",
                Category::RECOVERY,
            )
            .with_threshold(Threshold::at_most(Count(0)))
            .with_recorder(self_test())
            .with_attachment(history)
            .judge(Quantity::count(lost)),
        ),
    );
}

/// An alert fired and notified, as readiness-observability records it, and its roll-up.
fn alerts(dir: &Path) {
    use readiness_core::{AlertEvent, AlertState, AlertTimeline, Combine, Ratio};
    let timeline = AlertTimeline::new(
        "ErrorsHigh",
        (
            "error ratio set to 50%".to_owned(),
            time::OffsetDateTime::now_utc(),
        ),
        Duration::ZERO,
        (
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_millis(200),
        ),
        Some("pager".to_owned()),
        vec![
            AlertEvent::new(0.0, AlertState::Induced),
            AlertEvent::new(1_050.0, AlertState::Firing),
            AlertEvent::new(1_380.0, AlertState::Notified).with_receiver("pager"),
        ],
    );
    record(
        dir,
        &keep(
            Check::new(
                "obs.alert_fires",
                "ErrorsHigh fires within 15s",
                Category::OBSERVABILITY,
            )
            .with_threshold(Threshold::at_most(Duration::from_secs(15)))
            .with_recorder(self_test())
            .with_attachment(timeline)
            .judge(Duration::from_millis(1_380)),
        ),
    );
    record(
        dir,
        &keep(
            Check::new(
                "obs.alerts_fired",
                "every alerting rule was fired in testing",
                Category::OBSERVABILITY,
            )
            .with_threshold(Threshold::at_least(Ratio::ONE))
            .with_combine(Combine::Proportion {
                events: 2,
                trials: 3,
            })
            .with_summary("alerts fired in testing: 2 of 3; never fired: QueueSlow")
            .with_recorder(self_test())
            .judge(Quantity::ratio(2.0 / 3.0)),
        ),
    );
}

/// A rate limit that let a client through twice, as readiness-core's security checks
/// record it, and a vulnerability report.
fn security(dir: &Path) {
    use readiness_core::{
        RateLimitTimeline, SecurityItem, SecurityReport, Severity, VulnerabilityFinding,
        VulnerabilityFindings,
    };
    let requests: Vec<serde_json::Value> = (0..40u64)
        .map(|i| {
            let status = if i < 20 || i % 3 == 0 { 200 } else { 429 };
            serde_json::json!([
                i * 50,
                i % 2,
                status,
                if status == 429 { Some(1) } else { None }
            ])
        })
        .collect();
    let timeline: RateLimitTimeline = serde_json::from_value(serde_json::json!({
        "limit": 60, "window_ms": 60000, "burst": 20, "tolerance": 0.1,
        "clients": ["authorization: Bearer a", "authorization: Bearer b"],
        "sustained_ms": [1000, 2000], "sustained_accepted": 3, "requests": requests,
    }))
    .expect("a rate-limit timeline");
    let report = SecurityReport::new(vec![
        SecurityItem::new(
            "GET /orders",
            "a at 3/s",
            "at most 2 accepted",
            "4 accepted",
            false,
        ),
        SecurityItem::new(
            "GET /orders",
            "every refusal",
            "429 with Retry-After",
            "all",
            true,
        ),
    ]);
    record(
        dir,
        &keep(
            Check::new(
                "sec.rate_limit",
                "rate limit of 60/min holds",
                Category::SECURITY,
            )
            .with_threshold(Threshold::at_most(Count(0)))
            .with_recorder(self_test())
            .with_attachment(timeline)
            .with_attachment(report)
            .judge(Quantity::count(1)),
        ),
    );
    let findings = VulnerabilityFindings::new(
        vec!["trivy: image.json".into()],
        std::collections::BTreeMap::from([(Severity::Critical, 0), (Severity::High, 0)]),
        vec![
            VulnerabilityFinding::new(
                "CVE-2023-38545",
                ("libcurl4", "7.88.1-10"),
                Severity::Critical,
                "trivy: image.json",
            )
            .with_fixed("7.88.1-10+deb12u4"),
            VulnerabilityFinding::new(
                "CVE-2011-3374",
                ("apt", "2.6.1"),
                Severity::Low,
                "trivy: image.json",
            ),
        ],
    );
    record(
        dir,
        &keep(
            Check::new(
                "sec.vulnerabilities",
                "no high or critical finding",
                Category::SECURITY,
            )
            .with_threshold(Threshold::at_most(Count(0)))
            .with_recorder(self_test())
            .with_attachment(findings)
            .judge(Quantity::count(1)),
        ),
    );
}
