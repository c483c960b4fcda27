//! The review, performance: latency and errors of the service's reads under a normal load,
//! and its memory under a soak.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use std::time::Duration;

use readiness::dr::fault::Faults;
use readiness::load::{
    Load, Model, assert_no_memory_drift, http, soak, try_assert_error_rate_under,
    try_assert_p95_under,
};
use readiness::{Bytes, Ratio, Verdicts};
use reference_service::stack::Stack;
use review::stack;
use rstest::rstest;

/// Writes 20 orders of 4 customers and waits (at most 10 s) until the first reads back;
/// returns its id. A write acknowledged before it is stored is the continuity review's to
/// judge (`dr.no_ack_write_lost`), not a read load's.
async fn seed_orders(stack: &Stack) -> i64 {
    let client = reqwest::Client::new();
    let mut first_id = None;
    for i in 0..20 {
        let created = client
            .post(format!("{}/orders", stack.url))
            .header("authorization", "Bearer write-token")
            .json(&serde_json::json!({
                "customer": format!("c{}", i % 4), "item": "widget", "quantity": 1
            }))
            .send()
            .await;
        if let Ok(r) = created
            && let Ok(body) = r.json::<serde_json::Value>().await
        {
            first_id = first_id.or(body.get("id").and_then(serde_json::Value::as_i64));
        }
    }
    let id = first_id.expect("the service acknowledged none of 20 orders");
    for _ in 0..100 {
        let readable = client
            .get(format!("{}/orders/{id}", stack.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if readable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    id
}

/// A normal load on the two reads: an order by id at 100/s (p95 under 100 ms) and a
/// customer's orders at 20/s (p95 under 150 ms), 5 s each; under 1 % errors for both.
#[rstest]
#[tokio::test]
async fn reads_under_normal_load(#[future(awt)] stack: Stack) {
    let id = seed_orders(&stack).await;
    let mut all = Verdicts::new();
    for (name, path, rate, p95) in [
        ("get_order", format!("/orders/{id}"), 100.0, 100),
        (
            "search_orders",
            "/orders/search?customer=c1".to_owned(),
            20.0,
            150,
        ),
    ] {
        let model = Model::constant_rate(rate, Duration::from_secs(5)).expect("a valid model");
        let get = http::get(format!("{}{path}", stack.url)).with_timeout(Duration::from_secs(5));
        let report = Load::new(name, model).run(get).await.expect("the load ran");
        all.add(try_assert_p95_under(&report, Duration::from_millis(p95)));
        all.add(try_assert_error_rate_under(
            &report,
            Ratio::percent(1.0).expect("a valid ratio"),
        ));
    }
    all.assert_all();
}

/// A soak: a steady 200 requests a second for 6 s while the service container's memory is
/// read from Docker; it may grow by at most 32 MiB a minute (the `leak` defect keeps 64 KiB
/// per request: about 750 MiB a minute at this rate).
#[rstest]
#[tokio::test]
async fn memory_stays_flat_under_a_soak(#[future(awt)] stack: Stack) {
    let service = stack
        .service_container()
        .expect("the service is a container");
    let faults = Faults::new().await.expect("Docker answers");
    let model = Model::constant_rate(200.0, Duration::from_secs(6)).expect("a valid model");
    let report = soak(
        &Load::new("soak_live", model),
        http::get(format!("{}/health/live", stack.url)).with_timeout(Duration::from_secs(5)),
        Duration::from_millis(250),
        faults.memory_of(service),
    )
    .await
    .expect("the soak ran");
    assert_no_memory_drift(&report, Bytes(32 * 1024 * 1024));
}
