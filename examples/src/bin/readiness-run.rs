//! The main job: a readiness run that starts PostgreSQL from the catalogue, runs a real
//! check against it, and prints the verdict and where the evidence is.
//!
//! Run it with (see the README's quick start; the wrapper builds local images when no
//! registry is reachable):
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-examples --bin readiness-run
//! ```
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use readiness::{Category, Check, Failure, Quantity, Threshold, containers};

/// How long PostgreSQL may take from `docker run` to answering a query.
const READY_LIMIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    println!("readiness run: PostgreSQL from the catalogue");
    match postgres_answers_within(READY_LIMIT).await {
        Ok(evidence) => {
            let observed = evidence.observed.map(|o| o.to_string()).unwrap_or_default();
            println!(
                "  {}  {}: {}",
                evidence.verdict, evidence.criterion.id, evidence.criterion.title
            );
            println!(
                "  observed: {observed} (required: {})",
                evidence
                    .threshold
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            );
            if let Ok(r) = readiness::Recorder::global() {
                println!("  evidence: {}", r.path().display());
            }
            println!("verdict: go");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{failure}");
            println!("verdict: no-go");
            ExitCode::FAILURE
        }
    }
}

/// Starts PostgreSQL and judges the time until it answers `SELECT 1`.
async fn postgres_answers_within(limit: Duration) -> Result<readiness::Evidence, Failure> {
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
