//! Helpers shared by the service's integration tests.

use std::time::Duration;

pub(crate) use reference_service::stack::{Stack, StackOptions};

/// Starts the stack with the service as a process (debug endpoints on).
pub(crate) async fn stack(opts: StackOptions) -> Stack {
    Stack::start_process(
        env!("CARGO_BIN_EXE_reference-service"),
        opts.with_env("REFERENCE_DEBUG_ENDPOINTS", "1"),
    )
    .await
    .unwrap_or_else(|e| panic!("stack failed to start: {e}"))
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub(crate) const WRITE: &str = "Bearer write-token";
pub(crate) const READ: &str = "Bearer read-token";

/// Creates an order and returns its id.
pub(crate) async fn create(stack: &Stack, customer: &str) -> i64 {
    let resp = client()
        .post(format!("{}/orders", stack.url))
        .header("authorization", WRITE)
        .json(&serde_json::json!({ "customer": customer, "item": "widget", "quantity": 2, "amount_cents": 1999 }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: serde_json::Value = resp.json().await.expect("json");
    body["id"].as_i64().expect("id")
}

pub(crate) async fn status(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Polls `url` until it answers `want` (bounded), returning how long it took.
pub(crate) async fn wait_for_status(url: &str, want: u16, deadline: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        if status(url).await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// A PostgreSQL client for the stack's database.
pub(crate) async fn pg(stack: &Stack) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&stack.database_url, tokio_postgres::NoTls)
        .await
        .expect("pg connect");
    tokio::spawn(conn);
    client
}

/// The value of a metric line starting with `prefix` in `/metrics`.
pub(crate) async fn metric(stack: &Stack, prefix: &str) -> Option<f64> {
    let text = client()
        .get(format!("{}/metrics", stack.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}
