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
