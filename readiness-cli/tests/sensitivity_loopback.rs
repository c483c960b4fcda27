//! `readiness sensitivity` end to end on loopback alone (no container): a suite of one round trip through a
//! fault proxy named `redis` to an echo server on loopback, run clean and under mutants two
//! at a time. The latency mutant is caught; the bandwidth one is missed, naming what the
//! suite lacks; container and service mutants reach nothing of a suite without containers,
//! and half the memory has no budget to halve: all left out of the score, which
//! `--min-score` gates.

use std::process::Command;
use std::time::{Duration, Instant};

use readiness_core::{Category, Check, Quantity, Recorder, Threshold};
use readiness_dr::proxy::Proxy;
use readiness_report::{Outcome, Sensitivity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The suite: one `ping` echoed back through the proxy, judged within 150 ms (the latency
/// mutant adds at least 200 ms). Passes as one of this repository's tests.
#[tokio::test(flavor = "multi_thread")]
async fn loopback_round_trip_within_150ms() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..10 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                for _ in 0..100 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    let proxy = Proxy::start("redis", upstream.to_string())
        .await
        .expect("the proxy starts");
    let started = Instant::now();
    let mut s = TcpStream::connect(proxy.listen_addr())
        .await
        .expect("connect");
    // A declared mutant of the tests below: the round trip made slow by the suite itself.
    if let Some(ms) = std::env::var("LOOPBACK_EXTRA_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    s.write_all(b"ping").await.expect("write");
    let mut back = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    let elapsed = started.elapsed();
    assert_eq!(&back, b"ping");
    // Under `readiness sensitivity`, where it says; as this repository's test, a
    // directory of its own.
    let own = tempfile::tempdir().expect("tmp");
    let dir = std::env::var_os("READINESS_DIR")
        .map_or_else(|| own.path().to_path_buf(), std::path::PathBuf::from);
    let verdict = Check::new(
        "app.round_trip",
        "a round trip through the redis proxy within 150ms",
        Category::PERFORMANCE,
    )
    .with_threshold(Threshold::at_most(Duration::from_millis(150)))
    .with_recorder(Recorder::new(dir))
    .judge(Quantity::duration(elapsed));
    if readiness_core::mutant::current()
        .expect("the mutant setting")
        .is_none()
    {
        verdict.expect("a round trip within 150 ms");
    }
}

#[test]
fn sensitivity_on_loopback_catches_latency_misses_bandwidth_and_leaves_out_what_reached_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("readiness.toml");
    let (out, printed) = sensitivity(
        tmp.path(),
        &[
            "--mutants",
            "dep.latency,dep.bandwidth,dep.killed,svc.cpu_half,svc.memory_half",
            "--jobs",
            "2",
            "--min-score",
            "0.9",
        ],
    );
    // 1 of 2 caught is below --min-score 0.9.
    assert_eq!(out.status.code(), Some(1), "{printed}");
    let result = Sensitivity::read(&tmp.path().join("evidence"))
        .expect("reads")
        .expect("sensitivity.json");
    let row = |id: &str| {
        result
            .rows
            .iter()
            .find(|r| r.mutant == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id}: {printed}"))
    };
    let latency = row("dep.latency");
    assert_eq!(latency.outcome, Outcome::Caught, "{printed}");
    assert_eq!(latency.failed, ["app.round_trip"], "{printed}");
    assert!(
        latency.reached.iter().any(|r| r.contains("proxy `redis`")),
        "{latency:?}"
    );
    let bandwidth = row("dep.bandwidth");
    assert_eq!(bandwidth.outcome, Outcome::Missed, "{printed}");
    assert!(
        bandwidth
            .describe()
            .starts_with("missed: the suite has no load.p<q> (slow responses under load)"),
        "{}",
        bandwidth.describe()
    );
    // Aimed at containers the clean run never started: left out without a run (0 s).
    let killed = row("dep.killed");
    assert!(
        matches!(&killed.outcome, Outcome::NotRun(why) if why.starts_with("it would reach nothing of the suite: the clean run started no fault proxy or catalogue container it aims at (catalogue containers postgres or redis")),
        "{printed}"
    );
    assert_eq!(killed.seconds, 0.0, "{killed:?}");
    let cpu = row("svc.cpu_half");
    assert!(
        matches!(&cpu.outcome, Outcome::NotRun(why) if why.contains("would reach nothing") && why.contains("READINESS_SERVICE")),
        "{printed}"
    );
    assert_eq!(cpu.seconds, 0.0, "{cpu:?}");
    assert!(
        matches!(&row("svc.memory_half").outcome, Outcome::NotRun(why) if why.contains("set READINESS_SERVICE_MEMORY")),
        "{printed}"
    );
    assert_eq!(result.score(), (1, 2), "{printed}");
    assert!(printed.contains("1 of 2 mutants caught"), "{printed}");
    // The gate's line: the verdict, the share wanted, and the mutant missed with its lack.
    assert!(
        printed.contains(
            "fail: 1 of 2 mutants caught (50%), at least 90% wanted; dep.bandwidth missed: the suite has no load.p<q>"
        ),
        "{printed}"
    );
    // Rows in the order asked for, though two ran at a time.
    let order: Vec<&str> = result.rows.iter().map(|r| r.mutant.as_str()).collect();
    assert_eq!(
        order,
        [
            "dep.latency",
            "dep.bandwidth",
            "dep.killed",
            "svc.cpu_half",
            "svc.memory_half"
        ]
    );
    // The report of a mutant's run shows the sensitivity and says the run was mutated.
    let card = readiness_report::make(&readiness_report::Options {
        dir: tmp.path().join("evidence"),
        config: Some(config),
        baseline: None,
        run: readiness_report::Run::Id("loopback-dep.latency".into()),
    })
    .expect("a scorecard");
    assert_eq!(card.sensitivity.as_ref(), Some(&result));
    assert!(
        card.findings
            .iter()
            .any(|f| f.kind == readiness_report::FindingKind::Mutated
                && f.message.contains("dep.latency")),
        "{:?}",
        card.findings
    );
}

/// `readiness sensitivity` with `args` over this binary's loopback test, in `tmp` (its
/// readiness.toml and evidence directory there): the output and all it printed.
fn sensitivity(tmp: &std::path::Path, args: &[&str]) -> (std::process::Output, String) {
    let config = tmp.join("readiness.toml");
    std::fs::write(
        &config,
        "[report]\nunassessed = \"exclude\"\n\n[[sensitivity.mutant]]\nid = \"defect.slow_echo\"\n\
         what = \"the round trip 300 ms slower\"\nenv = { LOOPBACK_EXTRA_MS = \"300\" }\n\
         would_catch = [\"app.round_trip\"]\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_readiness"))
        .arg("sensitivity")
        .arg("--dir")
        .arg(tmp.join("evidence"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .args(["--timeout", "120", "--"])
        .arg(std::env::current_exe().expect("this test binary"))
        .args(["loopback_round_trip_within_150ms", "--exact"])
        .env("READINESS_RUN_ID", "loopback")
        // A service of that name: this suite starts no container at all.
        .env("READINESS_SERVICE", "orders")
        // Empty overrides the budget the repository's readiness.toml gives.
        .env("READINESS_SERVICE_MEMORY", "")
        .env_remove("READINESS_MUTANT")
        .current_dir(tmp)
        .output()
        .expect("readiness sensitivity runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, printed)
}

/// The gate passes at exactly its minimum (exit 0), a declared mutant (one setting of
/// the suite's own, from readiness.toml) counting as a built-in one does, and is an error
/// (exit 2) when every mutant asked for would reach nothing, so none ran.
#[test]
fn the_score_gate_passes_at_its_minimum_and_errs_when_no_mutant_ran() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (out, printed) = sensitivity(
        tmp.path(),
        &[
            "--mutants",
            "dep.latency,defect.slow_echo",
            "--min-score",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains("pass: 2 of 2 mutants caught (100%), at least 100% wanted"),
        "{printed}"
    );
    let result = Sensitivity::read(&tmp.path().join("evidence"))
        .expect("reads")
        .expect("sensitivity.json");
    let declared = result
        .rows
        .iter()
        .find(|r| r.mutant == "defect.slow_echo")
        .unwrap_or_else(|| panic!("{printed}"));
    assert_eq!(declared.outcome, Outcome::Caught, "{printed}");
    assert_eq!(declared.failed, ["app.round_trip"], "{printed}");
    let tmp = tempfile::tempdir().expect("tmp");
    let (out, printed) = sensitivity(
        tmp.path(),
        &["--mutants", "dep.killed", "--min-score", "0.5"],
    );
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("no mutant ran, so the suite's sensitivity was not measured (at least 50% wanted): dep.killed"),
        "{printed}"
    );
}
