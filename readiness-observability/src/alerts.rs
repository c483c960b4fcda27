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
    Failure, Moment, Observation, Quantity, Ratio, Threshold,
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
        let mut check = Check::new(id, title, Category::OBSERVABILITY)
            .with_subject(subject.to_owned())
            .with_target(self.prometheus_url().to_owned());
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        check
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

    fn unknown_rule(&self, check: Check) -> Failure {
        let loaded: Vec<&str> = self
            .pair
            .alert_rules()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        check.nothing_measured(format!(
            "no alerting rule named {} is loaded (loaded: {}); nothing can fire it",
            self.name,
            if loaded.is_empty() {
                "none".into()
            } else {
                loaded.join(", ")
            }
        ))
    }

    /// Panics unless [`AlertExpectation::try_assert_fires`] passes.
    pub async fn assert_fires(&self, induced: &Induced) -> Evidence {
        self.try_assert_fires(induced).await.or_panic()
    }

    /// `obs.alert_fires`: after `induced`, a firing notification of the alert reaches the
    /// webhook within the bound (at the expected receiver, with the expected labels). The
    /// evidence holds the timeline: induced, pending, firing, notified. A failure says how
    /// far the alert got: never pending (and which of the rule's series are absent),
    /// pending and dropped before its `for`, still pending, firing but not notified, or
    /// notified elsewhere.
    pub async fn try_assert_fires(&self, induced: &Induced) -> Result<Evidence, Failure> {
        let rule = self.rule();
        let title = format!(
            "{} fires within {}",
            self.name,
            Quantity::duration(self.within)
        );
        let check = self.check("obs.alert_fires", title, rule);
        let Some(rule) = rule else {
            return Err(self.unknown_rule(check));
        };
        // A selector on a target label (job, instance) that no target of the pair has can
        // never match: known before any wait, so it fails at once.
        let impossible = self.impossible_selectors(rule);
        if !impossible.is_empty() {
            let timeline = self.timeline(induced, rule);
            return check.judge(
                Observation::at_least(self.within + Duration::from_secs(1))
                    .with_summary(format!(
                        "{} can never fire here: {}",
                        self.name,
                        impossible.join("; ")
                    ))
                    .with_attachment(timeline),
            );
        }
        let arrived = self.wait_for(induced, "firing", None).await;
        // The notification can beat the next poll of Prometheus's alerts: let the poller
        // see the state that caused it.
        tokio::time::sleep(self.pair.poll_interval * 2).await;
        let timeline = self.timeline(induced, rule);
        let Some(at) = arrived else {
            let why = self.why_not_fired(rule, &timeline).await;
            return check.judge(
                Observation::at_least(induced.at.elapsed())
                    .with_summary(format!(
                        "{} not notified within {:?}: {why}",
                        self.name, self.within
                    ))
                    .with_attachment(timeline),
            );
        };
        let latency = at.duration_since(induced.at);
        let steps = steps_text(&timeline);
        check.judge(
            Observation::new(latency)
                .with_summary(format!(
                    "{} notified {} after the cause: {steps}",
                    self.name,
                    Quantity::duration(latency)
                ))
                .with_attachment(timeline),
        )
    }

    /// Panics unless [`AlertExpectation::try_assert_resolves`] passes.
    pub async fn assert_resolves(&self, cleared: &Induced) -> Evidence {
        self.try_assert_resolves(cleared).await.or_panic()
    }

    /// `obs.alert_resolves`: after the cause is `cleared`, a resolved notification of an
    /// instance of the alert (with the expected labels) that was firing then reaches the
    /// webhook within the bound. An `error` when no such instance was firing when the cause
    /// was cleared (there is nothing to resolve), or when every receiver it goes to has
    /// `send_resolved: false` (no resolve will ever be sent there).
    pub async fn try_assert_resolves(&self, cleared: &Induced) -> Result<Evidence, Failure> {
        let rule = self.rule();
        let title = format!(
            "{} resolves within {}",
            self.name,
            Quantity::duration(self.within)
        );
        let check = self.check("obs.alert_resolves", title, rule);
        let Some(rule) = rule else {
            return Err(self.unknown_rule(check));
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
            return Err(check.nothing_measured(format!(
                "no instance of {} was firing when the cause was cleared{}: there is nothing \
                 to resolve (assert that it fires first)",
                scope.text(),
                if seen.is_empty() {
                    String::new()
                } else {
                    format!(" (seen: {})", seen.join(", "))
                }
            )));
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
        let mute: Vec<&String> = receivers
            .iter()
            .filter(|r| self.pair.sends_resolved(r) == Some(false))
            .collect();
        if !receivers.is_empty() && mute.len() == receivers.len() {
            return Err(check.nothing_measured(format!(
                "{} is routed to {} with send_resolved: false in the team's Alertmanager \
                 config: Alertmanager never sends a resolve there, so none can be awaited \
                 (assert the resolve at a receiver that gets resolves)",
                self.name,
                mute.iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let arrived = self.wait_for(cleared, "resolved", Some(&firing)).await;
        tokio::time::sleep(self.pair.poll_interval * 2).await;
        let timeline = self.timeline(cleared, rule);
        let Some(at) = arrived else {
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
            return check.judge(
                Observation::at_least(cleared.at.elapsed())
                    .with_summary(format!(
                        "{} not resolved within {:?}: {why}",
                        self.name, self.within
                    ))
                    .with_attachment(timeline),
            );
        };
        let latency = at.duration_since(cleared.at);
        check.judge(
            Observation::new(latency)
                .with_summary(format!(
                    "{} resolved {} after the cause was cleared: {}",
                    self.name,
                    Quantity::duration(latency),
                    steps_text(&timeline)
                ))
                .with_attachment(timeline),
        )
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
