//! A team's security checks, written as a user of `readiness` writes them, against
//! services that misbehave in the ways a tick in a hand-written report hides: a limiter
//! without `Retry-After`, one shared by every client, one that refuses with 503, one that
//! lets twice its rate through; writes that redirect to a login page instead of a 401, a
//! service that stalls, CORS that reflects any origin, and a handler that takes anything.
//! Each must fail (or be an error) with a message naming the route, the request and what
//! came back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness::Verdict;
use readiness::security::{
    Auth, Cors, Malformed, RateLimit, Route, try_assert_auth_required, try_assert_cors_restrictive,
    try_assert_rate_limit_holds, try_assert_rejects_malformed_input,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the little server saw of a request.
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

/// `None`: read the request and never answer.
type Handler = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

fn answer(status: &str, headers: &[(&str, String)], body: &str) -> Option<String> {
    let mut text = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Some(text)
}

/// A loopback HTTP/1.1 server, one request per connection, answering with `handler`.
async fn server(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let held = Arc::new(Mutex::new(Vec::new()));
        while let Ok((mut s, _)) = listener.accept().await {
            let (handler, held) = (handler.clone(), held.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    if buf.len() > 64 * 1024 {
                        return;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_owned();
                let path = first.next().unwrap_or("").to_owned();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                // Read the body, so that closing never resets an unread upload.
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut have = buf.len() - head_end - 4;
                while have < length.min(4 << 20) {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => have += n,
                    }
                }
                let request = Request {
                    method,
                    path,
                    headers,
                };
                match handler(&request) {
                    Some(text) => {
                        let _ = s.write_all(text.as_bytes()).await;
                        let _ = s.shutdown().await;
                    }
                    None => held.lock().expect("lock").push(s),
                }
            });
        }
    });
    base
}

/// A token bucket of `rate` per second and `burst`, per key.
#[derive(Default)]
struct Buckets(Mutex<HashMap<String, (f64, Instant)>>);

impl Buckets {
    fn take(&self, key: &str, rate: f64, burst: f64) -> bool {
        let mut all = self.0.lock().expect("lock");
        let now = Instant::now();
        let (tokens, at) = all.entry(key.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn client_of(r: &Request) -> String {
    r.headers.get("authorization").cloned().unwrap_or_default()
}

/// A limiter of 20/s per client (or for everyone); refusals as `refuse` says.
async fn limiter(
    rate: f64,
    per_client: bool,
    refuse: &'static [(&'static str, &'static str)],
    status: &'static str,
) -> String {
    let buckets = Arc::new(Buckets::default());
    server(Arc::new(move |r: &Request| {
        let key = if per_client {
            client_of(r)
        } else {
            String::new()
        };
        if buckets.take(&key, rate, 20.0) {
            answer("200 OK", &[], r#"{"orders":[]}"#)
        } else {
            let headers: Vec<(&str, String)> =
                refuse.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            answer(status, &headers, r#"{"error":"slow down"}"#)
        }
    }))
    .await
}

fn recorder(dir: &tempfile::TempDir) -> readiness::Recorder {
    readiness::Recorder::new(dir.path())
}

fn limit(dir: &tempfile::TempDir) -> RateLimit {
    RateLimit::per_second(20).with_recorder(recorder(dir))
}

fn failed(result: Result<readiness::Evidence, readiness::Failure>) -> String {
    match result {
        Ok(e) => panic!("passed: {:?}", e.summary),
        Err(f) => {
            assert_eq!(f.verdict(), Verdict::Fail, "{f}");
            assert_eq!(f.evidence().verify(), Ok(()));
            f.to_string()
        }
    }
}

fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} missing from:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limiter_that_holds_passes_and_each_broken_one_fails_for_its_own_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let route = |base: &str| Route::get(format!("{base}/orders"));

    let good = limiter(20.0, true, &[("retry-after", "1")], "429 Too Many Requests").await;
    let passed = try_assert_rate_limit_holds(&route(&good), &limit(&dir)).await;
    assert!(
        passed.is_ok(),
        "{}",
        passed.err().map(|f| f.to_string()).unwrap_or_default()
    );

    let silent = limiter(20.0, true, &[], "429 Too Many Requests").await;
    let text = failed(try_assert_rate_limit_holds(&route(&silent), &limit(&dir)).await);
    has(
        &text,
        &[
            "GET /orders with every refusal: expected 429 with Retry-After",
            "without a valid Retry-After",
            "no Retry-After in seconds to wait for",
        ],
    );

    let shared = limiter(
        20.0,
        false,
        &[("retry-after", "1")],
        "429 Too Many Requests",
    )
    .await;
    let text = failed(try_assert_rate_limit_holds(&route(&shared), &limit(&dir)).await);
    has(
        &text,
        &[
            "Bearer readiness-rate-limit-b while Bearer readiness-rate-limit-a is limited: expected 5 of 5 let through (a budget of its own), got 0 of 5",
        ],
    );

    let unavailable = limiter(
        20.0,
        true,
        &[("retry-after", "1")],
        "503 Service Unavailable",
    )
    .await;
    let text = failed(try_assert_rate_limit_holds(&route(&unavailable), &limit(&dir)).await);
    has(&text, &["none refused", "503 ×"]);

    let leaky = limiter(40.0, true, &[("retry-after", "1")], "429 Too Many Requests").await;
    let text = failed(try_assert_rate_limit_holds(&route(&leaky), &limit(&dir)).await);
    has(
        &text,
        &["at 60.0/s (3× the limit)", "accepted (20.00/s +10%), got"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_slower_than_its_limit_has_nothing_to_judge() {
    let dir = tempfile::tempdir().expect("tmp");
    let slow = server(Arc::new(|_: &Request| {
        std::thread::sleep(Duration::from_millis(100));
        answer("200 OK", &[], "{}")
    }))
    .await;
    let limit = RateLimit::per_second(1000).with_recorder(recorder(&dir));
    let error = try_assert_rate_limit_holds(&Route::get(format!("{slow}/orders")), &limit)
        .await
        .err();
    let text = error.as_ref().map(ToString::to_string).unwrap_or_default();
    assert_eq!(error.map(|f| f.verdict()), Some(Verdict::Error), "{text}");
    has(&text, &["not faster than its limit of 1000.0/s"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_redirect_to_a_login_page_fail_and_a_stalling_service_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let auth = Auth::bearer()
        .with_read_only("reader")
        .with_recorder(recorder(&dir));
    let login = server(Arc::new(|r: &Request| {
        if r.method == "POST"
            && r.headers.get("authorization").map(String::as_str) != Some("Bearer writer")
        {
            // A login page off loopback: never followed, never reached.
            return answer(
                "302 Found",
                &[("location", "https://login.example.com/".into())],
                "",
            );
        }
        answer("201 Created", &[], r#"{"id":1}"#)
    }))
    .await;
    let writes = [Route::post(format!("{login}/orders")).with_json(&serde_json_value())];
    let text = failed(try_assert_auth_required(&writes, &auth).await);
    has(
        &text,
        &[
            "POST /orders with no credentials: expected 401, got 302",
            "a credential without the write scope (Bearer reader): expected 403, got 302",
        ],
    );

    let stalling = server(Arc::new(|_: &Request| None)).await;
    let writes =
        [Route::post(format!("{stalling}/orders")).with_timeout(Duration::from_millis(500))];
    let error = try_assert_auth_required(&writes, &auth).await.err();
    let text = error.as_ref().map(ToString::to_string).unwrap_or_default();
    assert_eq!(error.map(|f| f.verdict()), Some(Verdict::Error), "{text}");
    has(&text, &["timed out after 500ms"]);
}

fn serde_json_value() -> serde_json::Value {
    serde_json::json!({"customer": "a", "item": "widget", "quantity": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_that_reflects_any_origin_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let reflect = server(Arc::new(|r: &Request| {
        let origin = r.headers.get("origin").cloned().unwrap_or_default();
        answer(
            "204 No Content",
            &[("access-control-allow-origin", origin)],
            "",
        )
    }))
    .await;
    let cors = Cors::allowing(["https://app.example"]).with_recorder(recorder(&dir));
    let text =
        failed(try_assert_cors_restrictive(&Route::post(format!("{reflect}/orders")), &cors).await);
    has(
        &text,
        &[
            "POST /orders with a preflight from refused origin https://evil.example: expected no Access-Control-Allow-Origin, got 204 with Access-Control-Allow-Origin: https://evil.example",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_takes_anything_fails_with_a_minimal_body() {
    let dir = tempfile::tempdir().expect("tmp");
    let lenient = server(Arc::new(|r: &Request| {
        if r.path == "/ready" {
            return answer("200 OK", &[], "ready");
        }
        answer("200 OK", &[], r#"{"ok":true}"#)
    }))
    .await;
    let route = Route::post(format!("{lenient}/orders")).with_json(&serde_json_value());
    let malformed = Malformed::new(format!("{lenient}/ready"))
        .with_cases(8)
        .with_seed(7)
        .with_recorder(recorder(&dir));
    let text = failed(try_assert_rejects_malformed_input(&route, &malformed).await);
    has(
        &text,
        &[
            "POST /orders with the minimal failing input",
            "seed 7",
            "expected 4xx, got 200",
        ],
    );
}
