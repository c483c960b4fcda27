//! The security classes a review found the criteria passing, each as a team would meet
//! it: a small loopback service that misbehaves in exactly one way, which must now fail
//! (or be an error: nothing reached the handler), next to its well-behaved twin, which
//! must pass. The servers see every request whole, so what a check claims is what reached
//! them.
//!
//! Secrets in this file are assembled at run time (`concat`), so that the file itself
//! holds none.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness::security::{
    Auth, Cors, Malformed, RateLimit, Route, ScanReport, SecretScan, Text, VulnerabilityLimits,
    openapi_write_routes, try_assert_auth_required, try_assert_cors_restrictive,
    try_assert_no_vulnerabilities, try_assert_rate_limit_holds, try_assert_rejects_malformed_input,
};
use serde_json::{Value, json};

use common::{Request, answer, errored, failed, has, passed, recorder, server, written};

// ---------------------------------------------------------------------------------------
// 1. The harness never writes a secret it found or was given.

fn aws_key() -> String {
    ["AKIA", "QX7ZT2NB5KVR4WLM"].concat()
}

fn jwt(sub: &str) -> String {
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
        sub,
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat()
}

#[test]
fn two_secrets_on_one_line_are_both_counted_and_masked_and_a_clean_log_passes() {
    let dir = tempfile::tempdir().expect("tmp");
    let password = ["Xk9#", "vR2!mQ7z"].concat();
    let first = jwt("eyJzdWIiOiJhbGljZSJ9");
    let second = jwt("eyJzdWIiOiJib2IifQ");
    let key = aws_key();
    let lines = [
        "starting on :8080".to_owned(),
        format!("connect db_password={password} aws_access_key_id={key}"),
        format!("tokens issued: {first} then {second}"),
    ];
    let scan = SecretScan::defaults().with_recorder(recorder(&dir));
    let text = failed(scan.try_assert_no_secrets(&[Text::log("service", lines.iter())]));
    has(
        &text,
        &[
            "service line 2",
            "service line 3",
            "«aws-access-key-id ",
            "«jwt ",
        ],
    );
    for raw in [&password, &key, &first, &second] {
        assert!(
            !text.contains(raw.as_str()),
            "{raw} in the failure:\n{text}"
        );
        assert!(
            !written(&dir).contains(raw.as_str()),
            "{raw} in the evidence"
        );
    }
    // Every match counts: two on line 2, two on line 3.
    has(&text, &["observed: 4"]);

    let clean = [
        "starting on :8080",
        r#"{"password":"REDACTED","prompt_tokens":123456}"#,
    ];
    passed(scan.try_assert_no_secrets(&[Text::log("service", clean)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_given_to_the_checks_are_never_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let (writer, reader) = (
        ["wr1te-", "Qm8vTz4Kp"].concat(),
        ["re4d-", "Lx2Nw7Rb"].concat(),
    );
    let (client_a, client_b) = (
        ["cl1ent-a-", "Hs5Jq"].concat(),
        ["cl1ent-b-", "Vd3Gm"].concat(),
    );
    let (w, r) = (writer.clone(), reader.clone());
    // Requires the write token; answers 403 to the read-only one.
    let service = server(Arc::new(move |q: &Request| {
        match q.header("authorization") {
            Some(v) if v == format!("Bearer {w}") => answer("201 Created", &[], "{}"),
            Some(v) if v == format!("Bearer {r}") => answer("403 Forbidden", &[], "{}"),
            _ => answer("401 Unauthorized", &[], "{}"),
        }
    }))
    .await;
    let route = [Route::post(format!("{service}/orders")).with_json(&json!({"a": 1}))];
    let auth = Auth::bearer()
        .with_valid(writer.clone())
        .with_read_only(reader.clone())
        .with_recorder(recorder(&dir));
    passed(try_assert_auth_required(&route, &auth).await);

    // A limiter keyed by the client's bearer.
    let seen = Arc::new(Mutex::new(std::collections::HashMap::<
        String,
        (f64, Instant),
    >::new()));
    let limiter = server(Arc::new(move |q: &Request| {
        let key = q.header("authorization").unwrap_or_default().to_owned();
        let mut all = seen.lock().expect("lock");
        let now = Instant::now();
        let (tokens, at) = all.entry(key).or_insert((20.0, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * 20.0).min(20.0);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            answer("200 OK", &[], "{}")
        } else {
            answer(
                "429 Too Many Requests",
                &[("retry-after", "1".into())],
                "{}",
            )
        }
    }))
    .await;
    let limit = RateLimit::per_second(20)
        .with_clients_by_bearer([client_a.as_str(), client_b.as_str()])
        .with_recorder(recorder(&dir));
    passed(try_assert_rate_limit_holds(&Route::get(format!("{limiter}/orders")), &limit).await);

    let all = written(&dir);
    assert!(!all.is_empty(), "the checks wrote their evidence");
    for secret in [&writer, &reader, &client_a, &client_b] {
        assert!(
            !all.contains(secret.as_str()),
            "{secret} written in the evidence"
        );
    }
    has(&all, &["«credential "]);
}

// ---------------------------------------------------------------------------------------
// 2. Malformed input: judged only where it reached the handler, every field every class.

/// What a careful handler accepts: a JSON object of exactly `customer` and `item`
/// (strings of printable characters, at most 200) and `quantity` (an integer 1..=1000).
fn valid_order(q: &Request) -> Result<(), &'static str> {
    if !q
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err("415 Unsupported Media Type");
    }
    let Some(Value::Object(m)) = q.json() else {
        return Err("400 Bad Request");
    };
    let text = |k: &str| {
        m.get(k).and_then(Value::as_str).is_some_and(|s| {
            !s.is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control)
        })
    };
    let quantity = m
        .get("quantity")
        .and_then(Value::as_u64)
        .is_some_and(|n| (1..=1000).contains(&n));
    if m.len() != 3 || !text("customer") || !text("item") || !quantity {
        return Err("422 Unprocessable Entity");
    }
    Ok(())
}

fn order_route(base: &str) -> Route {
    Route::post(format!("{base}/orders"))
        .with_bearer("w")
        .with_json(&json!({"customer": "alice", "item": "widget", "quantity": 1}))
}

fn malformed(base: &str, dir: &tempfile::TempDir, seed: u64) -> Malformed {
    Malformed::new(format!("{base}/ready"))
        .with_cases(16)
        .with_seed(seed)
        .with_settle(Duration::from_millis(1500))
        .with_recorder(recorder(dir))
}

/// `sec.malformed_input` of `POST /orders` on the service at `base`.
async fn malformed_orders(
    base: &str,
    dir: &tempfile::TempDir,
    seed: u64,
) -> Result<readiness::Evidence, readiness::Failure> {
    try_assert_rejects_malformed_input(&order_route(base), &malformed(base, dir, seed)).await
}

/// A service: `/ready` answers 200, `/orders` as `orders` says.
async fn orders_service(
    orders: impl Fn(&Request) -> Option<String> + Send + Sync + 'static,
) -> String {
    server(Arc::new(move |q: &Request| {
        if q.path == "/ready" {
            return answer("200 OK", &[], "ready");
        }
        orders(q)
    }))
    .await
}

fn careful(q: &Request) -> Option<String> {
    if q.header("authorization") != Some("Bearer w") {
        return answer(
            "401 Unauthorized",
            &[],
            r#"{"error":"missing bearer token"}"#,
        );
    }
    match valid_order(q) {
        Ok(()) => answer("201 Created", &[], r#"{"id":1}"#),
        Err(status) => answer(status, &[], r#"{"error":"invalid order"}"#),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careful_handler_passes_and_requests_that_never_reached_it_are_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = orders_service(careful).await;
    passed(malformed_orders(&good, &dir, 1).await);

    // 404 to everything: nothing reached a handler.
    let nowhere = orders_service(|_| answer("404 Not Found", &[], "not found")).await;
    let text = errored(malformed_orders(&nowhere, &dir, 1).await);
    has(&text, &["404", "a wrong URL or method?"]);

    // The test forgot the bearer: every answer is the 401 of the auth layer.
    let forgot = Route::post(format!("{good}/orders"))
        .with_json(&json!({"customer": "alice", "item": "widget", "quantity": 1}));
    let text =
        errored(try_assert_rejects_malformed_input(&forgot, &malformed(&good, &dir, 1)).await);
    has(&text, &["401", "missing credentials?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_dies_after_bad_bodies_or_breaks_its_valid_path_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    // Ready while requests come; 503 from half a second after the last one, once a bad
    // body was seen (a worker that died on it).
    let last = Arc::new(Mutex::new(Instant::now()));
    let poisoned = Arc::new(AtomicBool::new(false));
    let (l, p) = (last.clone(), poisoned.clone());
    let dying = server(Arc::new(move |q: &Request| {
        if q.path == "/ready" {
            let quiet = l.lock().expect("lock").elapsed() > Duration::from_millis(500);
            return if quiet && p.load(Ordering::SeqCst) {
                answer("503 Service Unavailable", &[], "worker died")
            } else {
                answer("200 OK", &[], "ready")
            };
        }
        *l.lock().expect("lock") = Instant::now();
        let a = careful(q);
        if !a.as_deref().is_some_and(|t| t.starts_with("HTTP/1.1 201")) {
            p.store(true, Ordering::SeqCst);
        }
        a
    }))
    .await;
    let text = failed(malformed_orders(&dying, &dir, 1).await);
    has(&text, &["/ready", "503"]);

    // After the bad bodies, the valid order is refused with a 500.
    let broken = Arc::new(AtomicBool::new(false));
    let b = broken.clone();
    let breaking = orders_service(move |q| {
        if b.load(Ordering::SeqCst) {
            return answer(
                "500 Internal Server Error",
                &[],
                r#"{"error":"internal error"}"#,
            );
        }
        let a = careful(q);
        if !a.as_deref().is_some_and(|t| t.starts_with("HTTP/1.1 201")) {
            b.store(true, Ordering::SeqCst);
        }
        a
    })
    .await;
    let text = failed(malformed_orders(&breaking, &dir, 1).await);
    has(&text, &["the valid request again", "500"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_one_field_of_three_is_found_whatever_the_seed() {
    let dir = tempfile::tempdir().expect("tmp");
    // Closes the connection unanswered when `item` is not a string.
    let crashy = orders_service(|q| {
        if let Some(Value::Object(m)) = q.json()
            && m.get("item").is_some_and(|v| !v.is_string())
        {
            return Some(String::new());
        }
        careful(q)
    })
    .await;
    for seed in [1, 2, 3, 15, 16] {
        let text = failed(malformed_orders(&crashy, &dir, seed).await);
        has(&text, &["POST /orders with item = ", "got no answer"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_that_leak_internals_fail_and_plain_ones_pass() {
    let dir = tempfile::tempdir().expect("tmp");
    let leaky = orders_service(|q| {
        if valid_order(q).is_err() {
            return answer(
                "400 Bad Request",
                &[],
                r#"{"error":"ERROR: syntax error at or near \"'\" (SQLSTATE 42601)"}"#,
            );
        }
        careful(q)
    })
    .await;
    let text = failed(malformed_orders(&leaky, &dir, 1).await);
    has(&text, &["leaks a database's own error"]);

    let traced = orders_service(|q| {
        if valid_order(q).is_err() {
            return answer(
                "422 Unprocessable Entity",
                &[],
                "thread 'tokio-runtime-worker' panicked at src/orders.rs:88:14",
            );
        }
        careful(q)
    })
    .await;
    let text = failed(malformed_orders(&traced, &dir, 1).await);
    has(&text, &["leaks a stack trace"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_query_parameter_that_reaches_the_database_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let search = |nul_crashes: bool| {
        orders_service(move |q| {
            let customer = q
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("customer="));
            match customer {
                Some(c) if c.to_ascii_lowercase().contains("%00") => {
                    if nul_crashes {
                        answer(
                            "500 Internal Server Error",
                            &[],
                            r#"{"error":"internal error"}"#,
                        )
                    } else {
                        answer("400 Bad Request", &[], r#"{"error":"bad customer"}"#)
                    }
                }
                Some(_) => answer("200 OK", &[], r#"{"orders":[]}"#),
                None => answer(
                    "400 Bad Request",
                    &[],
                    r#"{"error":"customer is required"}"#,
                ),
            }
        })
    };
    let route = |base: &str| Route::get(format!("{base}/orders/search?customer=alice"));
    let crashing = search(true).await;
    let text = failed(
        try_assert_rejects_malformed_input(&route(&crashing), &malformed(&crashing, &dir, 1)).await,
    );
    has(&text, &["query customer = %00", "500"]);
    let checked = search(false).await;
    passed(
        try_assert_rejects_malformed_input(&route(&checked), &malformed(&checked, &dir, 1)).await,
    );
}

// ---------------------------------------------------------------------------------------
// 3. Patterns: the formats a web service holds are found; placeholders are not.

#[test]
fn each_common_secret_format_is_found_and_placeholders_are_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let formats = [
        (
            "aws-secret-access-key",
            format!(
                "AWS_SECRET_ACCESS_KEY={}",
                ["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzK3Pq8sLmN"].concat()
            ),
        ),
        (
            "generic-secret-assignment",
            format!("SECRET_KEY={}", ["d8f3k2", "Lq9Zx7Wv4Rt1"].concat()),
        ),
        (
            "url-credentials",
            format!(
                "REDIS_URL=redis://:{}@cache:6379/0",
                ["s3cr3t", "Pw9x"].concat()
            ),
        ),
        (
            "http-basic-auth",
            format!(
                "Authorization: Basic {}",
                ["YWxpY2U6", "czNjcjN0UGFzcw=="].concat()
            ),
        ),
        (
            "pgp-private-key-block",
            ["-----BEGIN PGP ", "PRIVATE KEY BLOCK-----"].concat(),
        ),
        (
            "github-fine-grained-pat",
            [
                "github_pat_",
                "11ABCDEFG0abcdefghijkl_",
                "mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijkl",
            ]
            .concat(),
        ),
        (
            "stripe-secret-key",
            ["sk_live_", "51HqLyjWDarjtT1zdp7dcXnV"].concat(),
        ),
        (
            "google-api-key",
            ["AIza", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"].concat(),
        ),
        (
            "slack-token",
            [
                "xoxb-",
                "2461231234567-2461231234567-",
                "aBcDeFgHiJkLmNoPqRsTuVwX",
            ]
            .concat(),
        ),
    ];
    let scan = SecretScan::defaults().with_recorder(recorder(&dir));
    for (rule, line) in &formats {
        let text = failed(scan.try_assert_no_secrets(&[Text::log("config", [line.as_str()])]));
        has(&text, &[&format!("«{rule} ")]);
    }
    let placeholders = [
        r#"{"password":"REDACTED","api_key":"<your-key-here>"}"#,
        r#"{"usage":{"prompt_tokens":123456,"completion_tokens":654321}}"#,
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/orders",
        "SECRET_KEY=changeme",
        "token: ********",
    ];
    passed(scan.try_assert_no_secrets(&[Text::log("config", placeholders)]));
}

// ---------------------------------------------------------------------------------------
// 4. Near misses of the real credentials and of each allowed origin.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_that_accepts_a_near_miss_of_the_real_token_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let accepts = |accept: fn(&str) -> bool| {
        server(Arc::new(move |q: &Request| {
            match q.header("authorization") {
                Some(v) if accept(v) => answer("201 Created", &[], "{}"),
                _ => answer("401 Unauthorized", &[], "{}"),
            }
        }))
    };
    let auth = || {
        Auth::bearer()
            .with_valid("s3cret-writer-token")
            .with_recorder(recorder(&dir))
    };
    let route = |base: &str| [Route::post(format!("{base}/orders")).with_json(&json!({"a": 1}))];

    let exact = accepts(|v| v == "Bearer s3cret-writer-token").await;
    passed(try_assert_auth_required(&route(&exact), &auth()).await);

    let same_length = accepts(|v| v.len() == "Bearer s3cret-writer-token".len()).await;
    let text = failed(try_assert_auth_required(&route(&same_length), &auth()).await);
    has(
        &text,
        &[
            "a credential of the same length as the write one",
            "expected 401, got 201",
        ],
    );

    let prefix =
        accepts(|v| v.len() > "Bearer ".len() && "Bearer s3cret-writer-token".starts_with(v)).await;
    let text = failed(try_assert_auth_required(&route(&prefix), &auth()).await);
    has(
        &text,
        &["a prefix of the write credential", "expected 401, got 201"],
    );
    assert!(!text.contains("s3cret-writer-token"), "{text}");
}

/// A CORS server: lets `origin` in when `allowed(origin, preflight request headers)`.
async fn cors_server(allowed: fn(&str, &str) -> bool) -> String {
    server(Arc::new(move |q: &Request| {
        let origin = q.header("origin").unwrap_or_default();
        let asked = q
            .header("access-control-request-headers")
            .unwrap_or_default();
        let mut headers = Vec::new();
        if allowed(origin, asked) {
            headers.push(("access-control-allow-origin", origin.to_owned()));
            headers.push(("access-control-allow-methods", "GET, POST".to_owned()));
            headers.push((
                "access-control-allow-headers",
                "content-type, authorization".to_owned(),
            ));
            headers.push(("vary", "Origin".to_owned()));
        }
        let status = if q.method == "OPTIONS" {
            "204 No Content"
        } else {
            "201 Created"
        };
        answer(status, &headers, "")
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_matched_by_prefix_or_suffix_or_open_unless_asked_for_authorization_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let cors = || Cors::allowing(["https://app.example"]).with_recorder(recorder(&dir));
    let route = |base: &str| Route::post(format!("{base}/orders")).with_json(&json!({"a": 1}));

    let exact = cors_server(|o, _| o == "https://app.example").await;
    passed(try_assert_cors_restrictive(&route(&exact), &cors()).await);

    let prefix = cors_server(|o, _| o.starts_with("https://app.example")).await;
    let text = failed(try_assert_cors_restrictive(&route(&prefix), &cors()).await);
    has(&text, &["refused origin https://app.example.evil.example"]);

    let suffix = cors_server(|o, _| o.ends_with("app.example")).await;
    let text = failed(try_assert_cors_restrictive(&route(&suffix), &cors()).await);
    has(
        &text,
        &[
            "refused origin https://evilapp.example",
            "refused origin https://evil.app.example",
        ],
    );

    // Open to every origin unless the preflight asks for `authorization`: a JSON write
    // carried by a cookie asks only for content-type, and is open.
    let open =
        cors_server(|o, asked| o == "https://app.example" || !asked.contains("authorization"))
            .await;
    let text = failed(try_assert_cors_restrictive(&route(&open), &cors()).await);
    has(
        &text,
        &["a preflight from refused origin https://evil.example"],
    );
    // The same server with a route that needs the bearer keeps foreign origins out: its
    // preflight refuses them, so a browser never sends the request (whose answer
    // reflects any origin, and is not judged).
    let evidence =
        passed(try_assert_cors_restrictive(&route(&open).with_bearer("t"), &cors()).await);
    let report = evidence
        .attachment::<readiness::SecurityReport>()
        .expect("the probes");
    assert!(
        report.items.iter().any(|i| i
            .expected
            .contains("its preflight did: the request is never sent")
            && i.observed
                .contains("Access-Control-Allow-Origin: https://evil.example")),
        "{:?}",
        report.items
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_route_declared_through_ref_is_probed_and_a_dangling_ref_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let auth = || Auth::bearer().with_valid("w").with_recorder(recorder(&dir));
    let document = |target: &str| {
        json!({
            "openapi": "3.1.0",
            "paths": {"/orders": {"$ref": target}},
            "components": {"pathItems": {"orders": {"post": {
                "requestBody": {"content": {"application/json": {"example": {"customer": "a"}}}}
            }}}}
        })
        .to_string()
    };
    let service = |checks_auth: bool, doc: String| {
        server(Arc::new(move |q: &Request| {
            if q.path == "/openapi.json" {
                return answer(
                    "200 OK",
                    &[("content-type", "application/json".into())],
                    &doc,
                );
            }
            if checks_auth && q.header("authorization") != Some("Bearer w") {
                return answer("401 Unauthorized", &[], "{}");
            }
            answer("201 Created", &[], "{}")
        }))
    };
    let open = service(false, document("#/components/pathItems/orders")).await;
    let routes = openapi_write_routes(&format!("{open}/openapi.json"), &open)
        .await
        .expect("the document is read");
    // Every write method of the path, POST found through its $ref.
    let names: Vec<String> = routes.iter().map(Route::name).collect();
    assert!(names.contains(&"POST /orders".to_owned()), "{names:?}");
    let text = failed(try_assert_auth_required(&routes, &auth()).await);
    has(
        &text,
        &["POST /orders with no credentials: expected 401, got 201"],
    );

    let closed = service(true, document("#/components/pathItems/orders")).await;
    let routes = openapi_write_routes(&format!("{closed}/openapi.json"), &closed)
        .await
        .expect("the document is read");
    passed(try_assert_auth_required(&routes, &auth()).await);

    let dangling = service(true, document("#/components/pathItems/missing")).await;
    let e = openapi_write_routes(&format!("{dangling}/openapi.json"), &dangling)
        .await
        .expect_err("a $ref to nothing");
    has(
        &e.to_string(),
        &["#/components/pathItems/missing", "points at nothing"],
    );
}

// ---------------------------------------------------------------------------------------
// 5. Refusals: let through means 2xx.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limiter_that_suspends_a_client_with_403_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    // 20/s per client, 429 with Retry-After; `suspends`: once refused, a client gets 403
    // "suspended" for good.
    let limiter = |suspends: bool| {
        let state = Arc::new(Mutex::new(std::collections::HashMap::<
            String,
            (f64, Instant, bool),
        >::new()));
        server(Arc::new(move |q: &Request| {
            let key = q.header("authorization").unwrap_or_default().to_owned();
            let mut all = state.lock().expect("lock");
            let now = Instant::now();
            let (tokens, at, suspended) = all.entry(key).or_insert((20.0, now, false));
            if *suspended {
                return answer("403 Forbidden", &[], r#"{"error":"suspended"}"#);
            }
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * 20.0).min(20.0);
            *at = now;
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                answer("200 OK", &[], "{}")
            } else {
                *suspended = suspends;
                answer(
                    "429 Too Many Requests",
                    &[("retry-after", "1".into())],
                    "{}",
                )
            }
        }))
    };
    let limit = || RateLimit::per_second(20).with_recorder(recorder(&dir));
    let good = limiter(false).await;
    passed(try_assert_rate_limit_holds(&Route::get(format!("{good}/orders")), &limit()).await);
    let suspending = limiter(true).await;
    let text = failed(
        try_assert_rate_limit_holds(&Route::get(format!("{suspending}/orders")), &limit()).await,
    );
    has(&text, &["403"]);
}

// ---------------------------------------------------------------------------------------
// 6. Reports: every Trivy class, severity from the score, duplicates once, encodings.

#[test]
fn a_trivy_report_is_judged_by_every_finding_class_once_each() {
    let dir = tempfile::tempdir().expect("tmp");
    let trivy = |results: Value| json!({"SchemaVersion": 2, "ArtifactName": "orders:1", "Results": results});
    let unknown_cve = json!({
        "VulnerabilityID": "CVE-2024-2961", "PkgName": "libc6", "InstalledVersion": "2.36",
        "Severity": "UNKNOWN", "CVSS": {"nvd": {"V3Score": 9.8}}
    });
    let dirty = trivy(json!([
        {"Target": "orders:1 (debian 12)", "Class": "os-pkgs", "Vulnerabilities": [unknown_cve]},
        {"Target": "usr/lib/copy (debian 12)", "Class": "os-pkgs", "Vulnerabilities": [unknown_cve]},
        {"Target": "/app/.env", "Class": "secret", "Secrets": [
            {"RuleID": "github-pat", "Severity": "CRITICAL", "Title": "GitHub PAT", "StartLine": 2, "Match": "GITHUB_TOKEN=****"}
        ]},
        {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [
            {"AVDID": "AVD-DS-0002", "Title": "Image user should not be 'root'", "Severity": "HIGH", "Status": "FAIL"}
        ]}
    ]));
    let path = dir.path().join("trivy.json");
    std::fs::write(&path, dirty.to_string()).expect("write");
    let limits = || VulnerabilityLimits::default().with_recorder(recorder(&dir));
    let text = failed(try_assert_no_vulnerabilities(&[&path], &limits()));
    has(
        &text,
        &[
            "CVE-2024-2961",
            "secret:github-pat",
            "misconfiguration:AVD-DS-0002",
            "observed: 3",
            "counted once",
        ],
    );

    let clean_path = dir.path().join("trivy-clean.json");
    std::fs::write(
        &clean_path,
        trivy(json!([{"Target": "orders:1 (debian 12)", "Class": "os-pkgs"}])).to_string(),
    )
    .expect("write");
    passed(try_assert_no_vulnerabilities(&[&clean_path], &limits()));

    // Saved as UTF-16 by a shell: read; bytes that are no text: named.
    let utf16 = dir.path().join("trivy-utf16.json");
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(dirty.to_string().encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&utf16, bytes).expect("write");
    assert_eq!(
        ScanReport::read(&utf16)
            .expect("UTF-16 is read")
            .findings
            .len(),
        4
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, [b'{', 0xC3, 0x28, b'}']).expect("write");
    let e = ScanReport::read(&broken).expect_err("not UTF-8");
    has(&e.to_string(), &["not UTF-8"]);
}

// ---------------------------------------------------------------------------------------
// 7. Ports: watched over a window, so a port opened a moment after start is seen.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_port_opened_a_moment_after_start_fails_and_the_declared_one_alone_passes() {
    use readiness::security::{ExposedPorts, try_assert_exposed_ports};
    use readiness::testcontainers::ImageExt;
    let dir = tempfile::tempdir().expect("tmp");
    let only_6379 = || {
        ExposedPorts::only([6379])
            .with_window(Duration::from_secs(4))
            .with_recorder(recorder(&dir))
    };
    let plain = readiness::containers::start(readiness::containers::redis().expect("redis"))
        .await
        .expect("Docker and the redis image (images/with-local-images)");
    passed(try_assert_exposed_ports(&plain, &only_6379()).await);
    drop(plain);

    // A debug listener that a second redis opens one second after start.
    let late = readiness::containers::redis().expect("redis").with_cmd([
        "sh",
        "-c",
        "(sleep 1; exec redis-server --port 6380 --protected-mode no --save '') & \
         exec redis-server --protected-mode no --save ''",
    ]);
    let late = readiness::containers::start(late)
        .await
        .expect("Docker and the redis image (images/with-local-images)");
    let text = failed(try_assert_exposed_ports(&late, &only_6379()).await);
    has(
        &text,
        &["6380/tcp with sockets listening inside the container"],
    );
}

// ---------------------------------------------------------------------------------------
// The shape of every criterion: drive (async), then a synchronous assert whose panic
// points at the test's own line; the judgement is the one the evidence repeats.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_assert_is_synchronous_and_panics_at_the_callers_line() {
    use readiness::security::{assert_auth_required, probe_auth};
    let dir = tempfile::tempdir().expect("tmp");
    let open = server(Arc::new(|_: &Request| answer("201 Created", &[], "{}"))).await;
    let routes = [Route::post(format!("{open}/orders")).with_json(&json!({"a": 1}))];
    let auth = Auth::bearer().with_valid("w").with_recorder(recorder(&dir));

    // The same measurement judged by the convenience and by the parts agrees.
    let text = failed(try_assert_auth_required(&routes, &auth).await);
    let judged = probe_auth(&routes, &auth).await.judge();
    assert_eq!(failed(judged), text);

    let at = Arc::new(Mutex::new(None));
    let seen = at.clone();
    std::panic::set_hook(Box::new(move |info| {
        *seen.lock().expect("lock") = info.location().map(|l| (l.file().to_owned(), l.line()));
    }));
    let probed = probe_auth(&routes, &auth).await;
    let (line, call) = (line!(), move || assert_auth_required(probed));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    let _ = std::panic::take_hook();
    assert!(panicked.is_err(), "an open write route must fail");
    let location = at.lock().expect("lock").clone();
    assert_eq!(
        location,
        Some((file!().to_owned(), line)),
        "the panic points at the caller"
    );
}
