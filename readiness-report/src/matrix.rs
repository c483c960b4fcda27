//! The defect matrix: a review run once on a healthy service and once per defect switched
//! on, each row the verdict of one run. A row is as expected when a defect's run is no-go,
//! every criterion meant to catch the defect failed and nothing else failed, erred or went
//! missing; the healthy row is as expected when it is go with nothing failed.
//!
//! The program that runs the rows saves the matrix beside the evidence
//! ([`Matrix::save`], `defect-matrix.json`); a report of any of its rows' runs reads it
//! back ([`Matrix::read`]) and shows it in every format, apart from the run's own
//! criteria: it does not change that run's verdict.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Decision, Result, Scorecard, Status};

/// The file, in the evidence directory, the matrix is kept in.
pub const MATRIX_FILE: &str = "defect-matrix.json";

/// The matrix: one row per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// The rows, in the order they ran (the healthy one first).
    pub rows: Vec<MatrixRow>,
}

/// One run of the review: the defect switched on and what the review said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    /// The defect switched on; `None` for the healthy service.
    pub defect: Option<String>,
    /// The run's id in the evidence.
    pub run: String,
    /// The criteria meant to catch the defect (none for the healthy row).
    pub expected: Vec<String>,
    /// Every criterion that failed, each named once.
    pub failed: Vec<String>,
    /// Criteria that erred (nothing measured) or were missing, each with why in brackets.
    pub not_measured: Vec<String>,
    /// The run's verdict.
    pub verdict: Decision,
    /// How long the run took, in seconds.
    pub seconds: f64,
}

impl MatrixRow {
    /// The row of `card`, the scorecard of the run with `defect` on.
    pub fn of(
        defect: Option<&str>,
        expected: &[&str],
        card: &Scorecard,
        run: &str,
        seconds: f64,
    ) -> MatrixRow {
        let ids = |status: Status| {
            // A criterion judged more than once (two drills, two routes) is named once.
            let set: std::collections::BTreeSet<String> = card
                .criteria()
                .filter(|c| c.verdict == status)
                .map(|c| c.id.to_string())
                .collect();
            set.into_iter()
        };
        MatrixRow {
            defect: defect.map(str::to_owned),
            run: run.to_owned(),
            expected: expected.iter().map(|c| (*c).to_owned()).collect(),
            failed: ids(Status::Fail).collect(),
            not_measured: ids(Status::Error)
                .map(|c| format!("{c} (error)"))
                .chain(ids(Status::Missing).map(|c| format!("{c} (missing)")))
                .collect(),
            verdict: card.verdict,
            seconds,
        }
    }
    /// The defect, or "(healthy)".
    pub fn name(&self) -> &str {
        self.defect.as_deref().unwrap_or("(healthy)")
    }
    /// Criteria meant to catch the defect that did not fail.
    pub fn not_caught(&self) -> Vec<&str> {
        self.expected
            .iter()
            .filter(|c| !self.failed.contains(c))
            .map(String::as_str)
            .collect()
    }
    /// Failures other than the expected ones, then errors and missing criteria.
    pub fn collateral(&self) -> Vec<String> {
        self.failed
            .iter()
            .filter(|c| !self.expected.contains(c))
            .cloned()
            .chain(self.not_measured.iter().cloned())
            .collect()
    }
    /// The row is what the matrix wants of it.
    pub fn as_expected(&self) -> bool {
        let verdict = if self.defect.is_none() {
            Decision::Go
        } else {
            Decision::NoGo
        };
        self.verdict == verdict
            && (self.defect.is_none() || !self.expected.is_empty())
            && self.not_caught().is_empty()
            && self.collateral().is_empty()
    }
    /// "yes", or "no" with why.
    pub fn outcome(&self) -> String {
        if self.as_expected() {
            return "yes".into();
        }
        let missed = self.not_caught();
        let mut why = Vec::new();
        if !missed.is_empty() {
            why.push(format!("{} did not fail", missed.join(", ")));
        }
        let collateral = self.collateral();
        if !collateral.is_empty() {
            why.push(format!("also {}", collateral.join(", ")));
        }
        if why.is_empty() {
            why.push(format!("the verdict is {}", self.verdict));
        }
        format!("no: {}", why.join("; "))
    }
}

impl Matrix {
    /// Rows as expected.
    pub fn as_expected(&self) -> usize {
        self.rows.iter().filter(|r| r.as_expected()).count()
    }
    /// "17 of 19 rows as expected".
    pub fn summary(&self) -> String {
        format!(
            "{} of {} rows as expected",
            self.as_expected(),
            self.rows.len()
        )
    }
    /// Whether `run` is one of the rows' runs.
    pub fn has_run(&self, run: &str) -> bool {
        self.rows.iter().any(|r| r.run == run)
    }
    /// The matrix saved in `dir`, if there is one. A file that does not read is an error
    /// naming it, never a matrix silently left out.
    pub fn read(dir: &Path) -> Result<Option<Matrix>> {
        crate::read_json(
            dir,
            MATRIX_FILE,
            "a defect matrix",
            "run the defect matrix again",
        )
    }
    /// Saves the matrix in `dir` (atomically: a reader never sees half of it).
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::save_json(dir, MATRIX_FILE, "the defect matrix", self)
    }
    /// The table in Markdown, with the summary line after it.
    pub fn markdown(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "—".to_owned()
            } else {
                v.iter()
                    .map(|c| crate::render::md_escape(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut t = String::from(
            "| defect | meant to be caught by | failed | also failed or not measured | verdict | as expected | time |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.0} s |\n",
                crate::render::md_escape(r.name()),
                list(&r.expected),
                list(&r.failed),
                list(&r.collateral()),
                r.verdict,
                crate::render::md_escape(&r.outcome()),
                r.seconds
            ));
        }
        t.push_str(&format!("\n{}.\n", self.summary()));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        defect: Option<&str>,
        expected: &[&str],
        failed: &[&str],
        verdict: Decision,
    ) -> MatrixRow {
        MatrixRow {
            defect: defect.map(str::to_owned),
            run: format!("r-{}", defect.unwrap_or("healthy")),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            failed: failed.iter().map(|s| (*s).to_owned()).collect(),
            not_measured: Vec::new(),
            verdict,
            seconds: 100.0,
        }
    }

    #[test]
    fn a_defect_is_caught_only_by_its_own_criteria_and_a_no_go() {
        let caught = row(
            Some("leak"),
            &["load.soak_memory"],
            &["load.soak_memory"],
            Decision::NoGo,
        );
        assert!(caught.as_expected(), "{}", caught.outcome());
        assert_eq!(caught.outcome(), "yes");

        let missed = row(Some("leak"), &["load.soak_memory"], &[], Decision::Go);
        assert!(!missed.as_expected());
        assert_eq!(missed.outcome(), "no: load.soak_memory did not fail");

        let wider = row(
            Some("slow_search"),
            &["load.p95"],
            &["load.p95", "sec.rate_limit"],
            Decision::NoGo,
        );
        assert!(!wider.as_expected());
        assert_eq!(wider.outcome(), "no: also sec.rate_limit");

        let mut erred = row(
            Some("leak"),
            &["load.soak_memory"],
            &["load.soak_memory"],
            Decision::NoGo,
        );
        erred.not_measured.push("load.p99 (error)".into());
        assert_eq!(erred.outcome(), "no: also load.p99 (error)");

        // Caught by its criteria, yet the verdict is go: the rules let it through.
        let let_through = row(
            Some("leak"),
            &["load.soak_memory"],
            &["load.soak_memory"],
            Decision::Go,
        );
        assert_eq!(let_through.outcome(), "no: the verdict is GO");

        // A defect that names nothing to catch it is not caught by failing nothing.
        assert!(!row(Some("new"), &[], &[], Decision::NoGo).as_expected());
    }

    #[test]
    fn the_healthy_row_is_go_with_nothing_failed() {
        assert!(row(None, &[], &[], Decision::Go).as_expected());
        let alarm = row(None, &[], &["load.p95"], Decision::NoGo);
        assert_eq!(alarm.outcome(), "no: also load.p95");
        assert_eq!(alarm.name(), "(healthy)");
    }

    #[test]
    fn it_saves_and_reads_back_and_a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Matrix::read(dir.path()).unwrap(), None);
        let matrix = Matrix {
            rows: vec![
                row(None, &[], &[], Decision::Go),
                row(Some("leak"), &["load.soak_memory"], &[], Decision::Go),
            ],
        };
        matrix.save(dir.path()).unwrap();
        let back = Matrix::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, matrix);
        assert_eq!(back.summary(), "1 of 2 rows as expected");
        assert!(back.has_run("r-leak") && !back.has_run("r-other"));
        let md = back.markdown();
        assert!(md.contains("| leak | load.soak_memory | — | — | GO | no: load.soak_memory did not fail | 100 s |"), "{md}");

        std::fs::write(dir.path().join(MATRIX_FILE), "{").unwrap();
        let e = Matrix::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(MATRIX_FILE) && e.contains("not a defect matrix"),
            "{e}"
        );
    }
}
