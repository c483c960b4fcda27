//! What only people can judge — a team trained on its runbooks, a release signed off — as
//! an attestation: who said so, when, a link to the record, and when it expires. Kept in
//! `readiness.toml` beside the rules it is judged with:
//!
//! ```toml
//! [[report.attested]]
//! id = "ops.oncall_trained"
//! title = "the on-call rota is trained on the service's runbooks"
//! category = "operations"
//! by = "J. Doe, SRE lead"
//! on = "2026-11-20"
//! link = "docs/training/2026-11.md"     # a file beside readiness.toml, or an http(s) URL
//! expires = "2027-05-20"
//! ```
//!
//! A report shows every attestation apart from the measured criteria and never in a score:
//! nothing was measured. One that has expired, or is dated after the report, is a finding
//! and makes the verdict no-go, as a missing expected criterion does.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::Date;

/// One `[[report.attested]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// Its id (`ops.oncall_trained`), unique in the file.
    pub id: String,
    /// What is attested, as a person would say it.
    pub title: String,
    /// The category it is shown under (it is never scored).
    pub category: String,
    /// Who attests it.
    pub by: String,
    /// When (YYYY-MM-DD).
    pub on: String,
    /// The record: an http(s) URL, or a path relative to the `readiness.toml`.
    pub link: String,
    /// When it stops holding (YYYY-MM-DD).
    pub expires: String,
}

/// Whether an attestation holds on the day of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestState {
    /// Signed on or before the report's day and not expired.
    Valid,
    /// Its expiry is on or before the report's day.
    Expired,
    /// Dated after the report's day.
    NotYetSigned,
}

/// An attestation as the report judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attested {
    /// The entry.
    #[serde(flatten)]
    pub attestation: Attestation,
    /// Whether it holds on the report's day.
    pub state: AttestState,
    /// Days from the report's day to its expiry (negative once expired).
    pub days_left: i64,
}

impl Attested {
    /// Whether it holds on the report's day.
    pub fn holds(&self) -> bool {
        self.state == AttestState::Valid
    }
    /// ✅ when it holds, ❌ when not (the Markdown and HTML mark).
    pub fn mark(&self) -> &'static str {
        if self.holds() { "✅" } else { "❌" }
    }
    /// "valid, 167 days left", "expired 3 days ago", "dated after this report".
    pub fn describe(&self) -> String {
        match self.state {
            AttestState::Valid => format!(
                "valid until {} ({} days left)",
                self.attestation.expires, self.days_left
            ),
            AttestState::Expired => format!(
                "expired on {} ({} days ago): attest it again",
                self.attestation.expires, -self.days_left
            ),
            AttestState::NotYetSigned => format!(
                "dated {}, after this report: an attestation is of what was done",
                self.attestation.on
            ),
        }
    }
}

fn date(field: &str, text: &str) -> Result<Date, String> {
    let bad = |why: String| format!("{field} = {text:?} is not a date YYYY-MM-DD ({why})");
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(bad("three numbers joined by -".into()));
    };
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (number(y, 4), number(m, 2), number(d, 2)) else {
        return Err(bad("four digits of year, two of month, two of day".into()));
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(|| bad(format!("no month {m}")))?;
    let day = u8::try_from(d).map_err(|_| bad(format!("no day {d}")))?;
    Date::from_calendar_date(y, month, day).map_err(|e| bad(e.to_string()))
}

impl Attestation {
    /// Judges it on `today` (pure: the report passes its own day).
    pub fn judge(&self, today: Date) -> Attested {
        // Checked when the config was read; a date that does not parse counts as expired.
        let on = date("on", &self.on).unwrap_or(Date::MIN);
        let expires = date("expires", &self.expires).unwrap_or(Date::MIN);
        let state = if on > today {
            AttestState::NotYetSigned
        } else if expires <= today {
            AttestState::Expired
        } else {
            AttestState::Valid
        };
        Attested {
            attestation: self.clone(),
            state,
            days_left: (expires - today).whole_days(),
        }
    }

    /// What is wrong with it, if anything: a field left empty, a date that does not parse,
    /// an expiry not after its date, a link that is neither an http(s) URL nor a file
    /// beside the config (`dir`, when the config is a file).
    pub fn problem(&self, dir: Option<&Path>) -> Option<String> {
        for (field, value) in [
            ("id", &self.id),
            ("title", &self.title),
            ("category", &self.category),
            ("by", &self.by),
            ("link", &self.link),
        ] {
            if value.trim().is_empty() {
                return Some(format!("{field} is empty: say {}", needs(field)));
            }
        }
        let dates = date("on", &self.on).and_then(|on| Ok((on, date("expires", &self.expires)?)));
        match dates {
            Err(e) => return Some(e),
            Ok((on, expires)) if expires <= on => {
                return Some(format!(
                    "expires = {:?} is not after on = {:?}",
                    self.expires, self.on
                ));
            }
            Ok(_) => {}
        }
        let url = self.link.starts_with("https://") || self.link.starts_with("http://");
        if !url && let Some(dir) = dir {
            let path = dir.join(&self.link);
            if !path.exists() {
                return Some(format!(
                    "link = {:?}: no such file beside the config ({}); link the record, a file \
                     in the repository or an http(s) URL",
                    self.link,
                    path.display()
                ));
            }
        }
        None
    }
}

fn needs(field: &str) -> &'static str {
    match field {
        "id" => "an id like ops.oncall_trained",
        "title" => "what is attested",
        "category" => "the category it is shown under",
        "by" => "who attests it",
        _ => "where the record is (a file in the repository or an http(s) URL)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained() -> Attestation {
        Attestation {
            id: "ops.oncall_trained".into(),
            title: "the on-call rota is trained on the runbooks".into(),
            category: "operations".into(),
            by: "J. Doe".into(),
            on: "2026-11-20".into(),
            link: "https://example.invalid/training".into(),
            expires: "2027-05-20".into(),
        }
    }

    fn day(text: &str) -> Date {
        date("day", text).unwrap()
    }

    #[test]
    fn it_holds_from_its_date_until_its_expiry() {
        let a = trained();
        let valid = a.judge(day("2026-12-04"));
        assert_eq!(valid.state, AttestState::Valid);
        assert_eq!(valid.days_left, 167);
        assert_eq!(valid.describe(), "valid until 2027-05-20 (167 days left)");
        assert_eq!(a.judge(day("2026-11-20")).state, AttestState::Valid);

        let expired = a.judge(day("2027-05-23"));
        assert_eq!(expired.state, AttestState::Expired);
        assert_eq!(
            expired.describe(),
            "expired on 2027-05-20 (3 days ago): attest it again"
        );
        assert_eq!(a.judge(day("2027-05-20")).state, AttestState::Expired);

        let early = a.judge(day("2026-11-19"));
        assert_eq!(early.state, AttestState::NotYetSigned);
        assert!(early.describe().contains("after this report"));
    }

    #[test]
    fn a_bad_entry_says_what_is_wrong() {
        assert_eq!(trained().problem(None), None);
        let with = |f: fn(&mut Attestation)| {
            let mut a = trained();
            f(&mut a);
            a.problem(None).expect("a problem")
        };
        assert!(with(|a| a.by = " ".into()).contains("by is empty: say who attests it"));
        assert!(with(|a| a.on = "20/11/2026".into()).contains("on = \"20/11/2026\" is not a date"));
        assert!(with(|a| a.expires = "2026-11-01".into()).contains("is not after on"));

        let dir = tempfile::tempdir().unwrap();
        let mut a = trained();
        a.link = "docs/training.md".into();
        let e = a.problem(Some(dir.path())).expect("a missing file");
        assert!(e.contains("no such file beside the config"), "{e}");
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/training.md"), "trained").unwrap();
        assert_eq!(a.problem(Some(dir.path())), None);
    }
}
