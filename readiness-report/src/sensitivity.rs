//! Suite sensitivity: the suite run once clean and once per operational mutant
//! ([`readiness_core::mutant`]) or declared defect, each run judged like any other. A
//! mutant is caught when its run is no-go (the criteria that failed caught it), missed when
//! its run is go (the criteria that would have caught it are named, with whether the suite
//! has them at all). The score is the mutants caught of the mutants run.
//!
//! `readiness sensitivity` runs the suite and saves the result beside the evidence
//! ([`Sensitivity::save`], `sensitivity.json`); a report of one of its runs shows it.

use std::collections::BTreeSet;
use std::path::Path;

use readiness_core::criteria;
use serde::{Deserialize, Serialize};

use crate::{Decision, Result, Scorecard, Status};
use readiness_core::Verdict;

/// A sensitivity score judged against a minimum ([`Sensitivity::judge_score`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreJudgement {
    /// Pass, fail, or error when no mutant ran.
    pub verdict: Verdict,
    /// The score and, below the minimum, the mutants missed with what each lacked.
    pub message: String,
}

/// Panics unless `sensitivity` caught at least `min` of the mutants it ran (a share, 0 to
/// 1), with [`Sensitivity::judge_score`]'s message: the missed mutants and what each
/// lacked; also when no mutant ran, or `min` is not a share.
///
/// ```
/// use readiness_report::sensitivity::assert_sensitivity_at_least;
/// use readiness_report::{Sensitivity, SensitivityRow};
///
/// // Read with `Sensitivity::read(dir)` after `readiness sensitivity` ran the suite.
/// let result = Sensitivity {
///     clean_run: "r".into(),
///     clean_seconds: 60.0,
///     rows: vec![SensitivityRow::unjudged("dep.down", "cut", "r-dep.down", 30.0, "no evidence")],
/// };
/// assert_sensitivity_at_least(&result, 0.8); // 1 of 1 caught
/// ```
#[track_caller]
pub fn assert_sensitivity_at_least(sensitivity: &Sensitivity, min: f64) {
    match sensitivity.judge_score(min) {
        Ok(ScoreJudgement {
            verdict: Verdict::Pass,
            ..
        }) => {}
        Ok(ScoreJudgement { verdict, message }) => {
            panic!("suite sensitivity: {verdict}: {message}")
        }
        Err(e) => panic!("suite sensitivity: error: {e}"),
    }
}

/// The file, in the evidence directory, the result is kept in.
pub const SENSITIVITY_FILE: &str = "sensitivity.json";

/// What the runs under mutants said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    /// The clean run's id (its verdict must be go for the rows to mean anything).
    pub clean_run: String,
    /// How long the clean run took, in seconds.
    pub clean_seconds: f64,
    /// One row per mutant, in the order they ran.
    pub rows: Vec<SensitivityRow>,
}

/// How a mutant's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "why")]
pub enum Outcome {
    /// No-go: the suite caught it.
    Caught,
    /// Go: the suite passed a service with this failure.
    Missed,
    /// The suite did not finish within its bound (no verdict; a gate that times out holds
    /// the release too, so it counts as caught, and is shown apart).
    TimedOut,
    /// Not run (a budget missing, a command that could not start): left out of the score.
    NotRun(String),
}

/// A criterion that would have caught a missed mutant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldCatch {
    /// The criterion ([`criteria::DEFINED`]'s id: `load.p<q>` for every percentile).
    pub criterion: String,
    /// The failure it catches.
    pub catches: String,
    /// Whether the suite judges it at all (the clean run has a record of it).
    pub in_suite: bool,
    /// Whether it failed in the mutant's run: the suite saw the failure, yet the report's
    /// rules let the run go (a score above the minimum). Not failed and in the suite: it
    /// passed under the mutant (the service coped, or the test does not go through the
    /// failing part).
    #[serde(default)]
    pub failed: bool,
}

/// One mutant's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityRow {
    /// The mutant (`dep.latency`) or declared defect (`defect.slow_search`).
    pub mutant: String,
    /// What it does.
    pub what: String,
    /// The run's id in the evidence.
    pub run: String,
    /// Caught, missed, timed out or not run.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The criteria that failed, each once.
    pub failed: Vec<String>,
    /// Criteria that erred or went missing, each with why in brackets.
    pub not_measured: Vec<String>,
    /// For a missed mutant: the criteria that would have caught it.
    pub would_catch: Vec<WouldCatch>,
    /// How long the run took, in seconds.
    pub seconds: f64,
    /// What the mutant reached, as the harness noted it (`dep.killed reached the container
    /// of `redis` (killed)`); empty for a declared mutant, which the harness does not apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<String>,
}

/// The criteria families of `card` whose verdict `keep` takes (`load.p95` and `load.p99`
/// are one: `load.p<q>`).
fn families(card: &Scorecard, keep: impl Fn(Status) -> bool) -> BTreeSet<String> {
    card.criteria()
        .filter(|c| keep(c.verdict))
        .map(|c| criteria::defined(&c.id).map_or_else(|| c.id.to_string(), |d| d.id.to_owned()))
        .collect()
}

impl SensitivityRow {
    /// The row of `card`, the scorecard of the run under `mutant`, beside `clean`'s.
    /// `would_catch` are the criteria that catch the mutant, most telling first.
    pub fn judge(
        mutant: &str,
        what: &str,
        would_catch: &[&str],
        clean: &Scorecard,
        card: &Scorecard,
        run: &str,
        seconds: f64,
    ) -> SensitivityRow {
        let ids = |status: Status| -> BTreeSet<String> {
            card.criteria()
                .filter(|c| c.verdict == status)
                .map(|c| c.id.to_string())
                .collect()
        };
        let outcome = match card.verdict {
            Decision::NoGo => Outcome::Caught,
            Decision::Go => Outcome::Missed,
        };
        let in_suite = families(clean, |_| true);
        let failed_families = families(card, |v| v == Status::Fail);
        let would_catch = if outcome == Outcome::Missed {
            would_catch
                .iter()
                .map(|id| WouldCatch {
                    criterion: (*id).to_owned(),
                    catches: criteria::defined(id)
                        .map_or_else(String::new, |d| d.catches.to_owned()),
                    in_suite: in_suite.contains(*id),
                    failed: failed_families.contains(*id),
                })
                .collect()
        } else {
            Vec::new()
        };
        SensitivityRow {
            mutant: mutant.to_owned(),
            what: what.to_owned(),
            run: run.to_owned(),
            outcome,
            failed: ids(Status::Fail).into_iter().collect(),
            not_measured: ids(Status::Error)
                .into_iter()
                .map(|c| format!("{c} (error)"))
                .chain(
                    ids(Status::Missing)
                        .into_iter()
                        .map(|c| format!("{c} (missing)")),
                )
                .collect(),
            would_catch,
            seconds,
            reached: Vec::new(),
        }
    }

    /// A run that did not finish within its bound.
    pub fn timed_out(mutant: &str, what: &str, run: &str, seconds: f64) -> SensitivityRow {
        SensitivityRow::ended(mutant, what, run, seconds, Outcome::TimedOut)
    }

    /// A run whose mutant reached nothing of the suite (no proxy or catalogue container of
    /// it was a target), or that could not run: `why`. Left out of the score: a suite is
    /// not credited nor blamed for a failure it never faced.
    pub fn not_run(mutant: &str, what: &str, run: &str, seconds: f64, why: &str) -> SensitivityRow {
        SensitivityRow::ended(mutant, what, run, seconds, Outcome::NotRun(why.to_owned()))
    }

    /// A run of which no report could be made (`why`: it wrote no evidence, say): a gate
    /// on it holds the release too, so it is caught, by errors only.
    pub fn unjudged(
        mutant: &str,
        what: &str,
        run: &str,
        seconds: f64,
        why: &str,
    ) -> SensitivityRow {
        let mut row = SensitivityRow::ended(mutant, what, run, seconds, Outcome::Caught);
        row.not_measured = vec![format!("no report ({why})")];
        row
    }

    fn ended(
        mutant: &str,
        what: &str,
        run: &str,
        seconds: f64,
        outcome: Outcome,
    ) -> SensitivityRow {
        SensitivityRow {
            mutant: mutant.to_owned(),
            what: what.to_owned(),
            run: run.to_owned(),
            outcome,
            failed: Vec::new(),
            not_measured: Vec::new(),
            would_catch: Vec::new(),
            seconds,
            reached: Vec::new(),
        }
    }

    /// Whether it counts as caught (no-go, or the suite did not finish).
    pub fn caught(&self) -> bool {
        matches!(self.outcome, Outcome::Caught | Outcome::TimedOut)
    }

    /// "caught by load.p95, dr.rto", "caught by errors only: …", "missed: …", "timed out".
    pub fn describe(&self) -> String {
        match &self.outcome {
            Outcome::Caught if !self.failed.is_empty() => {
                format!("caught by {}", self.failed.join(", "))
            }
            Outcome::Caught if !self.not_measured.is_empty() => {
                format!("caught by errors only: {}", self.not_measured.join(", "))
            }
            Outcome::Caught => "caught (no-go by a rule of the report)".to_owned(),
            Outcome::TimedOut => "caught: the suite did not finish within its bound".to_owned(),
            Outcome::NotRun(why) => format!("not run: {why}"),
            Outcome::Missed => {
                let (present, absent): (Vec<&WouldCatch>, Vec<&WouldCatch>) =
                    self.would_catch.iter().partition(|w| w.in_suite);
                let mut parts = Vec::new();
                if !self.failed.is_empty() {
                    parts.push(format!(
                        "{} failed, yet the report's rules let the run go (make {} \
                         must_pass, or add a no_go rule)",
                        self.failed.join(", "),
                        if self.failed.len() == 1 { "it" } else { "them" }
                    ));
                }
                let passed: Vec<&WouldCatch> = present.into_iter().filter(|w| !w.failed).collect();
                if !absent.is_empty() {
                    parts.push(format!(
                        "the suite has no {}",
                        absent
                            .iter()
                            .map(|w| format!("{} ({})", w.criterion, w.catches))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if !passed.is_empty() {
                    parts.push(format!(
                        "{} passed under it",
                        passed
                            .iter()
                            .map(|w| w.criterion.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                format!("missed: {}", parts.join("; "))
            }
        }
    }
}

impl Sensitivity {
    /// Mutants caught, and mutants run (those not run left out).
    pub fn score(&self) -> (usize, usize) {
        let run: Vec<&SensitivityRow> = self
            .rows
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::NotRun(_)))
            .collect();
        (run.iter().filter(|r| r.caught()).count(), run.len())
    }

    /// "7 of 9 mutants caught".
    pub fn summary(&self) -> String {
        let (caught, run) = self.score();
        format!("{caught} of {run} mutants caught")
    }

    /// `min` is a share of the mutants run, 0 to 1 (checked before a run, so that bad input
    /// does not wait for the whole suite).
    pub fn check_min_score(min: f64) -> Result<()> {
        if (0.0..=1.0).contains(&min) {
            Ok(())
        } else {
            Err(crate::Error::InvalidInput(format!(
                "a minimum sensitivity score of {min}: give a share of the mutants run, 0 to 1 \
                 (0.8 for 8 of 10)"
            )))
        }
    }

    /// The score judged against `min`, a share of the mutants run (0 to 1): pass at or
    /// above it, fail below it with the mutants missed and what each lacked, an error when
    /// no mutant ran (a suite nothing was tried on is not sensitive). A `min` outside 0 to
    /// 1 is bad input. `readiness sensitivity --min-score` and
    /// [`assert_sensitivity_at_least`] both judge with it.
    pub fn judge_score(&self, min: f64) -> Result<ScoreJudgement> {
        Sensitivity::check_min_score(min)?;
        let (caught, run) = self.score();
        let wanted = format!("at least {:.0}% wanted", min * 100.0);
        if run == 0 {
            let not_run: Vec<String> = self
                .rows
                .iter()
                .map(|r| format!("{} ({})", r.mutant, r.describe()))
                .collect();
            return Ok(ScoreJudgement {
                verdict: Verdict::Error,
                message: format!(
                    "no mutant ran, so the suite's sensitivity was not measured ({wanted}){}",
                    if not_run.is_empty() {
                        "; declare mutants, or run the built-in ones".to_owned()
                    } else {
                        format!(": {}", not_run.join("; "))
                    }
                ),
            });
        }
        let share = caught as f64 / run as f64;
        if share >= min {
            return Ok(ScoreJudgement {
                verdict: Verdict::Pass,
                message: format!("{} ({:.0}%), {wanted}", self.summary(), share * 100.0),
            });
        }
        let missed: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.outcome == Outcome::Missed)
            .map(|r| format!("{} {}", r.mutant, r.describe()))
            .collect();
        Ok(ScoreJudgement {
            verdict: Verdict::Fail,
            message: format!(
                "{} ({:.0}%), {wanted}; {}",
                self.summary(),
                share * 100.0,
                missed.join("; ")
            ),
        })
    }

    /// Whether `run` is the clean run or one of the rows' runs.
    pub fn has_run(&self, run: &str) -> bool {
        self.clean_run == run || self.rows.iter().any(|r| r.run == run)
    }

    /// The result saved in `dir`, if there is one; a file that does not read is an error
    /// naming it.
    pub fn read(dir: &Path) -> Result<Option<Sensitivity>> {
        crate::read_json(
            dir,
            SENSITIVITY_FILE,
            "a sensitivity result",
            "run `readiness sensitivity` again",
        )
    }

    /// Saves it in `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::save_json(dir, SENSITIVITY_FILE, "the sensitivity result", self)
    }

    /// The table in Markdown, with the score after it.
    pub fn markdown(&self) -> String {
        let mut t = String::from("| mutant | what it does | outcome | time |\n|---|---|---|---|\n");
        for r in &self.rows {
            t.push_str(&format!(
                "| {} | {} | {} | {:.0} s |\n",
                crate::render::md_escape(&r.mutant),
                crate::render::md_escape(&r.what),
                crate::render::md_escape(&r.describe()),
                r.seconds
            ));
        }
        t.push_str(&format!(
            "\n{} (the clean run {} took {:.0} s).\n",
            self.summary(),
            crate::render::md_escape(&self.clean_run),
            self.clean_seconds
        ));
        t
    }
}
