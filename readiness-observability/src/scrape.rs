//! What Prometheus scrapes: targets up, metrics present, an expression against a
//! threshold, and the exposition text linted against Prometheus's conventions.
//!
//! - `obs.targets_up`: [`try_assert_targets_up`]
//! - `obs.metric_exists`: [`try_assert_metric_exists`]
//! - `obs.query`: [`try_assert_query`]
//! - `obs.metrics_lint`: [`try_assert_metrics_lint`]
//!
//! Each in the shape of every criterion: a drive gives a measurement
//! ([`Pair::scrape`] waits until every target was scraped and reads what Prometheus
//! holds, [`Pair::evaluate`] runs an instant query, [`Exposition::read`] reads one
//! endpoint); the judges are pure and the assertions synchronous.
//!
//! ```no_run
//! # async fn demo(pair: &readiness_observability::Pair) {
//! use readiness_observability::{assert_metric_exists, assert_targets_up};
//!
//! let scraped = pair.scrape().await;
//! assert_targets_up(&scraped);
//! assert_metric_exists(&scraped, "http_requests_total");
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation,
    Quantity, Recorder, Threshold, Unit,
};

use crate::alerts::Source;
use crate::pair::{Pair, TargetHealth};
use crate::rules::AlertRule;

/// What Prometheus held after every target was scraped: each target's health and, per
/// metric, its series and the jobs exporting them. Measured by [`Pair::scrape`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Scraped {
    /// Every target as Prometheus sees it.
    pub targets: Vec<TargetHealth>,
    /// Per metric name: how many series, and from which jobs.
    pub metrics: BTreeMap<String, (u64, BTreeSet<String>)>,
    /// The scrape interval.
    pub scrape_interval: Duration,
    /// Scrape targets the pair was given.
    pub configured: usize,
    /// Metric types by name, from the targets' `# TYPE` lines.
    pub types: BTreeMap<String, String>,
    /// The alerting rules loaded when the targets were scraped.
    pub rules: Vec<AlertRule>,
    /// Why Prometheus could not be read, if it could not.
    pub failed: Option<String>,
    /// Why the metric types (`/api/v1/metadata`) could not be read: only the rules lint
    /// needs them, so only it is an `error` for this.
    pub types_failed: Option<String>,
    source: Source,
}

impl Pair {
    /// Waits until every target was scraped (bounded by 10 scrape intervals, at least
    /// 5 s), then reads the targets' health and every series' metric name and job.
    pub async fn scrape(&self) -> Scraped {
        let mut scraped = Scraped {
            targets: Vec::new(),
            metrics: BTreeMap::new(),
            scrape_interval: self.scrape_interval,
            configured: self.targets().len(),
            types: BTreeMap::new(),
            rules: self.alert_rules().to_vec(),
            failed: None,
            types_failed: None,
            source: self.source(),
        };
        if scraped.configured == 0 {
            return scraped;
        }
        match self.wait_for_scrapes().await {
            Ok(t) => scraped.targets = t,
            Err(e) => {
                scraped.failed = Some(e.to_string());
                return scraped;
            }
        }
        match self
            .query("count by (__name__, job) ({__name__=~\".+\"})")
            .await
        {
            Ok(series) => {
                for (labels, n) in series {
                    let Some(name) = labels.get("__name__") else {
                        continue;
                    };
                    let entry = scraped.metrics.entry(name.clone()).or_default();
                    entry.0 += n as u64;
                    entry.1.extend(labels.get("job").cloned());
                }
            }
            Err(e) => scraped.failed = Some(e.to_string()),
        }
        match self.metric_types().await {
            Ok(types) => scraped.types = types,
            Err(e) => scraped.types_failed = Some(e.to_string()),
        }
        scraped
    }
}

impl Scraped {
    fn check(&self, id: &str, title: String, subject: &str) -> Check {
        self.source.check(id, title, subject)
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// A measurement of one target and `rules`, for the crate's unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(rules: Vec<AlertRule>) -> Scraped {
        Scraped {
            targets: Vec::new(),
            metrics: BTreeMap::new(),
            scrape_interval: Duration::from_secs(1),
            configured: 1,
            types: BTreeMap::new(),
            rules,
            failed: None,
            types_failed: None,
            source: Source::for_tests(),
        }
    }
}

/// Panics unless [`try_assert_targets_up`] passes.
#[track_caller]
pub fn assert_targets_up(scraped: &Scraped) -> Evidence {
    try_assert_targets_up(scraped).or_panic()
}

/// `obs.targets_up`: every scrape target is up. A target that is down is named with
/// Prometheus's reason (`connection refused`, `server returned HTTP status 503`). An
/// `error` when the pair scrapes nothing or Prometheus could not be read.
pub fn try_assert_targets_up(scraped: &Scraped) -> Result<Evidence, Failure> {
    let check = scraped
        .check(
            "obs.targets_up",
            "every scrape target is up".into(),
            "scrape/targets",
        )
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!(
            "Prometheus scrapes {} target(s) every {:?}",
            scraped.configured, scraped.scrape_interval
        ));
    if scraped.configured == 0 {
        return Err(check.nothing_measured("the pair was given no scrape target"));
    }
    if let (Some(why), true) = (&scraped.failed, scraped.targets.is_empty()) {
        return Err(check.error(Error::Other(why.clone())));
    }
    let health = &scraped.targets;
    let down: Vec<String> = health
        .iter()
        .filter(|t| t.health != "up")
        .map(|t| {
            let why = if t.health == "unknown" {
                "never scraped".to_owned()
            } else {
                t.last_error.clone()
            };
            format!("job {} at {} is {}: {why}", t.job, t.url, t.health)
        })
        .collect();
    let summary = if down.is_empty() {
        format!(
            "{} target(s) up: {}",
            health.len(),
            health
                .iter()
                .map(|t| t.url.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "{} of {} target(s) down: {}",
            down.len(),
            health.len(),
            down.join("; ")
        )
    };
    check.judge(Observation::new(Quantity::count(down.len() as u64)).with_summary(summary))
}

/// Panics unless [`try_assert_metric_exists`] passes.
#[track_caller]
pub fn assert_metric_exists(scraped: &Scraped, metric: &str) -> Evidence {
    try_assert_metric_exists(scraped, metric).or_panic()
}

/// `obs.metric_exists`: some scraped target exports `metric` (at least one series). An
/// `error` when no target is up (nothing was scraped to look in) or Prometheus could not
/// be read.
pub fn try_assert_metric_exists(scraped: &Scraped, metric: &str) -> Result<Evidence, Failure> {
    let check = scraped
        .check(
            "obs.metric_exists",
            format!("{metric} is exported"),
            &format!("metric/{metric}"),
        )
        .with_threshold(Threshold::at_least(Count(1)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!("series of {metric} after a scrape of every target"));
    let up: Vec<&str> = scraped
        .targets
        .iter()
        .filter(|t| t.health == "up")
        .map(|t| t.job.as_str())
        .collect();
    if up.is_empty() {
        return Err(check.nothing_measured(format!(
            "no scrape target is up, so no metric could be seen (targets: {})",
            scraped
                .targets
                .iter()
                .map(|t| format!("{} {}", t.url, t.health))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(why) = &scraped.failed {
        return Err(check.error(Error::Other(why.clone())));
    }
    let (series, jobs) = scraped.metrics.get(metric).cloned().unwrap_or_default();
    let summary = if series == 0 {
        let stem = metric.trim_end_matches("_total");
        let near: Vec<&str> = scraped
            .metrics
            .keys()
            .filter(|n| n.starts_with(stem) || stem.starts_with(n.trim_end_matches("_total")))
            .map(String::as_str)
            .take(5)
            .collect();
        let near = if near.is_empty() {
            String::new()
        } else {
            format!("; similar names exported: {}", near.join(", "))
        };
        format!(
            "series {metric} is absent: no scraped target exports it (targets up: {}){near}",
            up.join(", ")
        )
    } else {
        format!(
            "{series} series of {metric} from {}",
            jobs.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    check.judge(Observation::new(Quantity::count(series)).with_summary(summary))
}

/// What an instant query gave: every sample's labels and value. Measured by
/// [`Pair::evaluate`], judged by [`try_assert_query`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Queried {
    /// The PromQL expression.
    pub expr: String,
    /// Each sample's labels and value.
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
    /// Why Prometheus could not answer, if it could not.
    pub failed: Option<String>,
    source: Source,
}

impl Pair {
    /// Evaluates `expr` as an instant query now.
    pub async fn evaluate(&self, expr: &str) -> Queried {
        let (samples, failed) = match self.query(expr).await {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Queried {
            expr: expr.to_owned(),
            samples,
            failed,
            source: self.source(),
        }
    }
}

/// Panics unless [`try_assert_query`] passes.
#[track_caller]
pub fn assert_query(queried: &Queried, threshold: Threshold) -> Evidence {
    try_assert_query(queried, threshold).or_panic()
}

/// `obs.query`: the value of a PromQL expression against a threshold, read in the
/// threshold's unit (seconds, a ratio, a count, a rate, bytes). The expression must give
/// one sample: aggregate with `sum`, `max`, ... An `error` when it gives none.
///
/// ```no_run
/// # async fn demo(pair: &readiness_observability::Pair) -> readiness_core::Result<()> {
/// use readiness_core::{Ratio, Threshold};
/// use readiness_observability::assert_query;
///
/// let errors = pair.evaluate("max(app_error_ratio)").await;
/// assert_query(&errors, Threshold::at_most(Ratio::percent(1.0)?));
/// # Ok(()) }
/// ```
pub fn try_assert_query(queried: &Queried, threshold: Threshold) -> Result<Evidence, Failure> {
    let expr = &queried.expr;
    let check = queried
        .source
        .check(
            "obs.query",
            format!("`{expr}` {threshold}"),
            &format!("query/{expr}"),
        )
        .with_threshold(threshold)
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!("instant query `{expr}` against Prometheus"));
    if let Some(why) = &queried.failed {
        return Err(check.error(Error::Other(why.clone())));
    }
    let value = match queried.samples.as_slice() {
        [] => {
            return Err(check.nothing_measured(format!(
                "`{expr}` gives no sample: its series are absent or the filter removed them all"
            )));
        }
        [(_, v)] => *v,
        many => {
            return Err(check.error(Error::InvalidInput(format!(
                "`{expr}` gives {} samples; aggregate it to one (sum, max, ...)",
                many.len()
            ))));
        }
    };
    let quantity = match threshold.unit() {
        Unit::Seconds => Quantity::secs(value),
        Unit::PerSecond => Quantity::per_second(value),
        Unit::Ratio => Quantity::ratio(value),
        Unit::Count => Quantity::count(value.max(0.0).round() as u64),
        Unit::Bytes => Quantity::bytes(value.max(0.0).round() as u64),
    };
    check.judge(Observation::new(quantity).with_summary(format!("`{expr}` = {value}")))
}

/// Conventions [`try_assert_metrics_lint`] checks, with its limits.
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsLint {
    max_series_per_metric: usize,
    max_values_per_label: usize,
    recorder: Option<Recorder>,
}

impl Default for MetricsLint {
    fn default() -> Self {
        MetricsLint {
            max_series_per_metric: 500,
            max_values_per_label: 100,
            recorder: None,
        }
    }
}

impl MetricsLint {
    /// At most `n` series per metric (default 500).
    pub fn max_series_per_metric(mut self, n: usize) -> Self {
        self.max_series_per_metric = n;
        self
    }
    /// At most `n` values of one label in one metric (default 100): a label holding ids,
    /// paths or users grows without bound.
    pub fn max_values_per_label(mut self, n: usize) -> Self {
        self.max_values_per_label = n;
        self
    }

    /// Records the check with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The problems in an exposition text, each `rule: metric: why`.
    pub fn problems(&self, text: &str) -> Vec<String> {
        let parsed = parse(text);
        let mut problems = Vec::new();
        for (family, meta) in &parsed.families {
            let samples: Vec<&Sample> = parsed
                .samples
                .iter()
                .filter(|s| family_of(&s.name, &parsed.families) == Some(family.as_str()))
                .collect();
            if !is_snake_case(family) {
                problems.push(format!("name-format: {family}: use lower snake_case"));
            }
            if meta.help.is_none() {
                problems.push(format!("help: {family}: no # HELP line"));
            }
            for unit in [
                "_milliseconds",
                "_ms",
                "_microseconds",
                "_kilobytes",
                "_megabytes",
            ] {
                if family.contains(unit) {
                    problems.push(format!(
                        "base-units: {family}: use seconds and bytes, not {}",
                        unit.trim_start_matches('_')
                    ));
                }
            }
            match meta.kind.as_deref() {
                Some("counter") => {
                    if let Some(s) = samples
                        .iter()
                        .find(|s| !s.name.ends_with("_total") && !s.name.ends_with("_created"))
                    {
                        problems.push(format!(
                            "counter-total: {}: a counter's samples end in _total",
                            s.name
                        ));
                    }
                }
                Some("histogram") => {
                    let buckets: Vec<&&Sample> = samples
                        .iter()
                        .filter(|s| s.name.ends_with("_bucket"))
                        .collect();
                    if buckets.is_empty() {
                        problems.push(format!("histogram-buckets: {family}: no _bucket series"));
                    } else if !buckets
                        .iter()
                        .any(|s| s.labels.get("le").is_some_and(|l| l == "+Inf"))
                    {
                        problems.push(format!(
                            "histogram-buckets: {family}: no le=\"+Inf\" bucket"
                        ));
                    }
                    for suffix in ["_sum", "_count"] {
                        if !samples.iter().any(|s| s.name.ends_with(suffix)) {
                            problems
                                .push(format!("histogram-buckets: {family}: no {suffix} series"));
                        }
                    }
                }
                None => problems.push(format!("type: {family}: no # TYPE line")),
                _ => {}
            }
            let series: BTreeSet<&BTreeMap<String, String>> = samples
                .iter()
                .filter(|s| !s.name.ends_with("_bucket"))
                .map(|s| &s.labels)
                .collect();
            if series.len() > self.max_series_per_metric {
                problems.push(format!(
                    "cardinality: {family}: {} series, limit {}",
                    series.len(),
                    self.max_series_per_metric
                ));
            }
            let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for s in &samples {
                for (k, v) in &s.labels {
                    if k != "le" && k != "quantile" {
                        values.entry(k).or_default().insert(v);
                    }
                }
            }
            for (label, vs) in values {
                if vs.len() > self.max_values_per_label {
                    problems.push(format!(
                        "cardinality: {family}: label {label} has {} values, limit {}",
                        vs.len(),
                        self.max_values_per_label
                    ));
                }
            }
        }
        for s in &parsed.samples {
            if family_of(&s.name, &parsed.families).is_none() {
                problems.push(format!("type: {}: a sample with no # TYPE line", s.name));
            }
        }
        problems.dedup();
        problems
    }
}

/// One metrics endpoint's exposition text, read once. Measured by [`Exposition::read`],
/// judged by [`try_assert_metrics_lint`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exposition {
    /// The endpoint read.
    pub url: String,
    /// The text it gave.
    pub text: String,
    /// Why it could not be read (a URL off loopback, a refused connection), if it could not.
    pub failed: Option<String>,
}

impl Exposition {
    /// Reads the exposition text at `url`, a loopback `/metrics`.
    pub async fn read(url: &str) -> Exposition {
        let read = match readiness_core::guard::check_target(
            url,
            readiness_core::guard::Reach::Loopback,
            "a loopback metrics URL",
        ) {
            Ok(_) => fetch(url).await,
            Err(e) => Err(e),
        };
        let (text, failed) = match read {
            Ok(t) => (t, None),
            Err(e) => (String::new(), Some(e.to_string())),
        };
        Exposition {
            url: url.to_owned(),
            text,
            failed,
        }
    }
}

/// Panics unless [`try_assert_metrics_lint`] passes.
#[track_caller]
pub fn assert_metrics_lint(exposition: &Exposition, lint: &MetricsLint) -> Evidence {
    try_assert_metrics_lint(exposition, lint).or_panic()
}

/// `obs.metrics_lint`: an exposition text ([`Exposition::read`]) follows Prometheus's
/// conventions: lower snake_case names, `# HELP` and `# TYPE` for each family, counters
/// ending in `_total`, histograms with `_bucket` (up to `+Inf`), `_sum` and `_count`, base
/// units, and the cardinality limits. An `error` when the endpoint gives no metric.
pub fn try_assert_metrics_lint(
    exposition: &Exposition,
    lint: &MetricsLint,
) -> Result<Evidence, Failure> {
    let url = &exposition.url;
    let title = format!("metrics at {url} follow the naming and type conventions");
    let mut check = Check::new("obs.metrics_lint", title, Category::OBSERVABILITY)
        .with_subject(format!("metrics/{url}"));
    if let Some(r) = &lint.recorder {
        check = check.with_recorder(r.clone());
    }
    check = check
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_target(url.to_owned())
        .with_scenario(format!(
            "one scrape of {url}; at most {} series per metric, {} values per label",
            lint.max_series_per_metric, lint.max_values_per_label
        ));
    if let Some(why) = &exposition.failed {
        return Err(check.error(Error::Other(why.clone())));
    }
    let families = parse(&exposition.text).families.len();
    if families == 0 {
        return Err(check.nothing_measured(format!("{url} gives no metric")));
    }
    let problems = lint.problems(&exposition.text);
    let summary = if problems.is_empty() {
        format!("{families} metric families, no problem")
    } else {
        format!(
            "{} problem(s) in {families} families: {}",
            problems.len(),
            problems.join("; ")
        )
    };
    check.judge(Observation::new(Quantity::count(problems.len() as u64)).with_summary(summary))
}

/// One scrape, as Prometheus would make it: bounded (10 s), never following a redirect.
async fn fetch(url: &str) -> readiness_core::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Other(format!("http client: {e}")))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    if !status.is_success() {
        return Err(Error::Other(format!("GET {url}: {status}")));
    }
    Ok(text)
}

#[derive(Debug, Default)]
struct Meta {
    kind: Option<String>,
    help: Option<String>,
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Parsed {
    families: BTreeMap<String, Meta>,
    samples: Vec<Sample>,
}

fn is_snake_case(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
}

/// The family a sample belongs to: its name, or its name without a histogram, summary or
/// counter suffix.
fn family_of<'a>(sample: &str, families: &'a BTreeMap<String, Meta>) -> Option<&'a str> {
    if let Some((name, _)) = families.get_key_value(sample) {
        return Some(name);
    }
    for suffix in ["_bucket", "_sum", "_count", "_total", "_created", "_info"] {
        if let Some(stem) = sample.strip_suffix(suffix)
            && let Some((name, _)) = families.get_key_value(stem)
        {
            return Some(name);
        }
    }
    None
}

/// A lenient reader of the text format (0.0.4 and OpenMetrics): `# HELP`, `# TYPE` and
/// samples with their labels.
fn parse(text: &str) -> Parsed {
    let mut e = Parsed::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            e.families.entry(name.to_owned()).or_default().help = Some(help.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            e.families.entry(name.to_owned()).or_default().kind = Some(kind.trim().to_owned());
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..name_end].to_owned();
            let mut labels = BTreeMap::new();
            if line[name_end..].starts_with('{')
                && let Some(close) = line.rfind('}')
            {
                labels = parse_labels(&line[name_end + 1..close]);
            }
            e.samples.push(Sample { name, labels });
        }
    }
    e
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let after = &rest[eq + 1..];
        let Some(body) = after.strip_prefix('"') else {
            break;
        };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &body[end..];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_exposition_has_no_problem() {
        let text = "# HELP http_requests_total Requests\n# TYPE http_requests_total counter\nhttp_requests_total{route=\"/a\",status=\"200\"} 3\n\
                    # HELP latency_seconds Latency\n# TYPE latency_seconds histogram\nlatency_seconds_bucket{le=\"0.1\"} 1\nlatency_seconds_bucket{le=\"+Inf\"} 2\nlatency_seconds_sum 0.3\nlatency_seconds_count 2\n";
        assert_eq!(MetricsLint::default().problems(text), Vec::<String>::new());
        // OpenMetrics names the counter family without _total.
        let om = "# HELP http_requests Requests.\n# TYPE http_requests counter\nhttp_requests_total{a=\"b\"} 1\nhttp_requests_created{a=\"b\"} 1.7e9\n# EOF\n";
        assert_eq!(MetricsLint::default().problems(om), Vec::<String>::new());
    }

    #[test]
    fn names_each_broken_convention() {
        let mut text = String::from(
            "# TYPE requests counter\nrequests 3\n# HELP Latency_ms x\n# TYPE Latency_ms histogram\nLatency_ms_sum 1\nLatency_ms_count 1\nstray 1\n# HELP users_active x\n# TYPE users_active gauge\n",
        );
        for i in 0..5 {
            text.push_str(&format!("users_active{{user=\"u{i}\"}} 1\n"));
        }
        let problems = MetricsLint::default()
            .max_values_per_label(3)
            .problems(&text);
        let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
        assert!(has("counter-total: requests"), "{problems:?}");
        assert!(has("help: requests"), "{problems:?}");
        assert!(has("name-format: Latency_ms"), "{problems:?}");
        assert!(has("base-units: Latency_ms"), "{problems:?}");
        assert!(
            has("histogram-buckets: Latency_ms: no _bucket"),
            "{problems:?}"
        );
        assert!(has("type: stray"), "{problems:?}");
        assert!(
            has("cardinality: users_active: label user has 5 values, limit 3"),
            "{problems:?}"
        );
    }

    #[test]
    fn labels_with_escapes_and_commas() {
        let l = parse_labels(r#"a="x,y",b="q\"uote",c="line\nbreak""#);
        assert_eq!(l["a"], "x,y");
        assert_eq!(l["b"], "q\"uote");
        assert_eq!(l["c"], "line\nbreak");
    }

    fn verdict(r: &Result<Evidence, Failure>) -> readiness_core::Verdict {
        match r {
            Ok(e) => e.verdict,
            Err(f) => f.verdict(),
        }
    }

    fn queried(samples: &[f64], failed: Option<&str>) -> Queried {
        Queried {
            expr: "max(app_error_ratio)".into(),
            samples: samples.iter().map(|v| (BTreeMap::new(), *v)).collect(),
            failed: failed.map(str::to_owned),
            source: Source::for_tests(),
        }
    }

    #[test]
    fn a_query_is_judged_in_the_thresholds_unit_and_needs_one_sample()
    -> Result<(), readiness_core::Error> {
        use readiness_core::{Ratio, Verdict};
        let limit = Threshold::at_most(Ratio::percent(5.0)?);
        assert_eq!(
            verdict(&try_assert_query(&queried(&[0.02], None), limit)),
            Verdict::Pass
        );
        let high = try_assert_query(&queried(&[0.08], None), limit);
        assert_eq!(verdict(&high), Verdict::Fail);
        assert_eq!(
            verdict(&try_assert_query(&queried(&[], None), limit)),
            Verdict::Error
        );
        let two = try_assert_query(&queried(&[0.01, 0.02], None), limit);
        assert!(two.is_err_and(|f| f.to_string().contains("gives 2 samples")));
        let down = try_assert_query(&queried(&[], Some("connection refused")), limit);
        assert!(down.is_err_and(
            |f| f.verdict() == Verdict::Error && f.to_string().contains("connection refused")
        ));
        Ok(())
    }

    #[test]
    fn metrics_lint_judges_the_text_read() {
        use readiness_core::Verdict;
        let lint = MetricsLint::default().with_recorder(crate::self_test_recorder());
        let read = |text: &str, failed: Option<&str>| Exposition {
            url: "http://127.0.0.1:9/metrics".into(),
            text: text.into(),
            failed: failed.map(str::to_owned),
        };
        let clean = "# HELP up_total x\n# TYPE up_total counter\nup_total 1\n";
        assert_eq!(
            verdict(&try_assert_metrics_lint(&read(clean, None), &lint)),
            Verdict::Pass
        );
        let bad = "# TYPE errors counter\nerrors 1\n";
        let f = try_assert_metrics_lint(&read(bad, None), &lint);
        assert!(f.is_err_and(
            |f| f.verdict() == Verdict::Fail && f.to_string().contains("counter-total: errors")
        ));
        assert_eq!(
            verdict(&try_assert_metrics_lint(&read("", None), &lint)),
            Verdict::Error
        );
        assert_eq!(
            verdict(&try_assert_metrics_lint(&read("", Some("refused")), &lint)),
            Verdict::Error
        );
    }
}
