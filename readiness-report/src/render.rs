//! The scorecard as text: terminal table, Markdown, JSON and JUnit XML.

use std::fmt::Write as _;

use crate::scorecard::{CriterionResult, Decision, Scorecard, Status};

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Fail => "❌",
        Status::Error => "⚠️",
        Status::Missing => "❔",
    }
}

fn tty_mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Error => "!",
        Status::Missing => "?",
    }
}

/// ANSI colours when `on`.
struct Paint {
    on: bool,
}

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn verdict(&self, d: Decision) -> String {
        match d {
            Decision::Go => self.paint("1;32", "GO"),
            Decision::NoGo => self.paint("1;31", "NO-GO"),
        }
    }
    fn criterion(&self, c: &CriterionResult) -> String {
        let m = tty_mark(c.verdict);
        match c.verdict {
            Status::Pass => self.paint("32", m),
            Status::Fail | Status::Missing => self.paint("31", m),
            Status::Error => self.paint("33", m),
        }
    }
}

/// One line saying what was observed against what was required.
pub fn observation(c: &CriterionResult) -> String {
    match (&c.required, &c.observed, &c.error) {
        (_, _, Some(e)) => format!("could not run: {e}"),
        (Some(r), Some(o), _) => format!("required {r}, observed {o}"),
        (None, Some(o), _) => format!("observed {o}"),
        (Some(r), None, _) => format!("required {r}"),
        (None, None, None) if c.verdict == Status::Missing => "no evidence".to_string(),
        (None, None, None) => String::new(),
    }
}

fn source(c: &CriterionResult) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &c.test {
        parts.push(t.clone());
    }
    if let Some(e) = &c.evidence {
        parts.push(e.clone());
    }
    if c.shards > 0 {
        parts.push(format!("{} shards merged", c.shards));
    } else if c.attempts > 1 {
        parts.push(format!("{} attempts, last counts", c.attempts));
    }
    parts.join(", ")
}

/// The terminal table; `colour` adds ANSI colours (when stdout is a terminal).
pub fn terminal(s: &Scorecard, colour: bool) -> String {
    let p = Paint { on: colour };
    let mut o = String::with_capacity(4096 + 160 * s.criteria().count());
    let _ = writeln!(
        o,
        "readiness scorecard: {}  score {:.1}/10 (go needs {:.1})",
        p.verdict(s.verdict),
        s.score,
        s.min_score
    );
    let _ = writeln!(
        o,
        "evidence: {} ({} files, {} records)\n",
        s.evidence_dir, s.files, s.records
    );
    let _ = writeln!(
        o,
        "{:<16} {:>6} {:>6} {:>5} {:>5} {:>6} {:>8}",
        "category", "weight", "score", "pass", "fail", "error", "missing"
    );
    for c in &s.categories {
        if c.assessed {
            let _ = writeln!(
                o,
                "{:<16} {:>6} {:>6.1} {:>5} {:>5} {:>6} {:>8}",
                c.name, c.weight, c.score, c.passed, c.failed, c.errors, c.missing
            );
        } else {
            let _ = writeln!(
                o,
                "{:<16} {:>6}   not assessed: no evidence",
                c.name, c.weight
            );
        }
    }
    let _ = writeln!(o, "{:<16} {:>6} {:>6.1}\n", "weighted score", "", s.score);
    // A long run lists what did not pass; the files list everything.
    let total = s.criteria().count();
    let brief = total > 50;
    for c in s.criteria().filter(|c| !brief || !c.passed()) {
        let from = source(c);
        let _ = writeln!(
            o,
            "  {} {:<22} {}\n      {}{}",
            p.criterion(c),
            c.id,
            c.title,
            observation(c),
            if from.is_empty() {
                String::new()
            } else {
                format!("  [{from}]")
            }
        );
    }
    if brief {
        let passed = s.criteria().filter(|c| c.passed()).count();
        let _ = writeln!(
            o,
            "  ({passed} passed criteria not listed here; the Markdown and HTML reports list all)"
        );
    }
    if !s.reasons.is_empty() {
        let _ = writeln!(o, "\nreasons for no-go:");
        for r in &s.reasons {
            let _ = writeln!(o, "  - {r}");
        }
    }
    if !s.findings.is_empty() {
        let _ = writeln!(o, "\nfindings:");
        for f in &s.findings {
            let _ = writeln!(o, "  - {}", f.message);
        }
    }
    if let Some(cap) = &s.capacity {
        let _ = writeln!(o, "\ncapacity: {}", cap.advice);
        for pr in &cap.projections {
            let _ = writeln!(
                o,
                "  in {:>2} months: peak {:.0}/s = {:.0}% of the ceiling",
                pr.months,
                pr.peak_rate,
                pr.utilisation * 100.0
            );
        }
    }
    if let Some(b) = &s.baseline {
        let _ = writeln!(o, "\ncompared with the baseline:");
        for c in b {
            let _ = writeln!(
                o,
                "  {:<13} {:<18} {}",
                c.change.to_string(),
                c.id,
                c.detail
            );
        }
    }
    o
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown scorecard (for a PR comment or `$GITHUB_STEP_SUMMARY`).
pub fn markdown(s: &Scorecard) -> String {
    let mut o = String::with_capacity(4096 + 160 * s.criteria().count());
    let icon = match s.verdict {
        Decision::Go => "✅",
        Decision::NoGo => "❌",
    };
    let _ = writeln!(o, "# Readiness scorecard: {icon} {}\n", s.verdict);
    let _ = writeln!(
        o,
        "**Score {:.1}/10** (go needs {:.1}) from {} records in {} evidence files.\n",
        s.score, s.min_score, s.records, s.files
    );
    if !s.reasons.is_empty() {
        let _ = writeln!(o, "## Reasons for no-go\n");
        for r in &s.reasons {
            let _ = writeln!(o, "- {}", md_escape(r));
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Categories\n");
    let _ = writeln!(
        o,
        "| Category | Weight | Score | Pass | Fail | Error | Missing |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for c in &s.categories {
        if c.assessed {
            let _ = writeln!(
                o,
                "| {} | {} | {:.1} | {} | {} | {} | {} |",
                c.name, c.weight, c.score, c.passed, c.failed, c.errors, c.missing
            );
        } else {
            let _ = writeln!(o, "| {} | {} | not assessed | | | | |", c.name, c.weight);
        }
    }
    let _ = writeln!(o, "| **Weighted** | | **{:.1}** | | | | |\n", s.score);
    for c in s.categories.iter().filter(|c| c.assessed) {
        let _ = writeln!(o, "## {}\n", c.name);
        let _ = writeln!(
            o,
            "| | Criterion | Required | Observed | Evidence |\n|---|---|---|---|---|"
        );
        for r in &c.criteria {
            let must = if r.must_pass { " (must pass)" } else { "" };
            let observed = match (&r.observed, &r.error) {
                (_, Some(e)) => format!("could not run: {e}"),
                (Some(o), None) => o.clone(),
                (None, None) => "—".into(),
            };
            let _ = writeln!(
                o,
                "| {} | `{}` {}{} | {} | {} | {} |",
                mark(r.verdict),
                r.id,
                md_escape(&r.title),
                must,
                md_escape(r.required.as_deref().unwrap_or("—")),
                md_escape(&observed),
                md_escape(&source(r))
            );
        }
        o.push('\n');
    }
    if let Some(cap) = &s.capacity {
        let _ = writeln!(o, "## Capacity plan\n\n{}\n", md_escape(&cap.advice));
        let _ = writeln!(
            o,
            "| In | Peak | Share of the ceiling ({:.0}/s) |\n|---:|---:|---:|",
            cap.ceiling
        );
        for (when, peak, share) in cap.rows() {
            let _ = writeln!(o, "| {when} | {peak:.0}/s | {:.0}% |", share * 100.0);
        }
        let _ = writeln!(o, "\nCeiling from {}.\n", md_escape(&cap.source));
    }
    if let Some(b) = &s.baseline {
        let _ = writeln!(
            o,
            "## Compared with the baseline\n\n| Change | Criterion | Test | Detail |\n|---|---|---|---|"
        );
        for c in b {
            let _ = writeln!(
                o,
                "| {} | `{}` | {} | {} |",
                c.change,
                c.id,
                md_escape(&c.test),
                md_escape(&c.detail)
            );
        }
        o.push('\n');
    }
    if !s.findings.is_empty() {
        let _ = writeln!(o, "## Findings\n");
        for f in &s.findings {
            let _ = writeln!(o, "- {}", md_escape(&f.message));
        }
        o.push('\n');
    }
    o
}

/// The scorecard as JSON (schema [`crate::SCORECARD_SCHEMA`]), one line (`jq .` shows it
/// indented).
pub fn json(s: &Scorecard) -> String {
    let mut text = serde_json::to_string(s).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Escapes text for XML (and HTML): the five special characters, and control characters
/// XML 1.0 does not allow are dropped.
pub fn xml_escape(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(ch),
            c if (c as u32) < 0x20 => {}
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one testsuite per category, one testcase per criterion; a failed or
/// missing criterion is a `<failure>`, one that could not run an `<error>`.
pub fn junit(s: &Scorecard) -> String {
    let count = |v: Status| s.criteria().filter(|c| c.verdict == v).count();
    let unassessed = s.categories.iter().filter(|c| !c.assessed).count();
    let total = s.criteria().count() + unassessed;
    let mut o = String::with_capacity(4096 + 160 * total);
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"readiness\" tests=\"{total}\" failures=\"{}\" errors=\"{}\">",
        count(Status::Fail) + count(Status::Missing) + unassessed,
        count(Status::Error)
    );
    for c in s.categories.iter().filter(|c| !c.assessed) {
        // A weighted category no test assessed: one failing case, so CI shows it.
        let _ = writeln!(
            o,
            "  <testsuite name=\"{0}\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\">\n    \
             <testcase classname=\"readiness.{0}\" name=\"{0}: not assessed\">\n      \
             <failure message=\"not assessed: no criterion of category {0} has evidence\" \
             type=\"not_assessed\"/>\n    </testcase>\n  </testsuite>",
            xml_escape(&c.name)
        );
    }
    for c in s.categories.iter().filter(|c| c.assessed) {
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            xml_escape(&c.name),
            c.criteria.len(),
            c.failed + c.missing,
            c.errors
        );
        for r in &c.criteria {
            let name = format!("{}: {}", r.id, r.title);
            let _ = write!(
                o,
                "    <testcase classname=\"readiness.{}\" name=\"{}\"",
                xml_escape(&c.name),
                xml_escape(&name)
            );
            let body = failure_text(r);
            match r.verdict {
                Status::Pass => {
                    let _ = writeln!(o, "/>");
                }
                Status::Error => {
                    let _ = writeln!(
                        o,
                        ">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
                        xml_escape(&observation(r)),
                        xml_escape(&body)
                    );
                }
                Status::Fail | Status::Missing => {
                    let _ = writeln!(
                        o,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        xml_escape(&observation(r)),
                        r.verdict,
                        xml_escape(&body)
                    );
                }
            }
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    let _ = writeln!(o, "</testsuites>");
    o
}

/// The failure block of a criterion, as the harness prints it.
pub fn failure_text(r: &CriterionResult) -> String {
    let head = match r.verdict {
        Status::Error => "readiness check could not run",
        Status::Missing => "readiness criterion has no evidence",
        Status::Pass | Status::Fail => "readiness criterion failed",
    };
    let mut o = format!("{head}: {} ({})", r.id, r.title);
    let mut line = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            let _ = write!(o, "\n  {k:<9} {v}");
        }
    };
    line("required:", &r.required);
    line("observed:", &r.observed);
    line("error:", &r.error);
    line("summary:", &r.summary);
    line("scenario:", &r.scenario);
    line("test:", &r.test);
    line("evidence:", &r.evidence);
    o
}
