//! Beyond loopback, on purpose: a smoke run on a staging URL (a second loopback address,
//! 127.0.0.2, stands in for the remote one) needs the URL named and the load marked for it,
//! is capped in rate and length before any request leaves, never runs a stress or a spike
//! there unless told twice, and says where it ran in its evidence. A server that counts
//! what reached it shows that a refused load sent nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use readiness_core::guard::{STAGING_DESTRUCTIVE, Staging};
use readiness_core::{Rate, Recorder};
use readiness_load::{Load, Model, Spike, Stress, http, try_assert_p95_under};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An HTTP server on 127.0.0.2 answering 200 to every request (at most 10,000
/// connections), and how many requests reached it.
async fn staging_server() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("127.0.0.2 is a loopback address on Linux");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        for _ in 0..10_000 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                }
            });
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_on_staging_is_capped_bounded_and_says_where_it_ran() {
    let (url, reached) = staging_server().await;
    let staging = Staging::new(&url).expect("a staging URL");
    let order = staging.join("/orders/1");

    // Within the caps (5/s, a minute by default): it runs, and the evidence says where.
    let dir = tempfile::tempdir().expect("tmp");
    let model = Model::constant_rate(4.0, Duration::from_secs(2)).expect("model");
    let report = Load::new("smoke", model)
        .with_recorder(Recorder::new(dir.path()))
        .run(http::get(&order).on_staging(&staging))
        .await
        .expect("a smoke within the caps runs");
    let remote = report.remote().expect("the report says where it ran");
    assert!(
        remote.starts_with(&format!("staging {url} (opted in; at most 5/s for 1m")),
        "{remote}"
    );
    assert!(remote.ends_with("no faults, no stress)"), "{remote}");
    let sent = report.attempts();
    assert_eq!(sent, 8, "4/s for 2 s");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        sent,
        "every request reached staging"
    );
    let evidence = try_assert_p95_under(&report, Duration::from_secs(1)).expect("p95 under 1 s");
    assert_eq!(evidence.context.remote.as_deref(), Some(remote));
    let written = std::fs::read_dir(dir.path())
        .expect("evidence dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect::<String>();
    assert!(
        written.contains(&format!("\"remote\":\"staging {url}")),
        "{written}"
    );

    // Past the caps: refused before any request.
    let refused = |model: Model, get: http::HttpGet| async move {
        Load::new("smoke", model)
            .run(get)
            .await
            .expect_err("refused")
            .to_string()
    };
    let before = reached.load(Ordering::SeqCst);
    let e = refused(
        Model::constant_rate(20.0, Duration::from_secs(2)).expect("model"),
        http::get(&order).on_staging(&staging),
    )
    .await;
    assert!(
        e.contains("a load of 20/s on staging") && e.contains("cap of 5/s"),
        "{e}"
    );
    let e = refused(
        Model::constant_rate(2.0, Duration::from_secs(120)).expect("model"),
        http::get(&order).on_staging(&staging),
    )
    .await;
    assert!(e.contains("longer than its bound of 60s"), "{e}");
    let e = refused(
        Model::closed(2, Duration::from_secs(2)).expect("model"),
        http::get(&order).on_staging(&staging),
    )
    .await;
    assert!(e.contains("needs an open model"), "{e}");
    // A URL off the staging URL, even on loopback, is not staging.
    let e = refused(
        Model::constant_rate(1.0, Duration::from_secs(1)).expect("model"),
        http::get("http://127.0.0.2:9/orders").on_staging(&staging),
    )
    .await;
    assert!(e.contains("is not on staging"), "{e}");
    // A staging host off loopback is refused without the mark, before any connection.
    let far = Staging::new("http://192.0.2.10:8080").expect("a staging URL");
    let e = refused(
        Model::constant_rate(1.0, Duration::from_secs(1)).expect("model"),
        http::get(far.join("/orders")),
    )
    .await;
    assert!(e.contains("is not on loopback"), "{e}");
    // A cap raised on purpose lets a faster smoke through.
    let raised = staging.clone().with_max_rate(20.0).expect("cap");
    Load::new(
        "smoke",
        Model::constant_rate(10.0, Duration::from_secs(1)).expect("model"),
    )
    .run(http::get(&order).on_staging(&raised))
    .await
    .expect("within the raised cap");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        before + 10,
        "only the allowed smoke arrived"
    );

    // A stress or a spike on staging: refused, told once or not at all.
    let before = reached.load(Ordering::SeqCst);
    let stress = Stress::new(
        "stress",
        Rate::per_second(10.0).expect("rate"),
        Rate::per_second(10.0).expect("rate"),
        Rate::per_second(20.0).expect("rate"),
        Duration::from_secs(1),
    )
    .expect("stress");
    for (staging, code) in [
        (staging.clone(), "missing"),
        (staging.clone().allow_faults_and_stress(), "given"),
    ] {
        let e = stress
            .run(http::get(&order).on_staging(&staging))
            .await
            .expect_err("a stress on staging is refused")
            .to_string();
        assert!(
            e.contains("a stress on staging")
                && e.contains(&format!("in the test ({code})"))
                && e.contains(&format!("{STAGING_DESTRUCTIVE}=yes in the run (missing)")),
            "{e}"
        );
        let spike = Spike {
            baseline: Rate::per_second(2.0).expect("rate"),
            factor: 4.0,
            before: Duration::from_secs(1),
            spike: Duration::from_secs(1),
            after: Duration::from_secs(1),
        };
        let load = spike.load("spike").expect("load");
        let e = spike
            .run(&load, http::get(&order).on_staging(&staging))
            .await
            .expect_err("a spike on staging is refused")
            .to_string();
        assert!(e.contains("a spike on staging"), "{e}");
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        before,
        "nothing of them reached staging"
    );
}

#[test]
fn staging_is_named_on_purpose() {
    // Nothing names a staging URL in this test's run.
    let e = Staging::from_settings()
        .expect_err("no staging URL")
        .to_string();
    assert!(e.contains("set READINESS_STAGING_URL=https://"), "{e}");
    for bad in [
        "staging.example.com",
        "ftp://staging.example.com",
        "http://",
    ] {
        assert!(Staging::new(bad).is_err(), "{bad}");
    }
    assert!(
        Staging::new("https://s.example")
            .expect("url")
            .with_max_rate(0.0)
            .is_err()
    );
}

/// Told twice (in the test and in the run), a stress runs on staging: this test runs the one
/// below in a process of its own with `READINESS_STAGING_DESTRUCTIVE=yes`.
#[test]
fn told_twice_a_stress_runs_on_staging() {
    let run = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "a_stress_on_staging_told_twice"])
        .env(STAGING_DESTRUCTIVE, "yes")
        .output()
        .expect("the test binary runs");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("1 passed"),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by told_twice_a_stress_runs_on_staging, with READINESS_STAGING_DESTRUCTIVE=yes"]
async fn a_stress_on_staging_told_twice() {
    assert_eq!(
        std::env::var(STAGING_DESTRUCTIVE).as_deref(),
        Ok("yes"),
        "run by told_twice_a_stress_runs_on_staging"
    );
    let (url, reached) = staging_server().await;
    let staging = Staging::new(&url)
        .expect("a staging URL")
        .allow_faults_and_stress();
    let ten = Rate::per_second(10.0).expect("rate");
    let dir = tempfile::tempdir().expect("tempdir");
    let stress = Stress::new("stress", ten, ten, ten, Duration::from_secs(1))
        .expect("stress")
        .with_recorder(readiness_core::Recorder::new(dir.path()));
    let report = stress
        .run(http::get(staging.join("/orders/1")).on_staging(&staging))
        .await
        .expect("told twice, the stress runs");
    assert_eq!(report.steps().len(), 1, "one step at 10/s");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        10,
        "its ten requests reached staging"
    );
    assert!(
        staging
            .describe()
            .ends_with("faults and stress asked for in the test)")
    );
    // Its evidence says where it ran.
    let evidence = match readiness_load::try_assert_capacity_at_least(&report, ten) {
        Ok(e) => e,
        Err(f) => f.evidence().clone(),
    };
    assert_eq!(
        evidence.context.remote.as_deref(),
        Some(staging.describe().as_str()),
        "{evidence:?}"
    );
}
