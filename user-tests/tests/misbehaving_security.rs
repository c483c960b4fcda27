//! A team's security checks, written as a user of `readiness` writes them, against
//! services that misbehave in the ways a tick in a hand-written report hides: a limiter
//! without `Retry-After`, one shared by every client, one that refuses with 503, one that
//! lets twice its rate through; writes that redirect to a login page instead of a 401, a
//! service that stalls, and CORS that reflects any origin (the classes a later review
//! found are in `security_classes.rs`).
//! Each must fail (or be an error) with a message naming the route, the request and what
//! came back.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness::Verdict;
use readiness::security::{
    Auth, Cors, RateLimit, Route, try_assert_auth_required, try_assert_cors_restrictive,
    try_assert_rate_limit_holds,
};

use common::{Request, answer, failed, has, recorder, server};

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
    r.header("authorization").unwrap_or_default().to_owned()
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

fn limit(dir: &tempfile::TempDir) -> RateLimit {
    RateLimit::per_second(20).with_recorder(recorder(dir))
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
            "GET /orders with client B (authorization: «credential ",
            "is limited: expected 5 of 5 let through (a budget of its own), got 0 of 5 let through (429 ×5)",
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
            "a prefix of the read-only credential («credential ",
            "»): expected 401, got 302",
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
            "POST /orders with a preflight from refused origin https://evil.example: expected a browser keeps https://evil.example out, got 204 with Access-Control-Allow-Origin: https://evil.example",
            "a preflight from refused origin https://app.example.evil.example",
        ],
    );
}
