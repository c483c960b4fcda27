//! The review, documentation: what a machine can judge of it. Every alert's runbook is a
//! file of this repository, every configuration variable the service reads is documented,
//! every route it serves is in the API document it serves.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use std::path::{Path, PathBuf};

use readiness::docs::{self, assert_documented};
use readiness::observability::RuleFile;
use reference_service::stack::Stack;
use review::stack;
use rstest::rstest;

/// Where this repository's files are browsed: the runbook links of the rule file start
/// with it.
const REPOSITORY_FILES: &str = "https://example.invalid/readiness/blob/main/";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn service_dir() -> PathBuf {
    repository().join("examples/reference-service")
}

/// The `runbook_url` of each alert in the service's rule file is a file of the repository.
#[test]
fn every_alert_has_its_runbook_in_the_repository() {
    let rules = RuleFile::read(service_dir().join("monitoring/alerts.yml"))
        .and_then(|f| f.alerting_rules())
        .expect("the rule file reads");
    let links: Vec<(String, String)> = rules
        .into_iter()
        .map(|r| {
            let link = r
                .annotations
                .get("runbook_url")
                .cloned()
                .unwrap_or_default();
            (r.name, link)
        })
        .collect();
    assert_documented(&docs::runbooks_resolve(
        &links,
        REPOSITORY_FILES,
        repository(),
    ));
}

/// Every variable the service's configuration and telemetry read is in its README.
#[test]
fn every_configuration_variable_is_documented() {
    let src = service_dir().join("src");
    let read = docs::variables_in_source(&[src.join("config.rs"), src.join("telemetry.rs")])
        .expect("the sources read");
    let coverage = docs::config_documented(&read, &[service_dir().join("README.md")])
        .expect("the README reads");
    assert_documented(&coverage);
}

/// Every route of the service's router (but the debug routes, off unless asked for) is a
/// path of the OpenAPI document the running service serves.
#[rstest]
#[tokio::test]
async fn every_route_is_in_the_api_document(#[future(awt)] stack: Stack) {
    let served: Vec<String> = docs::routes_in_source(&[service_dir().join("src/app.rs")])
        .expect("the router's source reads")
        .into_iter()
        .filter(|r| !r.starts_with("/debug/"))
        .collect();
    let api: serde_json::Value = reqwest::get(format!("{}/openapi.json", stack.url))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the service serves /openapi.json")
        .json()
        .await
        .expect("the API document is JSON");
    assert_documented(&docs::routes_documented(&served, &api));
}
