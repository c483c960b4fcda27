//! The review, security: the seeds' security ticks as checks, on an instance with the
//! service's stated limits (1000 requests per minute per client, CORS for
//! `https://app.example` only), and TLS on the service's front.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use readiness::Verdicts;
use readiness::security::{
    self, Auth, Cors, ExposedPorts, Malformed, RateLimit, Route, SecretScan, Text, Tls,
    VulnerabilityLimits,
};
use reference_service::stack::{SERVICE_PORT, Stack};
use review::stack;
use rstest::rstest;

/// The rate limit holds, every write route of the OpenAPI document refuses missing, invalid
/// and read-only tokens, CORS stays shut to other origins, generated bad bodies get 4xx and
/// leave the service ready, only port 8080 is exposed, and no token appears in its logs or
/// answers. With `READINESS_RUN_SCAN_REPORTS` (Trivy or cargo-audit JSON files,
/// comma-separated) their findings are judged too: none at high or above.
#[rstest]
#[tokio::test]
async fn security_criteria_hold(#[future(awt)] stack: Stack) {
    let (secured, url) = stack
        .start_another_service_with(&[
            ("RATE_LIMIT_PER_MINUTE", "1000"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example"),
        ])
        .await
        .expect("the secured instance starts");
    let mut all = Verdicts::new();
    // The limit is probed on a read that answers fast whatever the database holds: a slow
    // route cannot ask for more than the limit lets through, and proves nothing of it.
    let list = Route::get(format!("{url}/orders?limit=5"));
    all.add(security::try_assert_rate_limit_holds(&list, &RateLimit::per_minute(1000)).await);

    let writes = security::openapi_write_routes(&format!("{url}/openapi.json"), &url)
        .await
        .expect("the OpenAPI document lists the write routes");
    let auth = Auth::bearer()
        .with_valid("write-token")
        .with_read_only("read-token");
    all.add(security::try_assert_auth_required(&writes, &auth).await);

    let orders = Route::post(format!("{url}/orders"));
    let cors = Cors::allowing(["https://app.example"]);
    all.add(security::try_assert_cors_restrictive(&orders, &cors).await);

    let example = serde_json::json!({ "customer": "c9", "item": "widget", "quantity": 1 });
    let order = orders
        .clone()
        .with_bearer("write-token")
        .with_json(&example);
    let malformed = Malformed::new(format!("{url}/health/ready")).with_cases(48);
    all.add(security::try_assert_rejects_malformed_input(&order, &malformed).await);

    let service = stack
        .service_container()
        .expect("the service is a container");
    all.add(security::try_assert_exposed_ports(service, &ExposedPorts::only([SERVICE_PORT])).await);

    // Everything both instances logged, and what they answer to anyone.
    let mut texts = Vec::new();
    for path in [
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/orders?limit=5",
    ] {
        let text = Text::fetch(&Route::get(format!("{url}{path}"))).await;
        texts.push(text.expect("the service answers"));
    }
    texts.push(Text::fetch(&orders).await.expect("the service answers"));
    texts.push(
        Text::container_logs("secured instance", &secured)
            .await
            .expect("Docker gives the logs"),
    );
    texts.push(
        Text::container_logs("service", service)
            .await
            .expect("Docker gives the logs"),
    );
    let scan = SecretScan::defaults()
        .with_secret("write-token")
        .with_secret("read-token");
    all.add(scan.try_assert_no_secrets(&texts));

    if let Ok(list) = std::env::var("READINESS_RUN_SCAN_REPORTS") {
        let reports: Vec<&str> = list.split(',').filter(|p| !p.is_empty()).collect();
        all.add(security::try_assert_no_vulnerabilities(
            &reports,
            &VulnerabilityLimits::default(),
        ));
    }
    all.assert_all();
}

/// TLS on the service's front: stunnel with the deployment's own `deploy/stunnel.conf`, and a
/// certificate of 90 days that the test makes (as the deployment's renewal does): TLS 1.0
/// and 1.1 refused, 1.2 or later accepted, and the certificate valid for at least 30 more
/// days (the seeds' "SSL/TLS certificates valid", "TLS 1.2+"). With `weak_tls` the
/// configuration allows TLS 1.0 again; with `expiring_certificate` the certificate has 5 days.
#[rstest]
#[tokio::test]
async fn the_tls_front_speaks_tls_1_2_or_later_with_a_certificate_valid_30_more_days(
    #[future(awt)] stack: Stack,
) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-service/deploy/stunnel.conf"
    );
    let mut config = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if review::under_review("weak_tls") {
        config = config.replace(
            "sslVersionMin = TLSv1.2",
            "sslVersionMin = TLSv1\nsecurityLevel = 0",
        );
    }
    let days = if review::under_review("expiring_certificate") {
        5
    } else {
        90
    };
    let pem = security::self_signed_pem("orders.localhost", days)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_front, addr) = stack
        .start_tls_front(&config, pem.as_bytes())
        .await
        .expect("the TLS front starts");
    let tls = Tls::new(addr).with_server_name("orders.localhost");
    let mut all = Verdicts::new();
    all.add(security::try_assert_tls_protocol(&tls).await);
    all.add(security::try_assert_tls_certificate(&tls).await);
    all.assert_all();
}
