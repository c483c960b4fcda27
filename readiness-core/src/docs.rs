//! Documentation a machine can judge: every alert's runbook resolves to a file of the
//! repository (`docs.runbooks`), every configuration variable the service reads is
//! documented (`docs.config`), every route it serves is in its API document
//! (`docs.routes`). Each is a [`Coverage`] — the items and where each was found, or not —
//! judged by [`Coverage::judge`] (at most 0 undocumented; no item at all is an `error`),
//! and [`assert_documented`] panics at the caller.
//!
//! ```
//! use readiness_core::docs::{self, Coverage};
//!
//! let served = ["/orders", "/orders/{id}", "/health/ready"];
//! let api = serde_json::json!({ "paths": { "/orders": {}, "/orders/{order_id}": {} } });
//! let coverage = docs::routes_documented(&served, &api);
//! assert_eq!(coverage.undocumented(), vec!["/health/ready"]);
//! ```
//!
//! What the service reads and serves comes from its code: [`variables_in_source`] and
//! [`routes_in_source`] read them from source files (string literals in
//! `SCREAMING_SNAKE_CASE` given to a call; `.route("/path"` as axum, actix and most
//! routers write it); a team whose code says it otherwise passes its own lists.

use std::path::{Path, PathBuf};

use crate::{
    Category, Check, Count, Error, Evidence, Failure, Observation, Quantity, Recorder, Result,
    Threshold,
};

/// One item and where its documentation was found (`None`: nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    /// The variable, route or alert.
    pub name: String,
    /// Where it is documented: a file, an API path, a runbook file.
    pub found: Option<String>,
}

/// What a documentation check found: each item, documented or not.
#[derive(Debug, Clone)]
#[must_use]
pub struct Coverage {
    id: &'static str,
    title: String,
    scenario: String,
    /// The items, in the order given.
    pub items: Vec<Covered>,
    recorder: Option<Recorder>,
}

impl Coverage {
    /// The items with no documentation.
    pub fn undocumented(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|c| c.found.is_none())
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Where assertions record (default: the evidence directory).
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The criterion judged: at most 0 undocumented items. No item at all is an `error`
    /// (nothing was read, so nothing is proven documented).
    pub fn judge(&self) -> std::result::Result<Evidence, Failure> {
        let mut check = Check::new(self.id, &self.title, Category::custom("documentation"))
            .with_threshold(Threshold::at_most(Count(0)))
            .with_scenario(&self.scenario);
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        if self.items.is_empty() {
            return Err(check.nothing_measured("there was no item to look for"));
        }
        let missing = self.undocumented();
        let summary = if missing.is_empty() {
            format!("all {} documented", self.items.len())
        } else {
            format!(
                "{} of {} not documented: {}",
                missing.len(),
                self.items.len(),
                missing.join(", ")
            )
        };
        check
            .with_hint(
                "document each one where the check looks, or correct the link that points nowhere",
            )
            .judge(Observation::new(Quantity::count(missing.len() as u64)).with_summary(summary))
    }
}

/// Panics unless [`Coverage::judge`] passes.
#[track_caller]
pub fn assert_documented(coverage: &Coverage) -> Evidence {
    crate::CheckResultExt::or_panic(coverage.judge())
}

/// `docs.config`: each of `names` appears, as a whole word, in one of `docs` (a README, a
/// configuration reference).
pub fn config_documented(names: &[impl AsRef<str>], docs: &[impl AsRef<Path>]) -> Result<Coverage> {
    let mut texts = Vec::new();
    for path in docs {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read the document {}: {e}; pass the files that document the configuration",
                path.display()
            ))
        })?;
        texts.push((path.display().to_string(), text));
    }
    let items = names
        .iter()
        .map(|n| {
            let name = n.as_ref();
            Covered {
                name: name.to_owned(),
                found: texts
                    .iter()
                    .find(|(_, t)| contains_word(t, name))
                    .map(|(p, _)| p.clone()),
            }
        })
        .collect();
    let list = texts
        .iter()
        .map(|(p, _)| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Coverage {
        id: "docs.config",
        title: "every configuration variable the service reads is documented".into(),
        scenario: format!("each variable looked for as a word in {list}"),
        items,
        recorder: None,
    })
}

/// `docs.routes`: each route of `served` is a path of the OpenAPI document `api`. Path
/// parameters match whatever their names (`/orders/{id}`, `/orders/:id` and
/// `/orders/{order_id}` are one route).
pub fn routes_documented(served: &[impl AsRef<str>], api: &serde_json::Value) -> Coverage {
    let paths: Vec<&str> = api
        .get("paths")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let items = served
        .iter()
        .map(|r| {
            let route = r.as_ref();
            Covered {
                name: route.to_owned(),
                found: paths
                    .iter()
                    .find(|p| same_route(p, route))
                    .map(|p| (*p).to_owned()),
            }
        })
        .collect();
    Coverage {
        id: "docs.routes",
        title: "every route the service serves is in its API document".into(),
        scenario: format!(
            "routes looked for among the {} paths of the OpenAPI document",
            paths.len()
        ),
        items,
        recorder: None,
    }
}

/// `docs.runbooks`: each `(alert, link)` resolves to a file of the repository at `root`: a
/// link is a path relative to `root`, or starts with `url_prefix` (where the repository's
/// files are browsed, `https://git.example/team/service/blob/main/`) followed by one.
pub fn runbooks_resolve(
    links: &[(impl AsRef<str>, impl AsRef<str>)],
    url_prefix: &str,
    root: &Path,
) -> Coverage {
    let items = links
        .iter()
        .map(|(alert, link)| {
            let link = link.as_ref();
            let relative = link
                .strip_prefix(url_prefix)
                .filter(|_| !url_prefix.is_empty())
                .or_else(|| (!link.contains("://")).then_some(link))
                .map(|p| p.split('#').next().unwrap_or(p).trim_start_matches('/'));
            let file: Option<PathBuf> = relative
                .filter(|p| !p.is_empty() && !p.split('/').any(|part| part == ".."))
                .map(|p| root.join(p))
                .filter(|p| p.is_file());
            Covered {
                name: format!("{} → {link}", alert.as_ref()),
                found: file.map(|f| f.display().to_string()),
            }
        })
        .collect();
    Coverage {
        id: "docs.runbooks",
        title: "every alert's runbook is a file of the repository".into(),
        scenario: format!(
            "runbook links resolved under {} (links starting with {url_prefix:?} or relative)",
            root.display()
        ),
        items,
        recorder: None,
    }
}

/// The configuration variables named in `files`: string literals in `SCREAMING_SNAKE_CASE`
/// (at least one `_`) given as a call's argument, `get("DATABASE_URL")`,
/// `env::var("BIND_ADDR")`, `num("DB_POOL_SIZE", 16)`. Sorted, each once.
pub fn variables_in_source(files: &[impl AsRef<Path>]) -> Result<Vec<String>> {
    let mut names = std::collections::BTreeSet::new();
    for text in read_all(files)? {
        for (i, _) in text.match_indices("(\"") {
            let rest = &text[i + 2..];
            if let Some(end) = rest.find('"') {
                let literal = &rest[..end];
                let screaming = literal.contains('_')
                    && literal.starts_with(|c: char| c.is_ascii_uppercase())
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if screaming {
                    names.insert(literal.to_owned());
                }
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// The routes `files` declare: the path of each `.route("/path"`. Sorted, each once.
pub fn routes_in_source(files: &[impl AsRef<Path>]) -> Result<Vec<String>> {
    let mut routes = std::collections::BTreeSet::new();
    for text in read_all(files)? {
        for (i, _) in text.match_indices(".route(\"") {
            let rest = &text[i + ".route(\"".len()..];
            if let Some(end) = rest.find('"') {
                routes.insert(rest[..end].to_owned());
            }
        }
    }
    Ok(routes.into_iter().collect())
}

fn read_all(files: &[impl AsRef<Path>]) -> Result<Vec<String>> {
    files
        .iter()
        .map(|f| {
            let f = f.as_ref();
            std::fs::read_to_string(f).map_err(|e| {
                Error::InvalidInput(format!("cannot read the source file {}: {e}", f.display()))
            })
        })
        .collect()
}

/// `word` in `text` with no identifier character right before or after it.
fn contains_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// One route whatever its parameters are named: `{id}`, `{order_id}` and `:id` match.
fn same_route(a: &str, b: &str) -> bool {
    let param = |s: &str| s.starts_with('{') && s.ends_with('}') || s.starts_with(':');
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || param(x) && param(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    fn recorder() -> (tempfile::TempDir, Recorder) {
        let dir = tempfile::tempdir().expect("tempdir");
        let recorder = Recorder::new(dir.path());
        (dir, recorder)
    }

    #[test]
    fn routes_match_whatever_their_parameters_are_named() {
        let api = serde_json::json!({ "paths": { "/orders": {}, "/orders/{order_id}": {} } });
        let (_dir, r) = recorder();
        let all = routes_documented(&["/orders", "/orders/:id"], &api).with_recorder(r.clone());
        assert_eq!(all.judge().expect("documented").verdict, Verdict::Pass);
        let some = routes_documented(&["/orders", "/orders/{id}/items", "/metrics"], &api)
            .with_recorder(r.clone());
        assert_eq!(some.undocumented(), vec!["/orders/{id}/items", "/metrics"]);
        let failure = some.judge().expect_err("two are missing");
        assert_eq!(failure.verdict(), Verdict::Fail);
        assert!(
            failure
                .to_string()
                .contains("2 of 3 not documented: /orders/{id}/items, /metrics"),
            "{failure}"
        );
        let none: [&str; 0] = [];
        let nothing = routes_documented(&none, &api).with_recorder(r);
        assert_eq!(
            nothing.judge().expect_err("nothing").verdict(),
            Verdict::Error
        );
    }

    #[test]
    fn a_variable_is_documented_as_a_whole_word_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = dir.path().join("README.md");
        std::fs::write(
            &doc,
            "| `DATABASE_URL` | where |\nDB_POOL_SIZE_MAX is another\n",
        )
        .expect("write");
        let (_evidence, r) = recorder();
        let coverage = config_documented(&["DATABASE_URL", "DB_POOL_SIZE"], &[&doc])
            .expect("reads")
            .with_recorder(r.clone());
        assert_eq!(coverage.undocumented(), vec!["DB_POOL_SIZE"]);
        let failure = coverage
            .judge()
            .expect_err("DB_POOL_SIZE is not documented");
        assert_eq!(failure.verdict(), Verdict::Fail);
        assert!(
            failure
                .to_string()
                .contains("1 of 2 not documented: DB_POOL_SIZE"),
            "{failure}"
        );
        let documented = config_documented(&["DATABASE_URL", "DB_POOL_SIZE_MAX"], &[&doc])
            .expect("reads")
            .with_recorder(r.clone());
        assert_eq!(documented.judge().expect("both").verdict, Verdict::Pass);
        let none: [&str; 0] = [];
        let nothing = config_documented(&none, &[&doc])
            .expect("reads")
            .with_recorder(r);
        assert_eq!(
            nothing.judge().expect_err("nothing").verdict(),
            Verdict::Error
        );
        let missing =
            config_documented(&["X_Y"], &[dir.path().join("nope.md")]).expect_err("no such file");
        assert!(missing.to_string().contains("nope.md"), "{missing}");
    }

    #[test]
    fn variables_and_routes_are_read_from_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("main.rs");
        std::fs::write(
            &src,
            r#"let url = get("DATABASE_URL"); let n = num("DB_POOL_SIZE", 16);
               let s = std::env::var("OTEL_SERVICE_NAME"); let x = f("Not_This"); f("NOPE");
               Router::new().route("/orders", post(c)).route("/orders/{id}", get(g));"#,
        )
        .expect("write");
        assert_eq!(
            variables_in_source(&[&src]).expect("reads"),
            ["DATABASE_URL", "DB_POOL_SIZE", "OTEL_SERVICE_NAME"]
        );
        assert_eq!(
            routes_in_source(&[&src]).expect("reads"),
            ["/orders", "/orders/{id}"]
        );
    }

    #[test]
    fn a_runbook_resolves_to_a_file_of_the_repository_only() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("docs")).expect("mkdir");
        std::fs::write(root.path().join("docs/down.md"), "# Down").expect("write");
        let prefix = "https://git.example/team/svc/blob/main/";
        let links = [
            ("Down", format!("{prefix}docs/down.md#steps")),
            ("Relative", "docs/down.md".to_owned()),
            ("Elsewhere", "https://wiki.example/down".to_owned()),
            ("Missing", format!("{prefix}docs/errors.md")),
            ("Escape", format!("{prefix}../etc/passwd")),
        ];
        let (_evidence, r) = recorder();
        let coverage = runbooks_resolve(&links, prefix, root.path()).with_recorder(r.clone());
        assert_eq!(
            coverage.undocumented(),
            vec![
                "Elsewhere → https://wiki.example/down",
                "Missing → https://git.example/team/svc/blob/main/docs/errors.md",
                "Escape → https://git.example/team/svc/blob/main/../etc/passwd",
            ]
        );
        let failure = coverage.judge().expect_err("three do not resolve");
        assert_eq!(failure.verdict(), Verdict::Fail);
        assert!(
            failure.to_string().contains("3 of 5 not documented"),
            "{failure}"
        );
        let resolved = runbooks_resolve(&links[..2], prefix, root.path()).with_recorder(r.clone());
        assert_eq!(
            resolved.judge().expect("both resolve").verdict,
            Verdict::Pass
        );
        let none: [(&str, &str); 0] = [];
        let nothing = runbooks_resolve(&none, prefix, root.path()).with_recorder(r);
        assert_eq!(
            nothing.judge().expect_err("nothing").verdict(),
            Verdict::Error
        );
    }
}
