//! Soak drift and linear scaling against targets with known behaviour, on Tokio's paused
//! clock (the memory is this process's real memory, sampled at the virtual times).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_core::{Bytes, Ratio, Verdict};
use readiness_load::{ErrorClass, Load, Model, rss_of_pid, soak};

/// Stable first, then leaking: one test, so no other test in this process moves its memory.
#[tokio::test(start_paused = true)]
async fn soak_passes_a_stable_target_and_catches_a_leaking_one() {
    let pid = std::process::id();
    let model = Model::constant_rate(100.0, Duration::from_secs(5)).expect("model");
    let limit_per_minute = Bytes(64 * 1024 * 1024);

    let stable = soak(
        &Load::new("stable", model.clone()).with_recorder(common::recorder()),
        |_| async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok::<(), ErrorClass>(())
        },
        Duration::from_millis(100),
        move || async move { rss_of_pid(pid) },
    )
    .await
    .expect("soak");
    assert!(
        stable.memory().len() >= 30,
        "{} memory samples",
        stable.memory().len()
    );
    let ok = readiness_load::try_assert_no_memory_drift(&stable, limit_per_minute);
    assert!(
        ok.is_ok(),
        "a stable target passes: {:?}",
        ok.err().map(|f| f.to_string())
    );
    assert!(
        readiness_load::try_assert_no_latency_drift(&stable, Duration::from_millis(50)).is_ok()
    );

    // 256 KiB kept per request at 100/s: 25 MiB/s, 1.5 GiB per minute.
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let leak = kept.clone();
    let leaking = soak(
        &Load::new("leaking", model).with_recorder(common::recorder()),
        move |_| {
            leak.lock().expect("lock").push(vec![0xA5; 256 * 1024]);
            async { Ok::<(), ErrorClass>(()) }
        },
        Duration::from_millis(100),
        move || async move { rss_of_pid(pid) },
    )
    .await
    .expect("soak");
    let failure = readiness_load::try_assert_no_memory_drift(&leaking, limit_per_minute)
        .expect_err("a leak is caught");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let msg = failure.to_string();
    assert!(
        msg.contains("readiness criterion failed: load.soak_memory"),
        "{msg}"
    );
    assert!(msg.contains("95% interval"), "{msg}");
    drop(kept);
}

async fn closed(
    users: usize,
    tx: impl Fn(u64) -> readiness_load::BoxedIteration + Send + Sync + 'static,
) -> readiness_load::Report {
    Load::new(
        "scaling",
        Model::closed(users, Duration::from_secs(2)).expect("model"),
    )
    .with_recorder(common::recorder())
    .run(tx)
    .await
    .expect("run")
}

#[tokio::test(start_paused = true)]
async fn linear_scaling_passes_an_independent_target_and_fails_a_serialised_one() {
    let independent = || {
        |_| -> readiness_load::BoxedIteration {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        }
    };
    let (a, b, c) = (
        closed(5, independent()).await,
        closed(10, independent()).await,
        closed(20, independent()).await,
    );
    let tolerance = Ratio::percent(20.0).expect("20%");
    let e = readiness_load::try_assert_scales_linearly(&[(5, &a), (10, &b), (20, &c)], tolerance);
    assert!(e.is_ok(), "{:?}", e.err().map(|f| f.to_string()));

    // One lock held for the whole request: throughput stays flat as users grow.
    let serialised = || {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        move |_| -> readiness_load::BoxedIteration {
            let lock = lock.clone();
            Box::pin(async move {
                let _held = lock.lock().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        }
    };
    let (a, b) = (
        closed(5, serialised()).await,
        closed(20, serialised()).await,
    );
    let f = readiness_load::try_assert_scales_linearly(&[(5, &a), (20, &b)], tolerance)
        .expect_err("flat");
    let msg = f.to_string();
    assert!(msg.contains("load.linear_scaling"), "{msg}");
    assert!(msg.contains("20 users:"), "{msg}");
}

/// Users who think between requests, as the seeds' users do: each user's pace is its
/// think time plus the latency, the wait is not in the latency, and a target that
/// serialises its requests still fails to scale once the users outrun it.
#[tokio::test(start_paused = true)]
async fn users_who_think_scale_with_their_number_until_the_target_serialises() {
    let run = |users: usize, tx: fn() -> readiness_load::BoxedIteration| async move {
        Load::new(
            "thinking",
            Model::closed_with_think_time(users, Duration::from_secs(2), Duration::from_millis(90))
                .expect("model"),
        )
        .with_recorder(common::recorder())
        .run(move |_| tx())
        .await
        .expect("run")
    };
    fn fast() -> readiness_load::BoxedIteration {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })
    }
    // 10 ms of work and 90 ms of thought: 10 iterations a second per user.
    let (five, twenty) = (run(5, fast).await, run(20, fast).await);
    let per_second = |r: &readiness_load::Report| r.throughput().expect("throughput").value();
    assert!(
        (per_second(&five) - 50.0).abs() <= 3.0,
        "5 users: {}/s",
        per_second(&five)
    );
    assert!(
        (per_second(&twenty) - 200.0).abs() <= 10.0,
        "20 users: {}/s",
        per_second(&twenty)
    );
    let p95 = readiness_load::try_assert_p95_under(&twenty, Duration::from_millis(15))
        .expect("the think time is not in the latency");
    let scenario = p95.context.scenario.unwrap_or_default();
    assert!(
        scenario.contains("20 virtual users for 2s, each waiting 90ms between iterations"),
        "{scenario}"
    );
    let tolerance = Ratio::percent(20.0).expect("20%");
    let e = readiness_load::try_assert_scales_linearly(&[(5, &five), (20, &twenty)], tolerance);
    assert!(e.is_ok(), "{:?}", e.err().map(|f| f.to_string()));

    // 40 ms of work behind one lock: at most 25 a second, whatever the users.
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    fn serialised() -> readiness_load::BoxedIteration {
        Box::pin(async {
            let _held = LOCK.lock().await;
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(())
        })
    }
    let (five, twenty) = (run(5, serialised).await, run(20, serialised).await);
    let f = readiness_load::try_assert_scales_linearly(&[(5, &five), (20, &twenty)], tolerance)
        .expect_err("it cannot keep up with 20 thinking users");
    assert_eq!(f.verdict(), Verdict::Fail, "{f}");

    let refused = Model::closed_with_think_time(5, Duration::from_secs(1), Duration::from_secs(1));
    assert!(
        refused.is_err_and(|e| e.to_string().contains("is not shorter than the run")),
        "a think time as long as the run"
    );
}
