//! The scorecard as OpenMetrics text, for the dashboards a team already has: scraped from a
//! file, or pushed to a Prometheus Pushgateway (`readiness report --push URL`).
//!
//! Every series is a gauge and carries the `run` and `commit` labels:
//!
//! | metric | labels | value |
//! |---|---|---|
//! | `readiness_run_go` | | 1 go, 0 no-go |
//! | `readiness_run_score` | | the weighted score, 0–10 |
//! | `readiness_run_min_score` | | the score go needs |
//! | `readiness_run_criteria` | `status` | criteria of each status (pass, fail, error, missing) |
//! | `readiness_criterion_status` | criterion's, `status` | 1 for its status, 0 for the three others |
//! | `readiness_criterion_observed` | criterion's, `unit`, `bound` | the measured value in the unit's base |
//! | `readiness_criterion_threshold` | criterion's, `unit`, `kind` | the limit (`at_most`, `at_least`; a range is `low` and `high`) |
//! | `readiness_criterion_margin` | criterion's | observed / limit |
//! | `readiness_sensitivity_mutants` | `outcome` | mutants of each outcome (caught, missed, timed_out), when the run is part of a `readiness sensitivity` |
//! | `readiness_sensitivity_caught` | `mutant` | 1 caught (or timed out), 0 missed |
//!
//! A criterion's labels: `category`, `criterion` (the id, `load.p95`), `subject`, `test`.
//! Units are the base units of [`readiness_core::Quantity`] (`seconds`, `per_second`,
//! `ratio`, `count`, `bytes`); the unit is a label because one family holds every
//! criterion. A criterion with nothing measured has no `observed` series (its status says
//! why). No sample has a timestamp (a Pushgateway refuses them); the text ends in `# EOF`.
//!
//! PromQL that gates or draws: `readiness_run_go{job="readiness"}`,
//! `readiness_criterion_observed{criterion="load.p95"}`,
//! `readiness_criterion_status{status="fail"} == 1`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as IoWrite;

use readiness_core::{Bound, Quantity, Threshold};

use crate::{CriterionResult, Decision, Scorecard, Status};

/// The content type of the text (what a scrape answers with).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The scorecard as OpenMetrics text.
pub fn text(card: &Scorecard) -> String {
    let mut out = Vec::new();
    write(card, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("the text is UTF-8")
}

/// Writes the scorecard as OpenMetrics text to `o`.
pub fn write(card: &Scorecard, o: &mut dyn IoWrite) -> std::io::Result<()> {
    let run = Labels::run(card);
    family(
        o,
        "readiness_run_go",
        "1 when the run's verdict is go, 0 when it is no-go.",
    )?;
    let go = match card.verdict {
        Decision::Go => 1.0,
        Decision::NoGo => 0.0,
    };
    sample(o, "readiness_run_go", &run.text, go)?;
    family(
        o,
        "readiness_run_score",
        "The run's weighted score, 0 to 10.",
    )?;
    sample(o, "readiness_run_score", &run.text, card.score)?;
    family(o, "readiness_run_min_score", "The score a go needs.")?;
    sample(o, "readiness_run_min_score", &run.text, card.min_score)?;
    family(
        o,
        "readiness_run_criteria",
        "Criteria of the run by status.",
    )?;
    for status in STATUSES {
        let n = card.criteria().filter(|c| c.verdict == status).count();
        let labels = run.with(&[("status", status.as_str())]);
        sample(o, "readiness_run_criteria", &labels.text, n as f64)?;
    }

    let criteria = criterion_labels(card, &run);
    family(
        o,
        "readiness_criterion_status",
        "1 for the criterion's status (pass, fail, error, missing), 0 for the others.",
    )?;
    for (c, labels) in &criteria {
        for status in STATUSES {
            let value = if c.verdict == status { 1.0 } else { 0.0 };
            let labels = labels.with(&[("status", status.as_str())]);
            sample(o, "readiness_criterion_status", &labels.text, value)?;
        }
    }
    family(
        o,
        "readiness_criterion_observed",
        "The measured value in the base of its unit (seconds, per_second, ratio, count, bytes).",
    )?;
    for (c, labels) in &criteria {
        if let Some(observed) = c.observed {
            let bound = match c.bound {
                Bound::Exact => "exact",
                Bound::AtLeast => "at_least",
                Bound::AtMost => "at_most",
            };
            let labels = labels.with(&[("unit", observed.unit().as_str()), ("bound", bound)]);
            sample(
                o,
                "readiness_criterion_observed",
                &labels.text,
                observed.value(),
            )?;
        }
    }
    family(
        o,
        "readiness_criterion_threshold",
        "The limit in the base of its unit; a range is two series, low and high.",
    )?;
    for (c, labels) in &criteria {
        let limits: Vec<(&str, Quantity)> = match c.threshold {
            Some(Threshold::AtMost { limit }) => vec![("at_most", limit)],
            Some(Threshold::AtLeast { limit }) => vec![("at_least", limit)],
            Some(Threshold::Within { low, high }) => vec![("low", low), ("high", high)],
            _ => Vec::new(),
        };
        for (kind, limit) in limits {
            let labels = labels.with(&[("unit", limit.unit().as_str()), ("kind", kind)]);
            sample(
                o,
                "readiness_criterion_threshold",
                &labels.text,
                limit.value(),
            )?;
        }
    }
    family(
        o,
        "readiness_criterion_margin",
        "The measured value divided by the limit that applies.",
    )?;
    for (c, labels) in &criteria {
        if let Some(m) = c.margin().filter(|m| m.is_finite()) {
            sample(o, "readiness_criterion_margin", &labels.text, m)?;
        }
    }
    if let Some(sens) = &card.sensitivity {
        write_sensitivity(o, sens, &run)?;
    }
    o.write_all(b"# EOF\n")
}

/// The sensitivity of the suite: mutants by outcome, and each mutant caught or not.
fn write_sensitivity(
    o: &mut dyn IoWrite,
    sens: &crate::Sensitivity,
    run: &Labels,
) -> std::io::Result<()> {
    use crate::Outcome;
    family(
        o,
        "readiness_sensitivity_mutants",
        "Mutants of the suite's sensitivity run by outcome (caught, missed, timed_out).",
    )?;
    for (name, is) in [
        (
            "caught",
            (|r| matches!(r, Outcome::Caught)) as fn(&Outcome) -> bool,
        ),
        ("missed", |r| matches!(r, Outcome::Missed)),
        ("timed_out", |r| matches!(r, Outcome::TimedOut)),
    ] {
        let n = sens.rows.iter().filter(|r| is(&r.outcome)).count();
        let labels = run.with(&[("outcome", name)]);
        sample(o, "readiness_sensitivity_mutants", &labels.text, n as f64)?;
    }
    family(
        o,
        "readiness_sensitivity_caught",
        "1 when the suite caught the mutant (its run no-go, or not finished), 0 when it missed it.",
    )?;
    for r in sens
        .rows
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::NotRun(_)))
    {
        let labels = run.with(&[("mutant", r.mutant.as_str())]);
        let caught = if r.caught() { 1.0 } else { 0.0 };
        sample(o, "readiness_sensitivity_caught", &labels.text, caught)?;
    }
    Ok(())
}

const STATUSES: [Status; 4] = [Status::Pass, Status::Fail, Status::Error, Status::Missing];

/// Each criterion with its labels; a label set that repeats (two lines alike in all four
/// labels) gets a `copy` label, as a series may appear once only.
fn criterion_labels<'a>(card: &'a Scorecard, run: &Labels) -> Vec<(&'a CriterionResult, Labels)> {
    let mut seen = HashSet::new();
    card.criteria()
        .map(|c| {
            let base = [
                ("category", &*c.category),
                ("criterion", &*c.id),
                ("subject", &*c.subject),
                ("test", c.test.as_deref().unwrap_or("")),
            ];
            let mut labels = run.with(&base);
            let mut copy = 1;
            while !seen.insert(labels.text.clone()) {
                copy += 1;
                let n = copy.to_string();
                let mut with_copy = base.to_vec();
                with_copy.push(("copy", &n));
                labels = run.with(&with_copy);
            }
            (c, labels)
        })
        .collect()
}

/// A label set, kept as its text (`run="…",commit="…"`).
#[derive(Default)]
struct Labels {
    text: String,
}

impl Labels {
    fn run(card: &Scorecard) -> Labels {
        let runs: Vec<&str> = card.runs.iter().map(|r| &*r.id).collect();
        Labels::default().with(&[
            ("run", &runs.join(",")),
            ("commit", &card.git_commits.join(",")),
        ])
    }
    fn with(&self, pairs: &[(&str, &str)]) -> Labels {
        let mut text = self.text.clone();
        for (name, value) in pairs {
            if !text.is_empty() {
                text.push(',');
            }
            let _ = write!(text, "{name}=\"{}\"", escape(value));
        }
        Labels { text }
    }
}

/// A label value as OpenMetrics writes it: `\`, `"` and line feeds escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(o: &mut dyn IoWrite, name: &str, help: &str) -> std::io::Result<()> {
    writeln!(o, "# TYPE {name} gauge")?;
    writeln!(o, "# HELP {name} {help}")
}

fn sample(o: &mut dyn IoWrite, name: &str, labels: &str, value: f64) -> std::io::Result<()> {
    writeln!(o, "{name}{{{labels}}} {}", number(value))
}

/// A value as OpenMetrics and the Prometheus text format both read it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(escape("two\nlines"), "two\\nlines");
        let l = Labels::default().with(&[("run", "r\"1"), ("commit", "")]);
        assert_eq!(l.text, r#"run="r\"1",commit="""#);
    }

    #[test]
    fn numbers_read_back() {
        assert_eq!(number(0.0281), "0.0281");
        assert_eq!(number(1e-7).parse::<f64>().unwrap(), 1e-7);
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(10.0), "10");
    }
}
