//! Throughput of a bulk copy, direct and through the proxy with no toxic:
//! `cargo run --release -p readiness-dr --example proxy_throughput` (or `readiness-dr/bench/proxy.sh`).
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a measuring script"
)]

use std::time::Instant;

use readiness_dr::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOTAL: usize = 2 << 30;

async fn sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"k").await;
            });
        }
    });
    addr
}

/// tokio's own bidirectional copy, as the best a forwarding task can do here.
async fn plain_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (mut c, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut s = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
            });
        }
    });
    addr
}

async fn send(addr: &str) -> f64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let buf = vec![7u8; 64 * 1024];
    let start = Instant::now();
    let mut sent = 0;
    while sent < TOTAL {
        s.write_all(&buf).await.unwrap();
        sent += buf.len();
    }
    s.shutdown().await.unwrap();
    let mut k = [0; 1];
    s.read_exact(&mut k).await.unwrap();
    TOTAL as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// An echo server for round trips.
async fn echo() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// p50 and p99 (µs) of 5,000 64-byte round trips on one connection.
async fn round_trips(addr: &str) -> (f64, f64) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut lat = Vec::with_capacity(5_000);
    let mut buf = [0u8; 64];
    for _ in 0..5_000 {
        let t = Instant::now();
        s.write_all(&buf).await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    (lat[2_500], lat[4_950])
}

#[tokio::main]
async fn main() {
    let echo_addr = echo().await;
    let echo_proxy = Proxy::start("echo", echo_addr.clone()).await.unwrap();
    let echo_via = echo_proxy.listen_addr().to_string();
    println!(
        "| round | direct MB/s | proxied MB/s | ratio | copy_bidirectional ratio | direct p50/p99 µs | proxied p50/p99 µs | added p99 µs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let addr = sink().await;
    let proxy = Proxy::start("sink", addr.clone()).await.unwrap();
    let via = proxy.listen_addr().to_string();
    let plain = plain_proxy(addr.clone()).await;
    for round in 0..5 {
        let direct = send(&addr).await;
        let proxied = send(&via).await;
        let copied = send(&plain).await;
        let (d50, d99) = round_trips(&echo_addr).await;
        let (p50, p99) = round_trips(&echo_via).await;
        println!(
            "| {round} | {direct:.0} | {proxied:.0} | {:.2} | {:.2} | {d50:.0}/{d99:.0} | {p50:.0}/{p99:.0} | {:.0} |",
            proxied / direct,
            copied / direct,
            p99 - d99
        );
    }
}
