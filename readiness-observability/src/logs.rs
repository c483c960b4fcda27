//! Logs judged line by line: `obs.logs`.
//!
//! Every line structured (a JSON object with a level and a message), error lines present
//! when an error was induced and absent under a normal load, and no line matching a secret
//! pattern.

use readiness_core::testcontainers::{ContainerAsync, Image};
use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Evidence, Failure, Observation, Quantity,
    Recorder, Result, Threshold,
};
use serde_json::Value;

/// Captured log lines and where they came from.
#[derive(Debug, Clone)]
pub struct LogLines {
    source: String,
    lines: Vec<String>,
}

impl LogLines {
    /// Lines from a text (a process's log file, a capture).
    pub fn new(source: impl Into<String>, text: &str) -> Self {
        LogLines {
            source: source.into(),
            lines: text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Everything a container wrote to stdout and stderr so far.
    pub async fn of_container<I: Image>(container: &ContainerAsync<I>) -> Result<Self> {
        let out = container.stdout_to_vec().await?;
        let err = container.stderr_to_vec().await?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&err));
        Ok(LogLines::new(
            format!(
                "container {}",
                &container.id()[..12.min(container.id().len())]
            ),
            &text,
        ))
    }

    /// The lines after the first `n` (what a step of a test added).
    pub fn after(&self, n: usize) -> Self {
        LogLines {
            source: self.source.clone(),
            lines: self.lines.iter().skip(n).cloned().collect(),
        }
    }

    /// The lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// What error lines the test expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Errors {
    Any,
    Present,
    Absent,
}

/// What [`try_assert_logs`] requires of the lines.
#[derive(Debug, Clone)]
#[must_use]
pub struct LogRules {
    structured: bool,
    errors: Errors,
    secrets: readiness_security::Rules,
    recorder: Option<Recorder>,
}

impl Default for LogRules {
    fn default() -> Self {
        LogRules::new()
    }
}

impl LogRules {
    /// Structured lines, the default secret rules (`sec.no_secrets`' own), no expectation
    /// on error lines.
    pub fn new() -> Self {
        LogRules {
            structured: true,
            errors: Errors::Any,
            secrets: readiness_security::Rules::defaults(),
            recorder: None,
        }
    }
    /// At least one error line (an error was induced).
    pub fn expect_errors(mut self) -> Self {
        self.errors = Errors::Present;
        self
    }
    /// No error line (a normal load).
    pub fn expect_no_errors(mut self) -> Self {
        self.errors = Errors::Absent;
        self
    }
    /// Plain-text logs are acceptable.
    pub fn allow_unstructured(mut self) -> Self {
        self.structured = false;
        self
    }
    /// Another secret pattern (a regular expression); an error names a bad one.
    pub fn with_secret_pattern(mut self, name: &str, pattern: &str) -> Result<Self> {
        self.secrets = self.secrets.with_rule(name, pattern)?;
        Ok(self)
    }
    /// The secret rules of a gitleaks configuration ([`readiness_security::Rules::read`]).
    pub fn with_secret_rules(mut self, rules: readiness_security::Rules) -> Self {
        self.secrets = rules;
        self
    }
    /// Records the check with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
}

/// The level and message of a structured line, if it is one.
fn fields(line: &str) -> Option<(Option<String>, Option<String>)> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let obj = v.as_object()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let level = ["level", "severity", "lvl", "log.level"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(text));
    let message = ["message", "msg"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(text))
        .or_else(|| {
            obj.get("fields")
                .and_then(|f| f.get("message"))
                .and_then(text)
        });
    Some((level, message))
}

fn is_error(level: &str) -> bool {
    matches!(
        level.to_ascii_lowercase().as_str(),
        "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emergency"
    )
}

fn quote(line: &str) -> String {
    let short: String = line.chars().take(80).collect();
    if short.len() < line.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// Panics unless [`try_assert_logs`] passes.
pub fn assert_logs(lines: &LogLines, rules: &LogRules) -> Evidence {
    try_assert_logs(lines, rules).or_panic()
}

/// `obs.logs`: the lines follow `rules`; each problem names the line (by number) and what
/// was wrong, and a secret is named by its pattern, never printed. An `error` when there
/// is no line to judge.
pub fn try_assert_logs(lines: &LogLines, rules: &LogRules) -> Result<Evidence, Failure> {
    let expect = match rules.errors {
        Errors::Any => "",
        Errors::Present => ", error lines present",
        Errors::Absent => ", no error line",
    };
    let mut check = Check::new(
        "obs.logs",
        format!(
            "logs of {} are structured{expect} and hold no secret",
            lines.source
        ),
        Category::OBSERVABILITY,
    )
    .with_subject(format!("logs/{}", lines.source))
    .with_target(lines.source.clone())
    .with_threshold(Threshold::at_most(Count(0)))
    .with_combine(Combine::VerdictOnly)
    .with_scenario(format!(
        "{} lines; {} secret patterns",
        lines.lines.len(),
        rules.secrets.rules().len()
    ));
    if let Some(r) = &rules.recorder {
        check = check.with_recorder(r.clone());
    }
    if lines.lines.is_empty() {
        return Err(check.nothing_measured(format!("{} wrote no line", lines.source)));
    }
    let mut problems = Vec::new();
    let (mut unstructured, mut incomplete, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in lines.lines.iter().enumerate() {
        let n = i + 1;
        match fields(line) {
            None => unstructured.push(n),
            Some((level, message)) => {
                if level.is_none() || message.is_none() {
                    incomplete.push(n);
                }
                if level.as_deref().is_some_and(is_error) {
                    errors.push(n);
                }
            }
        }
        for found in rules.secrets.find(line) {
            problems.push(format!("line {n} holds a secret ({})", found.rule));
        }
    }
    let at = |ns: &[usize]| {
        let shown: Vec<String> = ns.iter().take(5).map(usize::to_string).collect();
        format!(
            "{}{}",
            shown.join(", "),
            if ns.len() > 5 { ", …" } else { "" }
        )
    };
    if rules.structured && !unstructured.is_empty() {
        problems.push(format!(
            "{} line(s) are not JSON (lines {}; first: {})",
            unstructured.len(),
            at(&unstructured),
            quote(&lines.lines[unstructured[0] - 1])
        ));
    }
    if rules.structured && !incomplete.is_empty() {
        problems.push(format!(
            "{} JSON line(s) lack a level or a message (lines {})",
            incomplete.len(),
            at(&incomplete)
        ));
    }
    match rules.errors {
        Errors::Present if errors.is_empty() => {
            problems.push("no error line although an error was induced".to_owned());
        }
        Errors::Absent if !errors.is_empty() => problems.push(format!(
            "{} error line(s) under a normal load (lines {}; first: {})",
            errors.len(),
            at(&errors),
            quote(&lines.lines[errors[0] - 1])
        )),
        _ => {}
    }
    let summary = if problems.is_empty() {
        format!(
            "{} lines, all structured, {} error line(s), no secret",
            lines.lines.len(),
            errors.len()
        )
    } else {
        format!(
            "{} problem(s) in {} lines: {}",
            problems.len(),
            lines.lines.len(),
            problems.join("; ")
        )
    };
    check.judge(Observation::new(Quantity::count(problems.len() as u64)).with_summary(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LogRules {
        LogRules::new().with_recorder(crate::self_test_recorder())
    }

    const GOOD: &str = r#"{"timestamp":"t","level":"INFO","fields":{"message":"request","status":200}}
{"timestamp":"t","level":"WARN","fields":{"message":"slow"}}"#;

    #[test]
    fn structured_lines_without_errors_or_secrets_pass() {
        let e = try_assert_logs(&LogLines::new("svc", GOOD), &rules().expect_no_errors());
        assert!(e.is_ok(), "{e:?}");
    }

    #[test]
    fn each_problem_is_named_by_line_and_secrets_are_not_printed() {
        let text = format!(
            "{GOOD}\nplain text line\n{}\n{}\n{}",
            r#"{"level":"ERROR","fields":{"message":"db down"}}"#,
            r#"{"level":"INFO","fields":{"message":"auth","header":"Bearer s3cr3t-token-value"}}"#,
            r#"{"msg":"no level"}"#
        );
        let f = try_assert_logs(&LogLines::new("svc", &text), &rules().expect_no_errors())
            .expect_err("problems");
        let m = f.to_string();
        assert!(
            m.contains("1 line(s) are not JSON (lines 3; first: \"plain text line\")"),
            "{m}"
        );
        assert!(
            m.contains("1 error line(s) under a normal load (lines 4"),
            "{m}"
        );
        assert!(
            m.contains("line 5 holds a secret (http-bearer-token)"),
            "{m}"
        );
        assert!(m.contains("lack a level or a message (lines 6)"), "{m}");
        assert!(!m.contains("s3cr3t"), "{m}");

        let f = try_assert_logs(&LogLines::new("svc", GOOD), &rules().expect_errors())
            .expect_err("no error line");
        assert!(
            f.to_string()
                .contains("no error line although an error was induced")
        );
    }

    #[test]
    fn no_line_is_an_error_and_a_bad_pattern_is_refused() {
        let f = try_assert_logs(&LogLines::new("svc", "\n\n"), &rules()).expect_err("empty");
        assert_eq!(f.verdict(), readiness_core::Verdict::Error);
        let bad = rules().with_secret_pattern("broken", "(unclosed");
        assert!(bad.is_err_and(|e| e.to_string().contains("rule broken")));
    }
}
