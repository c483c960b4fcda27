//! `obs.alert_silent`: over a window, no alert of a scope fires and no notification of one
//! arrives: silence as Prometheus means it. A pending alert is one whose condition holds
//! for less than its `for`; Prometheus never sends it, and a blip shorter than `for` is
//! the very case `for` exists for, so pending is shown in the evidence but not counted,
//! unless the silence is [`Silence::strict`].
//!
//! The shape of every criterion: [`Silence::watch`] drives (it waits out the window and
//! reads what Prometheus and the webhook saw), [`SilenceWatch`] is the measurement,
//! [`SilenceWatch::judge`] the pure judge, [`assert_silent`] the assertion.
//!
//! ```no_run
//! # async fn demo(pair: &readiness_observability::Pair) {
//! use std::time::Duration;
//! use readiness_observability::silence::assert_silent;
//!
//! // No alert at all over a minute of normal load (pending allowed).
//! let watch = pair.silence().watch(Duration::from_secs(60)).await.unwrap();
//! assert_silent(&watch);
//! // /search never alerts while /checkout fires.
//! let search = pair.alert("HighLatency").with_label("route", "/search");
//! let watch = search.silence().watch(Duration::from_secs(30)).await.unwrap();
//! assert_silent(&watch);
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::{Check, Quantity, Threshold};
use readiness_core::{CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation};

use crate::pair::{Change, Pair};

/// Which alerts a silence or a resolution is about: one alert or every one, carrying
/// the given labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct AlertScope {
    alert: Option<String>,
    labels: BTreeMap<String, String>,
}

impl AlertScope {
    /// Every alert.
    pub fn every_alert() -> Self {
        AlertScope::default()
    }
    /// The alert `name` only.
    pub fn alert(name: impl Into<String>) -> Self {
        AlertScope {
            alert: Some(name.into()),
            labels: BTreeMap::new(),
        }
    }
    /// Only alerts carrying `key="value"`.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    pub(crate) fn from_parts(alert: Option<String>, labels: BTreeMap<String, String>) -> Self {
        AlertScope { alert, labels }
    }
    /// Whether an alert named `alert` with `labels` is in the scope.
    pub fn covers(&self, alert: &str, labels: &BTreeMap<String, String>) -> bool {
        self.alert.as_deref().is_none_or(|a| a == alert)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
    /// `every alert`, `HighLatency{route="/search"}`.
    pub fn text(&self) -> String {
        let labels = if self.labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", label_list(&self.labels))
        };
        match &self.alert {
            Some(a) => format!("{a}{labels}"),
            None if labels.is_empty() => "every alert".into(),
            None => format!("every alert with {labels}"),
        }
    }
}

/// `k="v",…` without `alertname`.
pub(crate) fn label_list(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// An alert instance as a reader names it: `InstanceDown{instance="a"}`.
pub(crate) fn instance_text(alert: &str, labels: &BTreeMap<String, String>) -> String {
    let list = label_list(labels);
    if list.is_empty() {
        alert.to_owned()
    } else {
        format!("{alert}{{{list}}}")
    }
}

/// A silence to watch: built by [`Pair::silence`] (every alert) or
/// [`crate::AlertExpectation::silence`] (one alert and its labels).
#[derive(Debug, Clone)]
#[must_use]
pub struct Silence<'p> {
    pair: &'p Pair,
    scope: AlertScope,
    strict: bool,
}

impl Pair {
    /// A silence of every alert.
    pub fn silence(&self) -> Silence<'_> {
        self.silence_of(AlertScope::every_alert())
    }
    /// A silence of the alerts in `scope`.
    pub fn silence_of(&self, scope: AlertScope) -> Silence<'_> {
        Silence {
            pair: self,
            scope,
            strict: false,
        }
    }

    /// Panics unless [`Pair::try_assert_silent`] passes.
    pub async fn assert_silent(&self, window: Duration) -> Evidence {
        self.try_assert_silent(window).await.or_panic()
    }

    /// `obs.alert_silent` over every alert: watches `window` from now and judges it
    /// ([`Silence::watch`], [`SilenceWatch::judge`]).
    pub async fn try_assert_silent(&self, window: Duration) -> Result<Evidence, Failure> {
        self.silence().watch(window).await?.judge()
    }
}

impl Silence<'_> {
    /// Also refuses pending alerts: a condition that held at all in the window fails,
    /// even for less than its rule's `for`.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Watches `window` from now: what fired, what was notified, what was only pending.
    /// Nothing to judge is the `Err`: no alerting rule in the scope, Prometheus's alerts
    /// unreadable during the window, or no target up (nothing was scraped for the rules).
    pub async fn watch(self, window: Duration) -> Result<SilenceWatch, Failure> {
        let pair = self.pair;
        let scope_text = self.scope.text();
        let rules = pair
            .alert_rules()
            .iter()
            .filter(|r| self.scope.alert.as_deref().is_none_or(|a| a == r.name))
            .count();
        let who = match (&self.scope.alert, self.scope.labels.is_empty()) {
            (None, true) => "no alert fires".to_owned(),
            _ => format!("{scope_text} never fires"),
        };
        let title = format!(
            "{who} over {}{}",
            Quantity::duration(window),
            if self.strict { ", nor is pending" } else { "" }
        );
        let subject = match &self.scope.alert {
            Some(_) => format!("alert/{scope_text}/silent"),
            None => "alerts/silent".into(),
        };
        let check = pair
            .check("obs.alert_silent", title, &subject)
            .with_threshold(Threshold::at_most(Count(0)))
            .with_combine(Combine::VerdictOnly)
            .with_scenario(format!(
                "{scope_text} watched for {window:?} ({rules} alerting rules, alerts read every {:?}); \
                 firing or notified fails{}",
                pair.poll_interval,
                if self.strict {
                    ", and so does pending"
                } else {
                    "; pending (held for less than its for) is shown, not counted"
                }
            ));
        if rules == 0 {
            let why = match &self.scope.alert {
                Some(a) => {
                    format!("no alerting rule named {a} is loaded: its silence proves nothing")
                }
                None => "no alerting rule is loaded: a silent window proves nothing".into(),
            };
            return Err(check.nothing_measured(why));
        }
        let start = Instant::now();
        let (polls_before, _) = pair.poll_status();
        tokio::time::sleep(window).await;
        let end = Instant::now();
        let (polls_after, last_error) = pair.poll_status();
        if polls_after <= polls_before + 1 {
            return Err(check.error(Error::Other(format!(
                "the alerts could not be read during the window: {}",
                last_error.unwrap_or_else(|| "no poll completed".into())
            ))));
        }
        match pair.target_health().await {
            Ok(t) if !t.is_empty() && t.iter().all(|t| t.health != "up") => {
                return Err(check.nothing_measured(format!(
                    "no target was up during the window ({}): nothing was scraped for the rules to judge",
                    t.iter()
                        .map(|t| format!("{} {}", t.url, t.last_error))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
            Err(e) => return Err(check.error(e)),
            _ => {}
        }
        let (firing, pending) = states_in(&pair.changes(), &self.scope, start, end);
        let notified: BTreeSet<String> = pair
            .webhook()
            .notifications()
            .iter()
            .filter(|n| n.at >= start && n.at <= end)
            .flat_map(|n| {
                n.alerts
                    .iter()
                    .filter(|a| a.status == "firing" && self.scope.covers(a.name(), &a.labels))
                    .map(move |a| {
                        format!("{} to {}", instance_text(a.name(), &a.labels), n.receiver)
                    })
            })
            .collect();
        Ok(SilenceWatch {
            scope: self.scope.clone(),
            window,
            strict: self.strict,
            rules,
            firing,
            notified: notified.into_iter().collect(),
            pending,
            check,
        })
    }

    /// Watches `window` and judges it.
    pub async fn try_assert(self, window: Duration) -> Result<Evidence, Failure> {
        self.watch(window).await?.judge()
    }
}

/// The instances of the scope firing at some moment of `[start, end]`, and those pending
/// at some moment of it that never fired in it (with when they were pending).
fn states_in(
    changes: &[Change],
    scope: &AlertScope,
    start: Instant,
    end: Instant,
) -> (Vec<String>, Vec<String>) {
    let mut by_instance: BTreeMap<&BTreeMap<String, String>, Vec<&Change>> = BTreeMap::new();
    for c in changes.iter().filter(|c| scope.covers(&c.alert, &c.labels)) {
        by_instance.entry(&c.labels).or_default().push(c);
    }
    let (mut firing, mut pending) = (Vec::new(), Vec::new());
    for (labels, seen) in by_instance {
        let alert = seen[0].alert.as_str();
        let at_start = seen.iter().rev().find(|c| c.at < start);
        let within: Vec<&&Change> = seen
            .iter()
            .filter(|c| c.at >= start && c.at <= end)
            .collect();
        let states: Vec<&str> = at_start
            .map(|c| c.state.as_str())
            .into_iter()
            .chain(within.iter().map(|c| c.state.as_str()))
            .collect();
        let name = instance_text(alert, labels);
        if states.contains(&"firing") {
            firing.push(name);
        } else if states.contains(&"pending") {
            let when: Vec<String> = within
                .iter()
                .map(|c| {
                    format!(
                        "{} at +{:.1} s",
                        c.state,
                        c.at.duration_since(start).as_secs_f64()
                    )
                })
                .collect();
            let since = if at_start.is_some_and(|c| c.state == "pending") {
                "pending when the window began"
            } else {
                ""
            };
            let parts: Vec<&str> = [since]
                .into_iter()
                .filter(|s| !s.is_empty())
                .chain(when.iter().map(String::as_str))
                .collect();
            pending.push(format!("{name} ({})", parts.join(", ")));
        }
    }
    (firing, pending)
}

/// What a silence watch saw over its window: measured by [`Silence::watch`], judged by
/// [`SilenceWatch::judge`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SilenceWatch {
    /// Which alerts were watched.
    pub scope: AlertScope,
    /// How long.
    pub window: Duration,
    /// Whether pending counts too.
    pub strict: bool,
    /// Alerting rules in the scope.
    pub rules: usize,
    /// Instances firing at some moment of the window (`Name{labels}`).
    pub firing: Vec<String>,
    /// Firing notifications that reached a receiver in the window (`Name{labels} to receiver`).
    pub notified: Vec<String>,
    /// Instances pending in the window that never fired in it, with when.
    pub pending: Vec<String>,
    check: Check,
}

impl SilenceWatch {
    /// The instances that break the silence: firing or notified, and pending when strict.
    pub fn breaking(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .firing
            .iter()
            .map(|f| format!("{f} firing"))
            .chain(self.notified.iter().map(|n| format!("{n} notified")))
            .collect();
        if self.strict {
            out.extend(
                self.pending
                    .iter()
                    .map(|p| format!("{p}: pending, refused as strict")),
            );
        }
        out
    }

    /// `obs.alert_silent`: pass when nothing in the scope fired or was notified (nor was
    /// pending, when strict); the count of what broke the silence is observed.
    pub fn judge(&self) -> Result<Evidence, Failure> {
        let breaking = self.breaking();
        let distinct: BTreeSet<&str> = self
            .firing
            .iter()
            .chain(&self.notified)
            .chain(if self.strict { &self.pending[..] } else { &[] })
            .map(|s| s.split([' ', '(']).next().unwrap_or(""))
            .collect();
        let pending_note = if self.pending.is_empty() || self.strict {
            String::new()
        } else {
            format!(
                "; pending, never fired (not counted: Prometheus sends no pending alert): {}",
                self.pending.join(", ")
            )
        };
        let summary = if breaking.is_empty() {
            format!(
                "silent over {:?}: none of {} alerting rules ({}) fired or was notified{pending_note}",
                self.window,
                self.rules,
                self.scope.text()
            )
        } else {
            format!("not silent: {}{pending_note}", breaking.join(", "))
        };
        self.check
            .clone()
            .judge(Observation::new(Quantity::count(distinct.len() as u64)).with_summary(summary))
    }
}

/// Panics unless the silence holds ([`SilenceWatch::judge`]).
#[track_caller]
pub fn assert_silent(watch: &SilenceWatch) -> Evidence {
    watch.judge().or_panic()
}

/// [`SilenceWatch::judge`].
pub fn try_assert_silent(watch: &SilenceWatch) -> Result<Evidence, Failure> {
    watch.judge()
}

#[cfg(test)]
mod tests {
    use super::*;
    use readiness_core::Category;

    fn watch(strict: bool, firing: &[&str], notified: &[&str], pending: &[&str]) -> SilenceWatch {
        let own = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let scope = AlertScope::alert("QueueBacklog").with_label("queue", "orders");
        let check = Check::new(
            "obs.alert_silent",
            format!("{} never fires over 5s", scope.text()),
            Category::OBSERVABILITY,
        )
        .with_subject(format!("alert/{}/silent", scope.text()))
        .with_threshold(Threshold::at_most(Count(0)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario("QueueBacklog watched for 5s".to_owned())
        .with_recorder(crate::self_test_recorder());
        SilenceWatch {
            scope,
            window: Duration::from_secs(5),
            strict,
            rules: 1,
            firing: own(firing),
            notified: own(notified),
            pending: own(pending),
            check,
        }
    }

    fn redacted(failure: Failure) -> String {
        failure.redacted(&readiness_core::settings::target_dir().join("readiness-self-test"))
    }

    const BLIP: &str = r#"QueueBacklog{queue="orders"} (pending at +0.6 s, inactive at +2.6 s)"#;

    #[test]
    fn pending_is_shown_not_counted_unless_strict() {
        let lenient = watch(false, &[], &[], &[BLIP]).judge().expect("silent");
        insta::assert_snapshot!("silent_with_pending", lenient.summary.unwrap_or_default());
        let strict = watch(true, &[], &[], &[BLIP]).judge().expect_err("strict");
        insta::assert_snapshot!("strict_refuses_pending", redacted(strict));
    }

    #[test]
    fn firing_or_notified_breaks_the_silence() {
        let noisy = watch(
            false,
            &[r#"QueueBacklog{queue="orders"}"#],
            &[r#"QueueBacklog{queue="orders"} to chat"#],
            &[],
        )
        .judge()
        .expect_err("fired");
        insta::assert_snapshot!("not_silent", redacted(noisy));
    }
}
