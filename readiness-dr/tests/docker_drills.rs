//! readiness-dr against real containers: RTO of a killed PostgreSQL, Redis durability
//! across `kill -9` judged by a write history, a PostgreSQL backup restored into a fresh
//! container, and faults refused or undone. Needs Docker (and the local images where no
//! registry is reachable: `images/with-local-images cargo nextest run`).
#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use readiness_core::containers::{self, REDIS_PORT};
use readiness_core::testcontainers::core::IntoContainerPort;
use readiness_core::testcontainers::runners::AsyncRunner;
use readiness_core::testcontainers::{ContainerAsync, GenericImage, ImageExt};
use readiness_core::testcontainers_modules::redis::Redis;
use readiness_core::{Error, Verdict};
use readiness_dr::fault::Faults;
use readiness_dr::history::{self, History, WriteError, Writer};
use readiness_dr::postgres::{self, Backup};
use readiness_dr::proxy::{Proxy, Toxic};
use readiness_dr::recovery::{self, Health, Recovery};
use readiness_dr::redis::{self as dr_redis, Durability, Persistence};

use common::recorder;

const PG_READY: &[&str] = &["pg_isready", "-U", "postgres", "-h", "127.0.0.1"];

#[tokio::test]
async fn docker_a_killed_postgres_started_again_meets_its_rto_and_one_never_started_misses_it() {
    let pg = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    let faults = Faults::new().await.unwrap();

    // Killed, then started by the test (the recovery action): recovered well within 60 s.
    let killed = faults.kill(&pg, "SIGKILL").await.unwrap();
    faults.start(&pg).await.unwrap();
    let report = Recovery::of("postgres", Health::exec(&pg, PG_READY))
        .with_interval(Duration::from_millis(200))
        .with_settle(Duration::from_secs(1))
        .with_deadline(Duration::from_secs(60))
        .with_recorder(recorder())
        .measure(&killed, &faults.events())
        .await
        .unwrap();
    let evidence = recovery::try_assert_rto_within(&report, Duration::from_secs(60)).unwrap();
    assert_eq!(evidence.verdict, Verdict::Pass);
    let (low, high) = report.bound().unwrap();
    assert!(
        low < high && high - low <= Duration::from_millis(1_200),
        "{low:?}..{high:?}"
    );
    let timeline = evidence
        .attachment::<readiness_core::RecoveryTimeline>()
        .unwrap();
    // The timeline runs from the kill to the start and the first answer. (Whether a probe
    // failed in between is the database's timing: an idle one may answer at the first
    // probe after the start; the drill below, never started again, sees only failures.)
    assert!(
        timeline
            .events
            .iter()
            .any(|e| e.what.starts_with("kill SIGKILL "))
            && timeline.events.iter().any(|e| e.what.starts_with("start ")),
        "{:?}",
        timeline.events
    );
    evidence.verify().unwrap();

    // The same recovery judged against a limit it missed fails, naming the bound.
    let failure = recovery::try_assert_rto_within(&report, Duration::from_millis(1)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("dr.rto"), "{text}");
    assert!(text.contains("recovered between"), "{text}");

    // Killed and never started again: not recovered by a 3 s deadline.
    let killed = faults.kill(&pg, "SIGKILL").await.unwrap();
    let report = Recovery::of("postgres", Health::exec(&pg, PG_READY))
        .with_interval(Duration::from_millis(200))
        .with_settle(Duration::from_secs(1))
        .with_deadline(Duration::from_secs(3))
        .with_recorder(recorder())
        .measure(&killed, &faults.events())
        .await
        .unwrap();
    assert_eq!(report.rto(), None);
    assert!(
        !report.timeline.samples.is_empty() && report.timeline.samples.iter().all(|s| !s.ok),
        "the kill was seen: every probe failed"
    );
    // A limit below the deadline is missed for certain ...
    let failure = recovery::try_assert_rto_within(&report, Duration::from_secs(1)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(failure.to_string().contains("not recovered"), "{failure}");
    // ... one beyond it cannot be decided: an error, never a pass.
    let failure = recovery::try_assert_rto_within(&report, Duration::from_secs(60)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        matches!(failure.cause(), Some(Error::NothingMeasured(_))),
        "{failure}"
    );
}

/// Redis with the given `redis-server` arguments.
async fn redis_with(args: &[&str]) -> ContainerAsync<Redis> {
    let mut cmd = vec!["redis-server"];
    cmd.extend_from_slice(args);
    containers::start(containers::redis().unwrap().with_cmd(cmd))
        .await
        .unwrap()
}

async fn redis_url(redis: &ContainerAsync<Redis>) -> String {
    let port = redis.get_host_port_ipv4(REDIS_PORT).await.unwrap();
    format!("redis://127.0.0.1:{port}/")
}

/// [`dr_redis::KillNine`]: 150 acknowledged writes, SIGKILL, a start, the keys read back.
async fn kill_nine_drill(redis: &ContainerAsync<Redis>) -> History {
    dr_redis::KillNine::new()
        .with_recorder(recorder())
        .run(redis)
        .await
        .unwrap()
}

#[tokio::test]
async fn docker_redis_with_aof_always_keeps_every_acknowledged_write_across_kill_nine() {
    let redis = redis_with(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    let settings = Persistence::read(&redis)
        .await
        .unwrap()
        .with_recorder(recorder());
    assert_eq!(settings.durability(), Durability::EveryWrite);
    dr_redis::try_assert_redis_durability(&settings, Duration::ZERO).unwrap();

    let history = kill_nine_drill(&redis).await;
    let evidence = history::try_assert_no_acknowledged_write_lost(&history).unwrap();
    evidence.verify().unwrap();
    assert!(history.history.counts().ok >= 150);
    let evidence = history::try_assert_rpo_within(&history, Duration::ZERO).unwrap();
    evidence.verify().unwrap();
}

#[tokio::test]
async fn docker_redis_without_persistence_loses_acknowledged_writes_and_says_which() {
    let redis = redis_with(&["--appendonly", "no"]).await;
    let settings = Persistence::read(&redis)
        .await
        .unwrap()
        .with_recorder(recorder());
    assert!(matches!(settings.durability(), Durability::Snapshots(_)));
    let failure =
        dr_redis::try_assert_redis_durability(&settings, Duration::from_secs(1)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(
        failure.to_string().contains("RDB snapshots only"),
        "{failure}"
    );

    let history = kill_nine_drill(&redis).await;
    let counts = history.history.counts();
    assert!(counts.lost >= 150, "{counts:?}");
    let failure = history::try_assert_no_acknowledged_write_lost(&history).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(
        text.contains(&format!("lost {} acknowledged writes: seq 1-", counts.lost)),
        "{text}"
    );
    failure.evidence().verify().unwrap();
    let failure = history::try_assert_rpo_within(&history, Duration::from_millis(100)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(
        failure.to_string().contains("before the fault"),
        "{failure}"
    );
    failure.evidence().verify().unwrap();
}

/// Snapshots only, none configured (`save ""`): a `BGSAVE` in the drill keeps the 150
/// writes before it across `kill -9` and loses the ones after it, and the loss window is
/// those writes' time, not the drill's; with every write before the snapshot, none is lost.
#[tokio::test]
async fn docker_redis_keeps_what_a_snapshot_holds_across_kill_nine_and_loses_what_came_after() {
    let redis = redis_with(&["--appendonly", "no", "--save", ""]).await;
    let settings = Persistence::read(&redis).await.unwrap();
    assert_eq!(settings.durability(), Durability::None);
    let history = dr_redis::KillNine::new()
        .with_writes(300)
        .with_snapshot_after(150)
        .with_recorder(recorder())
        .run(&redis)
        .await
        .unwrap();
    let lost: Vec<u64> = history.history.lost().iter().map(|w| w.seq).collect();
    // The writes go on while the snapshot is taken: those acknowledged before its fork
    // are in it too. Every one after it is lost, up to the last.
    assert!(lost.len() >= 100 && lost.last() == Some(&300), "{lost:?}");
    assert!(
        lost[0] > 150,
        "a write before the snapshot is missing: {lost:?}"
    );
    assert!(
        lost.windows(2).all(|p| p[1] == p[0] + 1),
        "the loss is one run after the snapshot: {lost:?}"
    );
    let failure = history::try_assert_no_acknowledged_write_lost(&history).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    let evidence = history::try_assert_rpo_within(&history, Duration::from_secs(60)).unwrap();
    evidence.verify().unwrap();
    let window = history.history.loss_window().unwrap();
    assert!(window < Duration::from_secs(60), "{window:?}");

    let history = dr_redis::KillNine::new()
        .with_writes(100)
        .with_snapshot_after(100)
        .with_recorder(recorder())
        .run(&redis)
        .await
        .unwrap();
    let evidence = history::try_assert_no_acknowledged_write_lost(&history).unwrap();
    evidence.verify().unwrap();
    let refused = dr_redis::KillNine::new()
        .with_writes(10)
        .with_snapshot_after(11)
        .run(&redis)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidInput(_)), "{refused}");
}

#[tokio::test]
async fn docker_a_history_without_acknowledged_writes_or_read_back_is_an_error() {
    // Nothing listens on this port: every write fails.
    let writing = Writer::new("nowhere")
        .with_interval(Duration::from_millis(1))
        .with_max_writes(20)
        .with_recorder(recorder())
        .start(|_| async { Err(WriteError::Failed("connection refused".into())) })
        .unwrap();
    assert_eq!(writing.wait_for(20, Duration::from_secs(10)).await, 20);
    let history = writing.stop().await.unwrap();
    let unread = history::try_assert_no_acknowledged_write_lost(&history).unwrap_err();
    assert_eq!(unread.verdict(), Verdict::Error);
    assert!(unread.to_string().contains("never read back"), "{unread}");
    let read = history.read_back([]);
    let failure = history::try_assert_rpo_within(&read, Duration::from_secs(1)).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        failure.to_string().contains("no write was acknowledged"),
        "{failure}"
    );
}

#[tokio::test]
async fn docker_a_postgres_backup_restores_intact_into_a_fresh_container_and_a_short_dump_fails() {
    let source = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    postgres::seed(&source, "orders", 20_000).await.unwrap();
    postgres::seed(&source, "customers", 500).await.unwrap();
    let backup = postgres::backup(&source).await.unwrap();
    assert_eq!(backup.manifest.rows(), 20_500);

    let (restored, report) = postgres::restore_into_fresh(&backup).await.unwrap();
    let report = report.with_recorder(recorder());
    postgres::try_assert_restore_intact(&report).unwrap();
    postgres::try_assert_restore_within(&report, Duration::from_secs(120)).unwrap();
    assert_eq!(
        postgres::manifest(&restored).await.unwrap(),
        backup.manifest
    );
    let failure =
        postgres::try_assert_restore_within(&report, Duration::from_millis(1)).unwrap_err();
    assert!(failure.to_string().contains("20500 rows"), "{failure}");
    drop(restored);

    // A dump taken after a row was removed, held against the manifest of before.
    postgres::psql(&source, "DELETE FROM orders WHERE id = 777")
        .await
        .unwrap();
    let short = Backup {
        manifest: backup.manifest.clone(),
        ..postgres::backup(&source).await.unwrap()
    };
    let (_restored, report) = postgres::restore_into_fresh(&short).await.unwrap();
    let failure =
        postgres::try_assert_restore_intact(&report.with_recorder(recorder())).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(
        failure
            .to_string()
            .contains("orders: 19999 rows restored of 20000"),
        "{failure}"
    );

    // The team's backup job leaves a table out: the restore lacks it, and says which.
    postgres::psql(
        &source,
        "CREATE TABLE audit (id int); INSERT INTO audit VALUES (1)",
    )
    .await
    .unwrap();
    let options = postgres::dump_options("# the nightly job\n--exclude-table=audit\n").unwrap();
    let skipping = postgres::backup_with(&source, &options).await.unwrap();
    let (_restored, report) = postgres::restore_into_fresh(&skipping).await.unwrap();
    let failure =
        postgres::try_assert_restore_intact(&report.with_recorder(recorder())).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    assert!(text.contains("audit: missing (1 rows expected)"), "{text}");
    assert!(
        failure
            .evidence()
            .context
            .scenario
            .as_deref()
            .is_some_and(|s| s.contains("pg_dump -Fc --exclude-table=audit")),
        "{:?}",
        failure.evidence().context.scenario
    );

    // An empty database: nothing to verify is an error.
    let empty = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    let (_restored, report) =
        postgres::restore_into_fresh(&postgres::backup(&empty).await.unwrap())
            .await
            .unwrap();
    let report = report.with_recorder(recorder());
    let failure = postgres::try_assert_restore_intact(&report).unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Error);
    let failure =
        postgres::try_assert_restore_within(&report, Duration::from_secs(120)).unwrap_err();
    assert_eq!(
        failure.verdict(),
        Verdict::Error,
        "a restore of nothing says nothing"
    );
}

#[tokio::test]
async fn docker_faults_refuse_what_the_test_does_not_own_and_bad_input_before_injecting() {
    let faults = Faults::new().await.unwrap();
    // Started without the harness's labels: not this test's through the harness.
    let stranger = GenericImage::new("readiness-local/redis", "7")
        .with_exposed_port(REDIS_PORT.tcp())
        .start()
        .await
        .unwrap();
    let e = faults.adopt(stranger.id()).await.unwrap_err().to_string();
    assert!(e.contains("this test did not start it"), "{e}");
    let e = faults
        .adopt("no-such-container-xyz")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no container \"no-such-container-xyz\""), "{e}");

    let ours = containers::start(containers::redis().unwrap())
        .await
        .unwrap();
    let adopted = faults.adopt(ours.id()).await.unwrap();
    let e = faults.kill(&adopted, "KILL").await.unwrap_err().to_string();
    assert!(e.contains("is not a signal name"), "{e}");
    assert!(ours.is_running().await.unwrap(), "nothing was injected");
    assert!(faults.events().is_empty());

    let e = Recovery::of("redis", Health::exec(&ours, &["redis-cli", "ping"]))
        .with_settle(Duration::from_secs(5))
        .with_deadline(Duration::from_secs(5))
        .measure(&readiness_dr::fault::Fault::now("nothing"), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("leaves no time for a settle window"), "{e}");
    let e = Writer::new("x")
        .with_timeout(Duration::ZERO)
        .start(|_| async { Ok(()) })
        .unwrap_err()
        .to_string();
    assert!(e.contains("write timeout of 0s"), "{e}");
}

#[tokio::test]
async fn docker_pauses_and_disconnections_are_undone_when_the_faults_drop() {
    let network = format!("readiness-dr-{}", std::process::id());
    let redis = containers::start(containers::redis().unwrap().with_network(&network))
        .await
        .unwrap();
    let docker = containers::docker().await.unwrap();
    let state = || async {
        let c = docker.inspect_container(redis.id(), None).await.unwrap();
        let paused = c.state.and_then(|s| s.paused).unwrap_or(false);
        let on_network = c
            .network_settings
            .and_then(|n| n.networks)
            .is_some_and(|n| n.contains_key(&network));
        (paused, on_network)
    };
    assert_eq!(state().await, (false, true));
    {
        let faults = Faults::new().await.unwrap();
        faults.disconnect(&redis, &network).await.unwrap();
        faults.pause(&redis).await.unwrap();
        assert_eq!(state().await, (true, false));
        let events: Vec<String> = faults.events().into_iter().map(|f| f.what).collect();
        assert!(events[0].starts_with("disconnect "), "{events:?}");
        assert!(events[1].starts_with("pause "), "{events:?}");
    }
    assert_eq!(state().await, (false, true), "the drop undid both");
}

#[tokio::test]
async fn docker_a_crashed_container_comes_back_by_its_restart_policy_within_its_rto() {
    use readiness_core::testcontainers::bollard::models::{RestartPolicy, RestartPolicyNameEnum};
    let redis = containers::start(
        containers::redis()
            .unwrap()
            .with_host_config_modifier(|hc| {
                hc.restart_policy = Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ALWAYS),
                    maximum_retry_count: None,
                });
            }),
    )
    .await
    .unwrap();
    // The server exits by itself (not a `docker stop`, which a restart policy ignores).
    let crashed = readiness_dr::fault::Fault::now("redis-cli SHUTDOWN NOSAVE");
    let _ = readiness_dr::exec(&redis, &["redis-cli", "SHUTDOWN", "NOSAVE"]).await;
    let report = Recovery::of("redis", Health::exec(&redis, &["redis-cli", "ping"]))
        .with_interval(Duration::from_millis(100))
        .with_settle(Duration::from_secs(1))
        .with_deadline(Duration::from_secs(30))
        .with_recorder(recorder())
        .measure(&crashed, &[])
        .await
        .unwrap();
    let evidence = recovery::try_assert_rto_within(&report, Duration::from_secs(30)).unwrap();
    // Docker may restart it before the first probe: the restart count says it crashed.
    let inspect = containers::docker()
        .await
        .unwrap()
        .inspect_container(redis.id(), None)
        .await
        .unwrap();
    assert!(
        inspect.restart_count.unwrap_or(0) >= 1 || report.timeline.samples.iter().any(|s| !s.ok),
        "it crashed and came back"
    );
    evidence.verify().unwrap();
}

#[tokio::test]
async fn docker_a_redis_snapshot_taken_with_bgsave_survives_kill_nine() {
    let redis = redis_with(&["--appendonly", "no", "--save", ""]).await;
    let settings = Persistence::read(&redis).await.unwrap();
    assert_eq!(
        settings.durability(),
        Durability::None,
        "no AOF, no save rules"
    );
    let client = redis::Client::open(redis_url(&redis).await).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    for i in 0..100 {
        redis::cmd("SET")
            .arg(format!("s:{i}"))
            .arg(i)
            .query_async::<()>(&mut con)
            .await
            .unwrap();
    }
    dr_redis::bgsave(&redis, Duration::from_secs(10))
        .await
        .unwrap();
    redis::cmd("SET")
        .arg("after")
        .arg(1)
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    let faults = Faults::new().await.unwrap();
    let killed = faults.kill(&redis, "SIGKILL").await.unwrap();
    faults.start(&redis).await.unwrap();
    Recovery::of("redis", Health::exec(&redis, &["redis-cli", "ping"]))
        .with_interval(Duration::from_millis(100))
        .with_settle(Duration::from_millis(300))
        .with_deadline(Duration::from_secs(30))
        .measure(&killed, &[])
        .await
        .unwrap();
    let client = redis::Client::open(redis_url(&redis).await).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let kept: Vec<String> = redis::cmd("KEYS")
        .arg("s:*")
        .query_async(&mut con)
        .await
        .unwrap();
    let after: Option<i64> = redis::cmd("GET")
        .arg("after")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        kept.len(),
        100,
        "the snapshot holds every key written before it"
    );
    assert_eq!(after, None, "a write after the snapshot is gone");
}

#[test]
fn docker_a_test_that_panics_mid_fault_leaves_nothing_paused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let redis = rt.block_on(async {
        containers::start(containers::redis().unwrap())
            .await
            .unwrap()
    });
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let faults = Faults::new().await.unwrap();
            faults.pause(&redis).await.unwrap();
            panic!("the test failed while redis was paused");
        })
    }));
    assert!(panicked.is_err());
    let paused = rt.block_on(async {
        let docker = containers::docker().await.unwrap();
        let c = docker.inspect_container(redis.id(), None).await.unwrap();
        c.state.and_then(|s| s.paused).unwrap_or(true)
    });
    assert!(!paused, "the panic's unwinding unpaused it");
    rt.block_on(async move { drop(redis) });
}

/// A proxy on the gateway of a network the test made: a container on that network reaches
/// Redis through it (and through its toxics); one on Docker's default bridge is reset
/// before any byte reaches Redis; an address that is no network's gateway is refused
/// before anything listens.
#[tokio::test]
async fn docker_a_proxy_on_a_networks_gateway_serves_its_containers_and_resets_any_other() {
    let network = format!("readiness-gw-{}", std::process::id());
    let inside = containers::start(containers::redis().unwrap().with_network(&network))
        .await
        .unwrap();
    let outside = containers::start(containers::redis().unwrap())
        .await
        .unwrap();
    let (gateway, prefix_len) = containers::network_gateway(&network).await.unwrap();
    let upstream = containers::address_on_network(inside.id(), &network)
        .await
        .unwrap();
    let proxy = Proxy::builder("redis", format!("{upstream}:{REDIS_PORT}"))
        .allow_non_loopback()
        .listen_on_network_gateway(gateway, prefix_len)
        .start()
        .await
        .unwrap();
    let listen = proxy.listen_addr();
    assert_eq!(listen.ip(), std::net::IpAddr::V4(gateway));
    let port = listen.port().to_string();
    let gw = gateway.to_string();
    let ping = ["redis-cli", "-h", gw.as_str(), "-p", port.as_str(), "ping"];

    let answer = containers::exec_output(&inside, &ping).await.unwrap();
    assert_eq!(answer.stdout.trim(), "PONG", "{answer:?}");
    assert_eq!(proxy.counters().connections, 1);
    // The proxy's toxics act on that path: the proxy is really in it.
    proxy.add(Toxic::limit_data(0)).unwrap();
    let cut = containers::exec_output(&inside, &ping).await.unwrap();
    assert!(!cut.stdout.contains("PONG"), "{cut:?}");
    proxy.remove_all();

    let refused = containers::exec_output(&outside, &ping).await.unwrap();
    assert!(!refused.stdout.contains("PONG"), "{refused:?}");
    assert_eq!(
        proxy.counters().connections,
        2,
        "the reset one is not counted"
    );
    assert!(
        proxy
            .events()
            .iter()
            .any(|e| e.what.starts_with("reset a connection from")
                && e.what.ends_with("not on the proxy's network")),
        "{:?}",
        proxy.events()
    );

    let e = Proxy::builder("redis", format!("{upstream}:{REDIS_PORT}"))
        .allow_non_loopback()
        .listen_on_network_gateway(std::net::Ipv4Addr::new(192, 0, 2, 1), 24)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("192.0.2.1/24 is not a Docker network's gateway"),
        "{e}"
    );
}
