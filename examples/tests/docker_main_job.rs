//! The main job (`readiness-run`) end to end, including the errors a user meets first.

use std::process::{Command, Output};

fn main_job(envs: &[(&str, &str)]) -> (Output, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readiness-run"));
    cmd.env("READINESS_DIR", dir.path());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run readiness-run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text, dir)
}

fn records(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(dir)
        .expect("evidence dir")
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
        .flat_map(|f| {
            std::fs::read_to_string(f.path())
                .expect("read")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| serde_json::from_str(&l).expect("json line"))
        .collect()
}

#[test]
fn docker_main_job_prints_the_scorecard_go_and_writes_the_report() {
    let (out, text, dir) = main_job(&[]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needle in [
        "pass  deps.postgres_ready",
        "pass  svc.ready",
        "pass  load.p95               p95 latency of search_orders under 150ms",
        "pass  sec.rate_limit         rate limit of 1000/min per client holds",
        "pass  sec.auth_required      write routes refuse missing, invalid and under-scoped credentials",
        "pass  sec.cors               CORS allows only the allowed origins",
        "pass  sec.malformed_input    POST /orders answers malformed input by its handler, never by a crash",
        "pass  sec.exposed_ports      only 8080/tcp exposed",
        "pass  sec.no_secrets         no secret in logs or responses",
        "security             15   10.0     6     0      0        0",
        "pass  dr.rto                 orders service recovers from kill SIGKILL",
        "pass  dr.no_ack_write_lost   no acknowledged write of orders lost",
        "pass  dr.rpo",
        "pass  dr.zero_downtime       no failed request of requests_across_switch across the switch",
        "pass  dr.rto                 orders service started behind a slow database",
        "pass  load.soak_memory       memory of soak_live grows at most 32 MiB per minute",
        "pass  obs.rules_load",
        "pass  obs.alert_routes",
        "pass  obs.metric_exists      http_requests_total is exported",
        "pass  obs.rules_lint",
        "pass  obs.metrics_lint",
        "pass  obs.targets_up         every scrape target is up",
        "pass  obs.alert_silent       no alert fires over 5s",
        "pass  obs.alert_fires        ReferenceHighErrorRate fires within 30s",
        "pass  obs.alert_resolves     ReferenceServiceDown resolves within 40s",
        "pass  obs.alerts_fired       every alerting rule was fired in testing",
        "pass  obs.health_accurate    readiness follows postgres within 8s",
        "pass  obs.logs",
        "pass  obs.traces             reference-service sends linked traces",
        "availability         15   10.0     5     0      0        0",
        "monitoring           12   10.0    16     0      0        0",
        "operations           10   10.0     2     0      0        0",
        "continuity            8   10.0     4     0      0        0",
        "quality              15   not assessed: no evidence",
        "readiness scorecard: GO  score 10.0/10",
        "verdict: go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let report = dir.path().join("report");
    for f in [
        "scorecard.md",
        "scorecard.html",
        "scorecard.json",
        "junit.xml",
    ] {
        assert!(
            text.contains(&format!("report: {}", report.join(f).display())),
            "{text}"
        );
        assert!(report.join(f).is_file(), "{f}");
    }
    let records = records(dir.path());
    assert_eq!(records.len(), 38, "one record per check");
    assert!(
        records.iter().all(|r| r["verdict"] == "pass"),
        "{records:?}"
    );
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("scorecard.json")).expect("json"),
    )
    .expect("scorecard json");
    assert_eq!(card["verdict"], "go");
    assert_eq!(card["records"], 38);
}

#[test]
fn docker_main_job_with_the_unacked_write_loss_defect_is_no_go() {
    let (out, text, _dir) = main_job(&[("READINESS_RUN_DEFECT", "unacked_write_loss")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "fail  dr.no_ack_write_lost   no acknowledged write of orders lost",
        "readiness criterion failed: dr.no_ack_write_lost",
        "acknowledged writes: seq",
        "must-pass criterion dr.no_ack_write_lost (no acknowledged write of orders lost) failed",
        "verdict: no-go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn docker_main_job_with_a_slow_search_defect_is_no_go() {
    let (out, text, _dir) = main_job(&[("READINESS_RUN_DEFECT", "slow_search")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "fail  load.p95               p95 latency of search_orders under 150ms",
        "readiness criterion failed: load.p95 (p95 latency of search_orders under 150ms)",
        "must-pass criterion load.p95 (p95 latency of search_orders under 150ms) failed",
        "readiness scorecard: NO-GO",
        "verdict: no-go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn docker_main_job_with_a_missing_image_names_the_variable_and_the_build_command() {
    let (out, text, dir) = main_job(&[(
        "READINESS_IMAGE_POSTGRES",
        "readiness-local/postgres:missing",
    )]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "readiness check could not run: deps.postgres_ready",
        "image readiness-local/postgres:missing (from READINESS_IMAGE_POSTGRES)",
        "images/build.sh",
        "verdict: no-go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let records = records(dir.path());
    assert_eq!(
        records[0]["verdict"], "error",
        "a setup error is verdict error, never fail"
    );
}

#[test]
fn main_job_without_docker_names_docker_host() {
    let (out, text, dir) = main_job(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "cannot reach the Docker engine",
        "DOCKER_HOST=unix:///nonexistent/docker.sock",
        "verdict: no-go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert_eq!(records(dir.path())[0]["verdict"], "error");
}

#[test]
fn main_job_with_a_bad_image_reference_says_what_to_write() {
    let (out, text, _dir) = main_job(&[("READINESS_IMAGE_POSTGRES", "postgres:")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "READINESS_IMAGE_POSTGRES=\"postgres:\" is not an image reference; use name:tag"
        ),
        "{text}"
    );
}

#[test]
fn docker_postgres_and_redis_transactions_run_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_db-load"))
        .env("READINESS_DIR", dir.path())
        .output()
        .expect("run db-load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "postgres_insert: 600 iterations: 600 ok, 0 failed; latency p50",
        "redis_incr: 600 iterations: 600 ok, 0 failed; latency p50",
        "pass  load.p95",
        "pass  load.error_rate",
        "verdict: go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let records = records(dir.path());
    assert_eq!(records.len(), 4, "two checks per transaction");
    assert!(
        records
            .iter()
            .all(|r| r["attachments"].as_array().is_some_and(|a| !a.is_empty()))
    );
}

#[test]
fn docker_main_job_with_a_write_route_without_auth_is_no_go() {
    let (out, text, _dir) = main_job(&[("READINESS_RUN_DEFECT", "no_auth")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "fail  sec.auth_required      write routes refuse missing, invalid and under-scoped credentials",
        "POST /orders with no credentials: expected 401, got 201",
        "must-pass criterion sec.auth_required (write routes refuse missing, invalid and under-scoped credentials) failed",
        "verdict: no-go",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}
