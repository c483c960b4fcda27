//! The typed evidence of the security criteria: what each probe sent and saw
//! ([`SecurityReport`]), a rate limit's request timeline ([`RateLimitTimeline`]) and a
//! scanner's findings ([`VulnerabilityFindings`]). Part of the schema: no runtime needed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One probe of a security check: what was sent (or looked at), what was required and
/// what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecurityItem {
    /// What was probed: a route (`POST /orders`), a port (`8080/tcp`), a log.
    pub subject: String,
    /// How (`no credentials`, `preflight from https://evil.example`).
    pub probe: String,
    /// What was required (`401`).
    pub expected: String,
    /// What came back (`201 {"id":7,...}`).
    pub observed: String,
    /// Whether it met the requirement.
    pub ok: bool,
}

impl SecurityItem {
    /// An item.
    pub fn new(
        subject: impl Into<String>,
        probe: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
        ok: bool,
    ) -> Self {
        SecurityItem {
            subject: subject.into(),
            probe: probe.into(),
            expected: expected.into(),
            observed: observed.into(),
            ok,
        }
    }
}

impl fmt::Display for SecurityItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} with {}: expected {}, got {}",
            self.subject, self.probe, self.expected, self.observed
        )
    }
}

/// Every probe of a security check; the record's observed count is the number that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecurityReport {
    /// The probes, in the order they ran.
    pub items: Vec<SecurityItem>,
}

impl SecurityReport {
    /// A report of `items`.
    pub fn new(items: Vec<SecurityItem>) -> Self {
        SecurityReport { items }
    }
    /// How many probes failed.
    pub fn failed(&self) -> u64 {
        self.items.iter().filter(|i| !i.ok).count() as u64
    }
}

/// One request of a rate-limit drive: sent `at_ms` after the start, by client `client`,
/// answered with `status` (0: no answer) and `Retry-After` seconds when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "(u64, u16, u16, Option<u64>)",
    into = "(u64, u16, u16, Option<u64>)"
)]
pub struct LimitedRequest {
    /// When it was sent, in ms from the start of the drive.
    pub at_ms: u64,
    /// Index into [`RateLimitTimeline::clients`].
    pub client: u16,
    /// The status (0: no answer).
    pub status: u16,
    /// The `Retry-After` of a refusal, in seconds.
    pub retry_after_s: Option<u64>,
}

impl From<(u64, u16, u16, Option<u64>)> for LimitedRequest {
    fn from((at_ms, client, status, retry_after_s): (u64, u16, u16, Option<u64>)) -> Self {
        LimitedRequest {
            at_ms,
            client,
            status,
            retry_after_s,
        }
    }
}

impl From<LimitedRequest> for (u64, u16, u16, Option<u64>) {
    fn from(r: LimitedRequest) -> Self {
        (r.at_ms, r.client, r.status, r.retry_after_s)
    }
}

impl LimitedRequest {
    /// Let through by the limiter: answered 2xx. A refusal of another kind (403
    /// "suspended", 503) is not a request let through, whatever it is not.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A rate-limit drive: the stated limit and every request with its answer. The sustained
/// phase (after the first refusal) is where the accepted rate is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitTimeline {
    /// Requests allowed per window.
    pub limit: u64,
    /// The window, in ms.
    pub window_ms: u64,
    /// Requests allowed at once from a full budget.
    pub burst: u64,
    /// How far above the limit the accepted rate may be (0.1 = 10%).
    pub tolerance: f64,
    /// The clients, by how they identify (`Authorization: Bearer …a`).
    pub clients: Vec<String>,
    /// The sustained phase `[from, to)` in ms from the start, judged on client 0.
    pub sustained_ms: (u64, u64),
    /// Requests of client 0 accepted in the sustained phase.
    pub sustained_accepted: u64,
    /// Every request, in the order sent.
    pub requests: Vec<LimitedRequest>,
}

impl RateLimitTimeline {
    /// The timeline of a drive; the sustained count is derived from its requests.
    /// `clients` name each client without its credential (the harness never writes one).
    pub fn new(
        (limit, window_ms, burst, tolerance): (u64, u64, u64, f64),
        clients: Vec<String>,
        sustained_ms: (u64, u64),
        requests: Vec<LimitedRequest>,
    ) -> Self {
        let mut t = RateLimitTimeline {
            limit,
            window_ms,
            burst,
            tolerance,
            clients,
            sustained_ms,
            sustained_accepted: 0,
            requests,
        };
        t.sustained_accepted = t.derive_sustained_accepted();
        t
    }
    /// Requests of client 0 sent in the sustained phase and accepted.
    pub fn derive_sustained_accepted(&self) -> u64 {
        let (from, to) = self.sustained_ms;
        self.requests
            .iter()
            .filter(|r| r.client == 0 && r.at_ms >= from && r.at_ms < to && r.accepted())
            .count() as u64
    }
    /// The most the limit lets through in the sustained phase: the rate times its length,
    /// with the tolerance, plus the one request a budget may hold when the phase starts.
    pub fn sustained_allowed(&self) -> f64 {
        let (from, to) = self.sustained_ms;
        let per_ms = self.limit as f64 / self.window_ms.max(1) as f64;
        per_ms * to.saturating_sub(from) as f64 * (1.0 + self.tolerance) + 1.0
    }
}

/// How severe a finding is, as scanners grade it (CVSS's qualitative scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not graded by the scanner.
    Unknown,
    /// Low (CVSS 0.1–3.9).
    Low,
    /// Medium (CVSS 4.0–6.9).
    Medium,
    /// High (CVSS 7.0–8.9).
    High,
    /// Critical (CVSS 9.0–10.0).
    Critical,
}

impl Severity {
    /// All, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];
    /// Its name (`critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding of a vulnerability scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VulnerabilityFinding {
    /// The advisory (`CVE-2023-0286`, `RUSTSEC-2023-0044`).
    pub id: String,
    /// The affected package.
    pub package: String,
    /// The version installed.
    pub installed: String,
    /// The version that fixes it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// How severe.
    pub severity: Severity,
    /// The advisory's title.
    #[serde(default)]
    pub title: String,
    /// Which report and target it came from (`trivy: app (debian 12.1)`).
    pub source: String,
}

impl VulnerabilityFinding {
    /// A finding.
    pub fn new(
        id: impl Into<String>,
        (package, installed): (impl Into<String>, impl Into<String>),
        severity: Severity,
        source: impl Into<String>,
    ) -> Self {
        VulnerabilityFinding {
            id: id.into(),
            package: package.into(),
            installed: installed.into(),
            fixed: None,
            severity,
            title: String::new(),
            source: source.into(),
        }
    }
    /// The fixing version.
    #[must_use]
    pub fn with_fixed(mut self, fixed: impl Into<String>) -> Self {
        self.fixed = Some(fixed.into());
        self
    }
    /// The advisory's title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }
}

impl fmt::Display for VulnerabilityFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} in {} {}",
            self.severity, self.id, self.package, self.installed
        )?;
        if let Some(fixed) = &self.fixed {
            write!(f, " (fixed in {fixed})")?;
        }
        Ok(())
    }
}

/// The findings of the scanners' reports and the limits per severity; the record's
/// observed count is the findings beyond the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VulnerabilityFindings {
    /// The reports read (`trivy`, `cargo-audit`), with their files.
    pub reports: Vec<String>,
    /// Most findings allowed per severity; a severity not listed has no limit.
    pub limits: BTreeMap<Severity, u64>,
    /// Every finding.
    pub findings: Vec<VulnerabilityFinding>,
}

impl VulnerabilityFindings {
    /// Findings under limits.
    pub fn new(
        reports: Vec<String>,
        limits: BTreeMap<Severity, u64>,
        findings: Vec<VulnerabilityFinding>,
    ) -> Self {
        VulnerabilityFindings {
            reports,
            limits,
            findings,
        }
    }
    /// Findings per severity.
    pub fn counts(&self) -> BTreeMap<Severity, u64> {
        let mut counts = BTreeMap::new();
        for f in &self.findings {
            *counts.entry(f.severity).or_insert(0) += 1;
        }
        counts
    }
    /// Findings beyond the limits, added over the severities.
    pub fn excess(&self) -> u64 {
        let counts = self.counts();
        self.limits
            .iter()
            .map(|(s, limit)| counts.get(s).copied().unwrap_or(0).saturating_sub(*limit))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, Check, Count, Observation, Quantity, Recorder, Threshold};

    fn judged(timeline: RateLimitTimeline) -> crate::Evidence {
        let dir = tempfile::tempdir().ok();
        let recorder = Recorder::new(
            dir.as_ref()
                .map_or_else(std::env::temp_dir, |d| d.path().to_owned()),
        );
        let judged = Check::new("sec.rate_limit", "rate limit holds", Category::SECURITY)
            .with_threshold(Threshold::at_most(Count(0)))
            .with_recorder(recorder)
            .judge(Observation::new(Quantity::count(0)).with_attachment(timeline));
        match judged {
            Ok(e) => e,
            Err(f) => f.evidence().clone(),
        }
    }

    #[test]
    fn a_rate_limit_record_is_judged_again_from_its_requests() {
        // 1 per second allowed; every other request of 30 in 3 s accepted: 15 > 4.3.
        let requests: Vec<LimitedRequest> = (0..30)
            .map(|i| LimitedRequest::from((i * 100, 0, if i % 2 == 0 { 200 } else { 429 }, None)))
            .collect();
        let timeline = RateLimitTimeline {
            limit: 60,
            window_ms: 60_000,
            burst: 60,
            tolerance: 0.1,
            clients: vec!["a".into(), "b".into()],
            sustained_ms: (0, 3_000),
            sustained_accepted: 15,
            requests,
        };
        assert!((timeline.sustained_allowed() - 4.3).abs() < 1e-9);
        let found = judged(timeline.clone()).verify().err().unwrap_or_default();
        assert!(
            found.contains("where 4.3 are allowed, yet no probe failed"),
            "{found}"
        );
        let lied = RateLimitTimeline {
            sustained_accepted: 3,
            ..timeline
        };
        let found = judged(lied).verify().err().unwrap_or_default();
        assert!(
            found.contains("3 requests accepted in the sustained phase, but its requests show 15"),
            "{found}"
        );
    }
}
