//! The labelled corpus (`tests/corpus/secrets.tsv`, `LABEL<TAB>RULE<TAB>LINE`): the
//! lines a service's logs and answers hold, each secret found by the rule it is labelled
//! with, no clean line flagged, and every secret gone once the line is redacted. The side by
//! side with detect-secrets runs the same corpus (`bench/secrets_vs_detect_secrets.py`).

use readiness_security::Rules;
use readiness_security::rules::redact;

fn corpus() -> Vec<(usize, String, String, String)> {
    include_str!("corpus/secrets.tsv")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut parts = l.splitn(3, '\t');
            let label = parts.next().unwrap_or_default().to_owned();
            let rule = parts.next().unwrap_or_default().to_owned();
            let line = parts
                .next()
                .unwrap_or_else(|| panic!("corpus line {} has no text", i + 1))
                .to_owned();
            (i + 1, label, rule, line)
        })
        .collect()
}

#[test]
fn every_secret_line_is_found_by_its_rule_and_no_clean_line_is_flagged() {
    let rules = Rules::defaults();
    let corpus = corpus();
    let mut wrong = Vec::new();
    for (n, label, rule, line) in &corpus {
        let found: Vec<String> = rules.find(line).into_iter().map(|f| f.rule).collect();
        match label.as_str() {
            "secret" if !found.contains(rule) => {
                wrong.push(format!("{n}: {rule} missed, found {found:?}"))
            }
            "clean" if !found.is_empty() => wrong.push(format!("{n}: clean, flagged {found:?}")),
            "secret" | "clean" => {}
            other => panic!("corpus line {n}: label {other:?} is neither secret nor clean"),
        }
    }
    let secrets = corpus.iter().filter(|c| c.1 == "secret").count();
    assert!(
        secrets >= 80 && corpus.len() - secrets >= 80,
        "a corpus worth the name"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_redacted_secret_line_holds_none_of_its_secrets() {
    let rules = Rules::defaults();
    for (n, label, _, line) in corpus() {
        if label != "secret" {
            continue;
        }
        let secrets: Vec<String> = rules
            .find(&line)
            .into_iter()
            .map(|f| line[f.start..f.end].to_owned())
            .collect();
        let redacted = redact(&rules, &line, &[]);
        for s in &secrets {
            assert!(
                !redacted.contains(s.as_str()),
                "line {n}: {s:?} left in {redacted}"
            );
        }
        assert_eq!(rules.find(&redacted), vec![], "line {n}: {redacted}");
    }
}
