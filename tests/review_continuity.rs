//! The review, continuity: recovery from losing the database or the service, the data kept
//! across a crash, and a start while the database is slow.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use std::time::Duration;

use readiness::Verdicts;
use readiness::dr::fault::Faults;
use readiness::dr::history::{
    Writer, try_assert_no_acknowledged_write_lost, try_assert_rpo_within,
};
use readiness::dr::recovery::{Health, Recovery, assert_rto_within};
use reference_service::stack::{SERVICE_PORT, Stack};
use review::stack;
use rstest::rstest;

/// PostgreSQL killed (SIGKILL) and started again: the service is ready again, as its
/// `/health/ready` says, within 60 s.
#[rstest]
#[tokio::test]
async fn database_loss_recovers_within_60s(#[future(awt)] stack: Stack) {
    let service = stack
        .service_container()
        .expect("the service is a container");
    let faults = Faults::new().await.expect("Docker answers");
    let killed = faults
        .kill(&stack.postgres, "SIGKILL")
        .await
        .expect("Docker kills PostgreSQL");
    faults
        .start(&stack.postgres)
        .await
        .expect("Docker starts PostgreSQL again");
    let recovery = Recovery::of(
        "orders service",
        Health::http_of(service, SERVICE_PORT, "/health/ready"),
    )
    .with_interval(Duration::from_millis(250))
    .with_settle(Duration::from_secs(2))
    .with_deadline(Duration::from_secs(60))
    .measure(&killed, &faults.events())
    .await
    .expect("the recovery was watched");
    assert_rto_within(&recovery, Duration::from_secs(60));
}

/// Orders written every 10 ms while the service is killed (SIGKILL) and read back from
/// PostgreSQL: no acknowledged order lost, and at most 5 minutes of acknowledged writes
/// (the seeds' "RPO < 5 min").
#[rstest]
#[tokio::test]
async fn a_service_crash_loses_no_acknowledged_write(#[future(awt)] stack: Stack) {
    let service = stack
        .service_container()
        .expect("the service is a container");
    let faults = Faults::new().await.expect("Docker answers");
    let writing = Writer::new("orders")
        .with_interval(Duration::from_millis(10))
        .start(stack.order_writer())
        .expect("the writer starts");
    writing.wait_for(200, Duration::from_secs(30)).await;
    let killed = faults
        .kill(service, "SIGKILL")
        .await
        .expect("Docker kills the service");
    writing.mark(&killed);
    let stopped = writing.stop().await.expect("the writer stops");
    let written = stack
        .orders_written()
        .await
        .expect("PostgreSQL gives the orders it holds");
    let history = stopped.read_back(written);
    let mut all = Verdicts::new();
    all.add(try_assert_no_acknowledged_write_lost(&history));
    all.add(try_assert_rpo_within(&history, Duration::from_secs(300)));
    all.assert_all();
}

/// The service started while its database is slow (PostgreSQL paused for 3 s): it must
/// wait for the database, not exit, and be ready within 15 s.
#[rstest]
#[tokio::test]
async fn a_start_behind_a_slow_database_waits_for_it(#[future(awt)] stack: Stack) {
    let service = stack
        .service_container()
        .expect("the service is a container");
    let faults = Faults::new().await.expect("Docker answers");
    faults
        .kill(service, "SIGKILL")
        .await
        .expect("Docker stops the service");
    faults
        .pause(&stack.postgres)
        .await
        .expect("Docker pauses PostgreSQL");
    let started = faults
        .start(service)
        .await
        .expect("Docker starts the service");
    tokio::time::sleep(Duration::from_secs(3)).await;
    faults
        .unpause(&stack.postgres)
        .await
        .expect("Docker unpauses PostgreSQL");
    let recovery = Recovery::of(
        "orders service started behind a slow database",
        Health::http_of(service, SERVICE_PORT, "/health/ready"),
    )
    .with_interval(Duration::from_millis(200))
    .with_settle(Duration::from_secs(1))
    .with_deadline(Duration::from_secs(20))
    .measure(&started, &faults.events())
    .await
    .expect("the recovery was watched");
    assert_rto_within(&recovery, Duration::from_secs(15));
}
