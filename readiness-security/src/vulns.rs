//! `sec.vulnerabilities`: the findings of the scanners CI already runs, within limits per
//! severity. Reads Trivy's JSON report (`trivy image --format json`, schema version 2) and
//! cargo-audit's (`cargo audit --json`); no scanner database is needed here.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::check;
use readiness_core::Evidence;
use readiness_core::Quantity;
use readiness_core::Recorder;
use readiness_core::{CheckResultExt, Failure, Observation};
use readiness_core::{Error, Result};
use readiness_core::{Severity, VulnerabilityFinding, VulnerabilityFindings};

/// One scanner's report, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanReport {
    /// `trivy: <file>` or `cargo-audit: <file>`.
    pub name: String,
    /// Its findings.
    pub findings: Vec<VulnerabilityFinding>,
    /// What the report lists besides vulnerabilities (cargo-audit's unmaintained, yanked
    /// and unsound warnings), counted, not judged.
    pub warnings: usize,
}

impl ScanReport {
    /// Reads a Trivy or cargo-audit JSON report, telling them apart by their fields. UTF-8
    /// (with or without a byte-order mark) and UTF-16 with a byte-order mark (what a shell
    /// redirection on Windows writes) are read; anything else is named.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read the scanner report {}: {e}; run the scanner first (trivy \
                 --format json, cargo audit --json) and give its output file",
                path.display()
            ))
        })?;
        let text = decode(&bytes).map_err(|why| {
            Error::InvalidInput(format!(
                "the scanner report {} is not text this reads: {why}; write it as UTF-8 \
                 (trivy --output FILE, or `| iconv -t UTF-8`)",
                path.display()
            ))
        })?;
        ScanReport::parse(&path.display().to_string(), &text)
    }

    /// A report from its text; `label` names it in the evidence.
    pub fn parse(label: &str, text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::InvalidInput(format!("the scanner report {label} is not JSON: {e}"))
        })?;
        let bad = |e: serde_json::Error, format: &str| {
            Error::InvalidInput(format!(
                "the scanner report {label} looks like {format} JSON but does not read as one: {e}"
            ))
        };
        if value.get("SchemaVersion").is_some() && value.get("Results").is_some() {
            let report: TrivyReport = serde_json::from_value(value).map_err(|e| bad(e, "Trivy"))?;
            if report.schema_version != 2 {
                return Err(Error::InvalidInput(format!(
                    "the Trivy report {label} has schema version {}; this reads version 2",
                    report.schema_version
                )));
            }
            return Ok(report.into_scan(label));
        }
        if value.get("vulnerabilities").is_some()
            && (value.get("database").is_some() || value.get("lockfile").is_some())
        {
            let report: AuditReport =
                serde_json::from_value(value).map_err(|e| bad(e, "cargo-audit"))?;
            return report.into_scan(label);
        }
        Err(Error::InvalidInput(format!(
            "the scanner report {label} is neither Trivy JSON (SchemaVersion, Results) nor \
             cargo-audit JSON (database, vulnerabilities)"
        )))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    schema_version: u32,
    #[serde(default)]
    artifact_name: Option<String>,
    #[serde(default)]
    results: Option<Vec<TrivyResult>>,
}

/// The text of a report: UTF-8 (a byte-order mark dropped) or UTF-16 with its mark.
fn decode(bytes: &[u8]) -> std::result::Result<String, String> {
    let utf16 = |le: bool| -> std::result::Result<String, String> {
        let body = &bytes[2..];
        if !body.len().is_multiple_of(2) {
            return Err("UTF-16 with an odd number of bytes".into());
        }
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|e| format!("UTF-16 that does not decode: {e}"))
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec())
            .map_err(|e| format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to() + 3)),
        _ => String::from_utf8(bytes.to_vec())
            .map_err(|e| format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to())),
    }
}

/// A CVSS base score's qualitative grade (CVSS v3.1, section 5).
fn severity_of_score(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// A scanner's severity label; `UNKNOWN` (or none) is graded from the highest CVSS score
/// the finding carries, when it carries one.
fn trivy_severity(label: Option<&str>, cvss: Option<&BTreeMap<String, TrivyCvss>>) -> Severity {
    match label.map(str::to_ascii_uppercase).as_deref() {
        Some("CRITICAL") => Severity::Critical,
        Some("HIGH") => Severity::High,
        Some("MEDIUM") => Severity::Medium,
        Some("LOW") => Severity::Low,
        _ => cvss
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|c| {
                c.v3_score.or(c.v2_score).or_else(|| {
                    let vector = c.v3_vector.as_deref()?;
                    cvss::Cvss::from_str(vector).ok().map(|v| v.score())
                })
            })
            .fold(None, |best: Option<f64>, s| {
                Some(best.map_or(s, |b| b.max(s)))
            })
            .map_or(Severity::Unknown, severity_of_score),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    target: String,
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
    #[serde(default)]
    secrets: Option<Vec<TrivySecret>>,
    #[serde(default)]
    misconfigurations: Option<Vec<TrivyMisconfiguration>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyCvss {
    #[serde(default, rename = "V3Score")]
    v3_score: Option<f64>,
    #[serde(default, rename = "V2Score")]
    v2_score: Option<f64>,
    #[serde(default, rename = "V3Vector")]
    v3_vector: Option<String>,
}

/// A secret Trivy found (its `Match` is Trivy's masked line: not kept).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivySecret {
    #[serde(rename = "RuleID")]
    rule_id: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    start_line: Option<u64>,
}

/// A misconfiguration Trivy checked (only those that failed are findings).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyMisconfiguration {
    #[serde(default, rename = "ID")]
    id: String,
    #[serde(default, rename = "AVDID")]
    avd_id: Option<String>,
    #[serde(default, rename = "Type")]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "PkgName")]
    package: String,
    #[serde(rename = "InstalledVersion", default)]
    installed: String,
    #[serde(rename = "FixedVersion", default)]
    fixed: Option<String>,
    #[serde(rename = "Severity", default)]
    severity: Option<String>,
    #[serde(rename = "Title", default)]
    title: Option<String>,
    #[serde(rename = "CVSS", default)]
    cvss: Option<BTreeMap<String, TrivyCvss>>,
}

impl TrivyReport {
    fn into_scan(self, label: &str) -> ScanReport {
        let artifact = self.artifact_name.unwrap_or_default();
        let mut findings = Vec::new();
        for result in self.results.unwrap_or_default() {
            let source = format!("trivy: {}", result.target);
            // Secrets Trivy found in the artifact (its image scan looks for them by
            // default): each a finding at its severity, its content never kept.
            for secret in result.secrets.unwrap_or_default() {
                let severity = trivy_severity(secret.severity.as_deref(), None);
                let at = secret
                    .start_line
                    .map_or_else(String::new, |l| format!("line {l}"));
                findings.push(
                    VulnerabilityFinding::new(
                        format!("secret:{}", secret.rule_id),
                        (result.target.clone(), at),
                        severity,
                        &source,
                    )
                    .with_title(secret.title.unwrap_or_default()),
                );
            }
            // Misconfigurations that failed their check.
            for m in result.misconfigurations.unwrap_or_default() {
                if m.status
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case("FAIL"))
                {
                    continue;
                }
                let id = m.avd_id.filter(|a| !a.is_empty()).unwrap_or(m.id);
                findings.push(
                    VulnerabilityFinding::new(
                        format!("misconfiguration:{id}"),
                        (result.target.clone(), m.kind),
                        trivy_severity(m.severity.as_deref(), None),
                        &source,
                    )
                    .with_title(m.title.unwrap_or_default()),
                );
            }
            for v in result.vulnerabilities.unwrap_or_default() {
                let severity = trivy_severity(v.severity.as_deref(), v.cvss.as_ref());
                let mut f = VulnerabilityFinding::new(
                    v.id,
                    (v.package, v.installed),
                    severity,
                    format!("trivy: {}", result.target),
                )
                .with_title(v.title.unwrap_or_default());
                if let Some(fixed) = v.fixed.filter(|f| !f.is_empty()) {
                    f = f.with_fixed(fixed);
                }
                findings.push(f);
            }
        }
        let name = if artifact.is_empty() {
            format!("trivy: {label}")
        } else {
            format!("trivy: {label} ({artifact})")
        };
        ScanReport {
            name,
            findings,
            warnings: 0,
        }
    }
}

#[derive(Deserialize)]
struct AuditReport {
    vulnerabilities: AuditVulnerabilities,
    #[serde(default)]
    warnings: BTreeMap<String, Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct AuditVulnerabilities {
    #[serde(default)]
    list: Vec<AuditEntry>,
}

#[derive(Deserialize)]
struct AuditEntry {
    advisory: AuditAdvisory,
    #[serde(default)]
    versions: Option<AuditVersions>,
    package: AuditPackage,
}

#[derive(Deserialize)]
struct AuditAdvisory {
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    cvss: Option<String>,
}

#[derive(Deserialize)]
struct AuditVersions {
    #[serde(default)]
    patched: Vec<String>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
}

impl AuditReport {
    fn into_scan(self, label: &str) -> Result<ScanReport> {
        let mut findings = Vec::new();
        for e in self.vulnerabilities.list {
            // cargo-audit grades by the advisory's CVSS vector; none is "unknown".
            let severity = match &e.advisory.cvss {
                None => Severity::Unknown,
                Some(vector) => match cvss::Cvss::from_str(vector) {
                    Ok(c) => match c.severity() {
                        cvss::Severity::None => Severity::Unknown,
                        cvss::Severity::Low => Severity::Low,
                        cvss::Severity::Medium => Severity::Medium,
                        cvss::Severity::High => Severity::High,
                        cvss::Severity::Critical => Severity::Critical,
                    },
                    Err(err) => {
                        return Err(Error::InvalidInput(format!(
                            "the cargo-audit report {label}: advisory {} has CVSS {vector:?}, \
                             which does not parse: {err}",
                            e.advisory.id
                        )));
                    }
                },
            };
            let mut f = VulnerabilityFinding::new(
                e.advisory.id,
                (e.package.name, e.package.version),
                severity,
                format!("cargo-audit: {label}"),
            )
            .with_title(e.advisory.title);
            if let Some(v) = e.versions.filter(|v| !v.patched.is_empty()) {
                f = f.with_fixed(v.patched.join(" or "));
            }
            findings.push(f);
        }
        Ok(ScanReport {
            name: format!("cargo-audit: {label}"),
            findings,
            warnings: self.warnings.values().map(Vec::len).sum(),
        })
    }
}

/// Most findings allowed per severity; a severity without a limit is not judged (its
/// findings are still listed). Default: none at high or above (the seeds' "Critical 0,
/// High 0").
#[derive(Debug, Clone)]
#[must_use]
pub struct VulnerabilityLimits {
    limits: BTreeMap<Severity, u64>,
    recorder: Option<Recorder>,
}

impl Default for VulnerabilityLimits {
    fn default() -> Self {
        VulnerabilityLimits::none_at_or_above(Severity::High)
    }
}

impl VulnerabilityLimits {
    /// No finding at `severity` or above (unknown counts as below low).
    pub fn none_at_or_above(severity: Severity) -> Self {
        VulnerabilityLimits {
            limits: Severity::ALL
                .into_iter()
                .filter(|s| *s >= severity)
                .map(|s| (s, 0))
                .collect(),
            recorder: None,
        }
    }
    /// At most `n` findings of `severity`.
    pub fn with_at_most(mut self, severity: Severity, n: u64) -> Self {
        self.limits.insert(severity, n);
        self
    }
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    fn describe(&self) -> String {
        Severity::ALL
            .iter()
            .filter_map(|s| self.limits.get(s).map(|n| format!("{s} ≤ {n}")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `sec.vulnerabilities`: reads the reports (Trivy or cargo-audit JSON) and counts their
/// findings per severity against the limits; the observed value is the findings beyond
/// the limits, and the evidence lists every finding. No report, or one that cannot be
/// read, is verdict `error`; a report with no finding is a pass.
pub fn try_assert_no_vulnerabilities(
    reports: &[impl AsRef<Path>],
    limits: &VulnerabilityLimits,
) -> std::result::Result<Evidence, Failure> {
    let names: Vec<String> = reports
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    let check = check(
        "sec.vulnerabilities",
        format!(
            "known vulnerabilities within limits ({})",
            limits.describe()
        ),
        limits.recorder.as_ref(),
    )
    .with_target(names.join(", "))
    .with_scenario("scanner reports produced by CI");
    if reports.is_empty() {
        return Err(check.nothing_measured(
            "no scanner report given; run Trivy or cargo-audit with JSON output and pass the file",
        ));
    }
    let mut read = Vec::new();
    for p in reports {
        match ScanReport::read(p) {
            Ok(r) => read.push(r),
            Err(e) => return Err(check.error(e)),
        }
    }
    // One finding once: the same advisory for the same package version, listed twice in
    // a report or by two reports, counts once.
    let mut seen = std::collections::BTreeSet::new();
    let mut duplicates = 0usize;
    let unique: Vec<VulnerabilityFinding> = read
        .iter()
        .flat_map(|r| r.findings.iter())
        .filter(|f| {
            let fresh = seen.insert((f.id.clone(), f.package.clone(), f.installed.clone()));
            duplicates += usize::from(!fresh);
            fresh
        })
        .cloned()
        .collect();
    let findings = VulnerabilityFindings::new(
        read.iter().map(|r| r.name.clone()).collect(),
        limits.limits.clone(),
        unique,
    );
    let counts = findings.counts();
    let by_severity = Severity::ALL
        .iter()
        .map(|s| {
            let n = counts.get(s).copied().unwrap_or(0);
            match limits.limits.get(s) {
                Some(limit) if n > *limit => format!("{s} {n} (limit {limit})"),
                _ => format!("{s} {n}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let over: Vec<String> = findings
        .findings
        .iter()
        .filter(|f| limits.limits.contains_key(&f.severity))
        .filter(|f| counts[&f.severity] > limits.limits[&f.severity])
        .take(8)
        .map(|f| format!("{f} [{}]", f.source))
        .collect();
    let warnings: usize = read.iter().map(|r| r.warnings).sum();
    let mut summary = format!(
        "{} findings in {} reports: {by_severity}",
        findings.findings.len(),
        read.len()
    );
    if warnings > 0 {
        summary.push_str(&format!(
            "; {warnings} warnings (unmaintained, yanked) not judged"
        ));
    }
    if duplicates > 0 {
        summary.push_str(&format!(
            "; {duplicates} findings listed again counted once"
        ));
    }
    if !over.is_empty() {
        summary.push_str(&format!("\n    {}", over.join("\n    ")));
    }
    let excess = findings.excess();
    check.judge(
        Observation::new(Quantity::count(excess))
            .with_summary(summary)
            .with_attachment(findings),
    )
}

/// [`try_assert_no_vulnerabilities`], panicking with the failure.
#[track_caller]
pub fn assert_no_vulnerabilities(
    reports: &[impl AsRef<Path>],
    limits: &VulnerabilityLimits,
) -> Evidence {
    try_assert_no_vulnerabilities(reports, limits).or_panic()
}
