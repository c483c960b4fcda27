//! The scorecard as text: terminal table, Markdown, JSON and JUnit XML. JSON and JUnit
//! list every criterion and are written straight to a file ([`write_json`],
//! [`write_junit`]); the terminal, Markdown and HTML, which people read, list every
//! criterion that did not pass and at most [`PASSED_LISTED`] passed ones per category.

use std::fmt::Write as _;
use std::io::Write as IoWrite;

/// Passed criteria listed per category in the terminal, Markdown and HTML forms; the rest
/// are counted ("and 9,900 more passed"). JSON and JUnit list every one.
pub const PASSED_LISTED: usize = 100;

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
    match (c.required(), c.observed_text(), &c.error) {
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
        parts.push(t.to_string());
    }
    if let Some(e) = &c.evidence {
        parts.push(e.to_string());
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
        "evidence: {} ({} files, {} records{})\n",
        s.evidence_dir,
        s.files,
        s.records,
        runs_text(s)
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
    if !s.attested.is_empty() {
        let _ = writeln!(o, "\nattested by people (not measured, not scored):");
        for a in &s.attested {
            let _ = writeln!(
                o,
                "  {} {:<22} {} — {}, {}: {}",
                if a.holds() { "✓" } else { "✗" },
                a.attestation.id,
                a.attestation.title,
                a.attestation.by,
                a.attestation.on,
                a.describe()
            );
        }
    }
    if let Some(sens) = &s.sensitivity {
        let _ = writeln!(
            o,
            "\nsuite sensitivity ({}; each mutant its own run):",
            sens.summary()
        );
        for r in &sens.rows {
            let _ = writeln!(o, "  {:<26} {}", r.mutant, r.describe());
        }
    }
    if let Some(m) = &s.matrix {
        let _ = writeln!(
            o,
            "\ndefect matrix ({}; each row its own run):",
            m.summary()
        );
        for r in &m.rows {
            let failed = if r.failed.is_empty() {
                "nothing failed".to_owned()
            } else {
                format!("failed {}", r.failed.join(", "))
            };
            let _ = writeln!(
                o,
                "  {:<26} {:<5} {failed} — as expected: {}",
                r.name(),
                r.verdict.to_string(),
                r.outcome()
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

pub(crate) fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The criteria of a category a person reads: every one that did not pass, and the first
/// [`PASSED_LISTED`] that passed; with how many passed ones were left out.
pub fn listed(criteria: &[CriterionResult]) -> (impl Iterator<Item = &CriterionResult>, usize) {
    let passed = criteria.iter().filter(|c| c.passed()).count();
    let mut shown = 0usize;
    let iter = criteria.iter().filter(move |c| {
        if !c.passed() {
            return true;
        }
        shown += 1;
        shown <= PASSED_LISTED
    });
    (iter, passed.saturating_sub(PASSED_LISTED))
}

/// The Markdown scorecard (for a PR comment or `$GITHUB_STEP_SUMMARY`).
pub fn markdown(s: &Scorecard) -> String {
    let mut out = Vec::with_capacity(4096);
    let _ = write_markdown(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the Markdown scorecard to `o`.
pub fn write_markdown(s: &Scorecard, o: &mut dyn IoWrite) -> std::io::Result<()> {
    let icon = match s.verdict {
        Decision::Go => "✅",
        Decision::NoGo => "❌",
    };
    writeln!(o, "# Readiness scorecard: {icon} {}\n", s.verdict)?;
    writeln!(
        o,
        "**Score {:.1}/10** (go needs {:.1}) from {} records in {} evidence files{}.\n",
        s.score,
        s.min_score,
        s.records,
        s.files,
        runs_text(s)
    )?;
    if !s.reasons.is_empty() {
        writeln!(o, "## Reasons for no-go\n")?;
        for r in &s.reasons {
            writeln!(o, "- {}", md_escape(r))?;
        }
        writeln!(o)?;
    }
    writeln!(o, "## Categories\n")?;
    writeln!(
        o,
        "| Category | Weight | Score | Pass | Fail | Error | Missing |\n|---|---:|---:|---:|---:|---:|---:|"
    )?;
    for c in &s.categories {
        if c.assessed {
            writeln!(
                o,
                "| {} | {} | {:.1} | {} | {} | {} | {} |",
                c.name, c.weight, c.score, c.passed, c.failed, c.errors, c.missing
            )?;
        } else {
            writeln!(o, "| {} | {} | not assessed | | | | |", c.name, c.weight)?;
        }
    }
    writeln!(o, "| **Weighted** | | **{:.1}** | | | | |\n", s.score)?;
    for c in s.categories.iter().filter(|c| c.assessed) {
        writeln!(o, "## {}\n", c.name)?;
        writeln!(
            o,
            "| | Criterion | Required | Observed | Evidence |\n|---|---|---|---|---|"
        )?;
        let (list, more) = listed(s.criteria_of(c));
        for r in list {
            let must = if r.must_pass { " (must pass)" } else { "" };
            let observed = match (r.observed_text(), &r.error) {
                (_, Some(e)) => format!("could not run: {e}"),
                (Some(o), None) => o,
                (None, None) => "—".into(),
            };
            writeln!(
                o,
                "| {} | `{}` {}{} | {} | {} | {} |",
                mark(r.verdict),
                r.id,
                md_escape(&r.title),
                must,
                md_escape(r.required().as_deref().unwrap_or("—")),
                md_escape(&observed),
                md_escape(&source(r))
            )?;
        }
        if more > 0 {
            writeln!(
                o,
                "| ✅ | … and {more} more passed | | | scorecard.json and junit.xml list every one |"
            )?;
        }
        writeln!(o)?;
    }
    if let Some(cap) = &s.capacity {
        writeln!(o, "## Capacity plan\n\n{}\n", md_escape(&cap.advice))?;
        writeln!(
            o,
            "| In | Peak | Share of the ceiling ({:.0}/s) |\n|---:|---:|---:|",
            cap.ceiling
        )?;
        for (when, peak, share) in cap.rows() {
            writeln!(o, "| {when} | {peak:.0}/s | {:.0}% |", share * 100.0)?;
        }
        writeln!(o, "\nCeiling from {}.\n", md_escape(&cap.source))?;
    }
    if !s.attested.is_empty() {
        writeln!(
            o,
            "## Attested by people\n\nWhat only people judge: shown apart, never measured and never \
             in the score.\n\n| | Attestation | Category | By | On | Record | Holds |\n\
             |---|---|---|---|---|---|---|"
        )?;
        for a in &s.attested {
            writeln!(
                o,
                "| {} | `{}` {} | {} | {} | {} | {} | {} |",
                a.mark(),
                md_escape(&a.attestation.id),
                md_escape(&a.attestation.title),
                md_escape(&a.attestation.category),
                md_escape(&a.attestation.by),
                md_escape(&a.attestation.on),
                md_escape(&a.attestation.link),
                md_escape(&a.describe())
            )?;
        }
        writeln!(o)?;
    }
    if let Some(sens) = &s.sensitivity {
        writeln!(
            o,
            "## Suite sensitivity\n\nThe suite once clean and once per operational mutant; \
             a mutant is caught when its run is no-go.\n\n{}",
            sens.markdown()
        )?;
    }
    if let Some(m) = &s.matrix {
        writeln!(
            o,
            "## Defect matrix\n\nThe review once on the healthy service and once per defect switched on; \
             each row is the verdict of its own run.\n\n{}",
            m.markdown()
        )?;
    }
    if let Some(b) = &s.baseline {
        writeln!(
            o,
            "## Compared with the baseline\n\n| Change | Criterion | Test | Detail |\n|---|---|---|---|"
        )?;
        for c in b {
            writeln!(
                o,
                "| {} | `{}` | {} | {} |",
                c.change,
                c.id,
                md_escape(&c.test),
                md_escape(&c.detail)
            )?;
        }
        writeln!(o)?;
    }
    if !s.findings.is_empty() {
        writeln!(o, "## Findings\n")?;
        for f in &s.findings {
            writeln!(o, "- {}", md_escape(&f.message))?;
        }
        writeln!(o)?;
    }
    Ok(())
}

/// ", run cargo-4121-99 (one cargo invocation)" for the runs judged.
fn runs_text(s: &Scorecard) -> String {
    match s.runs.as_slice() {
        [] => String::new(),
        [one] => format!(", run {}", one.id),
        many => format!(", {} runs", many.len()),
    }
}

/// The scorecard as JSON (schema [`crate::SCORECARD_SCHEMA`]), one line (`jq .` shows it
/// indented).
pub fn json(s: &Scorecard) -> String {
    let mut out = Vec::new();
    let _ = write_json(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the JSON scorecard to `o`.
pub fn write_json(s: &Scorecard, o: &mut dyn IoWrite) -> std::io::Result<()> {
    serde_json::to_writer(&mut *o, s).map_err(std::io::Error::other)?;
    writeln!(o)
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
    let mut out = Vec::new();
    let _ = write_junit(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the JUnit XML to `o`.
pub fn write_junit(s: &Scorecard, o: &mut dyn IoWrite) -> std::io::Result<()> {
    let count = |v: Status| s.criteria().filter(|c| c.verdict == v).count();
    let unassessed = s.categories.iter().filter(|c| !c.assessed).count();
    // The suites apart from the criteria: what people attested, the defect matrix.
    let attested_failed = s.attested.iter().filter(|a| !a.holds()).count();
    let (rows, rows_failed) = s
        .matrix
        .as_ref()
        .map_or((0, 0), |m| (m.rows.len(), m.rows.len() - m.as_expected()));
    let (mutants, missed) = s.sensitivity.as_ref().map_or((0, 0), |m| {
        let (caught, run) = m.score();
        (run, run - caught)
    });
    let total = s.criteria().count() + unassessed + s.attested.len() + rows + mutants;
    writeln!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        o,
        "<testsuites name=\"readiness\" tests=\"{total}\" failures=\"{}\" errors=\"{}\">",
        count(Status::Fail)
            + count(Status::Missing)
            + unassessed
            + attested_failed
            + rows_failed
            + missed,
        count(Status::Error)
    )?;
    for c in s.categories.iter().filter(|c| !c.assessed) {
        // A weighted category no test assessed: one failing case, so CI shows it.
        writeln!(
            o,
            "  <testsuite name=\"{0}\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\">\n    \
             <testcase classname=\"readiness.{0}\" name=\"{0}: not assessed\">\n      \
             <failure message=\"not assessed: no criterion of category {0} has evidence\" \
             type=\"not_assessed\"/>\n    </testcase>\n  </testsuite>",
            xml_escape(&c.name)
        )?;
    }
    for c in s.categories.iter().filter(|c| c.assessed) {
        let category = xml_escape(&c.name);
        writeln!(
            o,
            "  <testsuite name=\"{category}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            c.len(),
            c.failed + c.missing,
            c.errors
        )?;
        for r in s.criteria_of(c) {
            write!(
                o,
                "    <testcase classname=\"readiness.{category}\" name=\"{}: {}\"",
                xml_escape(&r.id),
                xml_escape(&r.title)
            )?;
            match r.verdict {
                Status::Pass => writeln!(o, "/>")?,
                Status::Error => writeln!(
                    o,
                    ">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
                    xml_escape(&observation(r)),
                    xml_escape(&failure_text(r))
                )?,
                Status::Fail | Status::Missing => writeln!(
                    o,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(&observation(r)),
                    r.verdict,
                    xml_escape(&failure_text(r))
                )?,
            }
        }
        writeln!(o, "  </testsuite>")?;
    }
    if !s.attested.is_empty() {
        // Apart from the categories: a person's word, not a measurement.
        let cases: Vec<(String, Option<String>)> = s
            .attested
            .iter()
            .map(|a| {
                let name = format!(
                    "{}: {} (attested by {}, not measured)",
                    a.attestation.id, a.attestation.title, a.attestation.by
                );
                (name, (!a.holds()).then(|| a.describe()))
            })
            .collect();
        write_cases(o, "attested", "attestation_not_valid", &cases)?;
    }
    if let Some(m) = &s.matrix {
        // Each row a case of its own suite: a row not as expected fails it, so CI shows it.
        let cases: Vec<(String, Option<String>)> = m
            .rows
            .iter()
            .map(|r| {
                let name = format!("{}: {}", r.name(), r.verdict);
                (name, (!r.as_expected()).then(|| r.outcome()))
            })
            .collect();
        write_cases(o, "defect-matrix", "not_as_expected", &cases)?;
    }
    if let Some(sens) = &s.sensitivity {
        // Each mutant a case: a missed one fails it, with what would have caught it.
        let cases: Vec<(String, Option<String>)> = sens
            .rows
            .iter()
            .filter(|r| !matches!(r.outcome, crate::Outcome::NotRun(_)))
            .map(|r| (r.mutant.clone(), (!r.caught()).then(|| r.describe())))
            .collect();
        write_cases(o, "sensitivity", "missed", &cases)?;
    }
    writeln!(o, "</testsuites>")
}

/// A JUnit suite of cases apart from the criteria (`suite`: attested, defect-matrix,
/// sensitivity), each a name and, when it fails, why; a failure has type `failure_type`.
fn write_cases(
    o: &mut dyn IoWrite,
    suite: &str,
    failure_type: &str,
    cases: &[(String, Option<String>)],
) -> std::io::Result<()> {
    let failures = cases.iter().filter(|(_, why)| why.is_some()).count();
    writeln!(
        o,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        cases.len()
    )?;
    for (name, why) in cases {
        write!(
            o,
            "    <testcase classname=\"readiness.{suite}\" name=\"{}\"",
            xml_escape(name)
        )?;
        match why {
            None => writeln!(o, "/>")?,
            Some(why) => writeln!(
                o,
                ">\n      <failure message=\"{}\" type=\"{failure_type}\"/>\n    </testcase>",
                xml_escape(why)
            )?,
        }
    }
    writeln!(o, "  </testsuite>")
}

/// The failure block of a criterion, as the harness prints it.
pub fn failure_text(r: &CriterionResult) -> String {
    let head = match r.verdict {
        Status::Error => "readiness check could not run",
        Status::Missing => "readiness criterion has no evidence",
        Status::Pass | Status::Fail => "readiness criterion failed",
    };
    let mut o = format!("{head}: {} ({})", r.id, r.title);
    let mut line = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            let _ = write!(o, "\n  {k:<9} {v}");
        }
    };
    line("required:", r.required().as_deref());
    line("observed:", r.observed_text().as_deref());
    line("error:", r.error.as_deref());
    line("summary:", r.summary.as_deref());
    line("scenario:", r.scenario.as_deref());
    line("test:", r.test.as_deref());
    line(
        "evidence:",
        r.evidence.as_ref().map(|e| e.to_string()).as_deref(),
    );
    o
}
