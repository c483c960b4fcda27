//! The security criteria that read what a run or CI produced: scanner reports (Trivy and
//! cargo-audit JSON, written by hand from their documented formats: no scanner database is
//! reachable here) and secrets in captured text. Each passes, fails with the story, and is
//! an `error` when there is nothing to judge.

use std::path::PathBuf;

use readiness_core::{Recorder, Verdict, VulnerabilityFindings};
use readiness_security::{
    ScanReport, SecretScan, Severity, Text, VulnerabilityLimits, try_assert_no_vulnerabilities,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn recorder() -> Recorder {
    Recorder::new(readiness_core::settings::target_dir().join("readiness-self-test"))
}

#[test]
fn trivy_and_cargo_audit_reports_are_read_with_their_severities() -> readiness_core::Result<()> {
    let trivy = ScanReport::read(fixture("trivy-image.json"))?;
    let severities: Vec<(String, Severity)> = trivy
        .findings
        .iter()
        .map(|f| (f.id.clone(), f.severity))
        .collect();
    assert_eq!(
        severities,
        [
            ("CVE-2023-38545".to_owned(), Severity::Critical),
            ("CVE-2023-4911".to_owned(), Severity::High),
            ("CVE-2023-4641".to_owned(), Severity::Medium),
            ("CVE-2011-3374".to_owned(), Severity::Low),
        ]
    );
    assert_eq!(
        trivy.findings[0].fixed.as_deref(),
        Some("7.88.1-10+deb12u4")
    );
    assert!(trivy.findings[0].source.contains("(debian 12.1)"));
    assert!(trivy.findings[2].fixed.is_none());

    // cargo-audit grades by the advisory's CVSS vector: 7.5 is high, 5.9 medium.
    let audit = ScanReport::read(fixture("cargo-audit.json"))?;
    let graded: Vec<(&str, Severity, Option<&str>)> = audit
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.severity, f.fixed.as_deref()))
        .collect();
    assert_eq!(
        graded,
        [
            (
                "RUSTSEC-2024-0003",
                Severity::High,
                Some("^0.3.24 or >=0.4.2")
            ),
            ("RUSTSEC-2023-0071", Severity::Medium, None),
        ]
    );
    assert_eq!(audit.warnings, 1);
    assert!(
        ScanReport::read(fixture("trivy-clean.json"))?
            .findings
            .is_empty()
    );
    Ok(())
}

#[test]
fn findings_over_the_limits_fail_and_name_each_finding() {
    let reports = [fixture("trivy-image.json"), fixture("cargo-audit.json")];
    let limits = VulnerabilityLimits::default().with_recorder(recorder());
    let failure = try_assert_no_vulnerabilities(&reports, &limits).err();
    let Some(failure) = failure else {
        panic!("a critical and two high findings passed \"critical 0, high 0\"");
    };
    assert_eq!(failure.verdict(), Verdict::Fail);
    let text = failure.to_string();
    for expected in [
        "critical 1 (limit 0)",
        "high 2 (limit 0)",
        "medium 2",
        "critical CVE-2023-38545 in libcurl4 7.88.1-10 (fixed in 7.88.1-10+deb12u4)",
        "high RUSTSEC-2024-0003 in h2 0.3.20",
        "1 warnings (unmaintained, yanked) not judged",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("CVE-2011-3374 in"),
        "a low finding is not over a limit: {text}"
    );
    let evidence = failure.evidence();
    assert_eq!(evidence.observed.map(|q| q.value()), Some(3.0));
    let findings = evidence
        .attachment::<VulnerabilityFindings>()
        .map(|f| f.findings.len());
    assert_eq!(findings, Some(6), "every finding is in the evidence");
    assert_eq!(evidence.verify(), Ok(()));

    // Limits of the team's own: up to 2 high findings, no limit on critical ones.
    let lenient = VulnerabilityLimits::none_at_or_above(Severity::Critical)
        .with_at_most(Severity::Critical, 1)
        .with_at_most(Severity::High, 2)
        .with_recorder(recorder());
    let passed = try_assert_no_vulnerabilities(&reports, &lenient);
    assert!(passed.is_ok(), "{:?}", passed.err().map(|f| f.to_string()));
}

#[test]
fn clean_reports_pass_and_no_report_or_a_foreign_one_is_an_error() {
    let limits = VulnerabilityLimits::default().with_recorder(recorder());
    let clean = [
        fixture("trivy-clean.json"),
        fixture("cargo-audit-clean.json"),
    ];
    let evidence = try_assert_no_vulnerabilities(&clean, &limits);
    assert!(
        evidence.is_ok(),
        "{:?}",
        evidence.err().map(|f| f.to_string())
    );

    let none: [PathBuf; 0] = [];
    let error = try_assert_no_vulnerabilities(&none, &limits).err();
    assert_eq!(error.as_ref().map(|f| f.verdict()), Some(Verdict::Error));
    assert!(error.is_some_and(|f| f.to_string().contains("no scanner report given")));

    let dir = tempfile::tempdir().ok();
    let path = dir
        .as_ref()
        .map_or_else(std::env::temp_dir, |d| d.path().to_owned())
        .join("sarif.json");
    let written = std::fs::write(&path, r#"{"version": "2.1.0", "runs": []}"#);
    assert!(written.is_ok());
    let foreign = try_assert_no_vulnerabilities(&[&path], &limits).err();
    assert_eq!(foreign.as_ref().map(|f| f.verdict()), Some(Verdict::Error));
    let text = foreign.map(|f| f.to_string()).unwrap_or_default();
    assert!(text.contains("neither Trivy JSON"), "{text}");

    let missing = try_assert_no_vulnerabilities(&[fixture("absent.json")], &limits).err();
    let text = missing.map(|f| f.to_string()).unwrap_or_default();
    assert!(text.contains("cannot read the scanner report"), "{text}");

    let old = ScanReport::parse("old.json", r#"{"SchemaVersion": 1, "Results": []}"#).err();
    assert!(old.is_some_and(|e| e.to_string().contains("schema version 1")));
}

#[test]
fn a_logged_token_is_found_masked_and_a_clean_log_passes() {
    let service_log = [
        r#"{"level":"INFO","fields":{"message":"starting","defects":""}}"#,
        r#"{"level":"INFO","fields":{"message":"auth configured","write_tokens":"write-token","read_tokens":"read-token"}}"#,
        r#"{"level":"INFO","fields":{"message":"request","status":401,"latency_ms":0.4}}"#,
    ];
    let scan = SecretScan::defaults()
        .with_secret("write-token")
        .with_secret("read-token")
        .with_recorder(recorder());
    let failure = scan
        .try_assert_no_secrets(&[Text::log("service", service_log)])
        .err();
    let text = failure
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(failure.map(|f| f.verdict()), Some(Verdict::Fail), "{text}");
    assert!(text.contains("service line 2"), "{text}");
    assert!(text.contains("known-secret"), "{text}");
    assert!(
        !text.contains("write-token") && !text.contains("read-token"),
        "{text}"
    );

    let clean = [
        Text::log("service", [service_log[0], service_log[2]]),
        Text::response("POST /orders", r#"{"error":"missing bearer token"}"#),
        Text::response(
            "GET /openapi.json",
            r#"{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}}}"#,
        ),
    ];
    let passed = scan.try_assert_no_secrets(&clean);
    assert!(passed.is_ok(), "{:?}", passed.err().map(|f| f.to_string()));
}

#[test]
fn a_security_record_whose_count_disagrees_with_its_probes_or_findings_is_found() {
    use readiness_core::{Attachment, Quantity, SecurityItem, SecurityReport};
    let reports = [fixture("trivy-image.json")];
    let limits = VulnerabilityLimits::default().with_recorder(recorder());
    let failure = try_assert_no_vulnerabilities(&reports, &limits).err();
    let Some(failure) = failure else {
        panic!("the image's findings passed");
    };
    let mut tampered = failure.evidence().clone();
    tampered.observed = Some(Quantity::count(1));
    let found = tampered.verify().err().unwrap_or_default();
    assert!(found.contains("its 4 findings give 2"), "{found}");

    // A passing record of probes, one of which failed.
    let mut probes = tampered.clone();
    probes.observed = Some(Quantity::count(0));
    probes.verdict = Verdict::Pass;
    probes.attachments = vec![Attachment::from(SecurityReport::new(vec![
        SecurityItem::new("POST /orders", "no credentials", "401", "401", true),
        SecurityItem::new("POST /orders", "a read-only token", "403", "201", false),
    ]))];
    let found = probes.verify().err().unwrap_or_default();
    assert!(
        found.contains("its report has 1 failed of 2 probes"),
        "{found}"
    );
}

/// Trivy's secrets and failed misconfigurations are findings; an UNKNOWN severity with a
/// CVSS score is graded from the score; the same finding listed twice counts once.
#[test]
fn every_trivy_finding_class_is_judged_and_a_duplicate_counts_once() -> readiness_core::Result<()> {
    let report = ScanReport::read(fixture("trivy-secrets-misconfig.json"))?;
    let ids: Vec<(String, Severity)> = report
        .findings
        .iter()
        .map(|f| (f.id.clone(), f.severity))
        .collect();
    assert!(
        ids.contains(&("CVE-2024-2961".into(), Severity::Critical)),
        "graded from its score 9.8: {ids:?}"
    );
    assert!(
        ids.contains(&("CVE-2024-0727".into(), Severity::Unknown)),
        "no label, no score: {ids:?}"
    );
    assert!(
        ids.contains(&("secret:aws-access-key-id".into(), Severity::Critical)),
        "{ids:?}"
    );
    assert!(
        ids.contains(&("misconfiguration:AVD-DS-0002".into(), Severity::High)),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|(id, _)| id.contains("DS-0026")),
        "a passed check is no finding: {ids:?}"
    );
    let limits = VulnerabilityLimits::default().with_recorder(recorder());
    let failure =
        try_assert_no_vulnerabilities(&[fixture("trivy-secrets-misconfig.json")], &limits)
            .expect_err("a critical and a high");
    let found = failure
        .evidence()
        .attachment::<VulnerabilityFindings>()
        .expect("findings");
    let glibc = found
        .findings
        .iter()
        .filter(|f| f.id == "CVE-2024-2961")
        .count();
    assert_eq!(glibc, 1, "listed in two targets, counted once");
    // critical: the glibc CVE and the secret; high: the misconfiguration.
    assert_eq!(
        failure.evidence().observed,
        Some(readiness_core::Quantity::count(3))
    );
    assert!(
        failure
            .to_string()
            .contains("1 findings listed again counted once"),
        "{failure}"
    );
    // The secret's content is never kept: Trivy's masked line is not read.
    assert!(
        !serde_json::to_string(failure.evidence())
            .unwrap_or_default()
            .contains("AWS_ACCESS_KEY_ID")
    );
    Ok(())
}

/// A report saved by a shell that writes UTF-16 is read; bytes that are no text are named,
/// never "run the scanner first".
#[test]
fn a_utf16_report_is_read_and_a_broken_encoding_is_named() -> readiness_core::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| readiness_core::Error::Other(e.to_string()))?;
    let text = std::fs::read_to_string(fixture("trivy-image.json"))
        .map_err(|e| readiness_core::Error::Other(e.to_string()))?;
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let utf16 = dir.path().join("trivy-utf16.json");
    std::fs::write(&utf16, bytes).map_err(|e| readiness_core::Error::Other(e.to_string()))?;
    let read = ScanReport::read(&utf16)?;
    assert_eq!(
        read.findings.len(),
        ScanReport::read(fixture("trivy-image.json"))?
            .findings
            .len()
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, [b'{', 0xC3, 0x28, b'}'])
        .map_err(|e| readiness_core::Error::Other(e.to_string()))?;
    let e = ScanReport::read(&broken).expect_err("not UTF-8");
    let text = e.to_string();
    assert!(text.contains("not UTF-8 at byte 1"), "{text}");
    assert!(!text.contains("run the scanner first"), "{text}");
    Ok(())
}
