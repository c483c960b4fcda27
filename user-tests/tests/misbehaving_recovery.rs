//! A team's recovery tests against services whose recovery the test knows exactly, because
//! the service itself records it: the recovery time a drill reports must be bounded by
//! the truth, never credited before the service answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use readiness::Verdict;
use readiness::dr::fault::Fault;
use readiness::dr::recovery::{Health, Recovery, try_assert_rto_within};
use readiness::{Probe, RecoveryTimeline};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A frozen service: from `start` until `freeze` has passed it accepts every request and
/// holds it; at that moment it answers all of them, and answers at once from then on.
/// Returns its address and the moment it thawed (the true recovery), once known.
async fn frozen_service(start: Instant, freeze: Duration) -> (String, Arc<Mutex<Option<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let thawed = Arc::new(Mutex::new(None));
    let seen = thawed.clone();
    tokio::spawn(async move {
        // Bounded: the test's recovery deadline ends the runtime, and with it this task.
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep_until(start + freeze).await;
                seen.lock().expect("lock").get_or_insert_with(Instant::now);
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, thawed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_service_is_credited_when_it_answered_not_when_the_probe_began() {
    let fault = Fault::now("freeze the service for 2.5 s");
    let freeze = Duration::from_millis(2_500);
    let (addr, thawed) = frozen_service(fault.at, freeze).await;
    let health = Health::probe(Probe::http(format!("http://{addr}/health")));
    let report = Recovery::of("the frozen service", health)
        .with_interval(Duration::from_millis(250))
        .with_attempt_timeout(Duration::from_secs(1))
        .with_settle(Duration::from_secs(1))
        .with_deadline(Duration::from_secs(20))
        .measure(&fault, &[])
        .await
        .expect("measured");
    let truth = thawed
        .lock()
        .expect("lock")
        .expect("the service answered")
        .duration_since(fault.at);
    let (low, high) = report.bound().expect("recovered");
    eprintln!("true recovery {truth:?}; measured RTO {high:?}, bound ({low:?}, {high:?}]");
    assert!(
        low < truth && truth <= high,
        "the bound ({low:?}, {high:?}] must hold the true recovery {truth:?}: {:?}",
        report.timeline.samples
    );
    assert_eq!(report.rto(), Some(high));
    // The old, optimistic rule would have passed a limit the service did not meet.
    let limit = truth - Duration::from_millis(300);
    let failure = try_assert_rto_within(&report, limit).expect_err("recovered after the limit");
    assert_eq!(failure.verdict(), Verdict::Fail, "{failure}");
    assert_eq!(failure.evidence().verify(), Ok(()));
    assert!(
        failure.to_string().contains("recovered between"),
        "{failure}"
    );
    let evidence = try_assert_rto_within(&report, truth + Duration::from_secs(1))
        .expect("recovered within a limit past the truth");
    assert_eq!(evidence.verdict, Verdict::Pass);
    // The record re-judges: its recovery is the one its samples show.
    let timeline = evidence
        .attachment::<RecoveryTimeline>()
        .expect("the timeline is kept");
    assert_eq!(
        RecoveryTimeline::recovered(&timeline.samples, timeline.settle).0,
        timeline.recovered_at_ms
    );
    assert_eq!(evidence.verify(), Ok(()));
}

/// A backup taken while a writer commits a row every millisecond or so: the dump and the
/// manifest it is checked against must come from one snapshot, so a consistent restore is
/// intact; the ground truth is the source's own count, read before and after.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_live_writes_restores_exactly_its_own_snapshot() {
    use readiness::containers;
    use readiness::dr::postgres::{self, try_assert_restore_intact};

    let source = containers::start(containers::postgres().expect("postgres image"))
        .await
        .expect("postgres starts (needs Docker: images/with-local-images)");
    postgres::seed(&source, "orders", 100_000)
        .await
        .expect("seeded");
    let count = || async {
        postgres::psql(&source, "SELECT count(*) FROM orders")
            .await
            .expect("count")
            .trim()
            .parse::<u64>()
            .expect("a number")
    };
    // 4,000 commits, one row each, a millisecond apart: seconds of writes, bounded.
    let writer = postgres::psql(
        &source,
        "DO $$ BEGIN FOR i IN 100001..104000 LOOP \
           INSERT INTO orders (id) VALUES (i); COMMIT; PERFORM pg_sleep(0.001); \
         END LOOP; END $$;",
    );
    let backup_while_writing = async {
        // The backup starts once the writes have.
        for _ in 0..200 {
            if count().await > 100_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before = count().await;
        let backup = postgres::backup(&source).await.expect("backup");
        let after = count().await;
        (before, backup, after)
    };
    let (written, (before, backup, after)) = tokio::join!(writer, backup_while_writing);
    written.expect("the writer ran to its end");
    eprintln!(
        "rows before the backup {before}, in its manifest {}, after it {after}",
        backup.manifest.rows()
    );
    assert!(before > 100_000, "the writes had begun: {before}");
    assert!(
        before <= backup.manifest.rows() && backup.manifest.rows() <= after,
        "the manifest ({}) is the source between {before} and {after}",
        backup.manifest.rows()
    );
    assert!(
        after > before,
        "writes went on during the backup: {before} → {after}"
    );
    assert_eq!(count().await, 104_000, "every write committed");

    let (restored, report) = postgres::restore_into_fresh(&backup)
        .await
        .expect("restored");
    let evidence = try_assert_restore_intact(&report).expect("a consistent restore is intact");
    assert_eq!(evidence.verdict, Verdict::Pass);
    let restored_rows = postgres::psql(&restored, "SELECT count(*) FROM orders")
        .await
        .expect("count the restore");
    assert_eq!(restored_rows.trim(), backup.manifest.rows().to_string());
}
