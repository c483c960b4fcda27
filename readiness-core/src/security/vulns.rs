//! `sec.vulnerabilities`: the findings of the scanners CI already runs, within limits per
//! severity. Reads Trivy's JSON report (`trivy image --format json`, schema version 2) and
//! cargo-audit's (`cargo audit --json`); no scanner database is needed here.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::check;
use crate::check::{CheckResultExt, Failure, Observation};
use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::quantity::Quantity;
use crate::recorder::Recorder;
use crate::security_evidence::{Severity, VulnerabilityFinding, VulnerabilityFindings};

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
    /// Reads a Trivy or cargo-audit JSON report, telling them apart by their fields.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read the scanner report {}: {e}; run the scanner first (trivy \
                 --format json, cargo audit --json) and give its output file",
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    target: String,
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
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
}

impl TrivyReport {
    fn into_scan(self, label: &str) -> ScanReport {
        let artifact = self.artifact_name.unwrap_or_default();
        let mut findings = Vec::new();
        for result in self.results.unwrap_or_default() {
            for v in result.vulnerabilities.unwrap_or_default() {
                let severity = match v
                    .severity
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                {
                    Some("CRITICAL") => Severity::Critical,
                    Some("HIGH") => Severity::High,
                    Some("MEDIUM") => Severity::Medium,
                    Some("LOW") => Severity::Low,
                    _ => Severity::Unknown,
                };
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
    let findings = VulnerabilityFindings::new(
        read.iter().map(|r| r.name.clone()).collect(),
        limits.limits.clone(),
        read.iter().flat_map(|r| r.findings.clone()).collect(),
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
