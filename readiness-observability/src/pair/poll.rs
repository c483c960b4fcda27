//! The poller of Prometheus's alerts: every state change of every alert instance, with
//! when it was seen and Prometheus's own `activeAt`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use readiness_core::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::time::Instant;

/// A Prometheus alert state change seen by the poller.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) at: Instant,
    pub(crate) alert: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// `pending`, `firing` or `inactive`.
    pub(crate) state: String,
    /// Prometheus's `activeAt`: the evaluation at which the condition began to hold.
    pub(crate) active_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Current state by alert identity (its labels).
    current: BTreeMap<BTreeMap<String, String>, String>,
    pub(crate) changes: Vec<Change>,
    pub(crate) polls: u64,
    pub(crate) last_error: Option<String>,
}

pub(super) fn lock(h: &Mutex<History>) -> MutexGuard<'_, History> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Deserialize)]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt", default)]
    active_at: Option<String>,
}

pub(super) async fn poll_alerts(
    client: reqwest::Client,
    base: String,
    history: Arc<Mutex<History>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Ends when the pair is dropped (the task is aborted).
    loop {
        tick.tick().await;
        let got = api_get(&client, &format!("{base}/api/v1/alerts")).await;
        let at = Instant::now();
        let mut h = lock(&history);
        h.polls += 1;
        let alerts: Vec<ApiAlert> = match got.and_then(|v| {
            serde_json::from_value(v["alerts"].clone()).map_err(|e| Error::Other(e.to_string()))
        }) {
            Ok(a) => a,
            Err(e) => {
                h.last_error = Some(e.to_string());
                continue;
            }
        };
        let mut seen = BTreeMap::new();
        for a in alerts {
            let active_at = a.active_at.as_deref().and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            });
            seen.insert(a.labels, (a.state, active_at));
        }
        let gone: Vec<_> = h
            .current
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for labels in gone {
            h.current.remove(&labels);
            let alert = labels.get("alertname").cloned().unwrap_or_default();
            h.changes.push(Change {
                at,
                alert,
                labels,
                state: "inactive".into(),
                active_at: None,
            });
        }
        for (labels, (state, active_at)) in seen {
            if h.current.get(&labels) != Some(&state) {
                h.current.insert(labels.clone(), state.clone());
                let alert = labels.get("alertname").cloned().unwrap_or_default();
                h.changes.push(Change {
                    at,
                    alert,
                    labels,
                    state,
                    active_at,
                });
            }
        }
    }
}

/// GETs a Prometheus or Alertmanager API path; `data` of a Prometheus answer, the whole
/// body of an Alertmanager one.
pub(super) async fn api_get(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {status}, not JSON: {e}")))?;
    if body.get("status").and_then(Value::as_str) == Some("error") {
        return Err(Error::Other(format!(
            "GET {url}: {}: {}",
            body["errorType"].as_str().unwrap_or("error"),
            body["error"].as_str().unwrap_or("")
        )));
    }
    Ok(body.get("data").cloned().unwrap_or(body))
}
