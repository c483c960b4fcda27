//! `readiness criteria`: the criteria the harness defines, and with `--census` which of
//! them a test run saw pass, fail and error.

use std::collections::BTreeMap;
use std::path::Path;

use readiness_core::criteria::{DEFINED, defined};
use readiness_core::{Error, LimitKind, Result};

/// What a census file says of each defined criterion: how many records passed, failed
/// and errored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) pass: usize,
    pub(crate) fail: usize,
    pub(crate) error: usize,
}

/// The criteria as a Markdown table: id, category, limit, what it catches.
pub(crate) fn table() -> String {
    let mut out = String::from("| criterion | category | limit | catches |\n|---|---|---|---|\n");
    for d in DEFINED {
        let limit = match d.limit {
            Some(LimitKind::Maximum) => "at most",
            Some(LimitKind::Minimum) => "at least",
            None => "either",
        };
        out.push_str(&format!(
            "| {} | {} | {limit} | {} |\n",
            d.id, d.category, d.catches
        ));
    }
    out
}

/// Reads a census (`READINESS_VERDICT_CENSUS`: one `{"criterion","verdict"}` per line)
/// into counts per defined criterion (every one present, seen or not); ids the harness
/// does not define are left out.
pub(crate) fn read_census(path: &Path) -> Result<BTreeMap<&'static str, Seen>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot read the census {}: {e}; run the tests with READINESS_VERDICT_CENSUS={} first",
            path.display(),
            path.display()
        ))
    })?;
    let mut seen: BTreeMap<&'static str, Seen> =
        DEFINED.iter().map(|d| (d.id, Seen::default())).collect();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: String| Error::InvalidInput(format!("{}:{}: {why}", path.display(), n + 1));
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let (Some(id), Some(verdict)) = (value["criterion"].as_str(), value["verdict"].as_str())
        else {
            return Err(bad("needs \"criterion\" and \"verdict\"".into()));
        };
        let Some(d) = defined(id) else { continue };
        let s = seen.entry(d.id).or_default();
        match verdict {
            "pass" => s.pass += 1,
            "fail" => s.fail += 1,
            "error" => s.error += 1,
            other => {
                return Err(bad(format!(
                    "verdict \"{other}\" is not pass, fail or error"
                )));
            }
        }
    }
    Ok(seen)
}

/// The census as a Markdown table, and the criteria not seen both to pass and to fail.
pub(crate) fn census_table(seen: &BTreeMap<&'static str, Seen>) -> (String, Vec<&'static str>) {
    let mut out = String::from(
        "| criterion | pass | fail | error | both verdicts |\n|---|---|---|---|---|\n",
    );
    let mut missing = Vec::new();
    for d in DEFINED {
        let s = seen.get(d.id).copied().unwrap_or_default();
        let both = s.pass > 0 && s.fail > 0;
        if !both {
            missing.push(d.id);
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            d.id,
            s.pass,
            s.fail,
            s.error,
            if both { "yes" } else { "NO" }
        ));
    }
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_census_counts_families_and_names_what_was_never_seen_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.jsonl");
        std::fs::write(
            &path,
            "{\"criterion\":\"load.p95\",\"verdict\":\"pass\"}\n\
             {\"criterion\":\"load.p99\",\"verdict\":\"fail\"}\n\
             {\"criterion\":\"team.own\",\"verdict\":\"fail\"}\n\
             {\"criterion\":\"dr.rto\",\"verdict\":\"pass\"}\n",
        )
        .unwrap();
        let seen = read_census(&path).unwrap();
        assert_eq!(
            seen["load.p<q>"],
            Seen {
                pass: 1,
                fail: 1,
                error: 0
            }
        );
        assert_eq!(
            seen["dr.rto"],
            Seen {
                pass: 1,
                fail: 0,
                error: 0
            }
        );
        assert!(!seen.contains_key("team.own"));
        let (table, missing) = census_table(&seen);
        assert!(table.contains("| load.p<q> | 1 | 1 | 0 | yes |"), "{table}");
        assert!(table.contains("| dr.rto | 1 | 0 | 0 | NO |"), "{table}");
        assert!(missing.contains(&"dr.rto") && !missing.contains(&"load.p<q>"));
        assert_eq!(missing.len(), DEFINED.len() - 1);
    }

    #[test]
    fn a_bad_census_line_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.jsonl");
        std::fs::write(&path, "{\"criterion\":\"dr.rto\",\"verdict\":\"maybe\"}\n").unwrap();
        let e = read_census(&path).unwrap_err().to_string();
        assert!(
            e.contains("census.jsonl:1") && e.contains("\"maybe\""),
            "{e}"
        );
        let e = read_census(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("READINESS_VERDICT_CENSUS"), "{e}");
    }
}
