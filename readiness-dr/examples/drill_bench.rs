//! Drill figures on this machine, as a table: the RTO of a PostgreSQL container killed
//! with SIGKILL and started again (5 runs, median, with the bound of each measurement),
//! and backup + restore into a fresh container at 100k and 1M rows.
//!
//! `images/with-local-images cargo run --release -p readiness-dr --example drill_bench`
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a measuring script"
)]

use std::time::{Duration, Instant};

use readiness_core::containers;
use readiness_dr::fault::Faults;
use readiness_dr::postgres;
use readiness_dr::recovery::{Health, Recovery};

#[tokio::main]
async fn main() {
    let pg = containers::start(containers::postgres().unwrap())
        .await
        .unwrap();
    let faults = Faults::new().await.unwrap();
    println!("| run | RTO of killed PostgreSQL (ms) | true recovery between (ms) |");
    println!("|---|---|---|");
    let mut rtos = Vec::new();
    for run in 1..=5 {
        let killed = faults.kill(&pg, "SIGKILL").await.unwrap();
        faults.start(&pg).await.unwrap();
        let health = Health::exec(&pg, &["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]);
        let report = Recovery::of("postgres", health)
            .with_interval(Duration::from_millis(100))
            .with_settle(Duration::from_secs(1))
            .with_deadline(Duration::from_secs(60))
            .measure(&killed, &[])
            .await
            .unwrap();
        let (low, high) = report.bound().unwrap();
        println!(
            "| {run} | {:.0} | {:.0} .. {:.0} |",
            high.as_secs_f64() * 1e3,
            low.as_secs_f64() * 1e3,
            high.as_secs_f64() * 1e3
        );
        rtos.push(high);
    }
    rtos.sort();
    println!(
        "median RTO: {:.0} ms (n = 5)\n",
        rtos[2].as_secs_f64() * 1e3
    );

    println!("| rows | seed s | dump s | dump MB | provision s | pg_restore s | intact |");
    println!("|---|---|---|---|---|---|---|");
    for rows in [100_000u64, 1_000_000] {
        let source = containers::start(containers::postgres().unwrap())
            .await
            .unwrap();
        let t = Instant::now();
        postgres::seed(&source, "orders", rows).await.unwrap();
        let seeded = t.elapsed();
        let backup = postgres::backup(&source).await.unwrap();
        let (_fresh, report) = postgres::restore_into_fresh(&backup).await.unwrap();
        println!(
            "| {rows} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {} |",
            seeded.as_secs_f64(),
            backup.took.as_secs_f64(),
            backup.dump.len() as f64 / 1e6,
            report.provision.as_secs_f64(),
            report.restore.as_secs_f64(),
            report.expected.differences(&report.restored).is_empty()
        );
    }
}
