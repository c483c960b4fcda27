//! Every failure block readiness-dr's pure judges print, pinned by snapshots: a change to
//! what a user reads when a recovery or a write history fails is seen in review. The
//! drills run on Tokio's paused clock, so every number in them is exact.

mod common;

use std::time::Duration;

use readiness_core::Failure;
use readiness_dr::fault::Fault;
use readiness_dr::history::{
    WriteError, Writer, try_assert_no_acknowledged_write_lost, try_assert_rpo_within,
};
use readiness_dr::recovery::{Health, Recovery, RecoveryReport, try_assert_rto_within};

/// The failure block with the evidence directory and the process id redacted.
fn redacted(failure: Failure) -> String {
    failure.redacted(&common::self_test_dir())
}

/// A service down until `down` after the fault whose checks, while it is down, fail at
/// once with "connection refused".
async fn recovery(down: Duration, deadline: Duration) -> RecoveryReport {
    let fault = Fault::now("kill SIGKILL orders-db");
    let back = fault.at + down;
    let health = Health::from_fn("tcp 127.0.0.1:5432 of orders-db", move || async move {
        if tokio::time::Instant::now() < back {
            (false, "connection refused".to_owned())
        } else {
            (true, "connected".to_owned())
        }
    });
    Recovery::of("orders-db", health)
        .with_interval(Duration::from_millis(250))
        .with_settle(Duration::from_secs(1))
        .with_deadline(deadline)
        .with_recorder(common::recorder())
        .measure(&fault, &[])
        .await
        .expect("measured")
}

#[tokio::test(start_paused = true)]
async fn rto_failures() {
    let late = recovery(Duration::from_millis(2_600), Duration::from_secs(10)).await;
    let f = try_assert_rto_within(&late, Duration::from_secs(2)).expect_err("2.75 s");
    insta::assert_snapshot!("rto", redacted(f));

    let never = recovery(Duration::from_secs(60), Duration::from_secs(5)).await;
    let f = try_assert_rto_within(&never, Duration::from_secs(2)).expect_err("never back");
    insta::assert_snapshot!("rto_never", redacted(f));

    let f = try_assert_rto_within(&never, Duration::from_secs(30)).expect_err("undecided");
    insta::assert_snapshot!("rto_deadline_short_of_limit", redacted(f));
}

#[tokio::test(start_paused = true)]
async fn write_history_failures() {
    // A write every 10 ms taking 2 ms; every 7th refused. The fault comes after write 50;
    // the final read misses 41..=46 (acknowledged: lost) and finds none after 50.
    let writing = Writer::new("orders")
        .with_interval(Duration::from_millis(10))
        .with_max_writes(80)
        .with_recorder(common::recorder())
        .start(|seq| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if seq % 7 == 0 {
                Err(WriteError::Failed("refused".into()))
            } else {
                Ok(())
            }
        })
        .expect("writer");
    writing.wait_for(50, Duration::from_secs(5)).await;
    writing.mark(&Fault::now("kill SIGKILL orders-db"));
    writing.wait_for(80, Duration::from_secs(5)).await;
    let history = writing.stop().await.expect("history");
    let present = (1..=50u64).filter(|s| !(41..=46).contains(s) && s % 7 != 0);
    let history = history.read_back(present);
    let f = try_assert_no_acknowledged_write_lost(&history).expect_err("lost writes");
    insta::assert_snapshot!("no_ack_write_lost", redacted(f));
    let f = try_assert_rpo_within(&history, Duration::from_millis(20)).expect_err("rpo");
    insta::assert_snapshot!("rpo", redacted(f));
}
