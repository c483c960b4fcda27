//! Alerts judged end to end: the test induces the cause, the harness watches Prometheus's
//! alert states and the notifications reaching its webhook, and judges the time from the
//! cause to the notification at the expected receiver.
//!
//! - `obs.alert_fires`: [`AlertExpectation::assert_fires`]
//! - `obs.alert_resolves`: [`AlertExpectation::assert_resolves`]
//! - `obs.alert_silent`: [`crate::silence`] (every alert, or one alert and its labels:
//!   [`AlertExpectation::silence`], [`AlertExpectation::assert_never_fires`])

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use readiness_core::{
    AlertEvent, AlertState, AlertTimeline, Category, Check, CheckResultExt, Combine, Evidence,
    Failure, Moment, Observation, Quantity, Ratio, Recorder, Threshold,
};

use tokio::time::Instant;

use crate::pair::{Change, Pair};
use crate::promql;
use crate::rules::AlertRule;
use crate::silence::{AlertScope, Silence, instance_text};
use crate::webhook::Notification;

/// The moment a cause was induced (or cleared), and what it was: readiness-core's
/// [`Moment`], the type a fault of readiness-dr is, so a fault is the cause as it is.
pub type Induced = Moment;

/// What a test expects of one alert: a bound, and optionally a receiver and labels.
#[derive(Debug, Clone)]
#[must_use]
pub struct AlertExpectation<'p> {
    pair: &'p Pair,
    name: String,
    within: Duration,
    receiver: Option<String>,
    labels: BTreeMap<String, String>,
}

impl Pair {
    /// The expectation on alert `name` (bound 60 s until [`AlertExpectation::within`]).
    pub fn alert(&self, name: impl Into<String>) -> AlertExpectation<'_> {
        AlertExpectation {
            pair: self,
            name: name.into(),
            within: Duration::from_secs(60),
            receiver: None,
            labels: BTreeMap::new(),
        }
    }

    pub(crate) fn check(&self, id: &str, title: String, subject: &str) -> Check {
        self.source().check(id, title, subject)
    }

    /// Where a measurement of this pair came from, to make its check from.
    pub(crate) fn source(&self) -> Source {
        Source {
            target: self.prometheus_url().to_owned(),
            recorder: self.recorder.clone(),
        }
    }
}

/// The Prometheus a measurement was read from and the recorder its check writes to: what
/// a pure judge needs besides the measurement.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    target: String,
    recorder: Option<Recorder>,
}

impl Source {
    /// The source of the crate's unit tests: no Prometheus, the self-test recorder.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Source {
        Source {
            target: "http://127.0.0.1:9090".into(),
            recorder: Some(crate::self_test_recorder()),
        }
    }

    pub(crate) fn check(&self, id: &str, title: String, subject: &str) -> Check {
        let check = Check::new(id, title, Category::OBSERVABILITY)
            .with_subject(subject.to_owned())
            .with_target(self.target.clone());
        match &self.recorder {
            Some(r) => check.with_recorder(r.clone()),
            None => check,
        }
    }
}

impl Pair {
    /// The alerting rules loaded now that reached the webhook firing (any receiver), and
    /// those that never did.
    pub fn fired_and_never_fired(&self) -> (Vec<String>, Vec<String>) {
        let notified: BTreeSet<String> = self
            .webhook()
            .notifications()
            .iter()
            .flat_map(|n| n.alerts.iter())
            .filter(|a| a.status == "firing")
            .map(|a| a.name().to_owned())
            .collect();
        self.alert_rules()
            .iter()
            .map(|r| r.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .partition(|name| notified.contains(name))
    }

    /// Panics unless [`Pair::try_assert_all_alerts_fired`] passes.
    pub fn assert_all_alerts_fired(&self) -> Evidence {
        self.try_assert_all_alerts_fired().or_panic()
    }

    /// `obs.alerts_fired`, the roll-up: every alerting rule loaded was fired by some test
    /// on this pair (a firing notification reached the webhook): "alerts fired in testing:
    /// N of M", naming the ones never fired. An `error` when no alerting rule is loaded.
    pub fn try_assert_all_alerts_fired(&self) -> Result<Evidence, Failure> {
        let (fired, never) = self.fired_and_never_fired();
        let total = (fired.len() + never.len()) as u64;
        let check = self
            .check(
                "obs.alerts_fired",
                "every alerting rule was fired in testing".into(),
                "alerts/fired",
            )
            .with_threshold(Threshold::at_least(Ratio::ONE))
            .with_combine(Combine::Proportion {
                events: fired.len() as u64,
                trials: total,
            })
            .with_scenario(format!(
                "rules loaded on this pair: {}",
                self.alert_rules()
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        if total == 0 {
            return Err(check.nothing_measured("no alerting rule is loaded"));
        }
        let mut summary = format!("alerts fired in testing: {} of {total}", fired.len());
        if !never.is_empty() {
            summary.push_str(&format!("; never fired: {}", never.join(", ")));
        }
        check.judge(
            Observation::new(Quantity::ratio(fired.len() as f64 / total as f64))
                .with_summary(summary),
        )
    }
}

fn ms(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from.duration_since(to).as_secs_f64() * 1e3),
    }
}

/// `+1.3 s`, `-0.2 s`: a time from the cause.
fn rel(ms: f64) -> String {
    let s = (ms / 100.0).round() / 10.0;
    format!("{}{:.1} s", if s < 0.0 { "-" } else { "+" }, s.abs())
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl<'p> AlertExpectation<'p> {
    /// The bound: from the cause to the notification (or to the resolved notification).
    pub fn within(mut self, bound: Duration) -> Self {
        self.within = bound;
        self
    }
    /// The receiver the notification must reach.
    pub fn routed_to(mut self, receiver: impl Into<String>) -> Self {
        self.receiver = Some(receiver.into());
        self
    }
    /// A label the notified alert must carry.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The alert and labels this expectation is about.
    pub fn scope(&self) -> AlertScope {
        AlertScope::from_parts(Some(self.name.clone()), self.labels.clone())
    }

    /// A silence of this alert with these labels ([`crate::silence`]): "/search never
    /// alerts while /checkout fires".
    pub fn silence(&self) -> Silence<'p> {
        self.pair.silence_of(self.scope())
    }

    /// Panics unless [`AlertExpectation::try_assert_never_fires`] passes.
    pub async fn assert_never_fires(&self, window: Duration) -> Evidence {
        self.try_assert_never_fires(window).await.or_panic()
    }

    /// `obs.alert_silent` for this alert and labels: over `window` from now it never
    /// fires and is never notified (pending is shown, not counted; see
    /// [`Silence::strict`]).
    pub async fn try_assert_never_fires(&self, window: Duration) -> Result<Evidence, Failure> {
        self.silence().watch(window).await?.judge()
    }

    fn rule(&self) -> Option<&'p AlertRule> {
        self.pair.alert_rules().iter().find(|r| r.name == self.name)
    }

    /// Whether `n` is a notification of `status` of this alert, at the expected receiver,
    /// with the expected labels and, when `instances` are given, for one of them (its
    /// labels include all of one instance's).
    fn matches(
        &self,
        n: &Notification,
        status: &str,
        instances: Option<&[BTreeMap<String, String>]>,
    ) -> bool {
        self.receiver.as_ref().is_none_or(|r| &n.receiver == r)
            && n.alerts.iter().any(|a| {
                a.name() == self.name
                    && a.status == status
                    && self.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
                    && instances.is_none_or(|sets| {
                        sets.iter()
                            .any(|set| set.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
                    })
            })
    }

    /// Waits until a notification of `status` that matches arrives after `since`, or the
    /// bound passes; its arrival.
    async fn wait_for(
        &self,
        since: &Induced,
        status: &str,
        instances: Option<&[BTreeMap<String, String>]>,
    ) -> Option<Instant> {
        let deadline = since.at + self.within;
        loop {
            if let Some(n) = self
                .pair
                .webhook()
                .notifications()
                .iter()
                .find(|n| n.at >= since.at && self.matches(n, status, instances))
            {
                return Some(n.at);
            }
            let now = Instant::now();
            if now > deadline {
                return None;
            }
            let wake = (now + self.pair.poll_interval).min(deadline + Duration::from_millis(1));
            self.pair.webhook().wait_for_any(wake).await;
        }
    }

    fn timeline(&self, induced: &Induced, rule: &AlertRule) -> AlertTimeline {
        let zero = induced.at;
        let mut events = vec![AlertEvent::new(0.0, AlertState::Induced)];
        // The state the alert was in at the cause, then every change after it.
        let changes = self.pair.changes();
        let scope = self.scope();
        let mine: Vec<&Change> = changes
            .iter()
            .filter(|c| scope.covers(&c.alert, &c.labels))
            .collect();
        if let Some(before) = mine.iter().rev().find(|c| c.at < zero)
            && before.state != "inactive"
        {
            events.push(state_event(
                induced,
                before,
                rule.for_,
                self.pair.evaluation_interval,
            ));
        }
        events.extend(
            mine.iter()
                .filter(|c| c.at >= zero)
                .map(|c| state_event(induced, c, rule.for_, self.pair.evaluation_interval)),
        );
        for n in self
            .pair
            .webhook()
            .notifications()
            .iter()
            .filter(|n| n.at >= zero)
        {
            for a in n.alerts.iter().filter(|a| a.name() == self.name) {
                let state = if a.status == "resolved" {
                    AlertState::ResolvedNotified
                } else {
                    AlertState::Notified
                };
                events.push(
                    AlertEvent::new(ms(zero, n.at), state)
                        .with_receiver(n.receiver.clone())
                        .with_labels(a.labels.clone()),
                );
            }
        }
        events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        AlertTimeline::new(
            self.name.clone(),
            (induced.what.clone(), induced.wall),
            rule.for_,
            (
                self.pair.scrape_interval,
                self.pair.evaluation_interval,
                self.pair.poll_interval,
            ),
            self.receiver.clone(),
            events,
        )
    }

    fn check(&self, id: &str, title: String, rule: Option<&AlertRule>) -> Check {
        let expect = match (&self.receiver, self.labels.is_empty()) {
            (Some(r), true) => format!(", routed to {r}"),
            (Some(r), false) => format!(", routed to {r} with {}", labels_text(&self.labels)),
            (None, false) => format!(" with {}", labels_text(&self.labels)),
            (None, true) => String::new(),
        };
        let rule_text = rule.map_or_else(String::new, |r| {
            format!("; rule `{}` for {:?} in {}", r.expr, r.for_, r.file)
        });
        self.pair
            .check(id, title, &format!("alert/{}/{id}", self.name))
            .with_threshold(Threshold::at_most(self.within))
            .with_combine(Combine::VerdictOnly)
            .with_scenario(format!(
                "cause induced, {} watched{expect} (scrape {:?}, evaluation {:?}){rule_text}",
                self.name, self.pair.scrape_interval, self.pair.evaluation_interval
            ))
    }

    fn watched(&self, check: &Check, seen: Seen, timeline: Option<AlertTimeline>) -> AlertWatch {
        AlertWatch {
            alert: self.name.clone(),
            within: self.within,
            seen,
            timeline,
            check: check.clone(),
        }
    }

    fn unknown_rule(&self) -> String {
        let loaded: Vec<&str> = self
            .pair
            .alert_rules()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        format!(
            "no alerting rule named {} is loaded (loaded: {}); nothing can fire it",
            self.name,
            if loaded.is_empty() {
                "none".into()
            } else {
                loaded.join(", ")
            }
        )
    }

    /// Panics unless [`AlertExpectation::try_assert_fires`] passes.
    pub async fn assert_fires(&self, induced: &Induced) -> Evidence {
        self.try_assert_fires(induced).await.or_panic()
    }

    /// `obs.alert_fires`: watches ([`AlertExpectation::watch_fires`]) and judges
    /// ([`AlertWatch::judge`]).
    pub async fn try_assert_fires(&self, induced: &Induced) -> Result<Evidence, Failure> {
        self.watch_fires(induced).await.judge()
    }

    /// Panics unless [`AlertExpectation::try_assert_resolves`] passes.
    pub async fn assert_resolves(&self, cleared: &Induced) -> Evidence {
        self.try_assert_resolves(cleared).await.or_panic()
    }

    /// `obs.alert_resolves`: watches ([`AlertExpectation::watch_resolves`]) and judges
    /// ([`AlertWatch::judge`]).
    pub async fn try_assert_resolves(&self, cleared: &Induced) -> Result<Evidence, Failure> {
        self.watch_resolves(cleared).await.judge()
    }

    /// Drives `obs.alert_fires`: after `induced`, waits (at most the bound) for a firing
    /// notification of the alert at the expected receiver with the expected labels, and
    /// keeps the timeline (induced, pending, firing, notified) and, when none came, how far
    /// the alert got: never pending (which of the rule's series are absent, or the label
    /// its selector asks for that no series has), pending and dropped before its `for`,
    /// still pending, firing but not notified, or notified elsewhere. A selector on a
    /// target label no target has is known at once: nothing is awaited.
    pub async fn watch_fires(&self, induced: &Induced) -> AlertWatch {
        let rule = self.rule();
        let title = format!(
            "{} fires within {}",
            self.name,
            Quantity::duration(self.within)
        );
        let check = self.check("obs.alert_fires", title, rule);
        let watch = |seen, timeline| self.watched(&check, seen, timeline);
        let Some(rule) = rule else {
            return watch(Seen::Nothing(self.unknown_rule()), None);
        };
        let impossible = self.impossible_selectors(rule);
        if !impossible.is_empty() {
            let why = format!(
                "{} can never fire here: {}",
                self.name,
                impossible.join("; ")
            );
            return watch(Seen::Never(why), Some(self.timeline(induced, rule)));
        }
        let arrived = self.wait_for(induced, "firing", None).await;
        // The notification can beat the next poll of Prometheus's alerts: let the poller
        // see the state that caused it.
        tokio::time::sleep(self.pair.poll_interval * 2).await;
        let timeline = self.timeline(induced, rule);
        let seen = match arrived {
            Some(at) => {
                let latency = at.duration_since(induced.at);
                Seen::Arrived(
                    latency,
                    format!(
                        "{} notified {} after the cause: {}",
                        self.name,
                        Quantity::duration(latency),
                        steps_text(&timeline)
                    ),
                )
            }
            None => {
                let why = self.why_not_fired(rule, &timeline).await;
                Seen::Missed(
                    induced.at.elapsed(),
                    format!("{} not notified within {:?}: {why}", self.name, self.within),
                )
            }
        };
        watch(seen, Some(timeline))
    }

    /// Drives `obs.alert_resolves`: after the cause is `cleared`, waits (at most the
    /// bound) for a resolved notification of an instance of the alert (with the expected
    /// labels) that was firing then. Nothing to judge when no such instance was firing
    /// (nothing to resolve), or when every receiver it goes to has `send_resolved: false`
    /// (no resolve will ever be sent there).
    pub async fn watch_resolves(&self, cleared: &Induced) -> AlertWatch {
        let rule = self.rule();
        let title = format!(
            "{} resolves within {}",
            self.name,
            Quantity::duration(self.within)
        );
        let check = self.check("obs.alert_resolves", title, rule);
        let watch = |seen, timeline| self.watched(&check, seen, timeline);
        let Some(rule) = rule else {
            return watch(Seen::Nothing(self.unknown_rule()), None);
        };
        // Every instance of the alert in the scope, by its state when the cause was
        // cleared: only those firing then have anything to resolve.
        let scope = self.scope();
        let changes = self.pair.changes();
        let mut last: BTreeMap<&BTreeMap<String, String>, &Change> = BTreeMap::new();
        for c in changes
            .iter()
            .filter(|c| c.at <= cleared.at && scope.covers(&c.alert, &c.labels))
        {
            last.insert(&c.labels, c);
        }
        let firing: Vec<BTreeMap<String, String>> = last
            .values()
            .filter(|c| c.state == "firing")
            .map(|c| c.labels.clone())
            .collect();
        if firing.is_empty() {
            let seen: Vec<String> = last
                .values()
                .map(|c| format!("{} {}", instance_text(&c.alert, &c.labels), c.state))
                .collect();
            return watch(
                Seen::Nothing(format!(
                    "no instance of {} was firing when the cause was cleared{}: there is \
                     nothing to resolve (assert that it fires first)",
                    scope.text(),
                    if seen.is_empty() {
                        String::new()
                    } else {
                        format!(" (seen: {})", seen.join(", "))
                    }
                )),
                None,
            );
        }
        // A receiver the team configured without resolves never gets one.
        let receivers: Vec<String> = match &self.receiver {
            Some(r) => vec![r.clone()],
            None => self
                .pair
                .routes()
                .get(&self.name)
                .cloned()
                .unwrap_or_default(),
        };
        let mute: Vec<&str> = receivers
            .iter()
            .filter(|r| self.pair.sends_resolved(r) == Some(false))
            .map(String::as_str)
            .collect();
        if !receivers.is_empty() && mute.len() == receivers.len() {
            return watch(
                Seen::Nothing(format!(
                    "{} is routed to {} with send_resolved: false in the team's Alertmanager \
                     config: Alertmanager never sends a resolve there, so none can be awaited \
                     (assert the resolve at a receiver that gets resolves)",
                    self.name,
                    mute.join(", ")
                )),
                None,
            );
        }
        let arrived = self.wait_for(cleared, "resolved", Some(&firing)).await;
        tokio::time::sleep(self.pair.poll_interval * 2).await;
        let timeline = self.timeline(cleared, rule);
        let seen = match arrived {
            Some(at) => {
                let latency = at.duration_since(cleared.at);
                Seen::Arrived(
                    latency,
                    format!(
                        "{} resolved {} after the cause was cleared: {}",
                        self.name,
                        Quantity::duration(latency),
                        steps_text(&timeline)
                    ),
                )
            }
            None => {
                let inactive = timeline
                    .events
                    .iter()
                    .find(|e| e.state == AlertState::Inactive)
                    .map(|e| e.at_ms);
                let why = match inactive {
                    Some(ms) => format!(
                        "inactive in Prometheus at +{:.1} s, but no resolved notification reached {}",
                        ms / 1e3,
                        self.receiver.as_deref().unwrap_or("the webhook")
                    ),
                    None => "still firing in Prometheus: its condition still holds".into(),
                };
                Seen::Missed(
                    cleared.at.elapsed(),
                    format!("{} not resolved within {:?}: {why}", self.name, self.within),
                )
            }
        };
        watch(seen, Some(timeline))
    }

    async fn why_not_fired(&self, rule: &AlertRule, t: &AlertTimeline) -> String {
        let at = |s: AlertState| {
            t.events
                .iter()
                .find(|e| e.state == s)
                .map(|e| e.at_ms / 1e3)
        };
        let notified_elsewhere: Vec<String> = t
            .events
            .iter()
            .filter(|e| e.state == AlertState::Notified)
            .map(|e| {
                format!(
                    "{} at +{:.1} s with {}",
                    e.receiver.as_deref().unwrap_or("?"),
                    e.at_ms / 1e3,
                    labels_text(&e.labels)
                )
            })
            .collect();
        let route = self
            .pair
            .routes()
            .get(&self.name)
            .map_or("no route".into(), |r| r.join(", "));
        if !notified_elsewhere.is_empty() {
            return format!(
                "it was notified to {}, not as expected (amtool routes its rule labels to {route})",
                notified_elsewhere.join("; ")
            );
        }
        match (
            at(AlertState::Pending),
            at(AlertState::Firing),
            at(AlertState::Inactive),
        ) {
            (_, Some(f), _) => format!(
                "it fired at +{f:.1} s but no notification reached the webhook (amtool routes it to {route})"
            ),
            (Some(p), None, Some(i)) if i > p => format!(
                "it was pending at +{p:.1} s and dropped at +{i:.1} s, before its for: {:?} had passed; it never fired",
                rule.for_
            ),
            (Some(p), None, _) => format!(
                "it has been pending since +{p:.1} s; its for: {:?} has not passed",
                rule.for_
            ),
            (None, None, _) => {
                let absent = self.absent_series(rule).await;
                let mismatched = self.mismatched_selectors(rule).await;
                if !mismatched.is_empty() {
                    format!("it was never pending: {}", mismatched.join("; "))
                } else if absent.is_empty() {
                    format!("it was never pending: `{}` never held", rule.expr)
                } else {
                    format!(
                        "it was never pending: `{}` selects {}, absent from every scraped target",
                        rule.expr,
                        absent.join(", ")
                    )
                }
            }
        }
    }

    /// The rule's selectors that ask a target label (`job`, `instance`, or a label every
    /// target sets) for a value no target of the pair has, each told with the values
    /// there are. None when the expression may hold without series (`absent`, `or`).
    fn impossible_selectors(&self, rule: &AlertRule) -> Vec<String> {
        let targets = self.pair.targets();
        if targets.is_empty() || promql::may_hold_without_series(&rule.expr) {
            return Vec::new();
        }
        let value_of = |t: &crate::pair::Target, label: &str| -> Option<String> {
            match label {
                "job" => Some(t.job().to_owned()),
                "instance" => Some(
                    t.labels()
                        .get("instance")
                        .cloned()
                        .unwrap_or_else(|| t.address().to_owned()),
                ),
                other => t.labels().get(other).cloned(),
            }
        };
        let mut out = Vec::new();
        for (_, matchers, written) in promql::selectors(&rule.expr) {
            for m in matchers {
                let values: BTreeSet<Option<String>> =
                    targets.iter().map(|t| value_of(t, &m.label)).collect();
                // A label some target does not set may come from the metric itself.
                if values.contains(&None) || values.contains(&Some(m.value.clone())) {
                    continue;
                }
                let there: Vec<String> = values.into_iter().flatten().collect();
                out.push(format!(
                    "`{written}` selects {}={:?}, which no scraped target has ({} is {} here)",
                    m.label,
                    m.value,
                    m.label,
                    there
                        .iter()
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
            }
        }
        out
    }

    /// For each selector of the rule whose metric is scraped but that matches no series,
    /// the label that differs and the values the metric has for it.
    async fn mismatched_selectors(&self, rule: &AlertRule) -> Vec<String> {
        let mut out = Vec::new();
        for (metric, matchers, written) in promql::selectors(&rule.expr) {
            let count = |q: String| async move {
                self.pair
                    .query(&format!("count({q})"))
                    .await
                    .map(|r| r.len())
            };
            if matchers.is_empty() || !matches!(count(metric.clone()).await, Ok(n) if n > 0) {
                continue;
            }
            if !matches!(count(written.clone()).await, Ok(0)) {
                continue;
            }
            for m in matchers {
                let one = format!("{metric}{{{}={:?}}}", m.label, m.value);
                if !matches!(count(one).await, Ok(0)) {
                    continue;
                }
                let values: Vec<String> = self
                    .pair
                    .query(&format!("count by ({}) ({metric})", m.label))
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(labels, _)| {
                        labels
                            .get(&m.label)
                            .map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}"))
                    })
                    .collect();
                out.push(format!(
                    "`{written}` matches no series: {metric} has {}={}, not {:?}",
                    m.label,
                    values.join(" or "),
                    m.value
                ));
            }
        }
        out
    }

    async fn absent_series(&self, rule: &AlertRule) -> Vec<String> {
        let Ok(present) = self.pair.metric_names().await else {
            return Vec::new();
        };
        promql::metric_names(&rule.expr)
            .into_iter()
            .filter(|m| !present.contains(m) && m != "ALERTS" && m != "ALERTS_FOR_STATE")
            .map(|m| format!("series {m}"))
            .collect()
    }
}

/// What an alert did after its cause (or its clearing), as watched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Seen {
    /// The notification arrived: how long after the cause, and the steps.
    Arrived(Duration, String),
    /// None arrived within the bound: how long was waited, and how far the alert got.
    Missed(Duration, String),
    /// It can never arrive, known without waiting (a selector no target can match).
    Never(String),
    /// Nothing to judge: no such rule, nothing firing to resolve, no resolve ever sent.
    Nothing(String),
}

/// A watched alert: measured by [`AlertExpectation::watch_fires`] or
/// [`AlertExpectation::watch_resolves`], judged by [`AlertWatch::judge`] (the pure judge
/// `obs.alert_fires` and `obs.alert_resolves` share), asserted by [`assert_alert`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlertWatch {
    /// The alert.
    pub alert: String,
    /// The bound from the cause to the notification.
    pub within: Duration,
    /// What was seen.
    pub seen: Seen,
    /// Induced, pending, firing, notified, resolved: the alert's timeline, when its rule
    /// is loaded.
    pub timeline: Option<AlertTimeline>,
    check: Check,
}

impl AlertWatch {
    /// Pass when the notification arrived within the bound; fail when it arrived late,
    /// never within the bound, or can never arrive; `error` when there was nothing to
    /// judge.
    pub fn judge(&self) -> Result<Evidence, Failure> {
        let check = self.check.clone();
        let with_timeline = |o: Observation| match &self.timeline {
            Some(t) => o.with_attachment(t.clone()),
            None => o,
        };
        match &self.seen {
            Seen::Nothing(why) => Err(check.nothing_measured(why.clone())),
            Seen::Arrived(latency, summary) => check.judge(with_timeline(
                Observation::new(*latency).with_summary(summary),
            )),
            Seen::Missed(waited, summary) => check.judge(with_timeline(
                Observation::at_least(*waited).with_summary(summary),
            )),
            // Never is later than any bound: a lower bound past this one is true.
            Seen::Never(why) => check.judge(with_timeline(
                Observation::at_least(self.within + Duration::from_secs(1)).with_summary(why),
            )),
        }
    }
}

/// Panics unless the watched alert meets its expectation ([`AlertWatch::judge`]).
#[track_caller]
pub fn assert_alert(watch: &AlertWatch) -> Evidence {
    watch.judge().or_panic()
}

/// A state change on the timeline. Pending and firing are placed by Prometheus's own
/// `activeAt` (the evaluation at which the condition began to hold; firing at the first
/// evaluation `for` later), not by when the harness polled them; inactive is polled.
fn state_event(zero: &Induced, c: &Change, rule_for: Duration, evaluation: Duration) -> AlertEvent {
    let polled = ms(zero.at, c.at);
    let from_active = |extra: Duration| {
        c.active_at.map(|a| {
            let at = a + extra;
            (at - zero.wall).as_seconds_f64() * 1e3
        })
    };
    let (state, at_ms) = match c.state.as_str() {
        "pending" => (
            AlertState::Pending,
            from_active(Duration::ZERO).unwrap_or(polled),
        ),
        "firing" => {
            let evaluations = rule_for.as_nanos().div_ceil(evaluation.as_nanos().max(1));
            let held = evaluation.saturating_mul(u32::try_from(evaluations).unwrap_or(u32::MAX));
            let exact = from_active(held).unwrap_or(polled);
            // Never after the poll that saw it.
            (AlertState::Firing, exact.min(polled))
        }
        _ => (AlertState::Inactive, polled),
    };
    AlertEvent::new(at_ms, state).with_labels(c.labels.clone())
}

fn steps_text(t: &AlertTimeline) -> String {
    let mut parts = Vec::new();
    let mut seen = BTreeSet::new();
    for e in &t.events {
        if e.state == AlertState::Induced || !seen.insert(e.state.as_str()) {
            continue;
        }
        let who = e
            .receiver
            .as_deref()
            .map_or(String::new(), |r| format!(" {r}"));
        parts.push(format!("{}{who} {}", e.state.as_str(), rel(e.at_ms)));
    }
    format!(
        "{} (scrape {}, evaluation {}, for {})",
        parts.join(", "),
        Quantity::duration(t.scrape_interval),
        Quantity::duration(t.evaluation_interval),
        if t.rule_for.is_zero() {
            "0s".to_owned()
        } else {
            Quantity::duration(t.rule_for).to_string()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(seen: Seen) -> AlertWatch {
        let check = Check::new(
            "obs.alert_fires",
            "ApiErrors fires within 30s",
            Category::OBSERVABILITY,
        )
        .with_subject("alert/ApiErrors/obs.alert_fires")
        .with_threshold(Threshold::at_most(Duration::from_secs(30)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario("cause induced, ApiErrors watched (scrape 1s, evaluation 1s)".to_owned())
        .with_recorder(crate::self_test_recorder());
        AlertWatch {
            alert: "ApiErrors".into(),
            within: Duration::from_secs(30),
            seen,
            timeline: None,
            check,
        }
    }

    fn redacted(failure: Failure) -> String {
        failure.redacted(&readiness_core::settings::target_dir().join("readiness-self-test"))
    }

    #[test]
    fn every_way_an_alert_fails_reads_as_it_should() {
        let pass = watch(Seen::Arrived(
            Duration::from_millis(1_840),
            "ApiErrors notified 1.84s after the cause".into(),
        ))
        .judge()
        .expect("in time");
        assert_eq!(pass.verdict, readiness_core::Verdict::Pass);
        let missed = watch(Seen::Missed(
            Duration::from_millis(30_400),
            "ApiErrors not notified within 30s: it was pending at +1.2 s and dropped at +3.1 s, before its for: 5s had passed; it never fired".into(),
        ))
        .judge()
        .expect_err("missed");
        insta::assert_snapshot!("alert_missed", redacted(missed));
        let never = watch(Seen::Never(
            "ApiErrors can never fire here: `request_errors{job=\"api\"}` selects job=\"api\", which no scraped target has (job is \"web\" here)".into(),
        ))
        .judge()
        .expect_err("never");
        insta::assert_snapshot!("alert_never", redacted(never));
        let nothing = watch(Seen::Nothing(
            "no alerting rule named ApiErrors is loaded (loaded: none); nothing can fire it".into(),
        ))
        .judge()
        .expect_err("nothing");
        assert_eq!(nothing.verdict(), readiness_core::Verdict::Error);
        insta::assert_snapshot!("alert_nothing", redacted(nothing));
    }
}
