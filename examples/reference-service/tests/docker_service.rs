//! The reference service against real PostgreSQL and Redis containers: its behaviour when
//! healthy, under dependency faults, and with each defect switched on.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn docker_crud_pagination_and_search() {
    let s = stack(StackOptions::new()).await;
    let c = client();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create(&s, if i % 2 == 0 { "ada" } else { "bob" }).await);
    }
    let one: Value = c
        .get(format!("{}/orders/{}", s.url, ids[2]))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(one["customer"], "ada");
    assert_eq!(one["quantity"], 2);
    assert_eq!(status(&format!("{}/orders/999999", s.url)).await, 404);

    let page: Value = c
        .get(format!("{}/orders?limit=2", s.url))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["orders"].as_array().map(Vec::len), Some(2));
    let next = page["next_after"].as_i64().expect("next page");
    assert_eq!(next, ids[1]);
    let rest: Value = c
        .get(format!("{}/orders?after={next}&limit=10", s.url))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["orders"].as_array().map(Vec::len), Some(3));
    assert!(rest["next_after"].is_null());

    let found: Value = c
        .get(format!("{}/orders/search?customer=ada", s.url))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(found["orders"].as_array().map(Vec::len), Some(3));
    assert_eq!(status(&format!("{}/orders/search", s.url)).await, 400);
    assert_eq!(status(&format!("{}/orders?limit=0", s.url)).await, 400);

    let bad = c
        .post(format!("{}/orders", s.url))
        .header("authorization", WRITE)
        .json(&serde_json::json!({"customer": "", "item": "x", "quantity": 1}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 422);
    let huge = c
        .post(format!("{}/orders", s.url))
        .header("authorization", WRITE)
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(
        huge.status(),
        413,
        "bodies over BODY_LIMIT_BYTES are refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_cache_hit_after_miss() {
    let s = stack(StackOptions::new()).await;
    let id = create(&s, "cache").await;
    let url = format!("{}/orders/{id}", s.url);
    let first = client().get(&url).send().await.expect("get");
    assert_eq!(first.headers()["x-cache"], "miss");
    let second = client().get(&url).send().await.expect("get");
    assert_eq!(second.headers()["x-cache"], "hit");
    assert_eq!(metric(&s, "cache_hits_total").await, Some(1.0));
    assert_eq!(metric(&s, "cache_misses_total").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_auth_on_writes_and_cors() {
    let s =
        stack(StackOptions::new().with_env("CORS_ALLOWED_ORIGINS", "https://shop.example")).await;
    let c = client();
    let body = serde_json::json!({ "customer": "a", "item": "b", "quantity": 1 });
    let none = c
        .post(format!("{}/orders", s.url))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(none.status(), 401);
    let read = c
        .post(format!("{}/orders", s.url))
        .header("authorization", READ)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(read.status(), 403);
    let unknown = c
        .post(format!("{}/orders", s.url))
        .header("authorization", "Bearer nope")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(unknown.status(), 401);
    let ok = c
        .post(format!("{}/orders", s.url))
        .header("authorization", WRITE)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 201);

    let allowed = c
        .get(format!("{}/orders", s.url))
        .header("origin", "https://shop.example")
        .send()
        .await
        .expect("get");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or("")),
        Some("https://shop.example")
    );
    let other = c
        .get(format!("{}/orders", s.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("get");
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "unknown origins get no CORS grant"
    );
}

async fn burst(s: &Stack, n: usize, token: &str) -> (usize, usize, Option<String>) {
    let (mut ok, mut limited, mut retry_after) = (0, 0, None);
    for _ in 0..n {
        let r = client()
            .get(format!("{}/orders", s.url))
            .header("authorization", token)
            .send()
            .await
            .expect("get");
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, limited, retry_after)
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_rate_limit_answers_429_with_retry_after_per_token() {
    let s = stack(StackOptions::new().with_env("RATE_LIMIT_PER_MINUTE", "5")).await;
    let (ok, limited, retry_after) = burst(&s, 8, READ).await;
    assert_eq!((ok, limited), (5, 3));
    let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((1..=12).contains(&secs), "one request per 12s: {secs}");
    let (ok, _, _) = burst(&s, 2, WRITE).await;
    assert_eq!(ok, 2, "another token has its own budget");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_no_rate_limit_lets_every_request_through() {
    let s = stack(
        StackOptions::new()
            .with_env("RATE_LIMIT_PER_MINUTE", "5")
            .with_defect("no_rate_limit"),
    )
    .await;
    let (ok, limited, _) = burst(&s, 20, READ).await;
    assert_eq!((ok, limited), (20, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_readiness_flips_when_postgres_pauses_and_recovers() {
    let s = stack(StackOptions::new()).await;
    let ready = format!("{}/health/ready", s.url);
    assert_eq!(status(&ready).await, 200);
    assert_eq!(status(&format!("{}/health/live", s.url)).await, 200);
    s.postgres.pause().await.expect("pause");
    let down = wait_for_status(&ready, 503, Duration::from_secs(10)).await;
    let body: Value = client()
        .get(&ready)
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert!(down.is_some(), "ready never went 503 with postgres paused");
    assert_eq!(body["status"], "unready");
    assert_eq!(
        status(&format!("{}/health/live", s.url)).await,
        200,
        "live stays up"
    );
    s.postgres.unpause().await.expect("unpause");
    assert!(
        wait_for_status(&ready, 200, Duration::from_secs(15))
            .await
            .is_some(),
        "ready never came back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_always_ready_says_ready_with_postgres_paused() {
    let s = stack(StackOptions::new().with_defect("always_ready")).await;
    s.postgres.pause().await.expect("pause");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&format!("{}/health/ready", s.url)).await, 200);
    s.postgres.unpause().await.expect("unpause");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_breaker_opens_when_redis_pauses_and_reads_still_succeed() {
    let s = stack(
        StackOptions::new()
            .with_env("BREAKER_FAILURES", "3")
            .with_env("BREAKER_OPEN_MS", "1000"),
    )
    .await;
    let id = create(&s, "breaker").await;
    let url = format!("{}/orders/{id}", s.url);
    assert_eq!(status(&url).await, 200);
    s.redis
        .as_ref()
        .expect("redis")
        .pause()
        .await
        .expect("pause");
    let mut sources = Vec::new();
    for _ in 0..6 {
        let r = client().get(&url).send().await.expect("get");
        assert_eq!(r.status(), 200, "reads succeed while redis is paused");
        sources.push(r.headers()["x-cache"].to_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        sources.last().map(String::as_str),
        Some("bypass"),
        "{sources:?}"
    );
    assert_eq!(
        metric(&s, "circuit_breaker_state{dependency=\"redis\"}").await,
        Some(1.0)
    );
    let ready: Value = client()
        .get(format!("{}/health/ready", s.url))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "degraded");
    assert!(metric(&s, "cache_errors_total").await.unwrap_or(0.0) >= 3.0);

    s.redis
        .as_ref()
        .expect("redis")
        .unpause()
        .await
        .expect("unpause");
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(10) {
        let _ = client().get(&url).send().await;
        if metric(&s, "circuit_breaker_state{dependency=\"redis\"}").await == Some(0.0) {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(closed, "the breaker closes again once redis is back");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_sigterm_drains_in_flight_requests() {
    let mut s = stack(StackOptions::new()).await;
    let url = format!("{}/debug/sleep?ms=1500", s.url);
    let in_flight =
        tokio::spawn(async move { client().get(&url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.signal("TERM").await.expect("sigterm");
    let answered = in_flight.await.expect("join");
    assert_eq!(answered.ok(), Some(200), "the in-flight request finished");
    let exit = s.wait_exit(Duration::from_secs(10)).await.expect("exits");
    assert!(exit.success(), "{exit}");
    assert!(s.log_text().contains("draining in-flight requests"));
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_no_graceful_drain_drops_in_flight_requests() {
    let mut s = stack(StackOptions::new().with_defect("no_graceful_drain")).await;
    let url = format!("{}/debug/sleep?ms=1500", s.url);
    let in_flight =
        tokio::spawn(async move { client().get(&url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.signal("TERM").await.expect("sigterm");
    let answered = in_flight.await.expect("join");
    assert!(
        answered.is_err(),
        "the in-flight request should be dropped: {answered:?}"
    );
    let _ = s.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_metrics_and_json_logs() {
    let s = stack(StackOptions::new()).await;
    let id = create(&s, "metrics").await;
    let r = client()
        .get(format!("{}/orders/{id}", s.url))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    let text = client()
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"200\"} 1",
        "http_request_duration_seconds_bucket{",
        "db_pool_connections{state=\"in_use\"}",
        "db_pool_connections{state=\"idle\"}",
        "cache_hits_total",
        "cache_misses_total",
        "circuit_breaker_state{dependency=\"redis\"} 0",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = s.log_text();
    let line = logs
        .lines()
        .find(|l| l.contains("req-abc-123"))
        .expect("a log line with the request id");
    let json: Value = serde_json::from_str(line).expect("log lines are JSON");
    assert_eq!(json["span"]["request_id"], "req-abc-123");
    assert_eq!(json["fields"]["status"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_missing_metric_never_exports_http_requests_total() {
    let s = stack(StackOptions::new().with_defect("missing_metric")).await;
    let _ = status(&format!("{}/orders", s.url)).await;
    let text = client()
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(!text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds"),
        "the rest is still there"
    );
}

async fn search_latency(s: &Stack) -> Duration {
    let url = format!("{}/orders/search?customer=ada", s.url);
    let _ = status(&url).await;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(status(&url).await, 200);
        best = best.min(t.elapsed());
    }
    best
}

async fn has_customer_index(s: &Stack) -> bool {
    let row = pg(s)
        .await
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer_idx'",
            &[],
        )
        .await
        .expect("query");
    row.get::<_, i64>(0) == 1
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_slow_search_drops_the_index_and_adds_latency() {
    let healthy = stack(StackOptions::new()).await;
    assert!(has_customer_index(&healthy).await);
    let fast = search_latency(&healthy).await;
    drop(healthy);
    let slow = stack(StackOptions::new().with_defect("slow_search")).await;
    assert!(
        !has_customer_index(&slow).await,
        "slow_search drops the index"
    );
    let slow_latency = search_latency(&slow).await;
    // The defect sleeps 200 ms per search: it shows as a difference, whatever the machine.
    assert!(
        slow_latency >= Duration::from_millis(200)
            && slow_latency >= fast + Duration::from_millis(150),
        "defective search {slow_latency:?}, healthy {fast:?}"
    );
}

async fn resident_after(s: &Stack, requests: usize) -> f64 {
    let before = metric(s, "process_resident_memory_bytes")
        .await
        .expect("rss");
    let c = client();
    for _ in 0..requests {
        let _ = c.get(format!("{}/health/live", s.url)).send().await;
    }
    metric(s, "process_resident_memory_bytes")
        .await
        .expect("rss")
        - before
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_leak_grows_memory_per_request() {
    let healthy = stack(StackOptions::new()).await;
    let steady = resident_after(&healthy, 400).await;
    drop(healthy);
    let leaky = stack(StackOptions::new().with_defect("leak")).await;
    let grown = resident_after(&leaky, 400).await;
    // 400 requests x 64 KiB = 25 MiB kept by the leak.
    assert!(
        grown > 20.0 * 1024.0 * 1024.0,
        "leak grew only {grown} bytes"
    );
    assert!(
        steady < 8.0 * 1024.0 * 1024.0,
        "healthy grew {steady} bytes"
    );
}

async fn acknowledged_then_killed(opts: StackOptions) -> (usize, i64) {
    let mut s = stack(opts).await;
    let mut acked = 0;
    for i in 0..20 {
        create(&s, &format!("rpo-{i}")).await;
        acked += 1;
    }
    s.signal("KILL").await.expect("sigkill");
    let _ = s.wait_exit(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored: i64 = pg(&s)
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .expect("count")
        .get(0);
    (acked, stored)
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_acknowledged_writes_survive_a_crash() {
    let (acked, stored) = acknowledged_then_killed(StackOptions::new()).await;
    assert_eq!(stored, acked as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_unacked_write_loss_loses_acknowledged_writes_on_crash() {
    let (acked, stored) =
        acknowledged_then_killed(StackOptions::new().with_defect("unacked_write_loss")).await;
    assert_eq!(acked, 20);
    assert!(
        stored < acked as i64,
        "all {acked} acknowledged writes survived; the defect should lose some"
    );
}

/// Runs the service binary against a paused PostgreSQL and returns what happened within
/// `watch`: Some(exit code) if it exited, None if it kept waiting.
async fn start_against_paused_postgres(defect: &str, watch: Duration) -> (Option<i32>, bool) {
    use readiness_core::containers;
    let pg = containers::start(containers::postgres().expect("request"))
        .await
        .expect("postgres");
    let port = pg
        .get_host_port_ipv4(containers::POSTGRES_PORT)
        .await
        .expect("port");
    pg.pause().await.expect("pause");
    let bind = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-service"))
        .env(
            "DATABASE_URL",
            format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
        )
        .env("BIND_ADDR", bind.to_string())
        .env("REFERENCE_DEFECT", defect)
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let exited = tokio::time::timeout(watch, child.wait())
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|s| s.code());
    pg.unpause().await.expect("unpause");
    let ready = exited.is_none()
        && wait_for_status(
            &format!("http://{bind}/health/ready"),
            200,
            Duration::from_secs(20),
        )
        .await
        .is_some();
    (exited, ready)
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_a_slow_postgres_at_start_is_waited_for() {
    let (exited, ready) = start_against_paused_postgres("", Duration::from_secs(4)).await;
    assert_eq!(exited, None, "the service kept waiting for postgres");
    assert!(ready, "and became ready once postgres answered");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_defect_crash_on_slow_dependency_exits_at_start() {
    let (exited, _) =
        start_against_paused_postgres("crash_on_slow_dependency", Duration::from_secs(4)).await;
    assert_eq!(
        exited,
        Some(1),
        "the defect exits 1 when postgres is slow at start"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_stack_runs_the_service_as_a_container() {
    let s = Stack::start_containers(StackOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = create(&s, "container").await;
    let r = client()
        .get(format!("{}/orders/{id}", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-cache"],
        "miss",
        "redis reached over the stack's network"
    );
}

/// An OTLP/HTTP receiver on loopback that keeps every JSON body posted to /v1/traces.
async fn otlp_receiver() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
) {
    use axum::routing::post;
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    kept.lock().expect("lock").push(v);
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, bodies)
}

/// (trace id, span id, parent span id, name) of every span received.
fn spans(bodies: &[Value]) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    bodies
        .iter()
        .flat_map(|b| b["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .map(|sp| {
            (
                s(&sp["traceId"]),
                s(&sp["spanId"]),
                s(&sp["parentSpanId"]),
                s(&sp["name"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_traces_reach_an_otlp_collector_linked() {
    let (addr, bodies) = otlp_receiver().await;
    let s = stack(
        StackOptions::new()
            .with_env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
            .with_env("OTEL_BSP_SCHEDULE_DELAY", "200"),
    )
    .await;
    let id = create(&s, "traced").await;
    assert_eq!(status(&format!("{}/orders/{id}", s.url)).await, 200);
    let start = Instant::now();
    let mut linked = None;
    while start.elapsed() < Duration::from_secs(15) && linked.is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let all = spans(&bodies.lock().expect("lock"));
        linked = all.iter().find_map(|(trace, _, parent, name)| {
            (name == "db.query").then(|| {
                all.iter()
                    .find(|(t, span, _, n)| n == "request" && t == trace && span == parent)
                    .cloned()
            })?
        });
    }
    let received = bodies.lock().expect("lock").clone();
    assert!(
        linked.is_some(),
        "no db.query span linked to its request span in {received:?}"
    );
    assert!(
        serde_json::to_string(&received)
            .unwrap_or_default()
            .contains("reference-service"),
        "service.name"
    );
}

/// The service (a process) reaches its Redis through readiness-dr's fault proxy; toxics on
/// that link are faults of a real dependency, seen from outside.
#[tokio::test(flavor = "multi_thread")]
async fn docker_toxics_on_the_link_to_redis_open_the_breaker_and_the_service_degrades() {
    use readiness_core::{Probe, Ratio, Recorder};
    use readiness_dr::degrade::{
        fast_answers, try_assert_circuit_opens_within, try_assert_degrades_gracefully,
    };
    use readiness_dr::fault::Fault;
    use readiness_dr::proxy::{Proxy, Toxic};
    use readiness_dr::recovery::Recovery;
    use readiness_load::{Load, Model, http};

    let recorder =
        Recorder::new(readiness_core::settings::target_dir().join("readiness-self-test"));
    let redis =
        readiness_core::containers::start(readiness_core::containers::redis().expect("redis"))
            .await
            .expect("redis");
    let port = redis
        .get_host_port_ipv4(readiness_core::containers::REDIS_PORT)
        .await
        .expect("port");
    let proxy = Proxy::start("redis", format!("127.0.0.1:{port}"))
        .await
        .expect("proxy");
    let s = stack(
        StackOptions::new()
            .without_redis()
            .with_env("REDIS_URL", format!("redis://{}/", proxy.listen_addr())),
    )
    .await;
    let url = format!("{}/orders/{}", s.url, create(&s, "ada").await);
    assert_eq!(status(&url).await, 200);

    // 300 ms on every answer from Redis: each cache call times out (100 ms) until the
    // breaker opens; then the service answers fast again, from PostgreSQL.
    proxy
        .add(Toxic::latency(Duration::from_millis(300)))
        .expect("toxic");
    let slowed = Fault::now("latency 300ms on the link to redis");
    let opened = Recovery::of(
        "orders service",
        fast_answers(Probe::http(&url), Duration::from_millis(50)),
    )
    .with_interval(Duration::from_millis(100))
    .with_settle(Duration::from_secs(1))
    .with_deadline(Duration::from_secs(10))
    .with_recorder(recorder.clone())
    .measure(&slowed, &proxy.events())
    .await
    .expect("measure");
    try_assert_circuit_opens_within(&opened, Duration::from_secs(5))
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(
        opened.timeline.samples.iter().any(|s| !s.ok),
        "slow before it opened"
    );
    proxy.remove_all();

    // Every connection to Redis reset: the service keeps answering.
    proxy.add(Toxic::reset_peer(Duration::ZERO)).expect("toxic");
    let report = Load::new(
        "get_order",
        Model::constant_rate(20.0, Duration::from_secs(2)).expect("model"),
    )
    .with_recorder(recorder)
    .run(http::get(&url).with_timeout(Duration::from_secs(2)))
    .await
    .expect("load");
    try_assert_degrades_gracefully(
        &report,
        "redis connections reset",
        Ratio::percent(0.0).expect("0%"),
        Duration::from_secs(1),
    )
    .unwrap_or_else(|f| panic!("{f}"));
}
