//! Deliberate defects, each off by default and switched on by naming it in
//! `REFERENCE_DEFECT` (comma-separated). Each names the readiness criterion that must
//! catch it.
//!
//! | defect | what it does | the criterion that catches it |
//! |---|---|---|
//! | `slow_search` | drops the index on `orders.customer` and adds 200 ms to every search | `load.p95` on `GET /orders/search` |
//! | `leak` | keeps 64 KiB per request forever | soak: `load.no_drift` of the target's memory |
//! | `unacked_write_loss` | answers `201` before the order is written; writes land a second later, so a crash loses them | `dr.rpo` (no acknowledged write lost) |
//! | `always_ready` | `/health/ready` says ready even when PostgreSQL is down | `obs.health_accurate`, `dr.rto` via readiness |
//! | `missing_metric` | never exports `http_requests_total`, so an error-rate alert can never fire | `obs.alert_fires` |
//! | `no_rate_limit` | no rate limiting | `security.rate_limit` |
//! | `crash_on_slow_dependency` | one short attempt to reach PostgreSQL at start, then exit 1 (a crash loop) | `dr.rto` of a dependency restart, start-order checks |
//! | `no_graceful_drain` | exits at once on SIGTERM, dropping in-flight requests | `dr.zero_downtime` |

use std::collections::BTreeSet;
use std::fmt;

/// The known defects, in the order of the table above.
pub const ALL: [&str; 8] = [
    "slow_search",
    "leak",
    "unacked_write_loss",
    "always_ready",
    "missing_metric",
    "no_rate_limit",
    "crash_on_slow_dependency",
    "no_graceful_drain",
];

/// The defects switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects(BTreeSet<&'static str>);

impl Defects {
    /// Parses `REFERENCE_DEFECT`; an unknown name is an error listing the known ones.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut on = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let known = ALL
                .iter()
                .find(|d| **d == name)
                .ok_or_else(|| format!("unknown defect {name:?}; known: {}", ALL.join(", ")))?;
            on.insert(*known);
        }
        Ok(Defects(on))
    }
    /// Whether `name` is on.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

impl fmt::Display for Defects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<&str> = self.0.iter().copied().collect();
        f.write_str(&v.join(","))
    }
}
