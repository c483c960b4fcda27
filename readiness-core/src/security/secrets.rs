//! `sec.no_secrets`: no secret in the captured logs and response bodies of a run.

use regex::Regex;

use super::{Edit, Route, SecurityItem, check, judge_items};
use crate::check::{CheckResultExt, Failure};
use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::recorder::Recorder;

/// Text captured in a run: log lines or a response, named by where it came from.
#[derive(Debug, Clone)]
pub struct Text {
    source: String,
    lines: Vec<String>,
}

impl Text {
    /// Lines of a log (`reference-service stdout`).
    pub fn log<S: Into<String>>(
        source: impl Into<String>,
        lines: impl IntoIterator<Item = S>,
    ) -> Self {
        Text {
            source: source.into(),
            lines: lines.into_iter().map(Into::into).collect(),
        }
    }
    /// A response body (and whatever headers the caller adds to it).
    pub fn response(source: impl Into<String>, body: &str) -> Self {
        Text::log(source, body.lines())
    }
    /// Sends `route` and keeps its answer: status line, headers and body.
    pub async fn fetch(route: &Route) -> Result<Self> {
        let client = route.client()?;
        let answer = route.send(&client, &Edit::default()).await;
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
        })
    }
    /// The stdout and stderr a container has written so far.
    #[cfg(feature = "containers")]
    pub async fn container_logs<I: testcontainers::Image>(
        name: impl Into<String>,
        container: &testcontainers::ContainerAsync<I>,
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

/// What counts as a secret: patterns (defaults: private keys, AWS keys, GitHub and Slack
/// tokens, JWTs, bearer credentials, passwords, secrets, keys and tokens assigned a value,
/// URLs with a password) and the values of the run's own secrets, which are never printed:
/// evidence shows only their first two and last two characters.
#[derive(Debug, Clone)]
#[must_use]
pub struct SecretScan {
    recorder: Option<Recorder>,
    patterns: Vec<(String, std::result::Result<Regex, String>)>,
    values: Vec<String>,
}

/// The secret patterns a [`SecretScan::defaults`] (and readiness-observability's log rules)
/// start with: `(name, regular expression)`.
pub const DEFAULT_SECRET_PATTERNS: &[(&str, &str)] = &[
    ("private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    ("AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    ("Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    (
        "JWT",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    ),
    ("bearer token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    (
        "credential assigned a value",
        r#"(?i)\b[a-z0-9_-]*(?:password|passwd|pwd|secret|api[_-]?key|token)s?\b["']?\s*[:=]\s*["']?[^\s"',;}*<\[]{6,}"#,
    ),
    (
        "credentials in a URL",
        r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@",
    ),
];

impl SecretScan {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// The default patterns.
    pub fn defaults() -> Self {
        SecretScan {
            recorder: None,
            patterns: DEFAULT_SECRET_PATTERNS
                .iter()
                .map(|(n, p)| ((*n).to_owned(), Regex::new(p).map_err(|e| e.to_string())))
                .collect(),
            values: Vec::new(),
        }
    }
    /// No pattern: only what is added.
    pub fn empty() -> Self {
        SecretScan {
            patterns: Vec::new(),
            recorder: None,
            values: Vec::new(),
        }
    }
    /// A pattern (a regular expression; an invalid one makes the check an `error`).
    pub fn with_pattern(mut self, name: impl Into<String>, regex: &str) -> Self {
        self.patterns
            .push((name.into(), Regex::new(regex).map_err(|e| e.to_string())));
        self
    }
    /// A secret of the run (a token, a password) that must appear nowhere.
    pub fn with_secret(mut self, value: impl Into<String>) -> Self {
        self.values.push(value.into());
        self
    }

    /// `sec.no_secrets`: every line of `texts` is searched for every pattern and secret
    /// value; each hit is a failed probe naming the source, the line and the pattern, with
    /// the secret masked. No text at all (or no line) is verdict `error`.
    pub fn try_assert_no_secrets(&self, texts: &[Text]) -> std::result::Result<Evidence, Failure> {
        let sources: Vec<&str> = texts.iter().map(|t| t.source.as_str()).collect();
        let check = check(
            "sec.no_secrets",
            "no secret in logs or responses",
            self.recorder.as_ref(),
        )
        .with_target(sources.join(", "))
        .with_scenario(format!(
            "{} patterns and {} known secrets over {} texts",
            self.patterns.len(),
            self.values.len(),
            texts.len()
        ));
        let mut patterns = Vec::new();
        for (name, compiled) in &self.patterns {
            match compiled {
                Ok(r) => patterns.push((name.as_str(), r)),
                Err(e) => {
                    return Err(check.error(Error::InvalidInput(format!(
                        "secret pattern {name:?} is not a valid regular expression: {e}"
                    ))));
                }
            }
        }
        if self.values.iter().any(|v| v.len() < 4) {
            return Err(check.error(Error::InvalidInput(
                "a known secret shorter than 4 characters would match anywhere; give the whole \
                 secret"
                    .into(),
            )));
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
                let mut found: Vec<(String, (usize, usize))> = patterns
                    .iter()
                    .filter_map(|(name, r)| {
                        r.find(line)
                            .map(|m| ((*name).to_owned(), (m.start(), m.end())))
                    })
                    .collect();
                for v in &self.values {
                    if let Some(at) = line.find(v.as_str()) {
                        found.push(("a known secret".to_owned(), (at, at + v.len())));
                    }
                }
                for (name, span) in found {
                    hits += 1;
                    items.push(SecurityItem::new(
                        format!("{} line {}", text.source, n + 1),
                        name,
                        "no secret",
                        masked(line, span, &self.values),
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

/// The line around the match, with the match (and every known secret) masked.
fn masked(line: &str, (start, end): (usize, usize), values: &[String]) -> String {
    let mask = |s: &str| {
        let chars: Vec<char> = s.chars().collect();
        if chars.len() <= 6 {
            return "…".to_owned();
        }
        let head: String = chars[..2].iter().collect();
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("{head}…{tail} ({} chars)", chars.len())
    };
    let floor = |i: usize| {
        (0..=i)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0)
    };
    let from = floor(start.saturating_sub(40));
    let to = floor((end + 40).min(line.len()));
    let mut shown = format!(
        "{}{}{}",
        &line[from..start],
        mask(&line[start..end]),
        &line[end..to.max(end)]
    );
    for v in values {
        shown = shown.replace(v.as_str(), &mask(v));
    }
    format!("…{}…", super::shown(&shown))
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
        let recorder = crate::Recorder::new(
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
        assert!(!text.contains("POST /orders line"), "{text}");
        let clean = [Text::response(
            "GET /health",
            r#"{"status":"ready","token_count":3}"#,
        )];
        assert!(scan_in(&SecretScan::defaults(), &clean).is_ok());
        let e = scan_in(&SecretScan::defaults(), &[])
            .err()
            .map(|f| f.verdict());
        assert_eq!(e, Some(crate::Verdict::Error));
        let bad = SecretScan::empty().with_pattern("broken", "(");
        let e = scan_in(&bad, &clean)
            .err()
            .map(|f| f.to_string())
            .unwrap_or_default();
        assert!(e.contains("not a valid regular expression"), "{e}");
    }
}
