//! Rules and Alertmanager config, judged before anything runs.
//!
//! - `obs.rules_load`: [`Pair::load_rules`] gives [`RulesLoaded`], judged by
//!   [`try_assert_rules_load`] (promtool's own message, file and line)
//! - `obs.rules_lint`: [`Pair::scrape`] gives the rules and the series, judged by
//!   [`try_assert_rules_lint`] (named checks in the spirit of pint)
//! - `obs.alert_routes`: [`Pair::load_alertmanager_config`] gives [`RoutesLoaded`], judged
//!   by [`try_assert_alert_routes`] (amtool's own message; each alert's receiver)

use std::collections::BTreeMap;

use readiness_core::{
    CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation, Quantity, Threshold,
};

use crate::alerts::Source;
use crate::pair::Pair;
use crate::promql;
use crate::rules::RuleFile;
use crate::scrape::Scraped;

/// What became of rule files offered to Prometheus. Measured by [`Pair::load_rules`],
/// judged by [`try_assert_rules_load`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RulesLoaded {
    /// The files offered, by name.
    pub files: Vec<String>,
    /// The file promtool refused and its message (file, line and column), if one was.
    pub refused: Option<String>,
    /// The alerting rules Prometheus runs after the reload.
    pub rules: Vec<String>,
    /// Why the files could not be checked or loaded, if they could not.
    pub failed: Option<String>,
    source: Source,
}

impl Pair {
    /// Checks `files` with promtool and, when it accepts them all, reloads Prometheus with
    /// them in place of the rules loaded before (see [`Pair::replace_rules`]).
    pub async fn load_rules(&mut self, files: &[RuleFile]) -> RulesLoaded {
        let mut loaded = RulesLoaded {
            files: files.iter().map(|f| f.name.clone()).collect(),
            refused: None,
            rules: Vec::new(),
            failed: None,
            source: self.source(),
        };
        if files.is_empty() {
            return loaded;
        }
        match self.replace_rules(files).await {
            Ok(()) => {}
            Err(Error::Config { path, reason }) => {
                loaded.refused = Some(format!("{} refused: {reason}", path.display()));
            }
            Err(e) => loaded.failed = Some(e.to_string()),
        }
        loaded.rules = self.alert_rules().iter().map(|r| r.name.clone()).collect();
        loaded
    }
}

/// Panics unless [`try_assert_rules_load`] passes.
#[track_caller]
pub fn assert_rules_load(loaded: &RulesLoaded) -> Evidence {
    try_assert_rules_load(loaded).or_panic()
}

/// `obs.rules_load`: promtool accepts every file and Prometheus reloads with them (they
/// replace the rules loaded before). A refused file fails with promtool's message, which
/// names the file, the line and the column. An `error` when no file was given.
///
/// ```no_run
/// # async fn demo(pair: &mut readiness_observability::Pair) {
/// use readiness_observability::{RuleFile, assert_rules_load};
///
/// let loaded = pair.load_rules(&[RuleFile::new("app.yml", "groups: []\n")]).await;
/// assert_rules_load(&loaded);
/// # }
/// ```
pub fn try_assert_rules_load(loaded: &RulesLoaded) -> Result<Evidence, Failure> {
    let check = loaded
        .source
        .check(
            "obs.rules_load",
            format!("rule files load: {}", loaded.files.join(", ")),
            "rules/load",
        )
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario("promtool check rules, then a reload of Prometheus".to_owned());
    if loaded.files.is_empty() {
        return Err(check.nothing_measured("no rule file was given"));
    }
    if let Some(why) = &loaded.failed {
        return Err(check.error(Error::Other(why.clone())));
    }
    let observation = match &loaded.refused {
        Some(refused) => Observation::new(Quantity::count(1)).with_summary(refused.clone()),
        None => Observation::new(Quantity::count(0)).with_summary(format!(
            "{} file(s) loaded, {} alerting rule(s): {}",
            loaded.files.len(),
            loaded.rules.len(),
            loaded.rules.join(", ")
        )),
    };
    check.judge(observation)
}

/// What became of an Alertmanager config and where each alerting rule routes under it.
/// Measured by [`Pair::load_alertmanager_config`], judged by [`try_assert_alert_routes`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoutesLoaded {
    /// How many alerting rules were loaded (with none, there is nothing to route and the
    /// config was not offered).
    pub rules: usize,
    /// amtool's message, if it refused the config.
    pub refused: Option<String>,
    /// Each alerting rule's receivers under the config Alertmanager runs.
    pub routes: BTreeMap<String, Vec<String>>,
    /// Why the config could not be checked or loaded, if it could not.
    pub failed: Option<String>,
    source: Source,
}

impl Pair {
    /// Checks `yaml` with amtool and, when it accepts it, reloads Alertmanager with it and
    /// resolves each alerting rule's route (see [`Pair::replace_alertmanager_config`]).
    pub async fn load_alertmanager_config(&mut self, yaml: &str) -> RoutesLoaded {
        let mut loaded = RoutesLoaded {
            rules: self.alert_rules().len(),
            refused: None,
            routes: BTreeMap::new(),
            failed: None,
            source: self.source(),
        };
        if loaded.rules == 0 {
            return loaded;
        }
        match self.replace_alertmanager_config(yaml).await {
            Ok(()) => {}
            Err(Error::Config { reason, .. }) => {
                loaded.refused = Some(format!("alertmanager.yml refused: {reason}"));
            }
            Err(e) => loaded.failed = Some(e.to_string()),
        }
        loaded.routes = self.routes().clone();
        loaded
    }
}

/// Panics unless [`try_assert_alert_routes`] passes.
#[track_caller]
pub fn assert_alert_routes(loaded: &RoutesLoaded, expected: &[(&str, &str)]) -> Evidence {
    try_assert_alert_routes(loaded, expected).or_panic()
}

/// `obs.alert_routes`: amtool accepts the Alertmanager config, Alertmanager reloads with
/// it, and each `(alert, receiver)` in `expected` resolves to that receiver (amtool's route
/// test on the alerting rule's labels). A refused config fails with amtool's message
/// (`undefined receiver "pagr" used in route`). An `error` when no alerting rule is loaded.
pub fn try_assert_alert_routes(
    loaded: &RoutesLoaded,
    expected: &[(&str, &str)],
) -> Result<Evidence, Failure> {
    let check = loaded
        .source
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
    if loaded.rules == 0 {
        return Err(check.nothing_measured("no alerting rule is loaded: there is nothing to route"));
    }
    if let Some(why) = &loaded.failed {
        return Err(check.error(Error::Other(why.clone())));
    }
    if let Some(refused) = &loaded.refused {
        return check.judge(Observation::new(Quantity::count(1)).with_summary(refused.clone()));
    }
    let mut wrong = Vec::new();
    for (alert, receiver) in expected {
        match loaded.routes.get(*alert) {
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
    let routes: Vec<String> = loaded
        .routes
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
#[track_caller]
pub fn assert_rules_lint(scraped: &Scraped) -> Evidence {
    try_assert_rules_lint(scraped).or_panic()
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
/// The rules and the series are those of one [`Pair::scrape`]. An `error` when no alerting
/// rule is loaded.
pub fn try_assert_rules_lint(scraped: &Scraped) -> Result<Evidence, Failure> {
    let check = scraped
        .source()
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
    let rules = &scraped.rules;
    if rules.is_empty() {
        return Err(check.nothing_measured("no alerting rule is loaded"));
    }
    if let Some(why) = scraped.failed.as_ref().or(scraped.types_failed.as_ref()) {
        return Err(check.error(Error::Other(why.clone())));
    }
    let (names, types) = (&scraped.metrics, &scraped.types);
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
            if !names.contains_key(&metric) && metric != "ALERTS" && metric != "ALERTS_FOR_STATE" {
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

#[cfg(test)]
mod tests {
    use super::*;
    use readiness_core::Verdict;
    use std::time::Duration;

    use crate::rules::AlertRule;

    fn verdict(r: &Result<Evidence, Failure>) -> Verdict {
        match r {
            Ok(e) => e.verdict,
            Err(f) => f.verdict(),
        }
    }

    fn message(r: Result<Evidence, Failure>) -> String {
        r.err().map(|f| f.to_string()).unwrap_or_default()
    }

    fn loaded(files: &[&str], refused: Option<&str>) -> RulesLoaded {
        RulesLoaded {
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            refused: refused.map(str::to_owned),
            rules: vec!["ErrorsHigh".into()],
            failed: None,
            source: Source::for_tests(),
        }
    }

    #[test]
    fn rules_load_passes_fails_with_promtools_message_and_errs_on_no_file() {
        assert_eq!(
            verdict(&try_assert_rules_load(&loaded(&["app.yml"], None))),
            Verdict::Pass
        );
        let refused = loaded(
            &["app.yml"],
            Some("rules/app.yml refused: promtool check rules rejected it: 5:15: unclosed"),
        );
        let m = message(try_assert_rules_load(&refused));
        assert!(m.contains("rules/app.yml refused: promtool"), "{m}");
        assert_eq!(
            verdict(&try_assert_rules_load(&loaded(&[], None))),
            Verdict::Error
        );
    }

    fn routes(rules: usize, refused: Option<&str>) -> RoutesLoaded {
        RoutesLoaded {
            rules,
            refused: refused.map(str::to_owned),
            routes: [("ErrorsHigh".to_owned(), vec!["pager".to_owned()])].into(),
            failed: None,
            source: Source::for_tests(),
        }
    }

    #[test]
    fn alert_routes_judge_each_expected_receiver() {
        let loaded = routes(1, None);
        assert_eq!(
            verdict(&try_assert_alert_routes(
                &loaded,
                &[("ErrorsHigh", "pager")]
            )),
            Verdict::Pass
        );
        let m = message(try_assert_alert_routes(&loaded, &[("ErrorsHigh", "chat")]));
        assert!(
            m.contains("ErrorsHigh routes to pager, expected chat"),
            "{m}"
        );
        let m = message(try_assert_alert_routes(&loaded, &[("Typo", "pager")]));
        assert!(
            m.contains("Typo: no alerting rule of that name is loaded"),
            "{m}"
        );
        let m = message(try_assert_alert_routes(
            &routes(
                1,
                Some("alertmanager.yml refused: undefined receiver \"pagr\""),
            ),
            &[("ErrorsHigh", "pager")],
        ));
        assert!(m.contains("undefined receiver"), "{m}");
        assert_eq!(
            verdict(&try_assert_alert_routes(&routes(0, None), &[])),
            Verdict::Error
        );
    }

    fn rule(name: &str, expr: &str, severity: Option<&str>, for_: u64) -> AlertRule {
        AlertRule {
            name: name.into(),
            expr: expr.into(),
            for_: Duration::from_secs(for_),
            labels: severity
                .map(|s| [("severity".to_owned(), s.to_owned())].into())
                .unwrap_or_default(),
            annotations: [("runbook_url".to_owned(), "docs/runbook.md".to_owned())].into(),
            group: "g".into(),
            file: "app.yml".into(),
        }
    }

    fn scraped(rules: Vec<AlertRule>) -> Scraped {
        let mut s = Scraped::for_tests(rules);
        s.metrics
            .insert("queue_depth".into(), (1, ["app".to_owned()].into()));
        s.types.insert("queue_depth".into(), "gauge".into());
        s
    }

    #[test]
    fn rules_lint_judges_the_rules_against_the_scraped_series() {
        let clean = scraped(vec![rule(
            "QueueHigh",
            "queue_depth > 5",
            Some("warning"),
            0,
        )]);
        assert_eq!(verdict(&try_assert_rules_lint(&clean)), Verdict::Pass);
        let sloppy = scraped(vec![
            rule(
                "QueueGrows",
                "rate(queue_depth[1m]) > 1",
                Some("critical"),
                0,
            ),
            rule("Gone", "app_errors_total > 1", None, 60),
        ]);
        let m = message(try_assert_rules_lint(&sloppy));
        for needle in [
            "paging-for: QueueGrows",
            "rate-on-counter: QueueGrows: rate(queue_depth) but queue_depth is a gauge",
            "severity-label: Gone",
            "absent-selector: Gone: selects app_errors_total",
        ] {
            assert!(m.contains(needle), "{needle} in {m}");
        }
        assert_eq!(
            verdict(&try_assert_rules_lint(&scraped(Vec::new()))),
            Verdict::Error
        );
    }

    #[test]
    fn unread_metric_types_fail_only_the_lint_that_needs_them() {
        let mut s = scraped(vec![rule(
            "QueueHigh",
            "queue_depth > 5",
            Some("warning"),
            0,
        )]);
        s.types_failed = Some("GET /api/v1/metadata: 503".into());
        s.targets.push(crate::TargetHealth {
            job: "app".into(),
            url: "http://127.0.0.1:9100/metrics".into(),
            health: "up".into(),
            last_error: String::new(),
        });
        let lint = try_assert_rules_lint(&s);
        assert_eq!(verdict(&lint), Verdict::Error);
        assert!(message(lint).contains("/api/v1/metadata: 503"));
        assert_eq!(
            verdict(&crate::try_assert_metric_exists(&s, "queue_depth")),
            Verdict::Pass,
            "the series were read: their judgement does not need the types"
        );
    }
}
