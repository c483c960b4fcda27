//! The HTTP transaction against real loopback servers: refusals classified, targets off
//! loopback refused before any traffic, and every redirect hop seen by the guard.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use readiness_core::{Ratio, Verdict};
use readiness_load::{ErrorClass, Load, Model, Transaction, http};

/// A server on `bind` that answers every request with `response`; counts connections.
async fn server(bind: &str, response: String) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    tokio::spawn(async move {
        for _ in 0..1000 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_off_loopback_is_refused_before_any_connection() {
    // 0.0.0.0 reaches this machine, but the guard does not count it as loopback: a
    // connection there would show that the redirect escaped the guard.
    let (escape, escaped) = server("0.0.0.0:0", OK.to_owned()).await;
    let (front, _) = server(
        "127.0.0.1:0",
        redirect_to(&format!("http://0.0.0.0:{}/", escape.port())),
    )
    .await;
    let get = http::get(format!("http://{front}/"));
    get.check().expect("the first hop is on loopback");
    assert_eq!(get.call(0).await, Err(ErrorClass::Redirect));
    assert_eq!(
        escaped.load(Ordering::SeqCst),
        0,
        "never connected off loopback"
    );

    // A redirect that stays on loopback is followed.
    let (inner, reached) = server("127.0.0.1:0", OK.to_owned()).await;
    let (front, _) = server("127.0.0.1:0", redirect_to(&format!("http://{inner}/"))).await;
    assert_eq!(http::get(format!("http://{front}/")).call(0).await, Ok(()));
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    // With redirects off, a 3xx is the answer.
    let get = http::get(format!("http://{front}/")).with_max_redirects(0);
    assert_eq!(get.call(0).await, Ok(()));
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_loopback_targets_are_refused_before_any_traffic_naming_the_opt_in() {
    let model = Model::constant_rate(10.0, Duration::from_secs(1)).expect("model");
    let e = Load::new("far", model)
        .run(http::get("http://192.0.2.10/"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("is not on loopback"), "{e}");
    // Before the fix it named `allow_non_loopback()`, which existed nowhere.
    assert!(
        e.contains("opts in with `http::get(url).allow_non_loopback()`"),
        "{e}"
    );
    let e = http::get("not a url").check().err().map(|e| e.to_string());
    assert!(
        e.unwrap_or_default()
            .contains("neither a URL nor host:port")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_target_gives_classified_errors_a_failing_verdict_and_a_hint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let report = Load::new(
        "refused",
        Model::constant_rate(50.0, Duration::from_secs(1)).expect("model"),
    )
    .with_recorder(common::recorder())
    .run(http::get(&url).with_timeout(Duration::from_secs(1)))
    .await
    .expect("run");
    let total = report.metrics().total();
    assert_eq!(
        total.errors().get(&ErrorClass::Connect),
        Some(&50),
        "{:?}",
        total.errors()
    );
    let failure =
        readiness_load::try_assert_error_rate_under(&report, Ratio::percent(1.0).expect("1%"))
            .expect_err("must fail");
    assert_eq!(failure.verdict(), Verdict::Fail);
    let msg = failure.to_string();
    assert!(
        msg.contains("readiness criterion failed: load.error_rate"),
        "{msg}"
    );
    assert!(msg.contains("50 connect"), "{msg}");
    assert!(msg.contains(&format!("target:   GET {url}")), "{msg}");
    assert!(
        msg.contains("50 connections were refused or reset: is the target listening"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expected_status_is_an_answer_and_any_other_stays_a_failure() {
    let unavailable =
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let (addr, _) = server("127.0.0.1:0", unavailable.to_owned()).await;
    let url = format!("http://{addr}/");
    assert_eq!(http::get(&url).call(0).await, Err(ErrorClass::Status5xx));
    let shedding = http::get(&url).expecting_status([503]);
    assert_eq!(shedding.call(0).await, Ok(()));
    let other = http::get(&url).expecting_status([429]);
    assert_eq!(other.call(0).await, Err(ErrorClass::Status5xx));
}
