//! The main job: a readiness run of the reference service. It starts PostgreSQL, Redis and
//! the service in containers, checks real criteria against them (dependency start time,
//! readiness probe, latency and errors under load, refused unauthenticated writes, its
//! monitoring on a real Prometheus and Alertmanager (alerts fired, routed and resolved,
//! health, logs, traces), memory under a soak, a switch of instances with requests in
//! flight, recovery from a killed database, acknowledged writes across a killed service and
//! a start while the database is slow), then
//! prints the scorecard of this run and writes the report (Markdown, HTML, JSON, JUnit).
//!
//! Exit code: 0 go, 1 no-go, 2 the report could not be made.
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-examples --bin readiness-run
//! ```
//!
//! `READINESS_RUN_DEFECT=slow_search` (any defect of the reference service) runs it against
//! a broken service, to see a no-go.
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use readiness::dr::fault::Faults;
use readiness::dr::history::{
    Writer, try_assert_no_acknowledged_write_lost, try_assert_rpo_within,
};
use readiness::dr::proxy::Proxy;
use readiness::dr::recovery::{Health, Recovery, try_assert_rto_within};
use readiness::dr::switch::{switch, try_assert_zero_downtime_switch};
use readiness::load::{
    Load, Model, http, soak, try_assert_error_rate_under, try_assert_no_memory_drift,
    try_assert_p95_under,
};
use readiness::report::{Decision, Format, Options, Run, make, write_outputs};
use readiness::{
    Bytes, Category, Check, Error, Evidence, Failure, Observation, Probe, Quantity, Ratio,
    Threshold, containers,
};
use reference_service::stack::{SERVICE_PORT, Stack, StackOptions};

/// How long PostgreSQL may take from `docker run` to answering a query.
const READY_LIMIT: Duration = Duration::from_secs(10);
/// How long the service may take to be ready again after its database was killed.
const RTO_LIMIT: Duration = Duration::from_secs(60);
/// The p99 latency of a 200 ms request across a switch of instances.
const SWITCH_P99_LIMIT: Duration = Duration::from_secs(1);
/// How long the service may take to be ready after it was started while its database was
/// slow (the database answers again 3 s after the start).
const SLOW_START_LIMIT: Duration = Duration::from_secs(15);
/// Where each alert of the service's rule file must be routed.
const ROUTES: [(&str, &str); 3] = [
    ("ReferenceServiceDown", "pager"),
    ("ReferenceHighErrorRate", "pager"),
    ("ReferenceCacheDegraded", "chat"),
];
/// The metrics the service's alerts and dashboards read.
const REQUIRED_METRICS: [&str; 3] = [
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "circuit_breaker_state",
];
/// How fast the service's memory may grow under a steady load (the `leak` defect keeps
/// 64 KiB per request: about 750 MiB a minute at 200 requests a second).
const DRIFT_LIMIT: Bytes = Bytes(32 * 1024 * 1024);
/// How much acknowledged data a crash of the service may lose (the seeds' "RPO < 5 min").
const RPO_LIMIT: Duration = Duration::from_secs(300);

/// One line per check; a failure's whole story under it.
fn show(result: Result<Evidence, Failure>) {
    let e = match &result {
        Ok(e) => e,
        Err(f) => f.evidence(),
    };
    println!(
        "  {:<5} {:<22} {}",
        e.verdict.to_string(),
        e.criterion.id,
        e.criterion.title
    );
    if let Err(f) = result {
        for line in f.to_string().lines() {
            println!("      {line}");
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    println!(
        "readiness run {}: the reference service",
        readiness::run_id()
    );
    show(postgres_answers_within(READY_LIMIT).await);
    let defect = std::env::var("READINESS_RUN_DEFECT").unwrap_or_default();
    service_checks(&defect).await;
    match scorecard() {
        Ok(Decision::Go) => ExitCode::SUCCESS,
        Ok(Decision::NoGo) => ExitCode::from(1),
        Err(e) => {
            println!("readiness: the report could not be made: {e}");
            ExitCode::from(2)
        }
    }
}

/// Makes the scorecard of this run's evidence, prints it and writes the report next to the
/// evidence (target/readiness/report by default).
fn scorecard() -> readiness::Result<Decision> {
    let dir = readiness::settings::evidence_dir()?;
    let mut options = Options::new(&dir);
    // The workspace's readiness.toml: the criteria of this run, which `readiness report`
    // reads too.
    options.config = Some(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../readiness.toml"
    )));
    options.run = Run::Id(readiness::run_id().to_owned());
    let card = make(&options)?;
    println!();
    print!(
        "{}",
        Format::Terminal.render(&card, std::io::stdout().is_terminal())
    );
    let formats = [Format::Markdown, Format::Html, Format::Json, Format::Junit];
    for p in write_outputs(&card, &formats, &dir.join("report"))? {
        println!("report: {}", p.display());
    }
    let verdict = if card.verdict == Decision::Go {
        "go"
    } else {
        "no-go"
    };
    println!("verdict: {verdict}");
    Ok(card.verdict)
}

/// Starts the stack and checks the service; a stack that does not start is recorded as an
/// error of the readiness criterion.
async fn service_checks(defect: &str) {
    let mut opts = StackOptions::new().with_env("RATE_LIMIT_PER_MINUTE", "1000000");
    for d in defect.split(',').filter(|d| !d.is_empty()) {
        opts = opts.with_defect(d);
    }
    let mut started = None;
    let ready = Check::new(
        "svc.ready",
        "the service reports ready within 30s of its start",
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(Duration::from_secs(30)))
    .with_scenario("PostgreSQL, Redis and the service in containers, /health/ready probed")
    .run(async {
        let stack = started.insert(Stack::start_containers(opts).await?);
        let url = format!("{}/health/ready", stack.url);
        let report = Probe::http(&url)
            .with_interval(Duration::from_millis(100))
            .until_ok(Duration::from_secs(30))
            .await?;
        let observed = match report.first_ok {
            Some(after) => Observation::new(stack.started_in + after),
            // Not ready by the deadline: at least that long, never a made-up number.
            None => Observation::at_least(stack.started_in + report.elapsed),
        };
        Ok(observed
            .with_target(format!("GET {url}"))
            .with_attachment(report))
    })
    .await;
    show(ready);
    let Some(stack) = started else { return };

    // Data to read: 20 orders of 4 customers.
    let client = reqwest::Client::new();
    let mut first_id = None;
    for i in 0..20 {
        let created = client
            .post(format!("{}/orders", stack.url))
            .header("authorization", "Bearer write-token")
            .json(&serde_json::json!({
                "customer": format!("c{}", i % 4), "item": "widget", "quantity": 1
            }))
            .send()
            .await;
        if let Ok(r) = created
            && let Ok(body) = r.json::<serde_json::Value>().await
        {
            first_id = first_id.or(body.get("id").and_then(serde_json::Value::as_i64));
        }
    }

    let get = format!("{}/orders/{}", stack.url, first_id.unwrap_or(1));
    // The loads read data that exists: wait (at most 10 s) until the first order reads
    // back. A write acknowledged before it is stored is dr.no_ack_write_lost's to judge,
    // not the read load's.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let readable = client
            .get(&get)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if readable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let search = format!("{}/orders/search?customer=c1", stack.url);
    for (name, url, rate, p95) in [
        ("get_order", get, 100.0, Duration::from_millis(100)),
        ("search_orders", search, 20.0, Duration::from_millis(150)),
    ] {
        // A load that cannot run leaves its criteria without evidence: the scorecard calls
        // them missing.
        if let Err(e) = run_load(name, &url, rate, p95).await {
            println!("  error {name}: {e}");
        }
    }

    if let Err(e) = security_checks(&stack).await {
        println!("  error security: {e}");
    }

    if let Err(e) = observability_checks(&stack).await {
        println!("  error observability: {e}");
    }
    if let Err(e) = soak_drill(&stack).await {
        println!("  error soak: {e}");
    }
    if let Err(e) = switch_drill(&stack).await {
        println!("  error switch drill: {e}");
    }
    // Recovery, last: these drills kill things.
    if let Err(e) = recovery_drills(&stack).await {
        println!("  error recovery drills: {e}");
    }
}

/// The seeds' security ticks as checks, on an instance with the service's stated limits
/// (1000 requests per minute per client, CORS for `https://app.example` only): the rate
/// limit holds, every write route of its OpenAPI document refuses missing, invalid and
/// read-only tokens, CORS stays shut to other origins, generated bad bodies get 4xx and
/// leave it ready, only port 8080 is exposed, and no token appears in its logs or answers.
/// With `READINESS_RUN_SCAN_REPORTS` (Trivy or cargo-audit JSON files, comma-separated),
/// their findings are judged too: none at high or above.
async fn security_checks(stack: &Stack) -> readiness::Result<()> {
    use readiness::security::{
        self, Auth, Cors, ExposedPorts, Malformed, RateLimit, Route, SecretScan, Text,
        VulnerabilityLimits,
    };
    let (secured, url) = stack
        .start_another_service_with(&[
            ("RATE_LIMIT_PER_MINUTE", "1000"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example"),
        ])
        .await?;
    let search = Route::get(format!("{url}/orders/search?customer=c1"));
    show(security::try_assert_rate_limit_holds(&search, &RateLimit::per_minute(1000)).await);

    let writes = security::openapi_write_routes(&format!("{url}/openapi.json"), &url).await?;
    let auth = Auth::bearer()
        .with_valid("write-token")
        .with_read_only("read-token");
    show(security::try_assert_auth_required(&writes, &auth).await);

    let orders = Route::post(format!("{url}/orders"));
    let cors = Cors::allowing(["https://app.example"]);
    show(security::try_assert_cors_restrictive(&orders, &cors).await);

    let example = serde_json::json!({ "customer": "c9", "item": "widget", "quantity": 1 });
    let order = orders
        .clone()
        .with_bearer("write-token")
        .with_json(&example);
    let malformed = Malformed::new(format!("{url}/health/ready")).with_cases(48);
    show(security::try_assert_rejects_malformed_input(&order, &malformed).await);

    let service = stack.service_container();
    if let Some(service) = service {
        show(
            security::try_assert_exposed_ports(service, &ExposedPorts::only([SERVICE_PORT])).await,
        );
    }

    // Everything both instances logged, and what they answer to anyone.
    let mut texts = Vec::new();
    for path in [
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/orders?limit=5",
    ] {
        texts.push(Text::fetch(&Route::get(format!("{url}{path}"))).await?);
    }
    texts.push(Text::fetch(&orders).await?);
    texts.push(Text::container_logs("secured instance", &secured).await?);
    if let Some(service) = service {
        texts.push(Text::container_logs("service", service).await?);
    }
    let scan = SecretScan::defaults()
        .with_secret("write-token")
        .with_secret("read-token");
    show(scan.try_assert_no_secrets(&texts));

    if let Ok(list) = std::env::var("READINESS_RUN_SCAN_REPORTS") {
        let reports: Vec<&str> = list.split(',').filter(|p| !p.is_empty()).collect();
        show(security::try_assert_no_vulnerabilities(
            &reports,
            &VulnerabilityLimits::default(),
        ));
    }
    Ok(())
}

/// The service's monitoring on a real Prometheus and Alertmanager with its own rule file
/// and Alertmanager config (`reference-service/monitoring/`), under a normal load: the rule
/// file loads (promtool) and passes the lint, the config loads (amtool) and routes each
/// alert to its receiver, targets up, the metrics the alerts need exported and the
/// exposition linted, no alert under the load, each alert fired by its cause (Redis,
/// PostgreSQL, the service itself paused), routed and resolved, all rules fired,
/// structured logs, health that follows PostgreSQL, and linked traces from an instance
/// that exports them.
async fn observability_checks(stack: &Stack) -> readiness::Result<()> {
    use readiness::observability::{
        Exposition, HealthEndpoints, LogLines, LogRules, MetricsLint, OtlpReceiver, Pair, RuleFile,
        Target, Traces, try_assert_alert_routes, try_assert_logs, try_assert_metric_exists,
        try_assert_metrics_lint, try_assert_rules_lint, try_assert_rules_load,
        try_assert_targets_up,
    };
    let service = stack
        .service_container()
        .ok_or_else(|| Error::Other("the service is not a container".into()))?;
    let monitoring = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reference-service/monitoring"
    ));
    // A normal load for the whole section: reads through the cache and from PostgreSQL.
    let mut background = Vec::new();
    for (name, path) in [
        ("cached_reads", "/orders/1"),
        ("db_reads", "/orders?limit=5"),
    ] {
        let load = Load::new(name, Model::constant_rate(10.0, Duration::from_secs(150))?);
        let get = http::get(format!("{}{path}", stack.url)).with_timeout(Duration::from_secs(3));
        background.push(AbortOnDrop(tokio::spawn(
            async move { load.run(get).await },
        )));
    }
    let mut pair = Pair::builder()
        .scrape(Target::new(
            "reference-service",
            stack.url.trim_start_matches("http://"),
        ))
        .start()
        .await?;
    println!(
        "  (Prometheus and Alertmanager ready in {})",
        Quantity::duration(pair.start_time())
    );
    let rules = RuleFile::read(monitoring.join("alerts.yml"))?;
    show(try_assert_rules_load(&pair.load_rules(&[rules]).await));
    let config = std::fs::read_to_string(monitoring.join("alertmanager.yml"))?;
    show(try_assert_alert_routes(
        &pair.load_alertmanager_config(&config).await,
        &ROUTES,
    ));
    let scraped = pair.scrape().await;
    show(try_assert_targets_up(&scraped));
    for metric in REQUIRED_METRICS {
        show(try_assert_metric_exists(&scraped, metric));
    }
    show(try_assert_rules_lint(&scraped));
    show(try_assert_metrics_lint(
        &Exposition::read(&format!("{}/metrics", stack.url)).await,
        &MetricsLint::default(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    show(pair.try_assert_silent(Duration::from_secs(5)).await);
    show(try_assert_logs(
        &LogLines::of_container(service).await?,
        &LogRules::new().expect_no_errors(),
    ));

    let faults = Faults::new().await?;
    let redis = stack
        .redis
        .as_ref()
        .ok_or_else(|| Error::Other("the stack has no Redis".into()))?;
    alert_drill(&pair, &faults, ("ReferenceCacheDegraded", "chat"), redis).await?;
    alert_drill(
        &pair,
        &faults,
        ("ReferenceHighErrorRate", "pager"),
        &stack.postgres,
    )
    .await?;
    alert_drill(&pair, &faults, ("ReferenceServiceDown", "pager"), service).await?;
    show(pair.try_assert_all_alerts_fired());

    show(
        HealthEndpoints::new(&stack.url)
            .watch(
                "postgres",
                async { faults.pause(&stack.postgres).await.map(|_| ()) },
                async { faults.unpause(&stack.postgres).await.map(|_| ()) },
                Duration::from_secs(8),
            )
            .await
            .judge(),
    );
    drop(background);

    // Traces: an instance that exports to a receiver on the stack's network gateway.
    let network = stack
        .network()
        .ok_or_else(|| Error::Other("the stack has no network".into()))?;
    let receiver = OtlpReceiver::start_for_network(network).await?;
    let (_traced, traced_url) = stack
        .start_another_service_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .await?;
    let client = reqwest::Client::new();
    let mut requests = 0;
    for _ in 0..5 {
        let answered = client
            .get(format!("{traced_url}/orders?limit=5"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        requests += u64::from(answered);
    }
    show(
        receiver
            .collect(&Traces::of("reference-service", requests))
            .await
            .judge(),
    );
    Ok(())
}

/// Pauses `target` until `alert` fires (judged within 30 s, routed to `receiver`), then
/// unpauses it and judges the resolution (within 40 s).
async fn alert_drill(
    pair: &readiness::observability::Pair,
    faults: &Faults,
    (alert, receiver): (&str, &str),
    target: &impl readiness::dr::fault::FaultTarget,
) -> readiness::Result<()> {
    use readiness::observability::Induced;
    let induced = |f: &readiness::dr::fault::Fault| Induced::at(f.at, f.wall, f.what.clone());
    let expect = pair
        .alert(alert)
        .within(Duration::from_secs(30))
        .routed_to(receiver);
    let paused = faults.pause(target).await?;
    let fired = expect.try_assert_fires(&induced(&paused)).await;
    let back = faults.unpause(target).await?;
    let was_fired = fired.is_ok();
    show(fired);
    if was_fired {
        let resolved = expect
            .within(Duration::from_secs(40))
            .try_assert_resolves(&induced(&back))
            .await;
        show(resolved);
    }
    Ok(())
}

/// A background task stopped when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A deploy: the old instance behind the fault proxy, a load of 200 ms requests through it
/// (a new connection each, as behind a load balancer, so some are always in flight), the
/// switch to a new instance with connection draining and SIGTERM to the old one; no
/// request may fail.
async fn switch_drill(stack: &Stack) -> readiness::Result<()> {
    let debug = [("REFERENCE_DEBUG_ENDPOINTS", "1")];
    let (old, old_url) = stack.start_another_service_with(&debug).await?;
    let (_new, new_url) = stack.start_another_service_with(&debug).await?;
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start("front", host(&old_url)).await?;
    let front = format!("http://{}/debug/sleep?ms=200", proxy.listen_addr());
    let model = Model::constant_rate(20.0, Duration::from_secs(5))?;
    let load = Load::new("requests_across_switch", model);
    let run = load.run(
        http::get(&front)
            .with_new_connection_per_request()
            .with_timeout(Duration::from_secs(5)),
    );
    let faults = Faults::new().await?;
    let switching = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        switch(&proxy, &host(&new_url), Duration::from_secs(10), || async {
            Ok(vec![faults.kill(&old, "SIGTERM").await?])
        })
        .await
    };
    let (report, switched) = tokio::join!(run, switching);
    show(try_assert_zero_downtime_switch(
        &report?,
        &switched?,
        SWITCH_P99_LIMIT,
    ));
    Ok(())
}

/// A soak: a steady 200 requests a second for 6 s while the service container's memory is
/// read from Docker; the slope of its growth is judged.
async fn soak_drill(stack: &Stack) -> readiness::Result<()> {
    let service = stack
        .service_container()
        .ok_or_else(|| Error::Other("the service is not a container".into()))?;
    let faults = Faults::new().await?;
    let model = Model::constant_rate(200.0, Duration::from_secs(6))?;
    let report = soak(
        &Load::new("soak_live", model),
        http::get(format!("{}/health/live", stack.url)).with_timeout(Duration::from_secs(5)),
        Duration::from_millis(250),
        faults.memory_of(service),
    )
    .await?;
    show(try_assert_no_memory_drift(&report, DRIFT_LIMIT));
    Ok(())
}

/// The service behind a killed PostgreSQL (RTO of `/health/ready`), then orders written
/// while the service is killed with SIGKILL and read back from PostgreSQL (RPO).
async fn recovery_drills(stack: &Stack) -> readiness::Result<()> {
    let service = stack
        .service_container()
        .ok_or_else(|| Error::Other("the service is not a container".into()))?;
    let faults = Faults::new().await?;
    let killed = faults.kill(&stack.postgres, "SIGKILL").await?;
    faults.start(&stack.postgres).await?;
    let recovery = Recovery::of(
        "orders service",
        Health::http_of(service, SERVICE_PORT, "/health/ready"),
    )
    .with_interval(Duration::from_millis(250))
    .with_settle(Duration::from_secs(2))
    .with_deadline(Duration::from_secs(60))
    .measure(&killed, &faults.events())
    .await?;
    show(try_assert_rto_within(&recovery, RTO_LIMIT));

    let writing = Writer::new("orders")
        .with_interval(Duration::from_millis(10))
        .start(stack.order_writer())?;
    writing.wait_for(200, Duration::from_secs(30)).await;
    let killed = faults.kill(service, "SIGKILL").await?;
    writing.mark(&killed);
    let history = writing
        .stop()
        .await?
        .read_back(stack.orders_written().await?);
    show(try_assert_no_acknowledged_write_lost(&history));
    show(try_assert_rpo_within(&history, RPO_LIMIT));

    // The killed service started again while its database is slow (paused for 3 s): it
    // must wait for the database, not exit.
    faults.pause(&stack.postgres).await?;
    let started = faults.start(service).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    faults.unpause(&stack.postgres).await?;
    let recovery = Recovery::of(
        "orders service started behind a slow database",
        Health::http_of(service, SERVICE_PORT, "/health/ready"),
    )
    .with_interval(Duration::from_millis(200))
    .with_settle(Duration::from_secs(1))
    .with_deadline(Duration::from_secs(20))
    .measure(&started, &faults.events())
    .await?;
    show(try_assert_rto_within(&recovery, SLOW_START_LIMIT));
    Ok(())
}

/// Drives `url` at `rate`/s for 5 s and judges p95 and the error rate.
async fn run_load(name: &str, url: &str, rate: f64, p95: Duration) -> readiness::Result<()> {
    let model = Model::constant_rate(rate, Duration::from_secs(5))?;
    let get = http::get(url).with_timeout(Duration::from_secs(5));
    let report = Load::new(name, model).run(get).await?;
    show(try_assert_p95_under(&report, p95));
    show(try_assert_error_rate_under(&report, Ratio::percent(1.0)?));
    Ok(())
}

/// Starts PostgreSQL and judges the time until it answers `SELECT 1`.
async fn postgres_answers_within(limit: Duration) -> Result<Evidence, Failure> {
    Check::new(
        "deps.postgres_ready",
        format!(
            "PostgreSQL answers a query within {}",
            Quantity::duration(limit)
        ),
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(limit))
    .with_scenario(
        "fresh container from the catalogue, time from start to the first answered query",
    )
    .run(async {
        let started = Instant::now();
        let container = containers::start(containers::postgres()?).await?;
        let port = container
            .get_host_port_ipv4(containers::POSTGRES_PORT)
            .await?;
        let url =
            format!("host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres");
        let refused = |e: tokio_postgres::Error| Error::TargetRefused {
            target: url.clone(),
            reason: e.to_string(),
        };
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(refused)?;
        tokio::spawn(connection);
        client.query_one("SELECT 1", &[]).await.map_err(refused)?;
        Ok(Observation::new(started.elapsed())
            .with_target(format!("postgres://127.0.0.1:{port}/postgres")))
    })
    .await
}
