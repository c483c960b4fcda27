//! The security criteria against the reference service in containers: each passes on the
//! healthy service and fails on the defect meant for it (`no_rate_limit`, `no_auth`,
//! `cors_allow_all`, `panic_on_crafted_body`, `logs_token`, `debug_port`), naming the route,
//! the request and what came back; with nothing to judge, each is an `error`.

use readiness_core::{Evidence, Failure, Recorder, SecurityReport, Verdict};
use readiness_security::{
    self as security, Auth, Cors, ExposedPorts, Malformed, RateLimit, Route, SecretScan, Text,
};
use reference_service::stack::{Stack, StackOptions};

fn recorder() -> Recorder {
    Recorder::new(readiness_core::settings::target_dir().join("readiness-self-test"))
}

async fn containers(opts: StackOptions) -> Stack {
    Stack::start_containers(opts)
        .await
        .unwrap_or_else(|e| panic!("stack failed to start: {e}"))
}

/// Passed, with a record that verifies.
fn passed(result: Result<Evidence, Failure>) -> Evidence {
    let evidence = result.unwrap_or_else(|f| panic!("expected a pass:\n{f}"));
    assert_eq!(evidence.verify(), Ok(()));
    evidence
}

/// Failed (not an error), with a record that verifies; the message.
fn failed(result: Result<Evidence, Failure>) -> String {
    let failure = match result {
        Ok(e) => panic!("expected a failure, got {:?}: {:?}", e.verdict, e.summary),
        Err(f) => f,
    };
    assert_eq!(failure.verdict(), Verdict::Fail, "{failure}");
    assert_eq!(failure.evidence().verify(), Ok(()));
    failure.to_string()
}

fn errored(result: Result<Evidence, Failure>) -> String {
    let failure = match result {
        Ok(e) => panic!("expected an error, got {:?}", e.verdict),
        Err(f) => f,
    };
    assert_eq!(failure.verdict(), Verdict::Error, "{failure}");
    failure.to_string()
}

fn contains_all(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn docker_rate_limit_holds_and_no_rate_limit_fails() {
    let stack = containers(StackOptions::new()).await;
    let search = |base: &str| Route::get(format!("{base}/orders/search?customer=a"));
    let limit = RateLimit::per_minute(1000).with_recorder(recorder());

    let evidence = passed(security::try_assert_rate_limit_holds(&search(&stack.url), &limit).await);
    let report = evidence.attachment::<SecurityReport>().unwrap();
    assert_eq!(report.items.len(), 5, "{:?}", report.items);
    let timeline = evidence
        .attachment::<readiness_core::RateLimitTimeline>()
        .unwrap();
    assert!(timeline.requests.iter().any(|r| r.status == 429));
    assert!(timeline.requests.iter().any(|r| r.client == 1));

    let (_open, open_url) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "no_rate_limit")])
        .await
        .unwrap();
    let text = failed(security::try_assert_rate_limit_holds(&search(&open_url), &limit).await);
    contains_all(
        &text,
        &["GET /orders/search?customer=a", "none refused", "200 ×"],
    );

    // Nothing let through with a 2xx (a route that does not exist) is an error, as is a
    // port where nothing listens.
    let text = errored(
        security::try_assert_rate_limit_holds(&Route::get(format!("{open_url}/nope")), &limit)
            .await,
    );
    contains_all(
        &text,
        &[
            "no request to GET /nope was let through with a 2xx",
            "404 ×",
        ],
    );
    let text = errored(
        security::try_assert_rate_limit_holds(&Route::get("http://127.0.0.1:9/orders"), &limit)
            .await,
    );
    contains_all(&text, &["refused"]);
    let bad = RateLimit::per_minute(1000)
        .with_clients_by_bearer(["only-one"])
        .with_recorder(recorder());
    let text = errored(security::try_assert_rate_limit_holds(&search(&stack.url), &bad).await);
    contains_all(&text, &["at least two"]);
}

#[tokio::test]
async fn docker_auth_and_cors_hold_and_their_defects_fail() {
    let stack =
        containers(StackOptions::new().with_env("CORS_ALLOWED_ORIGINS", "https://app.example"))
            .await;
    let auth = Auth::bearer()
        .with_valid("write-token")
        .with_read_only("read-token")
        .with_recorder(recorder());
    let cors = Cors::allowing(["https://app.example"]).with_recorder(recorder());
    let doc = |base: &str| format!("{base}/openapi.json");

    let routes = security::openapi_write_routes(&doc(&stack.url), &stack.url)
        .await
        .unwrap();
    let names: Vec<String> = routes.iter().map(Route::name).collect();
    // The documented write, and every write method of every documented path besides.
    assert!(names.contains(&"POST /orders".to_owned()), "{names:?}");
    assert!(names.contains(&"DELETE /orders/1".to_owned()), "{names:?}");
    let evidence = passed(security::try_assert_auth_required(&routes, &auth).await);
    let items = &evidence.attachment::<SecurityReport>().unwrap().items;
    let answered: Vec<&str> = items
        .iter()
        .filter(|i| i.subject == "POST /orders")
        .map(|i| &i.observed[..3])
        .collect();
    // Missing, invalid, empty, four near misses of each real token (two with another
    // scheme): 401; the read-only token: 403.
    let mut expected = vec!["401"; answered.len() - 1];
    expected.push("403");
    assert_eq!(answered, expected);
    assert!(answered.len() >= 12, "{answered:?}");
    let text = serde_json::to_string(&evidence).unwrap();
    assert!(
        !text.contains("write-token") && !text.contains("read-token"),
        "credentials are never written: {text}"
    );
    let orders = Route::post(format!("{}/orders", stack.url));
    passed(security::try_assert_cors_restrictive(&orders, &cors).await);

    let (_open, open_url) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "no_auth")])
        .await
        .unwrap();
    let routes = security::openapi_write_routes(&doc(&open_url), &open_url)
        .await
        .unwrap();
    let text = failed(security::try_assert_auth_required(&routes, &auth).await);
    contains_all(
        &text,
        &[
            "POST /orders with no credentials: expected 401, got 201",
            "POST /orders with a prefix of the write credential («credential ",
            "»): expected 401, got 201",
        ],
    );
    assert!(!text.contains("read-token"), "{text}");

    let (_any, any_url) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "cors_allow_all")])
        .await
        .unwrap();
    let text = failed(
        security::try_assert_cors_restrictive(&Route::post(format!("{any_url}/orders")), &cors)
            .await,
    );
    contains_all(
        &text,
        &[
            "POST /orders with a preflight from refused origin https://evil.example: expected a browser keeps https://evil.example out, got 200 with Access-Control-Allow-Origin: *",
        ],
    );

    // Nothing to probe, or nobody answering: errors.
    let text = errored(security::try_assert_auth_required(&[], &auth).await);
    contains_all(&text, &["no write route"]);
    let text = errored(
        security::try_assert_cors_restrictive(&Route::post("http://127.0.0.1:9/orders"), &cors)
            .await,
    );
    contains_all(&text, &["refused"]);
    let missing = security::openapi_write_routes(&format!("{}/nope.json", stack.url), &stack.url)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    contains_all(&missing, &["the OpenAPI document was not served: 404"]);
    // Never aimed outside loopback.
    let text = errored(
        security::try_assert_cors_restrictive(&Route::post("http://192.0.2.1/orders"), &cors).await,
    );
    contains_all(&text, &["not on loopback"]);
}

fn order_route(base: &str) -> Route {
    Route::post(format!("{base}/orders"))
        .with_bearer("write-token")
        .with_json(&serde_json::json!({"customer": "alice", "item": "widget", "quantity": 1}))
}

#[tokio::test]
async fn docker_malformed_input_and_secrets_hold_and_their_defects_fail() {
    let stack = containers(StackOptions::new()).await;
    let malformed = |base: &str| {
        Malformed::new(format!("{base}/health/ready"))
            .with_cases(48)
            .with_seed(20261129)
            .with_recorder(recorder())
    };
    let evidence = passed(
        security::try_assert_rejects_malformed_input(
            &order_route(&stack.url),
            &malformed(&stack.url),
        )
        .await,
    );
    let items = &evidence.attachment::<SecurityReport>().unwrap().items;
    assert!(
        items.len() > 48 + 3 * 15,
        "every class for each of the fields, 48 random, then the valid request and the \
         readiness: {}",
        items.len()
    );
    assert!(items.iter().all(|i| i.ok));
    // The search's query: NUL, control characters, huge and odd values are answered
    // by the handler.
    passed(
        security::try_assert_rejects_malformed_input(
            &Route::get(format!("{}/orders/search?customer=alice", stack.url)),
            &malformed(&stack.url),
        )
        .await,
    );

    let (crashy, crashy_url) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "panic_on_crafted_body")])
        .await
        .unwrap();
    let text = failed(
        security::try_assert_rejects_malformed_input(
            &order_route(&crashy_url),
            &malformed(&crashy_url),
        )
        .await,
    );
    // Found by the classes, whatever the seed.
    contains_all(
        &text,
        &[
            "POST /orders with customer = 0 (wrong type)",
            "expected the handler's rejection (400, 413, 415, 422), got no answer",
        ],
    );
    drop(crashy);

    // Control characters reach the database: Schemathesis' NUL 500, with the database's
    // own words in the answer. Found in the body and in the search's query.
    let (unchecked, unchecked_url) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "unchecked_text")])
        .await
        .unwrap();
    let text = failed(
        security::try_assert_rejects_malformed_input(
            &order_route(&unchecked_url),
            &malformed(&unchecked_url),
        )
        .await,
    );
    contains_all(
        &text,
        &[
            "customer = \"\\u0000\"",
            "500",
            "leaks a database's own error",
        ],
    );
    let text = failed(
        security::try_assert_rejects_malformed_input(
            &Route::get(format!("{unchecked_url}/orders/search?customer=alice")),
            &malformed(&unchecked_url),
        )
        .await,
    );
    contains_all(&text, &["query customer = %00", "500"]);
    drop(unchecked);

    // Secrets: the healthy service's logs and answers hold none of its tokens; the one
    // that logs them is caught, and the tokens are not repeated in the message.
    let scan = SecretScan::defaults()
        .with_secret("write-token")
        .with_secret("read-token")
        .with_recorder(recorder());
    let mut texts = Vec::new();
    for path in [
        "/health/ready",
        "/openapi.json",
        "/metrics",
        "/orders/search?customer=alice",
    ] {
        texts.push(
            Text::fetch(&Route::get(format!("{}{path}", stack.url)))
                .await
                .unwrap(),
        );
    }
    texts.push(
        Text::fetch(&Route::post(format!("{}/orders", stack.url)))
            .await
            .unwrap(),
    );
    let service = stack.service_container().unwrap();
    texts.push(
        Text::container_logs("reference-service", service)
            .await
            .unwrap(),
    );
    passed(scan.try_assert_no_secrets(&texts));

    let (leaky, _) = stack
        .start_another_service_with(&[("REFERENCE_DEFECT", "logs_token")])
        .await
        .unwrap();
    let logs = Text::container_logs("reference-service (logs_token)", &leaky)
        .await
        .unwrap();
    let text = failed(scan.try_assert_no_secrets(&[logs]));
    contains_all(
        &text,
        &["reference-service (logs_token) logs line", "known-secret"],
    );
    assert!(
        !text.contains("write-token"),
        "the secret is masked:\n{text}"
    );

    let text = errored(
        security::try_assert_rejects_malformed_input(
            &Route::post(format!("{}/orders", stack.url)),
            &malformed(&stack.url),
        )
        .await,
    );
    contains_all(
        &text,
        &["POST /orders has nothing to break: no JSON object body"],
    );
}

#[tokio::test]
async fn docker_a_second_port_fails_exposed_ports() {
    let healthy = containers(StackOptions::new()).await;
    let only_8080 = ExposedPorts::only([8080]).with_recorder(recorder());
    let service = healthy.service_container().unwrap();
    let evidence = passed(security::try_assert_exposed_ports(service, &only_8080).await);
    assert!(
        evidence
            .summary
            .as_deref()
            .unwrap_or("")
            .contains("8080/tcp"),
        "{:?}",
        evidence.summary
    );
    drop(healthy);

    let debug = containers(
        StackOptions::new()
            .with_defect("debug_port")
            .with_published_port(6060),
    )
    .await;
    let service = debug.service_container().unwrap();
    let text = failed(security::try_assert_exposed_ports(service, &only_8080).await);
    contains_all(
        &text,
        &[
            "6060/tcp with Docker's published ports: expected declared (8080/tcp), got published on",
            "6060/tcp with sockets listening inside the container: expected declared (8080/tcp), or on loopback only, got listening on 0.0.0.0",
        ],
    );

    // A stopped container cannot be looked into: an error, not a pass.
    service.stop().await.unwrap();
    let text = errored(security::try_assert_exposed_ports(service, &only_8080).await);
    contains_all(&text, &["is not running"]);
}
