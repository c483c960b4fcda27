//! Rule files: read as Prometheus reads them (after promtool accepted them), to know each
//! alerting rule's expression, `for`, labels and annotations.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use readiness_core::{Error, Result};
use serde::Deserialize;

/// A rule file: its name in the rules directory and its text, loaded unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    /// The file name (`service.rules.yml`).
    pub name: String,
    /// The YAML text.
    pub yaml: String,
    /// Where it was read from ([`RuleFile::read`]): promtool's messages name this path,
    /// not the copy the container checks.
    pub path: Option<std::path::PathBuf>,
}

impl RuleFile {
    /// A rule file from text.
    pub fn new(name: impl Into<String>, yaml: impl Into<String>) -> Self {
        RuleFile {
            name: name.into(),
            yaml: yaml.into(),
            path: None,
        }
    }

    /// A rule file read from disk, named by its file name.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_owned(),
            reason: format!("cannot read the rule file: {e}"),
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::InvalidInput(format!("{} names no file", path.display())))?;
        Ok(RuleFile {
            name,
            yaml,
            path: Some(path.to_owned()),
        })
    }

    /// Its alerting rules.
    pub fn alerting_rules(&self) -> Result<Vec<AlertRule>> {
        let parsed: RuleFileYaml =
            serde_yaml_ng::from_str(&self.yaml).map_err(|e| Error::Config {
                path: self.name.clone().into(),
                reason: e.to_string(),
            })?;
        let mut rules = Vec::new();
        for group in parsed.groups {
            for rule in group.rules {
                let Some(name) = rule.alert else { continue };
                let for_ = match &rule.for_ {
                    Some(text) => parse_duration(text).ok_or_else(|| Error::Config {
                        path: self.name.clone().into(),
                        reason: format!("alert {name}: `for: {text}` is not a Prometheus duration"),
                    })?,
                    None => Duration::ZERO,
                };
                rules.push(AlertRule {
                    name,
                    expr: yaml_text(&rule.expr),
                    for_,
                    labels: rule.labels,
                    annotations: rule.annotations,
                    group: group.name.clone(),
                    file: self.name.clone(),
                });
            }
        }
        Ok(rules)
    }
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertRule {
    /// `alert:`.
    pub name: String,
    /// `expr:`.
    pub expr: String,
    /// `for:` (zero when absent).
    pub for_: Duration,
    /// `labels:`.
    pub labels: BTreeMap<String, String>,
    /// `annotations:`.
    pub annotations: BTreeMap<String, String>,
    /// The group it is in.
    pub group: String,
    /// The file it is in.
    pub file: String,
}

#[derive(Debug, Deserialize)]
struct RuleFileYaml {
    #[serde(default)]
    groups: Vec<GroupYaml>,
}

#[derive(Debug, Deserialize)]
struct GroupYaml {
    name: String,
    #[serde(default)]
    rules: Vec<RuleYaml>,
}

#[derive(Debug, Deserialize)]
struct RuleYaml {
    alert: Option<String>,
    #[serde(default)]
    expr: serde_yaml_ng::Value,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn yaml_text(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A Prometheus duration (`1h30m`, `5s`, `500ms`, `0`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += Duration::from_millis(n.checked_mul(ms)?);
        rest = &rest[unit..];
    }
    Some(total)
}

/// A duration as Prometheus writes one (`1s`, `1m30s`, `250ms`).
pub(crate) fn prometheus_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_writes_them() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(prometheus_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(prometheus_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn reads_alerting_rules_and_skips_recording_rules() -> Result<()> {
        let file = RuleFile::new(
            "a.yml",
            "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n  - alert: Down\n    expr: up == 0\n    for: 30s\n    labels: {severity: critical}\n    annotations: {runbook_url: 'http://x'}\n  - alert: Always\n    expr: 1\n",
        );
        let rules = file.alerting_rules()?;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].name, "Down");
        assert_eq!(rules[0].for_, Duration::from_secs(30));
        assert_eq!(rules[0].labels["severity"], "critical");
        assert_eq!(rules[1].expr, "1");
        assert_eq!(rules[1].for_, Duration::ZERO);
        Ok(())
    }
}
