//! Secret rules in gitleaks' configuration format, the field's shared vocabulary: a team's
//! own `.gitleaks.toml` is read as it is (`[extend] useDefault = true` adds it to our
//! rules, `disabledRules` drops some), and our defaults (`rules/default.toml`) are written
//! in the same format.
//!
//! Read from the format: `[[rules]]` with `id`, `description`, `regex`, `secretGroup`,
//! `entropy`, `keywords` and allowlists (`[[rules.allowlists]]` or the older
//! `[rules.allowlist]`: `regexes` with `regexTarget` = `secret` | `match` | `line`,
//! `stopwords`); a global `[allowlist]` (or `[[allowlists]]`); `[extend]` with `useDefault`
//! and `disabledRules`. Fields about files and commits (`path`, `paths`, `commits`) do not
//! apply to log lines and answers and are left out; a rule with a `path` and no `regex`
//! is skipped. Regular expressions are RE2's dialect, which Rust's `regex` shares (no
//! look-around, no back-references).

use std::path::Path;

use readiness_core::{Error, Result};
use regex::Regex;
use serde::Deserialize;

/// Our default rules, in gitleaks' format.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// A set of rules and allowlists.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    allowlists: Vec<Allowlist>,
}

/// One rule: what a secret of one kind looks like.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id (`aws-access-key-id`): the secret's type wherever it is shown.
    pub id: String,
    /// What it finds.
    pub description: String,
    regex: Regex,
    secret_group: usize,
    entropy: Option<f64>,
    keywords: Vec<String>,
    allowlists: Vec<Allowlist>,
}

/// What a rule must not report.
#[derive(Debug, Clone, Default)]
struct Allowlist {
    regexes: Vec<Regex>,
    target: Target,
    stopwords: Vec<String>,
}

/// What an allowlist's regexes are matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Target {
    #[default]
    Secret,
    Match,
    Line,
}

/// A secret found in a line: the rule and where the secret is (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The rule's id.
    pub rule: String,
    /// Start of the secret in the line.
    pub start: usize,
    /// End of the secret in the line.
    pub end: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileToml {
    #[serde(default)]
    extend: Option<ExtendToml>,
    #[serde(default)]
    rules: Vec<RuleToml>,
    #[serde(default)]
    allowlist: Option<AllowToml>,
    #[serde(default)]
    allowlists: Vec<AllowToml>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExtendToml {
    #[serde(default)]
    use_default: bool,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleToml {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlist: Option<AllowToml>,
    #[serde(default)]
    allowlists: Vec<AllowToml>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AllowToml {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default, alias = "stopWords")]
    stopwords: Vec<String>,
}

fn compile(origin: &str, what: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| {
        Error::InvalidInput(format!(
            "{origin}: {what}: {pattern:?} is not a regular expression this scanner reads \
             (RE2's dialect: no look-around, no back-references): {e}"
        ))
    })
}

fn allowlist(origin: &str, what: &str, a: AllowToml) -> Result<Allowlist> {
    let target = match a.regex_target.as_deref() {
        None | Some("secret") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "{origin}: {what}: regexTarget {other:?} is not one of secret, match, line"
            )));
        }
    };
    Ok(Allowlist {
        regexes: a
            .regexes
            .iter()
            .map(|r| compile(origin, what, r))
            .collect::<Result<_>>()?,
        target,
        stopwords: a.stopwords.iter().map(|s| s.to_lowercase()).collect(),
    })
}

impl Rules {
    /// Our default rules ([`DEFAULT_RULES`]).
    pub fn defaults() -> Rules {
        // The defaults are part of this crate and tested: they always parse.
        Rules::parse(DEFAULT_RULES, "readiness default rules").unwrap_or_else(|_| Rules::none())
    }

    /// Rules of a gitleaks configuration (`origin` names it in errors). With `[extend]
    /// useDefault = true` they are added to our defaults, less `disabledRules`.
    pub fn parse(text: &str, origin: &str) -> Result<Rules> {
        let file: FileToml = toml::from_str(text).map_err(|e| {
            Error::InvalidInput(format!("{origin} is not a gitleaks configuration: {e}"))
        })?;
        let mut rules = Rules {
            rules: Vec::new(),
            allowlists: Vec::new(),
        };
        if let Some(extend) = &file.extend
            && extend.use_default
        {
            rules = Rules::parse(DEFAULT_RULES, "readiness default rules")?;
            rules
                .rules
                .retain(|r| !extend.disabled_rules.contains(&r.id));
        }
        for a in file.allowlist.into_iter().chain(file.allowlists) {
            rules.allowlists.push(allowlist(origin, "allowlist", a)?);
        }
        for r in file.rules {
            let Some(pattern) = &r.regex else {
                // A rule about file paths alone: nothing to find in a line.
                continue;
            };
            let what = format!("rule {}", r.id);
            let mut lists = Vec::new();
            for a in r.allowlist.into_iter().chain(r.allowlists) {
                lists.push(allowlist(origin, &what, a)?);
            }
            let rule = Rule {
                regex: compile(origin, &what, pattern)?,
                secret_group: r.secret_group.unwrap_or(0),
                entropy: r.entropy,
                keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
                allowlists: lists,
                description: r.description,
                id: r.id,
            };
            // A team's rule of an id we have replaces ours.
            rules.rules.retain(|x| x.id != rule.id);
            rules.rules.push(rule);
        }
        Ok(rules)
    }

    /// Rules of a gitleaks configuration file (`.gitleaks.toml`).
    pub fn read(path: &Path) -> Result<Rules> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        Rules::parse(&text, &path.display().to_string())
    }

    /// No rule at all: only what is added.
    pub fn none() -> Rules {
        Rules {
            rules: Vec::new(),
            allowlists: Vec::new(),
        }
    }

    /// These rules and one more, `id` finding what `regex` matches (the whole match is
    /// the secret); a bad expression is an error naming it.
    pub fn with_rule(mut self, id: &str, regex: &str) -> Result<Rules> {
        let rule = Rule {
            id: id.to_owned(),
            description: id.to_owned(),
            regex: compile("a rule given in code", &format!("rule {id}"), regex)?,
            secret_group: 0,
            entropy: None,
            keywords: Vec::new(),
            allowlists: Vec::new(),
        };
        self.rules.retain(|r| r.id != rule.id);
        self.rules.push(rule);
        Ok(self)
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every secret the rules find in `line`: every match of every rule, past its keywords,
    /// entropy and allowlists (the rule's and the global ones).
    pub fn find(&self, line: &str) -> Vec<Found> {
        let lower = line.to_lowercase();
        let mut found = Vec::new();
        for rule in &self.rules {
            if !rule.keywords.is_empty() && !rule.keywords.iter().any(|k| lower.contains(k)) {
                continue;
            }
            for caps in rule.regex.captures_iter(line) {
                let Some(whole) = caps.get(0) else { continue };
                // gitleaks: the group `secretGroup` names; without it, the first group that
                // matched, or the whole match when the regex has no group.
                let secret = match rule.secret_group {
                    0 => (1..caps.len())
                        .find_map(|g| caps.get(g).filter(|m| !m.as_str().is_empty()))
                        .unwrap_or(whole),
                    g => match caps.get(g) {
                        Some(m) => m,
                        None => continue,
                    },
                };
                if secret.as_str().is_empty() {
                    continue;
                }
                if let Some(min) = rule.entropy
                    && shannon_entropy(secret.as_str()) < min
                {
                    continue;
                }
                let allowed = rule
                    .allowlists
                    .iter()
                    .chain(&self.allowlists)
                    .any(|a| a.allows(secret.as_str(), whole.as_str(), line));
                if allowed {
                    continue;
                }
                found.push(Found {
                    rule: rule.id.clone(),
                    start: secret.start(),
                    end: secret.end(),
                });
            }
        }
        // gitleaks: a generic rule's finding inside one of a specific rule is that one.
        let specific: Vec<(usize, usize)> = found
            .iter()
            .filter(|f| !f.rule.contains("generic"))
            .map(|f| (f.start, f.end))
            .collect();
        found.retain(|f| {
            !f.rule.contains("generic")
                || !specific.iter().any(|(s, e)| *s <= f.start && f.end <= *e)
        });
        // A secret the harness masked already («type fingerprint») is no secret any more.
        let masks = masked_spans(line);
        found.retain(|f| !masks.iter().any(|(s, e)| f.start < *e && *s < f.end));
        found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        found
    }
}

impl Rules {
    /// [`Rules::find`], and every occurrence of a `known` value (a secret the run used),
    /// as rule `known-secret`.
    pub fn find_with_known(&self, line: &str, known: &[String]) -> Vec<Found> {
        let mut found = self.find(line);
        for v in known.iter().filter(|v| !v.is_empty()) {
            for (start, _) in line.match_indices(v.as_str()) {
                found.push(Found {
                    rule: "known-secret".into(),
                    start,
                    end: start + v.len(),
                });
            }
        }
        found
    }
}

/// Where `line` holds masks of ours: `«` up to the next `»`.
fn masked_spans(line: &str) -> Vec<(usize, usize)> {
    line.match_indices('«')
        .filter_map(|(start, _)| {
            let end = line[start..].find('»')? + start + '»'.len_utf8();
            Some((start, end))
        })
        .collect()
}

impl Allowlist {
    fn allows(&self, secret: &str, whole: &str, line: &str) -> bool {
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => whole,
            Target::Line => line,
        };
        if self.regexes.iter().any(|r| r.is_match(target)) {
            return true;
        }
        let lower = secret.to_lowercase();
        self.stopwords.iter().any(|w| lower.contains(w.as_str()))
    }
}

/// Shannon entropy of `s` in bits per character (gitleaks' measure).
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// A secret as the harness writes it: its type and a fingerprint (the first 8 hex digits of
/// its SHA-256), so two sightings of one secret can be matched without showing it.
pub fn mask(kind: &str, secret: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("«{kind} {hex}»")
}

/// A credential given to a check (a client's token), as the harness writes it.
pub fn mask_credential(value: &str) -> String {
    mask("credential", value)
}

/// `line` with every span of `found` (and every occurrence of `known` values) masked.
/// Overlapping spans are masked as one, named by the first.
pub fn mask_line(line: &str, found: &[Found], known: &[String]) -> String {
    let mut spans: Vec<(usize, usize, String)> = found
        .iter()
        .map(|f| (f.start, f.end, f.rule.clone()))
        .collect();
    for v in known.iter().filter(|v| !v.is_empty()) {
        for (at, _) in line.match_indices(v.as_str()) {
            spans.push((at, at + v.len(), "known-secret".to_owned()));
        }
    }
    spans.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end, kind) = spans[i].clone();
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            i += 1;
        }
        if start < at {
            continue;
        }
        out.push_str(&line[at..start]);
        out.push_str(&mask(&kind, &line[start..end]));
        at = end;
    }
    out.push_str(&line[at..]);
    out
}

/// The default rules, parsed once.
pub(crate) fn shared_defaults() -> &'static Rules {
    static RULES: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
    RULES.get_or_init(Rules::defaults)
}

/// Every secret the default rules find in `text` (and every `known` value) masked: what
/// the harness applies to whatever it writes that came from a service or a user.
pub fn redact(rules: &Rules, text: &str, known: &[String]) -> String {
    text.split_inclusive('\n')
        // What is masked already stays as it is (`find` passes over masks).
        .map(|line| mask_line(line, &rules.find(line), known))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_parse() {
        let rules = Rules::parse(DEFAULT_RULES, "default").expect("the defaults parse");
        assert!(rules.rules().len() >= 20, "{}", rules.rules().len());
    }

    #[test]
    fn a_team_file_extends_the_defaults_and_drops_what_it_disables() {
        let team = r#"
title = "team"
[extend]
useDefault = true
disabledRules = ["jwt"]

[[rules]]
id = "acme-key"
description = "Acme API key"
regex = '''acme_[a-z0-9]{16}'''
keywords = ["acme_"]

[[rules.allowlists]]
stopwords = ["example"]

[allowlist]
regexes = ['''acme_0{16}''']
"#;
        let rules = Rules::parse(team, "team.toml").expect("parses");
        let ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
        assert!(ids.contains(&"acme-key"), "{ids:?}");
        assert!(!ids.contains(&"jwt"), "{ids:?}");
        assert!(ids.len() > 10, "the defaults are kept: {ids:?}");
        assert_eq!(rules.find("key acme_1a2b3c4d5e6f7a8b in use").len(), 1);
        assert!(
            rules.find("key acme_0000000000000000").is_empty(),
            "global allowlist"
        );
        assert!(
            rules.find("key acme_example00000000").is_empty(),
            "stopword"
        );
        let alone =
            Rules::parse(team.replace("useDefault = true", "").as_str(), "t").expect("parses");
        assert_eq!(alone.rules().len(), 1);
        let bad = Rules::parse("[[rules]]\nid = \"x\"\nregex = '(?=a)'\n", "bad.toml")
            .expect_err("look-ahead");
        assert!(bad.to_string().contains("bad.toml: rule x"), "{bad}");
    }

    #[test]
    fn every_secret_of_a_line_is_masked_with_its_type_and_fingerprint() {
        let found = vec![
            Found {
                rule: "a".into(),
                start: 4,
                end: 8,
            },
            Found {
                rule: "b".into(),
                start: 10,
                end: 14,
            },
        ];
        let masked = mask_line(
            "key=abcd, pw=efgh, t=known-one",
            &found,
            &["known-one".into()],
        );
        assert!(
            !masked.contains("abcd") && !masked.contains("efgh"),
            "{masked}"
        );
        assert!(!masked.contains("known-one"), "{masked}");
        assert!(masked.starts_with("key=«a "), "{masked}");
        assert_eq!(
            mask("a", "abcd"),
            mask("a", "abcd"),
            "fingerprints are stable"
        );
        assert_ne!(mask("a", "abcd"), mask("a", "abce"));
        assert!((shannon_entropy("aaaa") - 0.0).abs() < 1e-9);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }
}
