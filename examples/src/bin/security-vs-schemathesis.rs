//! Side by side: the reference service, healthy and with each defect that input and auth
//! checks are for, through our checks and through Schemathesis (`schemathesis run` of its
//! OpenAPI document, all checks, stopping at the first failure). A counting proxy in
//! front of the service counts the HTTP requests each tool sent (request heads on the
//! wire, so retries, probes and liveness checks count too); seconds are wall time of the
//! tool's run. Prints a Markdown table.
//!
//! ```text
//! readiness-security/bench/vs_schemathesis.sh     # installs Schemathesis, then runs this
//! ```
//!
//! Arguments: the `schemathesis` executable, then the seeds to run it with (default 1 2 3).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use readiness::security::{self, Auth, Malformed, Route};
use reference_service::stack::{Stack, StackOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One tool's run against one service.
struct Outcome {
    found: String,
    requests: u64,
    seconds: f64,
}

#[tokio::main]
#[expect(clippy::print_stdout, reason = "the table is the output")]
async fn main() -> readiness::Result<()> {
    let mut args = std::env::args().skip(1);
    let schemathesis = args.next().ok_or_else(|| {
        readiness::Error::InvalidInput(
            "usage: security-vs-schemathesis SCHEMATHESIS [SEED...] (see \
             readiness-security/bench/vs_schemathesis.sh)"
                .into(),
        )
    })?;
    let mut seeds: Vec<u64> = args.filter_map(|s| s.parse().ok()).collect();
    if seeds.is_empty() {
        seeds = vec![1, 2, 3];
    }
    println!("| service | tool | found | requests | seconds |\n|---|---|---|---:|---:|");
    for defect in ["", "panic_on_crafted_body", "no_auth", "unchecked_text"] {
        let stack = Stack::start_containers(
            StackOptions::new()
                .with_defect(defect)
                // Neither tool is judged by the rate limit here.
                .with_env("RATE_LIMIT_PER_MINUTE", "1000000"),
        )
        .await?;
        let upstream: SocketAddr = stack
            .url
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| readiness::Error::Other(format!("service address: {e}")))?;
        let (proxy, count) = counting_proxy(upstream).await?;
        let name = if defect.is_empty() { "healthy" } else { defect };

        for (check, ours) in our_checks(&proxy, &count).await? {
            println!(
                "| {name} | readiness {check} | {} | {} | {:.1} |",
                ours.found, ours.requests, ours.seconds
            );
        }
        for seed in &seeds {
            let theirs = run_schemathesis(&schemathesis, name, &proxy, *seed, &count).await?;
            println!(
                "| {name} | Schemathesis (seed {seed}) | {} | {} | {:.1} |",
                theirs.found, theirs.requests, theirs.seconds
            );
        }
        drop(stack);
    }
    Ok(())
}

/// `sec.malformed_input` on `POST /orders` and on the search's query, and
/// `sec.auth_required` on every write route of the OpenAPI document: each on its own, its
/// requests counted on their own.
async fn our_checks(base: &str, count: &AtomicU64) -> readiness::Result<Vec<(String, Outcome)>> {
    let malformed = Malformed::new(format!("{base}/health/ready"));
    let order = Route::post(format!("{base}/orders"))
        .with_bearer("write-token")
        .with_json(&serde_json::json!({"customer": "c9", "item": "widget", "quantity": 1}));
    let search = Route::get(format!("{base}/orders/search?customer=c9")).with_bearer("write-token");
    let mut rows = Vec::new();
    for (what, route) in [
        ("sec.malformed_input POST /orders", &order),
        ("sec.malformed_input GET /orders/search", &search),
    ] {
        count.store(0, Ordering::SeqCst);
        let start = Instant::now();
        let result = security::try_assert_rejects_malformed_input(route, &malformed).await;
        rows.push((what.to_owned(), outcome(result, count, start)));
    }
    count.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let writes = security::openapi_write_routes(&format!("{base}/openapi.json"), base).await?;
    let auth = Auth::bearer()
        .with_valid("write-token")
        .with_read_only("read-token");
    let result = security::try_assert_auth_required(&writes, &auth).await;
    rows.push((
        "sec.auth_required".to_owned(),
        outcome(result, count, start),
    ));
    Ok(rows)
}

fn outcome(
    result: Result<readiness::Evidence, readiness::Failure>,
    count: &AtomicU64,
    start: Instant,
) -> Outcome {
    Outcome {
        found: match result {
            Ok(_) => "nothing (pass)".into(),
            Err(f) => format!("{}: {}", f.verdict(), first_failure(&f.to_string())),
        },
        requests: count.load(Ordering::SeqCst),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The first failed probe of a failure's text, cut to fit a table cell.
fn first_failure(text: &str) -> String {
    let line = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("summary:"))
        .nth(1)
        .or_else(|| text.lines().find(|l| l.trim_start().starts_with("error:")))
        .unwrap_or("")
        .trim();
    let cut: String = line.chars().take(110).collect();
    cut.replace('|', "\\|")
}

/// `schemathesis run` of the service's document with every check, stopping at the first
/// failure, one worker, no example database, in a fresh directory (it keeps state in its
/// working directory otherwise).
async fn run_schemathesis(
    exe: &str,
    name: &str,
    base: &str,
    seed: u64,
    count: &AtomicU64,
) -> readiness::Result<Outcome> {
    let dir = tempfile::tempdir().map_err(|e| readiness::Error::Other(e.to_string()))?;
    std::fs::write(
        dir.path().join("schemathesis.toml"),
        "[cache]\nenabled = false\n",
    )
    .map_err(|e| readiness::Error::Other(e.to_string()))?;
    let json = dir.path().join("report.json");
    count.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let run = tokio::process::Command::new(exe)
        .current_dir(dir.path())
        .args(["run", &format!("{base}/openapi.json"), "--url", base])
        .args(["-c", "all", "-H", "Authorization: Bearer write-token"])
        .args([
            "--max-failures",
            "1",
            "-w",
            "1",
            "--seed",
            &seed.to_string(),
        ])
        .args(["--generation-database", "none", "--request-timeout", "10"])
        .args(["--report", "json", "--report-json-path"])
        .arg(&json)
        .arg("--no-color")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .map_err(|_| readiness::Error::Other("schemathesis ran over 600 s".into()))?
        .map_err(|e| readiness::Error::Other(format!("cannot run {exe}: {e}")))?;
    let seconds = start.elapsed().as_secs_f64();
    let requests = count.load(Ordering::SeqCst);
    // Kept for reading: what exactly it sent and found.
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-schemathesis");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&json, kept.join(format!("{name}-seed{seed}.json")));
    let _ = std::fs::write(kept.join(format!("{name}-seed{seed}.txt")), &out.stdout);
    let found = match out.status.code() {
        Some(0) => "nothing (exit 0)".to_owned(),
        Some(1) => what_schemathesis_found(&json),
        code => {
            return Err(readiness::Error::Other(format!(
                "schemathesis exited {code:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    };
    Ok(Outcome {
        found,
        requests,
        seconds,
    })
}

/// Failures (code, title and operation) and errors of Schemathesis's JSON report.
fn what_schemathesis_found(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return "exit 1, no report".into();
    };
    let Ok(report) = serde_json::from_str::<serde_json::Value>(&text) else {
        return "exit 1, report not JSON".into();
    };
    let mut found = Vec::new();
    for f in report["failures"].as_array().into_iter().flatten() {
        let ops: Vec<&str> = f["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str())
            .collect();
        found.push(format!(
            "{} {} ({})",
            f["code"].as_str().unwrap_or("?"),
            f["title"].as_str().or(f["type"].as_str()).unwrap_or(""),
            ops.join(", ")
        ));
    }
    for e in report["errors"].as_array().into_iter().flatten() {
        found.push(format!("error: {}", e["title"].as_str().unwrap_or("?")));
    }
    if found.is_empty() {
        "exit 1".into()
    } else {
        found.join("; ").replace('|', "\\|")
    }
}

/// A TCP proxy on loopback in front of `upstream` that counts HTTP/1.1 request heads.
async fn counting_proxy(upstream: SocketAddr) -> readiness::Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| readiness::Error::Other(format!("proxy: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| readiness::Error::Other(format!("proxy: {e}")))?;
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let count = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                });
                let mut heads = Heads::default();
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    match cr.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            count.fetch_add(heads.feed(&chunk[..n]), Ordering::SeqCst);
                            if sw.write_all(&chunk[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = sw.shutdown().await;
                let _ = back.await;
            });
        }
    });
    Ok((format!("http://{addr}"), count))
}

/// Where a client's byte stream is: in a request head, or in a body.
#[derive(Default)]
struct Heads {
    head: Vec<u8>,
    body_left: usize,
    chunked: bool,
    tail: Vec<u8>,
}

impl Heads {
    /// Feeds bytes; returns how many request heads ended in them.
    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut heads = 0;
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.chunked {
                // To the last chunk: `0\r\n\r\n`.
                let at = self.tail.len();
                self.tail.extend_from_slice(bytes);
                match find(&self.tail, b"\r\n0\r\n\r\n") {
                    Some(end) => {
                        let used = end + 7 - at;
                        bytes = &bytes[used.min(bytes.len())..];
                        self.tail.clear();
                        self.chunked = false;
                    }
                    None => {
                        let keep = self.tail.len().saturating_sub(8);
                        self.tail.drain(..keep);
                        bytes = &[];
                    }
                }
                continue;
            }
            let at = self.head.len();
            self.head.extend_from_slice(bytes);
            match find(&self.head, b"\r\n\r\n") {
                Some(end) => {
                    heads += 1;
                    let head = String::from_utf8_lossy(&self.head[..end]).to_ascii_lowercase();
                    self.body_left = head
                        .lines()
                        .filter_map(|l| l.strip_prefix("content-length:"))
                        .find_map(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    self.chunked = head.contains("transfer-encoding: chunked");
                    let used = end + 4 - at;
                    bytes = &bytes[used.min(bytes.len())..];
                    self.head.clear();
                }
                None => bytes = &[],
            }
        }
        heads
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
