//! Throughput of a bulk copy, direct and through the proxy with no toxic, side by side
//! with the peers a user would otherwise put in the path (haproxy in TCP mode and socat,
//! Debian packages, when installed) and tokio's `copy_bidirectional`; round trips; bulk
//! data behind a latency. `cargo run --release -p readiness-dr --example proxy_throughput`
//! (or `readiness-dr/bench/proxy.sh`, which installs the peers when it can).
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a measuring script"
)]

use std::time::Instant;

use readiness_dr::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOTAL: usize = 1 << 30;

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

/// A peer proxy run as a child process on a free loopback port, stopped (by its PID) when
/// dropped.
struct Peer {
    name: &'static str,
    addr: String,
    child: std::process::Child,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// haproxy in TCP mode and socat in front of `upstream`, those that are installed.
async fn peers(upstream: &str) -> Vec<Peer> {
    let mut out = Vec::new();
    for (name, extra) in [
        ("haproxy", ""),
        ("haproxy (splice)", "  option splice-auto\n"),
    ] {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  maxconn 64\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n\
                 listen fwd\n  bind 127.0.0.1:{port}\n{extra}  server upstream {upstream}\n"
            ),
        )
        .unwrap();
        if let Ok(child) = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            out.push(Peer {
                name,
                addr: format!("127.0.0.1:{port}"),
                child,
                _dir: Some(dir),
            });
        }
    }
    let port = free_port();
    if let Ok(child) = std::process::Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!("TCP:{upstream}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        out.push(Peer {
            name: "socat",
            addr: format!("127.0.0.1:{port}"),
            child,
            _dir: None,
        });
    }
    // Wait (bounded) until each listens.
    for peer in &out {
        for _ in 0..100 {
            if TcpStream::connect(&peer.addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    out
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn spread(xs: &[f64]) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    format!("{lo:.2}–{hi:.2}")
}

/// Bulk data from a server that answers one byte with `size` bytes, behind `latency`.
async fn behind_latency(size: usize, latency: std::time::Duration) -> std::time::Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        // The proxy's start checks the upstream with a connection of its own.
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut go = [0; 1];
                if s.read_exact(&mut go).await.is_ok() {
                    let _ = s.write_all(&vec![1u8; size]).await;
                }
            });
        }
    });
    let proxy = Proxy::start("bulk", addr).await.unwrap();
    proxy
        .add(readiness_dr::proxy::Toxic::latency(latency))
        .unwrap();
    let mut s = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    let start = Instant::now();
    s.write_all(b"g").await.unwrap();
    let mut got = vec![0; size];
    s.read_exact(&mut got).await.unwrap();
    start.elapsed()
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let addr = sink().await;
    let proxy = Proxy::start("sink", addr.clone()).await.unwrap();
    let via = proxy.listen_addr().to_string();
    let plain = plain_proxy(addr.clone()).await;
    let peers = peers(&addr).await;
    let mut paths: Vec<(&str, String)> = vec![
        ("readiness proxy", via.clone()),
        ("copy_bidirectional", plain.clone()),
    ];
    paths.extend(peers.iter().map(|p| (p.name, p.addr.clone())));
    println!(
        "Bulk copy of {} MiB per path, each round measured direct right before and after each path; ratio = path / mean of the two direct runs.",
        TOTAL >> 20
    );
    println!();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    for round in 0..rounds {
        // Rotate the order so that no path always runs first.
        for k in 0..paths.len() {
            let i = (k + round) % paths.len();
            let before = send(&addr).await;
            let through = send(&paths[i].1).await;
            let after = send(&addr).await;
            ratios[i].push(through / ((before + after) / 2.0));
            rates[i].push(through);
        }
    }
    let haproxy = paths.iter().position(|(n, _)| *n == "haproxy");
    println!(
        "| path | median MB/s | median ratio to direct | ratio spread (min–max, {rounds} rounds) | median ratio to haproxy (same round) |"
    );
    println!("|---|---|---|---|---|");
    for (i, (name, _)) in paths.iter().enumerate() {
        let to_haproxy = haproxy.map_or("–".to_owned(), |h| {
            let per_round: Vec<f64> = ratios[i]
                .iter()
                .zip(&ratios[h])
                .map(|(r, h)| r / h)
                .collect();
            format!("{:.2} ({})", median(per_round.clone()), spread(&per_round))
        });
        println!(
            "| {name} | {:.0} | {:.2} | {} | {to_haproxy} |",
            median(rates[i].clone()),
            median(ratios[i].clone()),
            spread(&ratios[i])
        );
    }
    println!();
    let latency = std::time::Duration::from_millis(100);
    for size in [1_200_000usize, 32_000_000] {
        let took = behind_latency(size, latency).await;
        println!(
            "{:.1} MB behind a {latency:?} latency toxic: {took:?} ({:.0} MB/s)",
            size as f64 / 1e6,
            size as f64 / took.as_secs_f64() / 1e6
        );
    }
    println!();
    let echo_addr = echo().await;
    let echo_proxy = Proxy::start("echo", echo_addr.clone()).await.unwrap();
    let echo_via = echo_proxy.listen_addr().to_string();
    println!("| round | direct p50/p99 µs | proxied p50/p99 µs | added p99 µs |");
    println!("|---|---|---|---|");
    for round in 0..3 {
        let (d50, d99) = round_trips(&echo_addr).await;
        let (p50, p99) = round_trips(&echo_via).await;
        println!(
            "| {round} | {d50:.0}/{d99:.0} | {p50:.0}/{p99:.0} | {:.0} |",
            p99 - d99
        );
    }
    drop(peers);
}
