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
            i = skip_until(&chars, i + 1, '}');
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
