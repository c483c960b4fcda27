//! Rules and Alertmanager config, judged before anything runs.
//!
//! - `obs.rules_load`: [`try_assert_rules_load`] (promtool's own message, file and line)
//! - `obs.rules_lint`: [`try_assert_rules_lint`] (named checks in the spirit of pint)
//! - `obs.alert_routes`: [`try_assert_alert_routes`] (amtool's own message; each alert's
//!   receiver)

use std::collections::BTreeSet;

use readiness_core::{
    CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation, Quantity, Threshold,
};

use crate::pair::Pair;
use crate::promql;
use crate::rules::RuleFile;

/// Panics unless [`try_assert_rules_load`] passes.
pub async fn assert_rules_load(pair: &mut Pair, files: &[RuleFile]) -> Evidence {
    try_assert_rules_load(pair, files).await.or_panic()
}

/// `obs.rules_load`: promtool accepts every file and Prometheus reloads with them (they
/// replace the rules loaded before). A refused file fails with promtool's message, which
/// names the file, the line and the column. An `error` when no file is given.
pub async fn try_assert_rules_load(
    pair: &mut Pair,
    files: &[RuleFile],
) -> Result<Evidence, Failure> {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let check = pair
        .check(
            "obs.rules_load",
            format!("rule files load: {}", names.join(", ")),
            "rules/load",
        )
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario("promtool check rules, then a reload of Prometheus".to_owned());
    if files.is_empty() {
        return Err(check.nothing_measured("no rule file was given"));
    }
    match pair.replace_rules(files).await {
        Ok(()) => {
            let summary = format!(
                "{} file(s) loaded, {} alerting rule(s): {}",
                files.len(),
                pair.alert_rules().len(),
                pair.alert_rules()
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            check.judge(Observation::new(Quantity::count(0)).with_summary(summary))
        }
        Err(Error::Config { path, reason }) => check.judge(
            Observation::new(Quantity::count(1))
                .with_summary(format!("{} refused: {reason}", path.display())),
        ),
        Err(e) => Err(check.error(e)),
    }
}

/// Panics unless [`try_assert_alert_routes`] passes.
pub async fn assert_alert_routes(
    pair: &mut Pair,
    yaml: &str,
    expected: &[(&str, &str)],
) -> Evidence {
    try_assert_alert_routes(pair, yaml, expected)
        .await
        .or_panic()
}

/// `obs.alert_routes`: amtool accepts the Alertmanager config, Alertmanager reloads with
/// it, and each `(alert, receiver)` in `expected` resolves to that receiver (amtool's route
/// test on the alerting rule's labels). A refused config fails with amtool's message
/// (`undefined receiver "pagr" used in route`). An `error` when no alerting rule is loaded.
pub async fn try_assert_alert_routes(
    pair: &mut Pair,
    yaml: &str,
    expected: &[(&str, &str)],
) -> Result<Evidence, Failure> {
    let check = pair
        .check(
            "obs.alert_routes",
            "the Alertmanager config loads and routes each alert to its receiver".into(),
            "alertmanager/routes",
        )
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!(
            "amtool check-config, a reload, then amtool config routes test for {} alert(s)",
            expected.len()
        ));
    if pair.alert_rules().is_empty() {
        return Err(check.nothing_measured("no alerting rule is loaded: there is nothing to route"));
    }
    match pair.replace_alertmanager_config(yaml).await {
        Ok(()) => {}
        Err(Error::Config { reason, .. }) => {
            return check.judge(
                Observation::new(Quantity::count(1))
                    .with_summary(format!("alertmanager.yml refused: {reason}")),
            );
        }
        Err(e) => return Err(check.error(e)),
    }
    let mut wrong = Vec::new();
    for (alert, receiver) in expected {
        match pair.routes().get(*alert) {
            None => wrong.push(format!("{alert}: no alerting rule of that name is loaded")),
            Some(got) if !got.iter().any(|r| r == receiver) => {
                wrong.push(format!(
                    "{alert} routes to {}, expected {receiver}",
                    got.join(", ")
                ));
            }
            Some(_) => {}
        }
    }
    let routes: Vec<String> = pair
        .routes()
        .iter()
        .map(|(a, r)| format!("{a} → {}", r.join(", ")))
        .collect();
    let summary = if wrong.is_empty() {
        format!("routes: {}", routes.join("; "))
    } else {
        format!("{}; all routes: {}", wrong.join("; "), routes.join("; "))
    };
    check.judge(Observation::new(Quantity::count(wrong.len() as u64)).with_summary(summary))
}

/// Panics unless [`try_assert_rules_lint`] passes.
pub async fn assert_rules_lint(pair: &Pair) -> Evidence {
    try_assert_rules_lint(pair).await.or_panic()
}

const PAGING: &[&str] = &["critical", "page", "pager", "paging"];

/// `obs.rules_lint`: the loaded alerting rules pass named checks, each problem written
/// `check: alert: why`:
/// - `paging-for`: an alert with a paging severity (`critical`, `page`) has a `for`, so a
///   blip does not page anyone;
/// - `severity-label`: every alert has a `severity` label to route on;
/// - `runbook`: every alert has a `runbook_url` (or `runbook`) annotation;
/// - `rate-on-counter`: `rate`, `irate`, `increase` and `resets` apply to counters only,
///   by the types the scraped targets declare;
/// - `absent-selector`: every metric an expression selects is exported by some scraped
///   target (a rule on a series that does not exist can never fire).
///
/// An `error` when no alerting rule is loaded.
pub async fn try_assert_rules_lint(pair: &Pair) -> Result<Evidence, Failure> {
    let check = pair
        .check(
            "obs.rules_lint",
            "alerting rules pass the lint".into(),
            "rules/lint",
        )
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(
            "paging-for, severity-label, runbook, rate-on-counter and absent-selector, against \
             the scraped targets' series and types"
                .to_owned(),
        );
    let rules = pair.alert_rules();
    if rules.is_empty() {
        return Err(check.nothing_measured("no alerting rule is loaded"));
    }
    if let Err(e) = pair.wait_for_scrapes().await {
        return Err(check.error(e));
    }
    let (names, types) = match (pair.metric_names().await, pair.metric_types().await) {
        (Ok(n), Ok(t)) => (n.into_iter().collect::<BTreeSet<_>>(), t),
        (Err(e), _) | (_, Err(e)) => return Err(check.error(e)),
    };
    let type_of = |metric: &str| {
        types.get(metric).or_else(|| {
            ["_total", "_bucket", "_sum", "_count", "_created"]
                .iter()
                .find_map(|s| metric.strip_suffix(s).and_then(|stem| types.get(stem)))
        })
    };
    let mut problems = Vec::new();
    for r in rules {
        let severity = r.labels.get("severity");
        if severity.is_some_and(|s| PAGING.contains(&s.as_str())) && r.for_.is_zero() {
            problems.push(format!(
                "paging-for: {}: severity {} pages with no `for`; a single bad evaluation pages someone",
                r.name,
                severity.map_or("", String::as_str)
            ));
        }
        if severity.is_none() {
            problems.push(format!(
                "severity-label: {}: no severity label to route on",
                r.name
            ));
        }
        if !r.annotations.contains_key("runbook_url") && !r.annotations.contains_key("runbook") {
            problems.push(format!("runbook: {}: no runbook_url annotation", r.name));
        }
        for (function, metric) in promql::counter_function_uses(&r.expr) {
            if let Some(t) = type_of(&metric).filter(|t| t.as_str() != "counter") {
                problems.push(format!(
                    "rate-on-counter: {}: {function}({metric}) but {metric} is a {t}",
                    r.name
                ));
            }
        }
        for metric in promql::metric_names(&r.expr) {
            if !names.contains(&metric) && metric != "ALERTS" && metric != "ALERTS_FOR_STATE" {
                problems.push(format!(
                    "absent-selector: {}: selects {metric}, which no scraped target exports",
                    r.name
                ));
            }
        }
    }
    let summary = if problems.is_empty() {
        format!("{} alerting rules, no problem", rules.len())
    } else {
        format!(
            "{} problem(s) in {} rules: {}",
            problems.len(),
            rules.len(),
            problems.join("; ")
        )
    };
    check.judge(Observation::new(Quantity::count(problems.len() as u64)).with_summary(summary))
}
