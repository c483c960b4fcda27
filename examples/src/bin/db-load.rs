//! A Postgres and a Redis transaction under load, the same way as an HTTP one: any async
//! closure is a transaction. Starts both from the catalogue, drives each at a constant
//! arrival rate, and checks p95 and errors.
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-examples --bin db-load
//! ```
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use readiness::containers;
use readiness::load::{ErrorClass, Load, Model, try_assert_error_rate_under, try_assert_p95_under};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("db-load could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let (pg, redis) = tokio::join!(
        containers::start(containers::postgres()?),
        containers::start(containers::redis()?)
    );
    let (pg, redis) = (pg?, redis?);
    let pg_port = pg.get_host_port_ipv4(containers::POSTGRES_PORT).await?;
    let redis_port = redis.get_host_port_ipv4(containers::REDIS_PORT).await?;

    let url =
        format!("host=127.0.0.1 port={pg_port} user=postgres password=postgres dbname=postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hits (id bigint PRIMARY KEY, at timestamptz DEFAULT now())",
        )
        .await?;
    let client = Arc::new(client);
    let insert = move |i: u64| {
        let client = client.clone();
        async move {
            client
                .execute("INSERT INTO hits (id) VALUES ($1)", &[&(i as i64)])
                .await
                .map(|_| ())
                .map_err(|e| ErrorClass::User(e.to_string()))
        }
    };
    let model = Model::constant_rate(200.0, Duration::from_secs(3))?;
    let pg_report = Load::new("postgres_insert", model.clone())
        .with_target(format!("postgres 127.0.0.1:{pg_port}"))
        .run(insert)
        .await?;

    let redis = redis::Client::open(format!("redis://127.0.0.1:{redis_port}/"))?
        .get_multiplexed_async_connection()
        .await?;
    let incr = move |_| {
        let mut c = redis.clone();
        async move {
            redis::cmd("INCR")
                .arg("hits")
                .query_async::<i64>(&mut c)
                .await
                .map(|_| ())
                .map_err(|e| ErrorClass::User(e.to_string()))
        }
    };
    let redis_report = Load::new("redis_incr", model)
        .with_target(format!("redis 127.0.0.1:{redis_port}"))
        .run(incr)
        .await?;

    let mut ok = true;
    // A durable commit waits for the disk's fsync, which a disk shared with other jobs
    // (a CI runner) can hold for hundreds of milliseconds; an INCR waits for nothing.
    for (report, p95) in [
        (&pg_report, Duration::from_secs(1)),
        (&redis_report, Duration::from_millis(250)),
    ] {
        println!("{}: {}", report.name(), report.summary());
        for result in [
            try_assert_p95_under(report, p95),
            try_assert_error_rate_under(report, readiness::Ratio::ZERO),
        ] {
            match result {
                Ok(e) => println!("  pass  {}: {}", e.criterion.id, e.criterion.title),
                Err(f) => {
                    ok = false;
                    println!("{f}");
                }
            }
        }
    }
    println!("verdict: {}", if ok { "go" } else { "no-go" });
    Ok(ok)
}
