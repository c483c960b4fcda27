//! Container-ready time of the catalogue services: from `start` to the module's ready
//! condition, then to the first answered command, over N starts. Prints a table.
//!
//! ```sh
//! images/with-local-images cargo bench -p readiness-core --bench container_start -- 5
//! ```
#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::{Duration, Instant};

use readiness_core::containers;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn row(name: &str, image: &str, ready: Vec<Duration>, answered: Vec<Duration>) {
    let fmt = |d: Duration| format!("{:.3}", d.as_secs_f64());
    let (min, max) = (
        ready.iter().min().copied().unwrap_or_default(),
        ready.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "| {name:<10} | {image:<32} | {:>2} | {:>9} s | {:>5}–{:<5} s | {:>11} s |",
        ready.len(),
        fmt(median(ready.clone())),
        fmt(min),
        fmt(max),
        fmt(median(answered)),
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    println!(
        "| service    | image                            |  n | median ready | min–max        | median query |"
    );
    println!(
        "|------------|----------------------------------|----|--------------|----------------|--------------|"
    );

    let (mut ready, mut answered) = (Vec::new(), Vec::new());
    let image = containers::postgres()?.descriptor();
    for _ in 0..n {
        let t = Instant::now();
        let pg = containers::start(containers::postgres()?).await?;
        ready.push(t.elapsed());
        let port = pg.get_host_port_ipv4(containers::POSTGRES_PORT).await?;
        let url =
            format!("host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client.query_one("SELECT 1", &[]).await?;
        answered.push(t.elapsed());
    }
    row("postgres", &image, ready, answered);

    let (mut ready, mut answered) = (Vec::new(), Vec::new());
    let image = containers::redis()?.descriptor();
    for _ in 0..n {
        let t = Instant::now();
        let r = containers::start(containers::redis()?).await?;
        ready.push(t.elapsed());
        let port = r.get_host_port_ipv4(containers::REDIS_PORT).await?;
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        answered.push(t.elapsed());
    }
    row("redis", &image, ready, answered);
    Ok(())
}
