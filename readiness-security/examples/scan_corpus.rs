//! Our scanner over a labelled corpus (`LABEL<TAB>RULE-OR-DASH<TAB>LINE`), for the side by
//! side with detect-secrets (`bench/secrets_vs_detect_secrets.py`): prints a JSON list of
//! `{"line", "found", "rules"}` (1-based corpus line) on stdout and the seconds the scan
//! took on stderr (the best of five passes over the corpus).
//!
//! ```text
//! cargo run -p readiness-security --example scan_corpus -- \
//!     readiness-security/tests/corpus/secrets.tsv > /tmp/ours.json
//! ```

use std::time::Instant;

use readiness_security::Rules;

#[expect(clippy::print_stdout, reason = "the verdicts are the example's output")]
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: scan_corpus CORPUS.tsv");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2);
    });
    let rules = Rules::defaults();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| Some((i + 1, l.splitn(3, '\t').nth(2)?)))
        .collect();
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        out = lines
            .iter()
            .map(|(n, line)| {
                let rules: Vec<String> = rules.find(line).into_iter().map(|f| f.rule).collect();
                serde_json::json!({"line": n, "found": !rules.is_empty(), "rules": rules})
            })
            .collect();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{}", serde_json::Value::Array(out));
    eprintln!("{best:.6}");
}
