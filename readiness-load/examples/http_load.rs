//! The engine's benchmark face: `GET url` with N keep-alive connections.
//!
//! ```sh
//! cargo run --release -p readiness-load --example http_load -- \
//!     --url http://127.0.0.1:8080/ --connections 50 --duration 10s [--rate 2000] [--json] \
//!     [--engine raw|reqwest] [--fine-timer]
//! ```
//!
//! Without `--rate`: closed model, each connection sends its next request when the last
//! answer arrived. With `--rate`: open model at that many requests per second, latency from
//! the intended start (coordinated omission corrected). `--json` prints one object with
//! `requests`, `errors`, `rps`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`, `max_ms`,
//! `lag_p99_ms`, `not_started`. These flags are stable.
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::process::ExitCode;
use std::time::Duration;

use readiness_load::{Load, Model, http, raw};

#[derive(Debug)]
struct Args {
    url: String,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
    json: bool,
    engine: String,
    fine_timer: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("--duration {s:?}: use a number with ms, s or m (10s, 500ms, 5m)");
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .ok_or_else(bad)?;
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        connections: 50,
        duration: Duration::from_secs(10),
        rate: None,
        json: false,
        engine: "raw".into(),
        fine_timer: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--connections" | "-c" => {
                a.connections = value()?
                    .parse()
                    .map_err(|_| "--connections takes a whole number".to_string())?
            }
            "--duration" | "-d" => a.duration = parse_duration(&value()?)?,
            "--rate" | "-R" => {
                a.rate = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--rate takes requests per second".to_string())?,
                )
            }
            "--engine" => a.engine = value()?,
            "--json" => a.json = true,
            "--fine-timer" => a.fine_timer = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("http_load: {e}");
            }
            eprintln!(
                "usage: http_load --url URL [--connections N] [--duration 10s] [--rate R] [--json] [--engine raw|reqwest] [--fine-timer]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_load: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> readiness_core::Result<()> {
    let model = match args.rate {
        Some(r) => Model::constant_rate(r, args.duration)?,
        None => Model::closed(args.connections, args.duration)?,
    };
    let timeout = Duration::from_secs(10);
    let timer = if args.fine_timer {
        readiness_load::Timer::Fine
    } else {
        readiness_load::Timer::Tokio
    };
    // Closed model: one connection per user; open model: at most `connections` at once.
    let load = Load::new("http_get", model)
        .with_max_in_flight(args.connections)
        .with_timer(timer);
    let report = match args.engine.as_str() {
        "raw" => {
            let target = raw::Target::get(&args.url).with_timeout(timeout);
            load.run_raw(&target).await?
        }
        "reqwest" => load.run(http::get(&args.url).with_timeout(timeout)).await?,
        other => {
            return Err(readiness_core::Error::InvalidInput(format!(
                "--engine {other}: use raw or reqwest"
            )));
        }
    };
    let total = report.metrics().total();
    let latency = total.latency();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1e3;
    let rps = (total.ok() + total.error_count()) as f64 / args.duration.as_secs_f64();
    if args.json {
        let out = serde_json::json!({
            "requests": report.attempts(),
            "errors": report.failed(),
            "rps": rps,
            "p50_ms": ms(0.5),
            "p90_ms": ms(0.9),
            "p99_ms": ms(0.99),
            "p999_ms": ms(0.999),
            "max_ms": latency.max() as f64 / 1e3,
            "lag_p99_ms": report.metrics().lag().value_at_quantile(0.99) as f64 / 1e3,
            "not_started": report.not_started(),
            "engine": args.engine,
            "model": report.scenario(),
        });
        println!("{out}");
    } else {
        println!("{}", report.scenario());
        println!("  {}", report.summary());
        println!(
            "  {rps:.0} req/s, scheduling lag p99 {:.3}ms",
            report.metrics().lag().value_at_quantile(0.99) as f64 / 1e3
        );
    }
    Ok(())
}
