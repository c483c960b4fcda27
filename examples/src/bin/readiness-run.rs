//! The main job: a readiness run of the reference service. It starts PostgreSQL, Redis and
//! the service in containers, checks real criteria against them (dependency start time,
//! readiness probe, latency and errors under load, refused unauthenticated writes), then
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

use readiness::load::{Load, Model, http, try_assert_error_rate_under, try_assert_p95_under};
use readiness::report::{Decision, Format, Options, make, write_outputs};
use readiness::{Category, Check, Evidence, Failure, Probe, Quantity, Threshold, containers};
use reference_service::stack::{Stack, StackOptions};

/// How long PostgreSQL may take from `docker run` to answering a query.
const READY_LIMIT: Duration = Duration::from_secs(10);

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
    match service_checks(&defect).await {
        Ok(()) => {}
        Err(failure) => show(Err(failure)),
    }
    scorecard()
}

/// Makes the scorecard of this run's evidence, prints it and writes the report.
fn scorecard() -> ExitCode {
    let dir = match readiness::settings::evidence_dir() {
        Ok(d) => d,
        Err(e) => {
            println!("readiness: {e}");
            return ExitCode::from(2);
        }
    };
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("readiness-run.toml");
    let mut options = Options::new(&dir);
    options.config = Some(config);
    options.run = Some(readiness::run_id().to_owned());
    let card = match make(&options) {
        Ok(c) => c,
        Err(e) => {
            println!("readiness: the report could not be made: {e}");
            return ExitCode::from(2);
        }
    };
    println!();
    print!(
        "{}",
        Format::Terminal.render(&card, std::io::stdout().is_terminal())
    );
    // Next to the evidence: target/readiness/report by default.
    let out = dir.join("report");
    let formats = [Format::Markdown, Format::Html, Format::Json, Format::Junit];
    match write_outputs(&card, &formats, &out) {
        Ok(paths) => {
            for p in paths {
                println!("report: {}", p.display());
            }
        }
        Err(e) => {
            println!("readiness: {e}");
            return ExitCode::from(2);
        }
    }
    println!(
        "verdict: {}",
        match card.verdict {
            Decision::Go => "go",
            Decision::NoGo => "no-go",
        }
    );
    match card.verdict {
        Decision::Go => ExitCode::SUCCESS,
        Decision::NoGo => ExitCode::from(1),
    }
}

/// Starts the stack and checks the service; a stack that does not start is recorded as an
/// error of the readiness criterion.
async fn service_checks(defect: &str) -> Result<(), Failure> {
    let ready = Check::new(
        "svc.ready",
        "the service reports ready within 30s of its start",
        Category::RELIABILITY,
    )
    .with_scenario("PostgreSQL, Redis and the service in containers, /health/ready probed");
    let ready = match Threshold::at_most(Quantity::secs(30.0)) {
        Ok(t) => ready.with_threshold(t),
        Err(e) => return Err(ready.error(e)),
    };
    let mut opts = StackOptions::new().with_env("RATE_LIMIT_PER_MINUTE", "1000000");
    for d in defect.split(',').filter(|d| !d.is_empty()) {
        opts = opts.with_defect(d);
    }
    let stack = match Stack::start_containers(opts).await {
        Ok(s) => s,
        Err(e) => return Err(ready.error(e)),
    };
    let probe = match Probe::http(format!("{}/health/ready", stack.url)) {
        Ok(p) => p.with_interval(Duration::from_millis(100)),
        Err(e) => return Err(ready.error(e)),
    };
    let report = probe.until_ok(Duration::from_secs(30)).await;
    let ready = ready
        .with_target(format!("GET {}/health/ready", stack.url))
        .with_attachment(report.attachment());
    show(match report.first_ok {
        Some(after) => ready.judge(Quantity::duration(stack.started_in + after)),
        None => ready.judge(Quantity::secs(31.0)),
    });

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
    run_load("get_order", &get, 100.0, Duration::from_millis(100)).await;
    let search = format!("{}/orders/search?customer=c1", stack.url);
    run_load("search_orders", &search, 20.0, Duration::from_millis(150)).await;

    // Writes without a token must all be refused.
    let auth = Check::new(
        "sec.auth_required",
        "writes without a token are refused (20 tries)",
        Category::SECURITY,
    )
    .with_target(format!("POST {}/orders without authorization", stack.url));
    let auth = match Threshold::at_most(Quantity::count(0)) {
        Ok(t) => auth.with_threshold(t),
        Err(e) => return Err(auth.error(e)),
    };
    let mut accepted = 0u64;
    for _ in 0..20 {
        let r = client
            .post(format!("{}/orders", stack.url))
            .json(&serde_json::json!({ "customer": "x", "item": "y", "quantity": 1 }))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            accepted += 1;
        }
    }
    show(
        auth.with_summary(format!("{accepted} of 20 accepted"))
            .judge(Quantity::count(accepted)),
    );
    Ok(())
}

/// Drives `url` at `rate`/s for 5 s and judges p95 and the error rate. A load that cannot
/// run is said here; its criteria then have no evidence (the scorecard calls them missing).
async fn run_load(name: &str, url: &str, rate: f64, p95: Duration) {
    let report = async {
        let transaction = http::get(url, Duration::from_secs(5), false)?;
        let model = Model::constant_rate(rate, Duration::from_secs(5))?;
        Load::new(name, model)
            .with_target(format!("GET {url}"))
            .run(transaction)
            .await
    };
    match report.await {
        Ok(report) => {
            show(try_assert_p95_under(&report, p95));
            show(try_assert_error_rate_under(&report, 0.01));
        }
        Err(e) => println!("  error {name}: {e}"),
    }
}

/// Starts PostgreSQL and judges the time until it answers `SELECT 1`.
async fn postgres_answers_within(limit: Duration) -> Result<Evidence, Failure> {
    let check = Check::new(
        "deps.postgres_ready",
        format!(
            "PostgreSQL answers a query within {}",
            Quantity::duration(limit)
        ),
        Category::RELIABILITY,
    )
    .with_scenario(
        "fresh container from the catalogue, time from start to the first answered query",
    );
    let check = match Threshold::at_most(Quantity::duration(limit)) {
        Ok(t) => check.with_threshold(t),
        Err(e) => return Err(check.error(e)),
    };
    let started = Instant::now();
    let container = match containers::postgres() {
        Ok(request) => containers::start(request).await,
        Err(e) => Err(e),
    };
    let container = match container {
        Ok(c) => c,
        Err(e) => return Err(check.error(e)),
    };
    let port = match container
        .get_host_port_ipv4(containers::POSTGRES_PORT)
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(check.error(readiness::Error::Other(e.to_string()))),
    };
    let url = format!("host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres");
    let check = check.with_target(format!("postgres://127.0.0.1:{port}/postgres"));
    let answered = async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.query_one("SELECT 1", &[]).await.map(|_| ())
    };
    match answered.await {
        Ok(()) => check.judge(Quantity::duration(started.elapsed())),
        Err(e) => Err(check.error(readiness::Error::TargetRefused {
            target: url,
            reason: e.to_string(),
        })),
    }
}
