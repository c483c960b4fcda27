//! `sec.no_secrets`: no secret in the captured logs and response bodies of a run.

use super::{Edit, Route, SecurityItem, check, judge_items};
use crate::rules::{Found, Rules, mask_line};
use readiness_core::Evidence;
use readiness_core::Recorder;
use readiness_core::{CheckResultExt, Failure};
use readiness_core::{Error, Result};

/// Text captured in a run: log lines or a response, named by where it came from.
#[derive(Debug, Clone)]
pub struct Text {
    source: String,
    lines: Vec<String>,
    /// The whole was larger than what was read (bytes in all, when known).
    cut: Option<String>,
}

/// How much of a response [`Text::fetch`] reads: an answer larger than this is not
/// scanned whole, and the check says so (an `error`), never silently.
pub const MAX_SCANNED_BODY: usize = 16 * 1024 * 1024;

impl Text {
    /// Lines of a log (`reference-service stdout`).
    pub fn log<S: Into<String>>(
        source: impl Into<String>,
        lines: impl IntoIterator<Item = S>,
    ) -> Self {
        Text {
            source: source.into(),
            lines: lines.into_iter().map(Into::into).collect(),
            cut: None,
        }
    }
    /// A response body (and whatever headers the caller adds to it).
    pub fn response(source: impl Into<String>, body: &str) -> Self {
        Text::log(source, body.lines())
    }
    /// Sends `route` and keeps its answer: status line, headers and body (up to
    /// [`MAX_SCANNED_BODY`]).
    pub async fn fetch(route: &Route) -> Result<Self> {
        let client = route.client()?;
        let answer = route
            .send_reading(&client, &Edit::default(), MAX_SCANNED_BODY)
            .await;
        let Some(status) = answer.status else {
            return Err(Error::TargetRefused {
                target: route.target(),
                reason: answer.describe(),
            });
        };
        let mut lines = vec![status.to_string()];
        for (k, v) in &answer.headers {
            lines.push(format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())));
        }
        lines.extend(answer.body.lines().map(str::to_owned));
        Ok(Text {
            source: format!("response to {}", route.name()),
            lines,
            cut: answer
                .cut
                .then(|| format!("its body is larger than {MAX_SCANNED_BODY} bytes")),
        })
    }
    /// The stdout and stderr a container has written so far.
    #[cfg(feature = "containers")]
    pub async fn container_logs<I: readiness_core::testcontainers::Image>(
        name: impl Into<String>,
        container: &readiness_core::testcontainers::ContainerAsync<I>,
    ) -> Result<Self> {
        let stdout = container.stdout_to_vec().await?;
        let stderr = container.stderr_to_vec().await?;
        let text = [stdout, stderr].concat();
        Ok(Text::log(
            format!("{} logs", name.into()),
            String::from_utf8_lossy(&text).lines(),
        ))
    }
}

/// What counts as a secret: rules in gitleaks' format ([`Rules::defaults`]: private keys,
/// cloud, VCS, payment and chat tokens, JWTs, HTTP credentials, database URLs, generic
/// assignments; or a team's `.gitleaks.toml`), and the values of the run's own secrets.
/// Nothing found is ever written: each secret is shown as its type and a fingerprint, and
/// so is every other secret on its line.
#[derive(Debug, Clone)]
#[must_use]
pub struct SecretScan {
    recorder: Option<Recorder>,
    rules: std::result::Result<Rules, String>,
    values: Vec<String>,
}

impl SecretScan {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// The default rules ([`Rules::defaults`]).
    pub fn defaults() -> Self {
        SecretScan::with_rules(Rules::defaults())
    }
    /// These rules (a team's `.gitleaks.toml`: [`Rules::read`]).
    pub fn with_rules(rules: Rules) -> Self {
        SecretScan {
            recorder: None,
            rules: Ok(rules),
            values: Vec::new(),
        }
    }
    /// No rule: only what is added.
    pub fn empty() -> Self {
        SecretScan::with_rules(Rules::none())
    }
    /// One more rule: `regex` finds a secret named `name` (an invalid expression makes the
    /// check an `error`).
    pub fn with_pattern(mut self, name: impl Into<String>, regex: &str) -> Self {
        let name = name.into();
        self.rules = self
            .rules
            .and_then(|r| r.with_rule(&name, regex).map_err(|e| e.to_string()));
        self
    }
    /// A secret of the run (a token, a password) that must appear nowhere.
    pub fn with_secret(mut self, value: impl Into<String>) -> Self {
        self.values.push(value.into());
        self
    }

    /// `sec.no_secrets`: every line of `texts` is searched with every rule and for every
    /// secret value; each secret found is a failed probe naming the source, the line and
    /// the secret's type, with every secret of the line masked. No text at all (or no
    /// line), or a text not read whole, is verdict `error`.
    pub fn try_assert_no_secrets(&self, texts: &[Text]) -> std::result::Result<Evidence, Failure> {
        let sources: Vec<&str> = texts.iter().map(|t| t.source.as_str()).collect();
        let check = check(
            "sec.no_secrets",
            "no secret in logs or responses",
            self.recorder.as_ref(),
        )
        .with_target(sources.join(", "));
        let rules = match &self.rules {
            Ok(r) => r,
            Err(e) => return Err(check.error(Error::InvalidInput(e.clone()))),
        };
        let check = check.with_scenario(format!(
            "{} rules and {} known secrets over {} texts",
            rules.rules().len(),
            self.values.len(),
            texts.len()
        ));
        if self.values.iter().any(|v| v.len() < 4) {
            return Err(check.error(Error::InvalidInput(
                "a known secret shorter than 4 characters would match anywhere; give the whole \
                 secret"
                    .into(),
            )));
        }
        if let Some(t) = texts.iter().find(|t| t.cut.is_some()) {
            return Err(check.error(Error::InvalidInput(format!(
                "{} was not read whole ({}): what was not read was not scanned; scan a \
                 smaller answer, or its parts",
                t.source,
                t.cut.as_deref().unwrap_or_default()
            ))));
        }
        let lines: usize = texts.iter().map(|t| t.lines.len()).sum();
        if lines == 0 {
            return Err(check.nothing_measured(
                "no log line or response body to scan; capture the run's logs and responses",
            ));
        }
        let mut items = Vec::new();
        for text in texts {
            let mut hits = 0;
            for (n, line) in text.lines.iter().enumerate() {
                let mut found = rules.find_with_known(line, &self.values);
                if found.is_empty() {
                    continue;
                }
                let shown = shown_line(line, &found, &self.values);
                // One secret, however many rules found it: overlapping spans are one.
                found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
                let mut secrets: Vec<(usize, Vec<String>)> = Vec::new();
                for f in &found {
                    match secrets.last_mut() {
                        Some((end, kinds)) if f.start < *end => {
                            *end = (*end).max(f.end);
                            if !kinds.contains(&f.rule) {
                                kinds.push(f.rule.clone());
                            }
                        }
                        _ => secrets.push((f.end, vec![f.rule.clone()])),
                    }
                }
                for (_, kinds) in secrets {
                    hits += 1;
                    items.push(SecurityItem::new(
                        format!("{} line {}", text.source, n + 1),
                        format!("a secret ({})", kinds.join(", ")),
                        "no secret",
                        shown.clone(),
                        false,
                    ));
                }
            }
            if hits == 0 {
                items.push(SecurityItem::new(
                    &text.source,
                    format!("{} lines scanned", text.lines.len()),
                    "no secret",
                    "none found",
                    true,
                ));
            }
        }
        let summary = format!(
            "{lines} lines of {} texts scanned, no secret found",
            texts.len()
        );
        judge_items(check, items, summary)
    }

    /// [`SecretScan::try_assert_no_secrets`], panicking with the failure.
    #[track_caller]
    pub fn assert_no_secrets(&self, texts: &[Text]) -> Evidence {
        self.try_assert_no_secrets(texts).or_panic()
    }
}

/// The line around the first secret with every secret of the line masked.
fn shown_line(line: &str, found: &[Found], values: &[String]) -> String {
    let masked = mask_line(line, found, values);
    let first = masked.find('«').unwrap_or(0);
    let floor = |i: usize| {
        (0..=i.min(masked.len()))
            .rev()
            .find(|&i| masked.is_char_boundary(i))
            .unwrap_or(0)
    };
    let from = floor(first.saturating_sub(60));
    let to = floor((first + 160).min(masked.len()));
    format!("…{}…", super::shown(&masked[from..to]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_and_never_shown() {
        let scan = SecretScan::defaults().with_secret("write-token-123");
        let texts = [
            Text::log(
                "service",
                [
                    r#"{"level":"INFO","message":"auth configured","write_tokens":"write-token-123"}"#,
                    r#"{"message":"request","status":401}"#,
                    "connecting to postgres://app:hunter22@db:5432/app",
                ],
            ),
            Text::response("POST /orders", r#"{"error":"missing bearer token"}"#),
        ];
        let dir = tempfile::tempdir().ok();
        let recorder = readiness_core::Recorder::new(
            dir.as_ref()
                .map_or_else(std::env::temp_dir, |d| d.path().to_owned()),
        );
        let scan_in = |scan: &SecretScan, texts: &[Text]| {
            scan.clone()
                .with_recorder(recorder.clone())
                .try_assert_no_secrets(texts)
        };
        let failure = scan_in(&scan, &texts).err();
        let text = failure.map(|f| f.to_string()).unwrap_or_default();
        assert!(text.contains("service line 1"), "{text}");
        assert!(text.contains("service line 3"), "{text}");
        assert!(!text.contains("write-token-123"), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("«known-secret "), "{text}");
        assert!(!text.contains("POST /orders line"), "{text}");
        let clean = [Text::response(
            "GET /health",
            r#"{"status":"ready","token_count":3}"#,
        )];
        assert!(scan_in(&SecretScan::defaults(), &clean).is_ok());
        let e = scan_in(&SecretScan::defaults(), &[])
            .err()
            .map(|f| f.verdict());
        assert_eq!(e, Some(readiness_core::Verdict::Error));
        let bad = SecretScan::empty().with_pattern("broken", "(");
        let e = scan_in(&bad, &clean)
            .err()
            .map(|f| f.to_string())
            .unwrap_or_default();
        assert!(e.contains("is not a regular expression"), "{e}");
    }
}
