//! `obs.retention`: how long a running Prometheus keeps its data, read from its own flags
//! (`/api/v1/status/flags`) as it runs — not from a file that may not be what it was
//! started with. The seeds' "metrics retention configured (30 days minimum)".
//!
//! [`Retention::read`] (or [`Pair::retention`]) measures, [`Retention::judge`] judges,
//! [`assert_retention_at_least`] panics at the caller.

use std::collections::BTreeMap;
use std::time::Duration;

use readiness_core::guard::{Reach, check_target};
use readiness_core::{
    Category, Check, CheckResultExt, Evidence, Failure, Observation, Quantity, Recorder, Threshold,
};

use crate::pair::Pair;
use crate::rules::parse_duration;

/// How long reading the flags may take: a Prometheus that does not answer is an error,
/// never a test that hangs.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Prometheus's retention when neither a time nor a size is set.
const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 86_400);

/// What a running Prometheus says of its retention.
#[derive(Debug, Clone)]
#[must_use]
pub struct Retention {
    /// The Prometheus read.
    pub prometheus: String,
    /// `storage.tsdb.retention.time` (or the deprecated `storage.tsdb.retention`) as set.
    pub time_flag: Option<String>,
    /// `storage.tsdb.retention.size` as set (`None`: no size limit).
    pub size_flag: Option<String>,
    /// How long data is kept: the time flag, else the 15 days Prometheus keeps when
    /// neither is set; `None` when only a size bounds it (how many days that holds depends
    /// on the ingest rate) or the flags could not be read.
    pub effective: Option<Duration>,
    /// Why the flags could not be read or understood.
    pub failed: Option<String>,
    recorder: Option<Recorder>,
}

impl Retention {
    /// Reads the flags of the Prometheus at `prometheus_url` (on loopback: the harness
    /// reads only what the test started or reaches on this machine), waiting at most 10 s
    /// for them.
    pub async fn read(prometheus_url: &str) -> Retention {
        let url = prometheus_url.trim_end_matches('/');
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        if let Err(e) = check_target(host, Reach::Loopback, "a Prometheus on loopback") {
            return Retention::unread(url, e.to_string());
        }
        let flags = async {
            let client = reqwest::Client::builder().timeout(READ_TIMEOUT).build()?;
            let body: serde_json::Value = client
                .get(format!("{url}/api/v1/status/flags"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok::<_, reqwest::Error>(body)
        };
        match flags.await {
            Ok(body) => {
                let data = body.get("data").and_then(serde_json::Value::as_object);
                match data {
                    Some(d) => Retention::from_flags(
                        url,
                        &d.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect(),
                    ),
                    None => Retention::unread(
                        url,
                        format!("/api/v1/status/flags answered no flags: {body}"),
                    ),
                }
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer within {}", Quantity::duration(READ_TIMEOUT))
                } else {
                    e.to_string()
                };
                Retention::unread(url, format!("cannot read /api/v1/status/flags: {why}"))
            }
        }
    }

    /// The retention the flags (as `/api/v1/status/flags` gives them) make.
    pub fn from_flags(prometheus: &str, flags: &BTreeMap<String, String>) -> Retention {
        let set = |key: &str| {
            flags
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && !matches!(v.as_str(), "0" | "0s" | "0B"))
        };
        let time_flag =
            set("storage.tsdb.retention.time").or_else(|| set("storage.tsdb.retention"));
        let size_flag = set("storage.tsdb.retention.size");
        let mut retention = Retention {
            prometheus: prometheus.to_owned(),
            time_flag: time_flag.clone(),
            size_flag: size_flag.clone(),
            effective: None,
            failed: None,
            recorder: None,
        };
        match (&time_flag, &size_flag) {
            (Some(t), _) => match parse_duration(t) {
                Some(d) => retention.effective = Some(d),
                None => retention.failed = Some(format!("retention time {t:?} is not a duration")),
            },
            (None, Some(_)) => {}
            (None, None) => retention.effective = Some(DEFAULT_RETENTION),
        }
        retention
    }

    fn unread(prometheus: &str, why: String) -> Retention {
        Retention {
            prometheus: prometheus.to_owned(),
            time_flag: None,
            size_flag: None,
            effective: None,
            failed: Some(why),
            recorder: None,
        }
    }

    /// Where the judgement records (default: the evidence directory).
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// `obs.retention`: data kept at least `min`. Flags that could not be read, or a
    /// retention bounded by size alone, are an `error`: nothing says how many days it holds.
    pub fn judge(&self, min: Duration) -> Result<Evidence, Failure> {
        let mut check = Check::new(
            "obs.retention",
            format!(
                "Prometheus keeps its data at least {}",
                Quantity::duration(min)
            ),
            Category::OBSERVABILITY,
        )
        .with_threshold(Threshold::at_least(min))
        .with_scenario("retention read from the running Prometheus's flags (/api/v1/status/flags)")
        .with_target(&self.prometheus);
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        if let Some(why) = &self.failed {
            return Err(check.nothing_measured(why.clone()));
        }
        let size = self.size_flag.as_deref().unwrap_or("no size limit");
        let Some(kept) = self.effective else {
            return Err(check.nothing_measured(format!(
                "retention is bounded by size alone ({size}): how many days that holds depends on \
                 the ingest rate; set --storage.tsdb.retention.time"
            )));
        };
        let time = self.time_flag.as_deref().map_or_else(
            || "not set (Prometheus's default, 15d)".to_owned(),
            |t| format!("{t:?}"),
        );
        check
            .with_hint("start Prometheus with --storage.tsdb.retention.time at least the limit")
            .judge(Observation::new(kept).with_summary(format!(
                "storage.tsdb.retention.time {time}; storage.tsdb.retention.size {size}"
            )))
    }
}

impl Pair {
    /// The retention of the pair's Prometheus (started with the flags given to
    /// [`crate::PairBuilder::prometheus_flag`]).
    pub async fn retention(&self) -> Retention {
        Retention::read(self.prometheus_url()).await
    }
}

/// Panics unless [`Retention::judge`] passes.
#[track_caller]
pub fn assert_retention_at_least(retention: &Retention, min: Duration) -> Evidence {
    retention.judge(min).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;
    use readiness_core::Verdict;

    const DAYS_30: Duration = Duration::from_secs(30 * 86_400);

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn judge(pairs: &[(&str, &str)]) -> Result<Evidence, Failure> {
        let dir = tempfile::tempdir().expect("tempdir");
        Retention::from_flags("http://127.0.0.1:9090", &flags(pairs))
            .with_recorder(Recorder::new(dir.path()))
            .judge(DAYS_30)
    }

    #[test]
    fn thirty_days_set_passes_and_the_default_fifteen_fails() {
        let ok = judge(&[("storage.tsdb.retention.time", "30d")]).expect("30 days");
        assert_eq!(ok.verdict, Verdict::Pass);
        let short = judge(&[
            ("storage.tsdb.retention.time", "0s"),
            ("storage.tsdb.retention.size", "0B"),
        ])
        .expect_err("15 days by default");
        assert_eq!(short.verdict(), Verdict::Fail);
        assert!(
            short
                .to_string()
                .contains("not set (Prometheus's default, 15d)"),
            "{short}"
        );
        let week = judge(&[("storage.tsdb.retention", "1w")]).expect_err("a week");
        assert_eq!(week.verdict(), Verdict::Fail);
    }

    #[test]
    fn a_size_alone_or_unread_flags_are_an_error() {
        let size = judge(&[("storage.tsdb.retention.size", "10GB")]).expect_err("size only");
        assert_eq!(size.verdict(), Verdict::Error);
        assert!(
            size.to_string().contains("bounded by size alone (10GB)"),
            "{size}"
        );
        let bad = judge(&[("storage.tsdb.retention.time", "forever")]).expect_err("bad");
        assert_eq!(bad.verdict(), Verdict::Error);
    }
}
