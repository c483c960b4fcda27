//! Stack start time (process and container mode, median of N) and the service's
//! throughput on `GET /orders/{id}` with a warm cache, measured by wrk on loopback.
//!
//! ```sh
//! apt-get install wrk   # once
//! images/with-local-images cargo bench -p reference-service --bench stack -- 5
//! ```
#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Duration;

use reference_service::stack::{Stack, StackOptions};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn wrk(url: &str, threads: u32, connections: u32, seconds: u32) -> Option<(f64, String)> {
    let out = tokio::process::Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--latency".into(),
            url.into(),
        ])
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .map(|l| l.trim().to_owned())
        .unwrap_or_default();
    Some((rps, p99))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let bin = env!("CARGO_BIN_EXE_reference-service");

    let mut process = Vec::new();
    for _ in 0..n {
        let s = Stack::start_process(bin, StackOptions::new()).await?;
        process.push(s.started_in);
    }
    let mut container = Vec::new();
    for _ in 0..n {
        let s = Stack::start_containers(StackOptions::new()).await?;
        container.push(s.started_in);
    }
    println!(
        "| stack start (postgres + redis + service, to /health/ready 200) | n | median | min | max |"
    );
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("service as a process", process),
        ("service as a container", container),
    ] {
        let (min, max) = (
            v.iter().min().copied().unwrap_or_default(),
            v.iter().max().copied().unwrap_or_default(),
        );
        println!(
            "| {name} | {} | {} | {} | {} |",
            v.len(),
            secs(median(v)),
            secs(min),
            secs(max)
        );
    }

    println!();
    println!(
        "| GET /orders/{{id}}, warm cache, wrk 2 threads 50 connections 10 s | req/s (median of 3) | p99 (last run) |"
    );
    println!("|---|---|---|");
    for log in ["info", "warn"] {
        let s = Stack::start_process(
            bin,
            StackOptions::new()
                .with_env("RATE_LIMIT_PER_MINUTE", "4000000000")
                .with_env("RUST_LOG", log),
        )
        .await?;
        let client = reqwest::Client::new();
        let created: serde_json::Value = client
            .post(format!("{}/orders", s.url))
            .header("authorization", "Bearer write-token")
            .json(&serde_json::json!({ "customer": "bench", "item": "widget", "quantity": 1 }))
            .send()
            .await?
            .json()
            .await?;
        let url = format!("{}/orders/{}", s.url, created["id"]);
        client.get(&url).send().await?;
        let warm = client.get(&url).send().await?;
        assert_eq!(warm.headers()["x-cache"], "hit", "the cache is warm");
        let mut runs = Vec::new();
        let mut p99 = String::new();
        for _ in 0..3 {
            match wrk(&url, 2, 50, 10).await {
                Some((rps, p)) => {
                    runs.push(rps);
                    p99 = p;
                }
                None => {
                    println!("| wrk not found: apt-get install wrk | | |");
                    return Ok(());
                }
            }
        }
        runs.sort_by(f64::total_cmp);
        println!("| service log level {log} | {:.0} | {p99} |", runs[1]);
    }
    Ok(())
}
