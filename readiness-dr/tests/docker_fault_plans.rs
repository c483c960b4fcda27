//! Fault plans against a real Redis behind the fault proxy: a small service that parks the
//! writes it cannot deliver and acknowledges them anyway (a bug that loses writes only when
//! Redis restarts during a write burst) is found by the plan search and shrunk to the one
//! fault that matters; the same service without the bug holds every plan. Needs Docker.
#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use readiness_core::Verdict;
use readiness_core::containers::{self, REDIS_PORT};
use readiness_core::testcontainers::{ContainerAsync, ImageExt};
use readiness_core::testcontainers_modules::redis::Redis;
use readiness_dr::fault::Faults;
use readiness_dr::history::{WriteError, Writer, try_assert_no_acknowledged_write_lost};
use readiness_dr::plan::{
    FaultPlan, PlanFault, PlanRunner, PlanSpace, PlanTargets, try_assert_fault_plans_hold,
};
use readiness_dr::proxy::Proxy;
use readiness_dr::recovery::{Health, Recovery, try_assert_rto_within};

use common::recorder;

struct Setup {
    redis: ContainerAsync<Redis>,
    proxy: Proxy,
    faults: Faults,
    case: AtomicU64,
}

async fn setup() -> Setup {
    let redis = containers::start(containers::redis().unwrap().with_cmd([
        "redis-server",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]))
    .await
    .unwrap();
    let port = redis.get_host_port_ipv4(REDIS_PORT).await.unwrap();
    let proxy = Proxy::start("redis", format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    Setup {
        redis,
        proxy,
        faults: Faults::new().await.unwrap(),
        case: AtomicU64::new(0),
    }
}

/// One write of key `<prefix>:<seq>` through the proxy. With `parks`, a write Redis
/// refuses or drops (it is restarting) is parked in memory and acknowledged — and parked
/// writes are never written: the planted bug. A timeout is indeterminate either way.
async fn write(url: String, key: String, parks: bool) -> Result<(), WriteError> {
    let attempt = async {
        let client = redis::Client::open(url)?;
        let mut con = client.get_multiplexed_async_connection().await?;
        redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .query_async::<()>(&mut con)
            .await
    };
    match tokio::time::timeout(Duration::from_millis(150), attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) if parks => Ok(()),
        Ok(Err(e)) => Err(WriteError::Failed(e.to_string())),
        Err(_) => Err(WriteError::Indeterminate("no answer within 150ms".into())),
    }
}

/// Writes every 5 ms while `plan` runs, then checks the invariants: Redis healthy again
/// within 10 s, and no acknowledged write lost.
/// A setup error (Docker, a connection) is the outer `Err`: the case could not run.
async fn case(
    s: &Setup,
    plan: &FaultPlan,
    parks: bool,
) -> readiness_core::Result<Result<(), String>> {
    let n = s.case.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("case{n}");
    let url = format!("redis://{}/", s.proxy.listen_addr());
    let key_prefix = prefix.clone();
    let writing = Writer::new(format!("redis keys ({prefix})"))
        .with_interval(Duration::from_millis(5))
        .with_recorder(recorder())
        .start(move |seq| write(url.clone(), format!("{key_prefix}:{seq}"), parks))?;
    let targets =
        PlanTargets::new(&s.faults).container_behind("redis", &s.redis, REDIS_PORT, &s.proxy);
    let done = targets.apply(plan).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(first) = done.first() {
        writing.mark(first);
    }
    let history = writing.stop().await?;

    if let Some(last) = done.last() {
        let back = Recovery::of("redis", Health::exec(&s.redis, &["redis-cli", "ping"]))
            .with_interval(Duration::from_millis(100))
            .with_settle(Duration::from_millis(300))
            .with_deadline(Duration::from_secs(15))
            .with_recorder(recorder())
            .measure(last, &done)
            .await?;
        if let Err(f) = try_assert_rto_within(&back, Duration::from_secs(10)) {
            return Ok(Err(f.to_string()));
        }
    }
    let setup = |e: redis::RedisError| readiness_core::Error::Other(e.to_string());
    let client =
        redis::Client::open(format!("redis://{}/", s.proxy.listen_addr())).map_err(setup)?;
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .map_err(setup)?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .map_err(setup)?;
    let present: BTreeSet<u64> = keys
        .iter()
        .filter_map(|k| k.rsplit(':').next()?.parse().ok())
        .collect();
    Ok(
        try_assert_no_acknowledged_write_lost(&history.read_back(present))
            .map(|_| ())
            .map_err(|f| f.to_string()),
    )
}

fn space() -> PlanSpace {
    PlanSpace::new(["redis"])
        .with_faults([
            PlanFault::Pause,
            PlanFault::Latency(Duration::from_millis(40)),
            PlanFault::Restart,
        ])
        .with_times([
            Duration::from_millis(100),
            Duration::from_millis(300),
            Duration::from_millis(600),
        ])
        .with_holds([Duration::from_millis(200), Duration::from_millis(400)])
        .with_steps(1..=3)
}

#[tokio::test]
async fn docker_a_fault_plan_search_finds_writes_lost_on_a_redis_restart_and_shrinks_to_it() {
    let s = setup().await;
    let runner = PlanRunner::new()
        .with_cases(6)
        .with_max_shrink_iters(16)
        .with_seed(20261129);

    let searched = runner
        .search("redis writer", &space(), |plan| {
            let s = &s;
            async move { case(s, &plan, true).await }
        })
        .await
        .unwrap()
        .with_recorder(recorder());
    let failure = try_assert_fault_plans_hold(&searched).expect_err("the planted bug is found");
    assert_eq!(failure.verdict(), Verdict::Fail);
    failure.evidence().verify().unwrap();
    let found = searched.failure.clone().unwrap();
    let text = failure.to_string();
    eprintln!("{text}");
    assert_eq!(found.minimal.steps.len(), 1, "shrunk to one step: {text}");
    assert_eq!(found.minimal.steps[0].fault, PlanFault::Restart, "{text}");
    assert!(found.reason.contains("dr.no_ack_write_lost"), "{text}");
    assert!(
        text.contains("READINESS_FAULT_PLAN_SEED=20261129"),
        "{text}"
    );
    // The minimal plan replays: it breaks the invariant again.
    let again = case(&s, &found.minimal, true).await.unwrap().unwrap_err();
    assert!(again.contains("lost"), "{again}");

    // The same service without the bug holds every plan of the same search.
    let searched = runner
        .search("redis writer", &space(), |plan| {
            let s = &s;
            async move { case(s, &plan, false).await }
        })
        .await
        .unwrap()
        .with_recorder(recorder());
    let evidence = try_assert_fault_plans_hold(&searched).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert_eq!(searched.cases, 6);
}

#[tokio::test]
async fn docker_bad_plans_and_spaces_are_refused_before_anything_is_injected() {
    let s = setup().await;
    let targets = PlanTargets::new(&s.faults).proxy("link", &s.proxy);
    let plan = |target: &str, fault| FaultPlan {
        steps: vec![readiness_dr::plan::PlanStep {
            at: Duration::ZERO,
            target: target.to_owned(),
            fault,
            hold: Duration::from_millis(10),
        }],
    };
    let e = targets
        .apply(&plan("db", PlanFault::Pause))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"db\" is not registered; known: link"), "{e}");
    let e = targets
        .apply(&plan("link", PlanFault::Restart))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a proxy can only be slowed or taken down"),
        "{e}"
    );
    assert!(s.faults.events().is_empty());
    let e = PlanRunner::new()
        .run(&PlanSpace::new(["redis"]).with_faults([]), |_| async {
            Ok(Ok(()))
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no faults generates nothing"), "{e}");
}
