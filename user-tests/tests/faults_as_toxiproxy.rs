//! A team's fault tests held against Toxiproxy's own tests and against what the upstream
//! server itself saw: reset_peer drops the payload and resets, timeout drops and closes on
//! removal, a latency delays bulk data without capping its rate, and a fault plan runs
//! inside a plain `#[tokio::test]`, where a case that cannot run is an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use readiness::dr::plan::{PlanFault, PlanRunner, PlanSpace};
use readiness::dr::proxy::{Proxy, Toxic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// An upstream that counts the bytes it received and, after the first byte of a
/// connection, answers with `reply`.
async fn upstream(reply: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let received = Arc::new(AtomicUsize::new(0));
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (seen, reply) = (seen.clone(), reply.clone());
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                let mut answered = false;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    seen.fetch_add(n, Ordering::SeqCst);
                    if !answered {
                        answered = true;
                        if s.write_all(&reply).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_before_any_of_the_payload_reaches_the_server() {
    let (addr, received) = upstream(b"pong".to_vec()).await;
    let proxy = Proxy::start("svc", addr).await.expect("proxy");
    let toxic = Toxic::from_toxiproxy_json(
        r#"{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":100}}"#,
    )
    .expect("Toxiproxy's JSON");
    proxy.add(toxic).expect("added");
    let mut s = TcpStream::connect(proxy.listen_addr())
        .await
        .expect("connect");
    let start = Instant::now();
    s.write_all(b"reset toxic payload\n").await.expect("write");
    let err = s.read(&mut [0; 64]).await.expect_err("reset");
    let took = start.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(took >= Duration::from_millis(100), "reset after {took:?}");
    assert_eq!(s.read(&mut [0; 64]).await.expect("then EOF"), 0);
    // Ground truth: the server never saw a byte of it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(received.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_loses_the_data_and_its_removal_closes_the_connection() {
    let (addr, received) = upstream(b"pong".to_vec()).await;
    let proxy = Proxy::start("svc", addr).await.expect("proxy");
    proxy
        .add(Toxic::timeout(Duration::ZERO).upstream())
        .expect("added");
    let mut s = TcpStream::connect(proxy.listen_addr())
        .await
        .expect("connect");
    s.write_all(b"ping").await.expect("write");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.read(&mut [0; 8]))
            .await
            .is_err(),
        "a timeout of 0 neither answers nor closes"
    );
    proxy.remove("timeout_upstream").expect("removed");
    assert_eq!(s.read(&mut [0; 8]).await.expect("closed"), 0);
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "the data was dropped, not held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_data_behind_a_latency_takes_about_the_latency() {
    const SIZE: usize = 16_000_000;
    let (addr, _) = upstream(vec![7u8; SIZE]).await;
    let proxy = Proxy::start("svc", addr).await.expect("proxy");
    proxy
        .add(Toxic::latency(Duration::from_millis(100)))
        .expect("added");
    let mut s = TcpStream::connect(proxy.listen_addr())
        .await
        .expect("connect");
    let start = Instant::now();
    s.write_all(b"g").await.expect("write");
    let mut got = vec![0; SIZE];
    s.read_exact(&mut got).await.expect("all of it");
    let took = start.elapsed();
    eprintln!("16 MB behind 100 ms: {took:?}");
    assert!(took >= Duration::from_millis(100), "{took:?}");
    // With 8 chunks in flight the rate was capped near 3.2 MB/s: 16 MB took over 5 s.
    // Toxiproxy's own test wants about the latency; 2 s leaves a busy machine room.
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_fault_plan_runs_in_a_plain_tokio_test_and_a_case_that_cannot_run_is_an_error() {
    let space = PlanSpace::new(["db"]).with_faults([PlanFault::Pause, PlanFault::Restart]);
    let found = PlanRunner::new()
        .with_seed(11)
        .with_cases(16)
        .run(&space, |plan| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let restarts = plan
                .steps
                .iter()
                .filter(|s| s.fault == PlanFault::Restart)
                .count();
            Ok(if restarts > 0 {
                Err("writes lost on restart".to_owned())
            } else {
                Ok(())
            })
        })
        .await
        .expect("the search ran")
        .expect_err("a restart breaks it");
    assert_eq!(found.minimal.steps.len(), 1, "{found}");

    let error = PlanRunner::new()
        .with_seed(11)
        .run(&space, |_| async {
            Err(readiness::Error::Other(
                "Docker refused the container".into(),
            ))
        })
        .await
        .expect_err("a setup error is an error");
    assert!(
        error
            .to_string()
            .contains("could not run, so nothing was judged"),
        "{error}"
    );
}
