//! `readiness sensitivity` on a small suite of a user's: an orders route that asks Redis
//! (through a fault proxy named `redis`, as a team fronts its dependencies) on every
//! request, loaded for 10 s. The thin suite judges p95 only; the fuller one judges the error
//! rate as well. The same operational mutants, applied by the proxy and the container
//! catalogue without a line of the suite changed, are caught by one and missed by the
//! other, and the report of the thin suite names what it misses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use readiness_core::containers::{self, REDIS_PORT};
use readiness_dr::proxy::Proxy;
use readiness_load::{Load, Model, http, try_assert_error_rate_under, try_assert_p95_under};
use readiness_report::{Outcome, Sensitivity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `PING` to Redis at `redis`, on a connection of its own, each step bounded by 1 s.
async fn ping(redis: std::net::SocketAddr) -> bool {
    let step = Duration::from_secs(1);
    let Ok(Ok(mut s)) = tokio::time::timeout(step, TcpStream::connect(redis)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(step, s.read(&mut buf)).await,
        Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")
    )
}

/// Serves `GET /orders`: 200 when Redis answered its PING, 503 when it did not.
async fn serve(listener: TcpListener, redis: std::net::SocketAddr) {
    for _ in 0..100_000 {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut pending = Vec::new();
            for _ in 0..10_000 {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    pending.drain(..end + 4);
                    let status = if ping(redis).await {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// The suite: Redis from the catalogue, a proxy named `redis` in front of it, the route,
/// 20 requests a second for 10 s, p95 under 200 ms (and, with `SUITE_FULLER=1`, under 1%
/// errors). It passes on a healthy machine; `readiness sensitivity` below runs it again as
/// its own process under each mutant.
#[tokio::test(flavor = "multi_thread")]
async fn docker_orders_answer_within_200ms_at_p95() {
    let redis = containers::start(containers::redis().expect("request"))
        .await
        .expect("redis starts");
    let port = redis
        .get_host_port_ipv4(REDIS_PORT)
        .await
        .expect("redis port");
    let proxy = Proxy::start("redis", format!("127.0.0.1:{port}"))
        .await
        .expect("the proxy starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/orders", listener.local_addr().expect("addr"));
    tokio::spawn(serve(listener, proxy.listen_addr()));
    let model = Model::constant_rate(20.0, Duration::from_secs(10)).expect("model");
    // Under `readiness sensitivity` the evidence goes where it says (READINESS_DIR); as
    // one of this repository's tests, to a directory of its own, never where a user's
    // report looks.
    let own = tempfile::tempdir().expect("tmp");
    let dir = std::env::var_os("READINESS_DIR")
        .map_or_else(|| own.path().to_path_buf(), std::path::PathBuf::from);
    let report = Load::new("orders", model)
        .with_recorder(readiness_core::Recorder::new(dir))
        .run(http::get(url).with_timeout(Duration::from_secs(3)))
        .await
        .expect("the load runs");
    let p95 = try_assert_p95_under(&report, Duration::from_millis(200));
    let errors = std::env::var_os("SUITE_FULLER").map(|_| {
        try_assert_error_rate_under(&report, readiness_core::Ratio::percent(1.0).expect("1%"))
    });
    // A suite under a mutant is meant to fail; the report judges it from the evidence.
    if readiness_core::mutant::current()
        .expect("the mutant setting")
        .is_none()
    {
        p95.expect("p95 under 200 ms");
        if let Some(e) = errors {
            e.expect("error rate under 1%");
        }
    }
}

/// `readiness sensitivity` on the suite above, as its own test binary run once clean and
/// once per mutant; returns its result and the report's markdown.
fn sensitivity(
    dir: &Path,
    run: &str,
    mutants: &str,
    fuller: bool,
    jobs: &str,
) -> (Sensitivity, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let config = dir.join("readiness.toml");
    std::fs::write(
        &config,
        "[report]\nunassessed = \"exclude\"\n\n[report.categories]\nperformance = 1\nreliability = 1\n",
    )
    .expect("config");
    let exe = std::env::current_exe().expect("this test binary");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readiness"));
    cmd.arg("sensitivity")
        .arg("--dir")
        .arg(dir.join("evidence"))
        .arg("--config")
        .arg(&config)
        .args([
            "--mutants",
            mutants,
            "--timeout",
            "300",
            "--jobs",
            jobs,
            "--",
        ])
        .arg(exe)
        .args([
            "docker_orders_answer_within_200ms_at_p95",
            "--exact",
            "--test-threads=1",
        ])
        .env("READINESS_RUN_ID", run)
        // The service's catalogue entry: this suite starts none of that name.
        .env("READINESS_SERVICE", "orders")
        .env_remove("READINESS_MUTANT");
    if fuller {
        cmd.env("SUITE_FULLER", "1");
    } else {
        cmd.env_remove("SUITE_FULLER");
    }
    let out = cmd.output().expect("readiness sensitivity runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    let result = Sensitivity::read(&dir.join("evidence"))
        .expect("sensitivity.json reads")
        .expect("sensitivity.json was written");
    (result, printed)
}

fn outcomes(s: &Sensitivity) -> Vec<(String, Outcome, Vec<String>)> {
    s.rows
        .iter()
        .map(|r| (r.mutant.clone(), r.outcome.clone(), r.failed.clone()))
        .collect()
}

/// The thin suite (p95 only) catches the slow dependency and misses the flaky, cut and
/// killed ones, naming the error rate it lacks; a mutant that reaches nothing of it (the
/// service's container: it has none) is not run, neither caught nor missed; the fuller
/// suite catches all four; the thin suite run again, two runs at a time, gives the same
/// outcome for every mutant.
#[test]
fn docker_a_thin_suite_scores_low_and_is_told_what_it_misses() {
    let tmp = tempfile::tempdir().expect("tmp");
    // svc.sigterm strikes the service's catalogue container: this suite has none.
    let mutants = "dep.latency,dep.flaky,dep.down,dep.killed,svc.sigterm";

    let (thin, printed) = sensitivity(&tmp.path().join("thin"), "thin", mutants, false, "1");
    let by = |s: &Sensitivity, id: &str| {
        s.rows
            .iter()
            .find(|r| r.mutant == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} ran: {s:?}"))
    };
    let latency = by(&thin, "dep.latency");
    assert_eq!(latency.outcome, Outcome::Caught, "{printed}");
    assert_eq!(latency.failed, ["load.p95"], "{printed}");
    for id in ["dep.flaky", "dep.down", "dep.killed"] {
        let row = by(&thin, id);
        assert_eq!(row.outcome, Outcome::Missed, "{id}: {printed}");
        let error_rate = row
            .would_catch
            .iter()
            .find(|w| w.criterion == "load.error_rate")
            .unwrap_or_else(|| panic!("{id} names the error rate: {row:?}"));
        assert!(!error_rate.in_suite, "{row:?}");
        assert!(
            row.describe().contains("the suite has no")
                && row.describe().contains("load.error_rate"),
            "{}",
            row.describe()
        );
    }
    for id in ["dep.latency", "dep.flaky", "dep.down", "dep.killed"] {
        let reached = by(&thin, id).reached;
        assert!(
            reached.iter().any(|r| r.contains("redis")),
            "{id} reached Redis: {reached:?}"
        );
    }
    // The clean run started no container of READINESS_SERVICE: left out without a run.
    let unreached = by(&thin, "svc.sigterm");
    assert!(
        matches!(&unreached.outcome, Outcome::NotRun(why) if why.starts_with("it would reach nothing of the suite")),
        "{unreached:?}"
    );
    assert_eq!(unreached.seconds, 0.0, "{unreached:?}");
    assert_eq!(thin.score(), (1, 4), "svc.sigterm is left out: {printed}");
    assert!(printed.contains("1 of 4 mutants caught"), "{printed}");

    let (fuller, printed) = sensitivity(&tmp.path().join("fuller"), "fuller", mutants, true, "1");
    assert_eq!(fuller.score(), (4, 4), "{printed}");
    for id in ["dep.flaky", "dep.down", "dep.killed"] {
        assert!(
            by(&fuller, id)
                .failed
                .contains(&"load.error_rate".to_owned()),
            "{id}: {printed}"
        );
    }

    // Again, two mutants' runs at a time: the same outcome for each, in the same order.
    let (again, printed) = sensitivity(&tmp.path().join("again"), "again", mutants, false, "2");
    assert_eq!(outcomes(&again), outcomes(&thin), "{printed}");
}
