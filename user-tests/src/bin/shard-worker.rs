//! One shard of a load, as one process of a CI matrix (or one of several terminals) runs
//! it: `READINESS_SHARD=i/n` and `READINESS_DIR` come from the environment, as a user sets
//! them; nothing else ties the processes together.
//!
//!   shard-worker <ok|5xx> <p95 limit in ms>
//!
//! It serves `GET /orders` itself on 127.0.0.1 (200 after 2 ms, or 500 when told `5xx`),
//! runs its shard of 90 requests/s for 1 s against it, and records `load.p95` and
//! `load.error_rate` (at most 1%) where `READINESS_DIR` says.

use std::time::Duration;

use readiness::load::{Load, Model, http, try_assert_error_rate_under, try_assert_p95_under};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(listener: tokio::net::TcpListener, status: &'static str) {
    for _ in 0..10_000 {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut pending = Vec::new();
            for _ in 0..100_000 {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    pending.drain(..end + 4);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let status = match args.get(1).map(String::as_str) {
        Some("5xx") => "500 Internal Server Error",
        _ => "200 OK",
    };
    let limit = Duration::from_millis(
        args.get(2)
            .and_then(|a| a.parse().ok())
            .expect("usage: shard-worker <ok|5xx> <p95 limit in ms>"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/orders", listener.local_addr().expect("addr"));
    tokio::spawn(serve(listener, status));
    let model = Model::constant_rate(90.0, Duration::from_secs(1)).expect("model");
    let report = Load::new("orders", model)
        .with_drain(Duration::from_millis(500))
        .run(http::get(url).with_timeout(Duration::from_secs(1)))
        .await
        .expect("the load runs");
    let _ = try_assert_p95_under(&report, limit);
    let _ = try_assert_error_rate_under(&report, readiness::Ratio::percent(1.0).expect("1%"));
}
