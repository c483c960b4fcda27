//! The criteria the harness defines: each id with its category, the kind of limit it is
//! judged against, and the failure of a service it catches. `readiness criteria` prints
//! them; the report and `verify` look ids up here; CI checks that the harness's own tests
//! see every one of them both pass and fail.

use crate::verify::LimitKind;

/// A criterion the harness defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defined {
    /// The id, or for the percentile families the pattern (`load.p<q>`, `load.p<q>_window`).
    pub id: &'static str,
    /// The scorecard category (a harness category, or `documentation`).
    pub category: &'static str,
    /// The kind of limit; `None` where either kind makes sense.
    pub limit: Option<LimitKind>,
    /// The failure of a service it catches, in a reviewer's words.
    pub catches: &'static str,
}

const MAX: Option<LimitKind> = Some(LimitKind::Maximum);
const MIN: Option<LimitKind> = Some(LimitKind::Minimum);

const fn def(
    id: &'static str,
    category: &'static str,
    limit: Option<LimitKind>,
    catches: &'static str,
) -> Defined {
    Defined {
        id,
        category,
        limit,
        catches,
    }
}

/// Every criterion the harness defines, by area.
pub const DEFINED: &[Defined] = &[
    def("load.p<q>", "performance", MAX, "slow responses under load"),
    def(
        "load.p<q>_window",
        "performance",
        MAX,
        "a slow stretch within a run",
    ),
    def(
        "load.error_rate",
        "reliability",
        MAX,
        "failed requests under load",
    ),
    def(
        "load.error_rate_window",
        "reliability",
        MAX,
        "a burst of errors within a run",
    ),
    def(
        "load.throughput",
        "capacity",
        MIN,
        "a service that cannot keep the offered rate",
    ),
    def(
        "load.capacity",
        "capacity",
        MIN,
        "a ceiling below the planned peak",
    ),
    def(
        "load.spike_recovery",
        "reliability",
        MAX,
        "a service slow to recover after a spike",
    ),
    def(
        "load.soak_memory",
        "reliability",
        MAX,
        "memory that grows over hours (a leak)",
    ),
    def(
        "load.soak_latency",
        "reliability",
        MAX,
        "latency that drifts over hours",
    ),
    def(
        "load.linear_scaling",
        "capacity",
        MIN,
        "throughput that does not grow with instances",
    ),
    def(
        "dr.rto",
        "recovery",
        MAX,
        "a service slow to answer again after a failure",
    ),
    def(
        "dr.rpo",
        "recovery",
        MAX,
        "acknowledged writes lost in a failure",
    ),
    def(
        "dr.no_ack_write_lost",
        "recovery",
        MAX,
        "acknowledged writes lost in a failure",
    ),
    def(
        "dr.restore_time",
        "recovery",
        MAX,
        "a backup slow to restore",
    ),
    def(
        "dr.restore_integrity",
        "recovery",
        MAX,
        "a backup that restores wrong or partial data",
    ),
    def(
        "dr.redis_durability",
        "recovery",
        MAX,
        "cache writes lost on restart",
    ),
    def(
        "dr.fault_plan",
        "recovery",
        MAX,
        "a step of a fault plan the service does not survive",
    ),
    def(
        "dr.degrades_gracefully",
        "recovery",
        MAX,
        "errors instead of degraded answers when a dependency fails",
    ),
    def(
        "dr.degraded_p99",
        "recovery",
        MAX,
        "slow degraded answers when a dependency fails",
    ),
    def(
        "dr.circuit_opens",
        "recovery",
        MAX,
        "a circuit breaker that never opens on a slow dependency",
    ),
    def(
        "dr.zero_downtime",
        "recovery",
        MAX,
        "failed requests during a deploy or switch-over",
    ),
    def(
        "dr.switch_p99",
        "recovery",
        MAX,
        "slow requests during a deploy or switch-over",
    ),
    def(
        "dr.rollback",
        "recovery",
        MAX,
        "a rollback that is slow or loses data",
    ),
    def(
        "obs.alert_fires",
        "observability",
        MAX,
        "an alert that does not fire, or fires late, on its failure",
    ),
    def(
        "obs.alert_resolves",
        "observability",
        MAX,
        "an alert that stays firing after recovery",
    ),
    def(
        "obs.alerts_fired",
        "observability",
        MIN,
        "failures that no alert reports",
    ),
    def(
        "obs.alert_silent",
        "observability",
        MAX,
        "alerts that fire on a healthy service",
    ),
    def(
        "obs.alert_routes",
        "observability",
        MAX,
        "an alert routed to no receiver",
    ),
    def(
        "obs.rules_load",
        "observability",
        MAX,
        "alert rules Prometheus refuses",
    ),
    def(
        "obs.rules_lint",
        "observability",
        MAX,
        "alert rules without runbook, severity or for-duration",
    ),
    def(
        "obs.health_accurate",
        "observability",
        MAX,
        "a health endpoint that says healthy while broken",
    ),
    def(
        "obs.targets_up",
        "observability",
        MAX,
        "a scrape target that is down",
    ),
    def(
        "obs.metric_exists",
        "observability",
        MIN,
        "a metric the dashboards need that is not exported",
    ),
    def(
        "obs.metrics_lint",
        "observability",
        MAX,
        "metrics that break naming or cardinality rules",
    ),
    def(
        "obs.query",
        "observability",
        None,
        "a PromQL expression outside its bounds",
    ),
    def(
        "obs.retention",
        "observability",
        None,
        "metrics kept for less time than the runbooks need",
    ),
    def(
        "obs.logs",
        "observability",
        MAX,
        "log lines that are not structured or miss fields",
    ),
    def(
        "obs.traces",
        "observability",
        MIN,
        "requests without a trace or spans",
    ),
    def(
        "sec.auth_required",
        "security",
        MAX,
        "a route that answers without credentials",
    ),
    def(
        "sec.rate_limit",
        "security",
        MAX,
        "a route without a rate limit",
    ),
    def(
        "sec.cors",
        "security",
        MAX,
        "a CORS policy that lets any origin in",
    ),
    def(
        "sec.malformed_input",
        "security",
        MAX,
        "a crash or a 5xx on malformed input",
    ),
    def(
        "sec.exposed_ports",
        "security",
        MAX,
        "a port open that should not be",
    ),
    def(
        "sec.no_secrets",
        "security",
        MAX,
        "a secret in the image or the repository",
    ),
    def(
        "sec.tls_protocol",
        "security",
        MAX,
        "an old TLS version or a weak cipher accepted",
    ),
    def(
        "sec.tls_certificate",
        "security",
        MAX,
        "a certificate expired, self-signed or for another name",
    ),
    def(
        "sec.vulnerabilities",
        "security",
        MAX,
        "a dependency with a known vulnerability",
    ),
    def(
        "deps.postgres_ready",
        "reliability",
        MAX,
        "a database slow to accept connections",
    ),
    def(
        "svc.ready",
        "reliability",
        MAX,
        "a service slow to become ready",
    ),
    def(
        "docs.config",
        "documentation",
        None,
        "a configuration variable nobody documented",
    ),
    def(
        "docs.routes",
        "documentation",
        None,
        "a route missing from the OpenAPI document",
    ),
    def(
        "docs.runbooks",
        "documentation",
        None,
        "an alert without a runbook",
    ),
];

/// The definition of the criterion `id` (`load.p95` is `load.p<q>`); `None` for an id the
/// harness does not define (a team's own).
pub fn defined(id: &str) -> Option<&'static Defined> {
    let family = match percentile(id) {
        Some(true) => "load.p<q>_window",
        Some(false) => "load.p<q>",
        None => id,
    };
    DEFINED.iter().find(|d| d.id == family)
}

/// `Some(windowed)` when `id` is a latency percentile (`load.p95`, `load.p99.9`,
/// `load.p50_window`).
fn percentile(id: &str) -> Option<bool> {
    let rest = id.strip_prefix("load.p")?;
    let (q, window) = match rest.strip_suffix("_window") {
        Some(q) => (q, true),
        None => (rest, false),
    };
    (!q.is_empty() && q.chars().all(|c| c.is_ascii_digit() || c == '.')).then_some(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_one_family_each() {
        assert_eq!(defined("load.p95").map(|d| d.id), Some("load.p<q>"));
        assert_eq!(defined("load.p99.9").map(|d| d.id), Some("load.p<q>"));
        assert_eq!(
            defined("load.p50_window").map(|d| d.id),
            Some("load.p<q>_window")
        );
        assert_eq!(defined("load.p"), None);
        assert_eq!(defined("load.pxx"), None);
        assert_eq!(defined("team.own"), None);
    }

    #[test]
    fn ids_are_unique() {
        for (i, d) in DEFINED.iter().enumerate() {
            assert!(
                DEFINED[i + 1..].iter().all(|o| o.id != d.id),
                "{} twice",
                d.id
            );
        }
    }
}
