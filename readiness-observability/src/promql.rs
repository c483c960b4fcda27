//! Just enough of PromQL's lexical structure to name the metrics an expression selects and
//! the metrics it applies `rate()` to. (Prometheus 2.42 has no parse endpoint; promtool
//! checks syntax, this only reads names out of an expression that promtool accepted.)

/// Keywords besides those that open a label list ([`LABEL_LISTS`]).
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end",
];
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word) || LABEL_LISTS.contains(&word)
}
const COUNTER_FUNCTIONS: &[&str] = &["rate", "irate", "increase", "resets"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Open,
    Close,
    /// A label list `{...}`, its inside as written.
    Matchers(String),
    Other,
}

fn skip_until(chars: &[char], mut i: usize, close: char) -> usize {
    while i < chars.len() {
        match chars[i] {
            c if c == close => return i + 1,
            q @ ('"' | '\'' | '`') => i = skip_string(chars, i + 1, q),
            _ => i += 1,
        }
    }
    i
}

fn skip_string(chars: &[char], mut i: usize, quote: char) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (5m, 1e3, 0x1f): never a name.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Other);
        } else if c == '{' {
            let start = i + 1;
            i = skip_until(&chars, start, '}');
            let inside: String = chars[start..i.saturating_sub(1).max(start)]
                .iter()
                .collect();
            out.push(Token::Matchers(inside));
        } else if c == '[' {
            i = skip_until(&chars, i + 1, ']');
        } else if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i + 1, c);
            out.push(Token::Other);
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else {
            if !c.is_whitespace() {
                out.push(Token::Other);
            }
            i += 1;
        }
    }
    out
}

/// What an identifier at position `i` of `toks` is.
fn is_metric(toks: &[Token], i: usize) -> bool {
    let Token::Ident(name) = &toks[i] else {
        return false;
    };
    let next = toks.get(i + 1);
    if next == Some(&Token::Open) {
        return false; // a function call or an aggregation
    }
    if is_keyword(name) {
        return false;
    }
    if AGGREGATIONS.contains(&name.as_str())
        && matches!(next, Some(Token::Ident(k)) if k == "by" || k == "without")
    {
        return false;
    }
    // Inside the label list of by/without/on/ignoring/group_left/group_right.
    let mut depth = 0usize;
    for j in (0..i).rev() {
        match &toks[j] {
            Token::Close => depth += 1,
            Token::Open if depth > 0 => depth -= 1,
            Token::Open => {
                let after_keyword = j > 0
                    && matches!(&toks[j - 1], Token::Ident(k) if LABEL_LISTS.contains(&k.as_str()));
                return !after_keyword;
            }
            _ => {}
        }
    }
    true
}

/// The metric names an expression selects, in order of first appearance.
pub(crate) fn metric_names(expr: &str) -> Vec<String> {
    let toks = tokens(expr);
    let mut names: Vec<String> = Vec::new();
    for i in 0..toks.len() {
        if let Token::Ident(name) = &toks[i]
            && is_metric(&toks, i)
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    names
}

/// Whether `expr` may hold although one of its selectors matches no series: it uses
/// `absent`, `or`, `unless`, `vector` or `scalar`.
pub(crate) fn may_hold_without_series(expr: &str) -> bool {
    tokens(expr).iter().any(|t| {
        matches!(t, Token::Ident(w) if matches!(
            w.as_str(),
            "absent" | "absent_over_time" | "or" | "unless" | "vector" | "scalar"
        ))
    })
}

/// One equality matcher of a selector: `label="value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matcher {
    pub(crate) label: String,
    pub(crate) value: String,
}

/// Every selector with a metric name and its equality matchers (`=` only: a regex or a
/// negation is not read), in order: `(metric, [label="value"], as written)`.
pub(crate) fn selectors(expr: &str) -> Vec<(String, Vec<Matcher>, String)> {
    let toks = tokens(expr);
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let Token::Ident(name) = &toks[i] else {
            continue;
        };
        if !is_metric(&toks, i) {
            continue;
        }
        let Some(Token::Matchers(inside)) = toks.get(i + 1) else {
            continue;
        };
        let matchers = equality_matchers(inside);
        out.push((name.clone(), matchers, format!("{name}{{{inside}}}")));
    }
    out
}

/// `job="api", status=~"5.."` → `[job="api"]`.
fn equality_matchers(inside: &str) -> Vec<Matcher> {
    let chars: Vec<char> = inside.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let label: String = chars[start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let op_start = i;
        while i < chars.len() && matches!(chars[i], '=' | '!' | '~') {
            i += 1;
        }
        let op: String = chars[op_start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let Some(&quote) = chars.get(i).filter(|c| matches!(c, '"' | '\'' | '`')) else {
            break;
        };
        let end = skip_string(&chars, i + 1, quote);
        let raw: String = chars[i + 1..end.saturating_sub(1).max(i + 1)]
            .iter()
            .collect();
        i = end;
        if op == "=" && !label.is_empty() {
            let value = if quote == '`' {
                raw
            } else {
                raw.replace("\\\"", "\"").replace("\\\\", "\\")
            };
            out.push(Matcher { label, value });
        }
    }
    out
}

/// `(function, metric)` for every counter function (`rate`, `irate`, `increase`,
/// `resets`) applied directly to a selector.
pub(crate) fn counter_function_uses(expr: &str) -> Vec<(String, String)> {
    let toks = tokens(expr);
    let mut uses = Vec::new();
    for w in toks.windows(3) {
        if let [Token::Ident(f), Token::Open, Token::Ident(m)] = w
            && COUNTER_FUNCTIONS.contains(&f.as_str())
            && !is_keyword(m)
        {
            uses.push((f.clone(), m.clone()));
        }
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_equality_matchers_of_each_selector() {
        let expr = r#"sum(rate(http_requests_total{job="api", status=~"5..",route='/a,b'}[1m])) > 0 and up{job="api"} == 1 or rate(x[1m])"#;
        let got: Vec<(String, Vec<(String, String)>)> = selectors(expr)
            .into_iter()
            .map(|(m, ms, _)| (m, ms.into_iter().map(|m| (m.label, m.value)).collect()))
            .collect();
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            got,
            vec![
                (
                    "http_requests_total".to_owned(),
                    vec![pair("job", "api"), pair("route", "/a,b")]
                ),
                ("up".to_owned(), vec![pair("job", "api")]),
            ]
        );
        assert_eq!(
            selectors(r#"up{job="a"}"#)[0].2,
            r#"up{job="a"}"#,
            "the selector as written"
        );
    }

    #[test]
    fn names_the_selected_metrics_only() {
        let expr = r#"sum by (route, status) (rate(http_requests_total{status=~"5..", job="api"}[1m]))
            / ignoring(status) group_left sum without (instance) (rate(http_requests_total[1m])) > 0.05
            and on (job) up{job="api"} == 1 or vector(0) offset 5m"#;
        assert_eq!(metric_names(expr), vec!["http_requests_total", "up"]);
        assert_eq!(
            metric_names(
                "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5"
            ),
            vec!["http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            metric_names("absent(my:recorded:rule)"),
            vec!["my:recorded:rule"]
        );
        assert_eq!(metric_names("1 > bool 0"), Vec::<String>::new());
        assert_eq!(
            metric_names(r#"label_replace(up, "a", "$1", "job", "(.*)")"#),
            vec!["up"]
        );
    }

    #[test]
    fn finds_counter_functions_on_selectors() {
        let uses = counter_function_uses(
            "rate(queue_depth[5m]) > 1 and increase(errors_total{a=\"b\"}[1m]) > 0",
        );
        assert_eq!(
            uses,
            vec![
                ("rate".to_owned(), "queue_depth".to_owned()),
                ("increase".to_owned(), "errors_total".to_owned())
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_names_are_identifiers(expr in ".{0,80}") {
            for name in metric_names(&expr) {
                proptest::prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            }
            let _ = counter_function_uses(&expr);
        }
    }
}
