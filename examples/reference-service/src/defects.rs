//! Deliberate defects, each off by default and switched on by naming it in
//! `REFERENCE_DEFECT` (comma-separated). Each names the readiness criterion that must
//! catch it.
//!
//! | defect | what it does | the criterion that catches it |
//! |---|---|---|
//! | `slow_search` | drops the index on `orders.customer` and adds 600 ms to every search (a table grown large) | `load.p95` on `GET /orders/search` |
//! | `leak` | keeps 64 KiB per request forever | soak: `load.soak_memory` of the container's memory |
//! | `unacked_write_loss` | answers `201` before the order is written; writes land a second later, so a crash loses them | `dr.rpo` (no acknowledged write lost) |
//! | `always_ready` | `/health/ready` says ready even when PostgreSQL is down | `obs.health_accurate`, `dr.rto` via readiness |
//! | `missing_metric` | never exports `http_requests_total`, so an error-rate alert can never fire | `obs.alert_fires` |
//! | `no_rate_limit` | no rate limiting | `sec.rate_limit` |
//! | `crash_on_slow_dependency` | one short attempt to reach PostgreSQL at start, then exit 1 (a crash loop) | `dr.rto` of a dependency restart, start-order checks |
//! | `no_graceful_drain` | exits at once on SIGTERM, dropping in-flight requests | `dr.zero_downtime` |
//! | `no_auth` | `POST /orders` skips its auth check: no token, an unknown token or a read-only token creates the order (`201`) | `sec.auth_required` |
//! | `cors_allow_all` | CORS allows any origin (`Access-Control-Allow-Origin: *`) | `sec.cors` |
//! | `panic_on_crafted_body` | `POST /orders` (once authorised) panics on a JSON body whose `customer` is missing or not a string; the connection drops without an answer | `sec.malformed_input` |
//! | `logs_token` | logs the write and read tokens in clear at start (`"auth configured"`) | `sec.no_secrets` |
//! | `debug_port` | also listens on port [`DEBUG_PORT`] (6060) of the `BIND_ADDR` address, serving `GET /debug/config` | `sec.exposed_ports` |
//! | `unchecked_text` | control characters in `customer` (a body field, or the search query) reach PostgreSQL, which refuses a NUL: a `500` whose body carries the database's own error | `sec.malformed_input` |
//! | `pool_leak` | a search whose query times out (PostgreSQL stalled) never gives its connection back: after a stall the pool stays in use | `db.pool_released` |
//! | `slow_start` | warms up for 20 s ([`SLOW_START`]) before it listens, as a service that loads everything at start does: it is not ready within 15 s of its start | `svc.ready`, `dr.rto` of a start behind a slow database |
//! | `short_retention` | of its deployment, not its binary: the review starts its Prometheus with `--storage.tsdb.retention.time=7d` instead of `monitoring/prometheus.flags` | `obs.retention` |
//! | `broken_rule` | of its deployment, not its binary: the review loads its rule file with a typo in the error-rate alert's metric (`http_request_total`), so that alert can never fire | `obs.rules_lint`, `obs.alert_fires` |
//! | `weak_tls` | of its deployment, not its binary: the TLS front's `deploy/stunnel.conf` says `sslVersionMin = TLSv1` and `securityLevel = 0`, so clients may still speak TLS 1.0 and 1.1 | `sec.tls_protocol` |
//! | `expiring_certificate` | of its deployment, not its binary: the TLS front's certificate has 5 days left (its renewal stopped) | `sec.tls_certificate` |
//! | `backup_skips_table` | of its deployment, not its binary: the backup job's `pg_dump` options (`backup/pg_dump.options`) also say `--exclude-table=schema_migrations`, so a restore lacks that table | `dr.restore_integrity` |

use std::collections::BTreeSet;
use std::fmt;

/// How long the `slow_start` defect warms up before it listens.
pub const SLOW_START: std::time::Duration = std::time::Duration::from_secs(20);

/// The port the `debug_port` defect listens on, on the address of `BIND_ADDR`.
pub const DEBUG_PORT: u16 = 6060;

/// The known defects, in the order of the table above.
pub const ALL: [&str; 21] = [
    "slow_search",
    "leak",
    "unacked_write_loss",
    "always_ready",
    "missing_metric",
    "no_rate_limit",
    "crash_on_slow_dependency",
    "no_graceful_drain",
    "no_auth",
    "cors_allow_all",
    "panic_on_crafted_body",
    "logs_token",
    "debug_port",
    "unchecked_text",
    "pool_leak",
    "slow_start",
    "short_retention",
    "broken_rule",
    "backup_skips_table",
    "weak_tls",
    "expiring_certificate",
];

/// The defects of the service's deployment (its monitoring, backup and TLS front files), not of its binary: the
/// service accepts them and changes nothing; the readiness review applies them.
pub const DEPLOYMENT: [&str; 5] = [
    "short_retention",
    "broken_rule",
    "backup_skips_table",
    "weak_tls",
    "expiring_certificate",
];

/// For each defect, the criteria of the readiness review (`readiness-run`) that must fail
/// when it is on; with it on, every other criterion must still pass.
pub const CAUGHT_BY: [(&str, &[&str]); 21] = [
    ("slow_search", &["load.p95"]),
    ("leak", &["load.soak_memory"]),
    ("unacked_write_loss", &["dr.no_ack_write_lost"]),
    ("always_ready", &["obs.health_accurate"]),
    (
        "missing_metric",
        &[
            "obs.metric_exists",
            "obs.rules_lint",
            "obs.alert_fires",
            "obs.alerts_fired",
        ],
    ),
    ("no_rate_limit", &["sec.rate_limit"]),
    ("crash_on_slow_dependency", &["dr.rto"]),
    ("no_graceful_drain", &["dr.zero_downtime"]),
    ("no_auth", &["sec.auth_required"]),
    ("cors_allow_all", &["sec.cors"]),
    ("panic_on_crafted_body", &["sec.malformed_input"]),
    ("logs_token", &["sec.no_secrets"]),
    ("debug_port", &["sec.exposed_ports"]),
    ("unchecked_text", &["sec.malformed_input"]),
    ("pool_leak", &["db.pool_released"]),
    ("slow_start", &["svc.ready", "dr.rto"]),
    ("short_retention", &["obs.retention"]),
    (
        "broken_rule",
        &["obs.rules_lint", "obs.alert_fires", "obs.alerts_fired"],
    ),
    ("backup_skips_table", &["dr.restore_integrity"]),
    ("weak_tls", &["sec.tls_protocol"]),
    ("expiring_certificate", &["sec.tls_certificate"]),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defect_names_the_criteria_that_catch_it() {
        let named: Vec<&str> = CAUGHT_BY.iter().map(|(d, _)| *d).collect();
        assert_eq!(named, ALL);
        assert!(CAUGHT_BY.iter().all(|(_, c)| !c.is_empty()));
    }

    #[test]
    fn parse_knows_every_defect() {
        let all = Defects::parse(&ALL.join(",")).expect("every listed defect parses");
        for name in ALL {
            assert!(all.has(name), "{name} is not on after parsing");
        }
        let some =
            Defects::parse(" no_auth, cors_allow_all ,panic_on_crafted_body,logs_token,debug_port")
                .expect("the security defects parse");
        assert_eq!(
            some.to_string(),
            "cors_allow_all,debug_port,logs_token,no_auth,panic_on_crafted_body"
        );
        assert!(!some.has("leak"));
        assert_eq!(Defects::parse("").expect("empty"), Defects::default());
        let err = Defects::parse("no_auth,no_such").expect_err("unknown name");
        assert!(
            err.contains("unknown defect \"no_such\"") && err.contains("debug_port"),
            "{err}"
        );
    }
}
