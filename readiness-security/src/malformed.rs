//! `sec.malformed_input`: bad input is answered by the handler, never by a crash, and the
//! service stays whole; as Schemathesis judges an API from its examples.
//!
//! The drive, in order:
//! 1. the route's valid example must be accepted (2xx), or the check is an `error` that
//!    says why (a 401 is missing credentials, a 404 a wrong URL, a 429 a rate limit): bad
//!    input judged against a route that refuses everything proves nothing;
//! 2. every field of the body gets every class of bad value, and every query and path
//!    parameter every bad value, before anything random: the result does not depend on
//!    the seed;
//! 3. random cases from the seed (`READINESS_MALFORMED_SEED`, else one derived from the
//!    route), the first failure shrunk to a minimal one;
//! 4. the valid example is accepted again, and the readiness URL answers 2xx over a settle
//!    window.
//!
//! A body that is invalid (wrong type, null, missing, extra field, not UTF-8, cut short,
//! wrong content type, nested too deep) must be rejected by the handler: 400, 413, 415 or
//! 422 by default ([`Malformed::with_rejections`]). A value that is odd but may be valid
//! (control characters and NUL, escapes, huge numbers and strings; any query or path
//! value) must not crash it: a 2xx or a 4xx of the handler. Never a 5xx, never no answer;
//! and no error answer may leak internals (SQL or a database's own words, a stack trace, a
//! source path). An answer that did not come from the handler (401, 403, 404, 405, 429
//! to a body the same credentials just had accepted) is no evidence either way: listed,
//! not judged, and a check where that is all is an `error`.

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use regex::Regex;
use serde_json::{Map, Value};

use super::{Answer, Edit, Measured, Probed, Route, SecurityItem, check, no_answer};
use readiness_core::{CheckResultExt, Error, Evidence, Failure, Recorder, Result, settings};

/// How to break a route: random cases after the classes (default 32), how far to shrink a
/// failure (default 64 steps), the seed, the statuses that count as the handler's
/// rejection, the settle window, and the readiness URL that must answer 2xx afterwards.
#[derive(Debug, Clone)]
#[must_use]
pub struct Malformed {
    recorder: Option<Recorder>,
    ready: String,
    cases: u32,
    max_shrink: u32,
    seed: Option<u64>,
    extra_fields_allowed: bool,
    rejections: Vec<u16>,
    settle: Duration,
}

impl Malformed {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// Bad requests; `ready_url` (`GET`, 2xx) must keep answering after them.
    pub fn new(ready_url: impl Into<String>) -> Self {
        Malformed {
            recorder: None,
            ready: ready_url.into(),
            cases: 32,
            max_shrink: 64,
            seed: None,
            extra_fields_allowed: false,
            rejections: vec![400, 413, 415, 422],
            settle: Duration::from_secs(3),
        }
    }
    /// How many random cases follow the classes.
    pub fn with_cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }
    /// Most requests spent shrinking a failure.
    pub fn with_max_shrink(mut self, steps: u32) -> Self {
        self.max_shrink = steps;
        self
    }
    /// The seed of the random cases (a failure prints the one that replays it).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// The service may accept (ignore) fields it does not know: no extra-field cases.
    pub fn allowing_extra_fields(mut self) -> Self {
        self.extra_fields_allowed = true;
        self
    }
    /// The statuses that are the handler's rejection of an invalid body (default 400,
    /// 413, 415, 422).
    pub fn with_rejections(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.rejections = statuses.into_iter().collect();
        self
    }
    /// How long the readiness URL must keep answering 2xx after the bad input (default
    /// 3 s, a look every 250 ms): a service that dies a moment later is caught.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The seed: given, else `READINESS_MALFORMED_SEED`, else one derived from `route`
    /// (the same route gets the same cases every run).
    fn seed(&self, route: &str) -> Result<u64> {
        if let Some(s) = self.seed {
            return Ok(s);
        }
        match settings::get("READINESS_MALFORMED_SEED")? {
            Some(_) => settings::seed("READINESS_MALFORMED_SEED"),
            None => Ok(route.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })),
        }
    }
}

/// What a probe must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The handler's rejection (an invalid body).
    Rejection,
    /// No crash: a 2xx, or a 4xx of the handler (an odd but possible value).
    NoCrash,
}

/// Where a bad parameter value goes.
#[derive(Debug, Clone)]
enum Place {
    /// The query parameter of this name.
    Query(String),
    /// Path segment `i`.
    Segment(usize),
}

/// One bad request, made from the valid one.
#[derive(Debug, Clone)]
enum Bad {
    /// A field left out.
    Missing(usize),
    /// A field with a value of another JSON type.
    WrongType(usize, Value),
    /// A field set to null.
    Null(usize),
    /// A field the route does not have.
    Extra(String, Value),
    /// A string field holding this text (control characters, NUL, any Unicode).
    Text(usize, String),
    /// A field holding this raw JSON text (escapes, huge numbers).
    Raw(usize, &'static str),
    /// Bytes that are not UTF-8 inside a field's string.
    NotUtf8(usize, Vec<u8>),
    /// The body with another content type (empty: none).
    WrongContentType(&'static str),
    /// The body cut after this many bytes.
    Truncated(usize),
    /// No body at all.
    Empty,
    /// A field nested this deep in arrays.
    Nested(usize, usize),
    /// A field this many bytes long.
    Huge(usize, usize),
    /// A query or path parameter with this (percent-encoded) value, or none.
    Param(Place, Option<String>),
}

impl Bad {
    fn expect(&self) -> Expect {
        match self {
            Bad::Text(..) | Bad::Raw(..) | Bad::Huge(..) | Bad::Param(..) => Expect::NoCrash,
            _ => Expect::Rejection,
        }
    }
}

/// A bad request, ready to send and to show.
struct Made {
    body: Option<(Vec<u8>, Option<&'static str>)>,
    url: Option<String>,
    what: String,
}

/// The route's valid request, taken apart: its body's fields, query and path.
struct Valid {
    example: Option<Map<String, Value>>,
    url: url::Url,
    query: Vec<(String, String)>,
    segments: Vec<usize>,
}

impl Valid {
    fn key(&self, i: usize) -> String {
        let keys: Vec<&String> = self.example.iter().flat_map(|m| m.keys()).collect();
        keys.get(i % keys.len().max(1))
            .map(|k| (*k).clone())
            .unwrap_or_default()
    }
    fn fields(&self) -> usize {
        self.example.as_ref().map_or(0, Map::len)
    }

    fn make(&self, bad: &Bad) -> Made {
        let example = self.example.clone().unwrap_or_default();
        let json = |m: &Map<String, Value>| Value::Object(m.clone()).to_string().into_bytes();
        let with = |k: &str, v: Value| {
            let mut m = example.clone();
            m.insert(k.to_owned(), v);
            m
        };
        // A field whose value is raw text spliced into the valid body.
        let spliced = |k: &str, raw: &[u8]| {
            let marker = "\u{1}readiness\u{1}";
            let text = Value::Object(with(k, Value::String(marker.into()))).to_string();
            let quoted = serde_json::to_string(marker).unwrap_or_default();
            let (head, tail) = text.split_once(&quoted).unwrap_or((&text, ""));
            [head.as_bytes(), raw, tail.as_bytes()].concat()
        };
        let body = |bytes: Vec<u8>, what: String| Made {
            body: Some((bytes, Some("application/json"))),
            url: None,
            what,
        };
        match bad {
            Bad::Missing(i) => {
                let mut m = example.clone();
                m.remove(&self.key(*i));
                body(json(&m), format!("{} missing", self.key(*i)))
            }
            Bad::WrongType(i, v) => {
                let k = self.key(*i);
                let v = other_type(&example[&k], v.clone());
                let what = format!("{k} = {} (wrong type)", shown_value(&v));
                body(json(&with(&k, v)), what)
            }
            Bad::Null(i) => {
                let k = self.key(*i);
                body(json(&with(&k, Value::Null)), format!("{k} = null"))
            }
            Bad::Extra(name, v) => {
                let name = format!("x_{name}");
                let what = format!("extra field {name} = {}", shown_value(v));
                body(json(&with(&name, v.clone())), what)
            }
            Bad::Text(i, text) => {
                let k = self.key(*i);
                let what = format!("{k} = {}", shown_value(&Value::String(text.clone())));
                body(json(&with(&k, Value::String(text.clone()))), what)
            }
            Bad::Raw(i, raw) => {
                let k = self.key(*i);
                body(
                    spliced(&k, raw.as_bytes()),
                    format!("{k} = {raw} (as written in JSON)"),
                )
            }
            Bad::NotUtf8(i, bytes) => {
                let k = self.key(*i);
                let raw = [b"\"ab".as_slice(), bytes, b"\"".as_slice()].concat();
                let what = format!("{k} holds bytes that are not UTF-8 ({bytes:02x?})");
                body(spliced(&k, &raw), what)
            }
            Bad::WrongContentType(ct) => Made {
                body: Some((json(&example), (!ct.is_empty()).then_some(*ct))),
                url: None,
                what: if ct.is_empty() {
                    "no Content-Type".to_owned()
                } else {
                    format!("Content-Type {ct}")
                },
            },
            Bad::Truncated(n) => {
                let full = json(&example);
                let n = (*n).min(full.len().saturating_sub(1));
                let what = format!("the body cut after {n} of {} bytes", full.len());
                body(full[..n].to_vec(), what)
            }
            Bad::Empty => body(Vec::new(), "an empty body".to_owned()),
            Bad::Nested(i, depth) => {
                let k = self.key(*i);
                let raw = ["[".repeat(*depth), "]".repeat(*depth)].concat();
                body(
                    spliced(&k, raw.as_bytes()),
                    format!("{k} nested {depth} arrays deep"),
                )
            }
            Bad::Huge(i, len) => {
                let k = self.key(*i);
                let what = format!("{k} = \"xxx…\" ({len} bytes)");
                body(json(&with(&k, Value::String("x".repeat(*len)))), what)
            }
            Bad::Param(place, value) => {
                let mut url = self.url.clone();
                let shown = value.as_deref().map_or_else(
                    || "left out".to_owned(),
                    |v| format!("= {}", super::shown(v)),
                );
                let what = match place {
                    Place::Query(name) => {
                        let pairs: Vec<(String, String)> = self
                            .query
                            .iter()
                            .filter(|(k, _)| k != name)
                            .cloned()
                            .collect();
                        let mut q: Vec<String> = pairs
                            .iter()
                            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                            .collect();
                        if let Some(v) = value {
                            q.push(format!("{}={v}", enc(name)));
                        }
                        url.set_query((!q.is_empty()).then(|| q.join("&")).as_deref());
                        format!("query {name} {shown}")
                    }
                    Place::Segment(i) => {
                        let mut parts: Vec<String> = self
                            .url
                            .path_segments()
                            .map(|s| s.map(str::to_owned).collect())
                            .unwrap_or_default();
                        if let Some(p) = parts.get_mut(*i) {
                            *p = value.clone().unwrap_or_default();
                        }
                        url.set_path(&format!("/{}", parts.join("/")));
                        format!("path segment {} {shown}", i + 1)
                    }
                };
                Made {
                    body: None,
                    url: Some(url.to_string()),
                    what,
                }
            }
        }
    }
}

/// Percent-encodes a query component.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl fmt::Display for Made {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Some((bytes, ct)) => write!(
                f,
                "{}: body {} ({})",
                self.what,
                super::shown(&String::from_utf8_lossy(bytes)),
                ct.unwrap_or("no Content-Type")
            ),
            None => write!(f, "{}", self.what),
        }
    }
}

fn shown_value(v: &Value) -> String {
    super::shown(&v.to_string())
}

/// `v` when its JSON type differs from `original`'s; else a value of another type.
fn other_type(original: &Value, v: Value) -> Value {
    let kind = |v: &Value| std::mem::discriminant(v);
    if kind(original) != kind(&v) {
        return v;
    }
    match v {
        Value::String(_) => Value::from(0),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(_) => Value::Array(vec![]),
        Value::Null => Value::Bool(false),
        Value::Array(_) => Value::Object(Map::new()),
        Value::Object(_) => Value::Array(vec![]),
    }
}

/// Texts with control characters, NUL and Unicode a careless handler trips on.
const ODD_TEXTS: &[&str] = &[
    "\u{0}",
    "a\u{0}b",
    "\u{7}\u{1b}[31m\r\n",
    "\u{202e}gnp.exe",
    "\u{1F600}\u{FEFF}",
    "' OR '1'='1",
    "%s%n%x",
];

/// Raw JSON values: escapes and numbers at the edge of what parsers hold.
const RAW_VALUES: &[&str] = &[
    r#""\u0000""#,
    r#""\ud800""#,
    r#""\ud83d\ude00""#,
    "1e308",
    "1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "0.0000000000000000000001",
];

/// Values of a query or path parameter (percent-encoded as sent).
const PARAM_VALUES: &[&str] = &[
    "",
    "%00",
    "a%00b",
    "%07%1B%5B31m",
    "%FF%FE",
    "%F0%9F%98%80",
    "%27%20OR%20%271%27%3D%271",
    "..%2F..%2Fetc%2Fpasswd",
    "-1",
    "99999999999999999999999",
];

/// The classes, each once per field or parameter: what does not depend on the seed.
fn classes(valid: &Valid, extra_allowed: bool) -> Vec<Bad> {
    let mut out = Vec::new();
    let example = valid.example.clone().unwrap_or_default();
    for (i, (_, value)) in example.iter().enumerate() {
        out.push(Bad::Missing(i));
        out.push(Bad::Null(i));
        for other in [
            Value::String("x".into()),
            Value::from(0),
            Value::Bool(true),
            Value::Array(vec![]),
            Value::Object(Map::new()),
        ] {
            if std::mem::discriminant(&other) != std::mem::discriminant(value) {
                out.push(Bad::WrongType(i, other));
            }
        }
        if value.is_string() {
            for t in ODD_TEXTS {
                out.push(Bad::Text(i, (*t).to_owned()));
            }
        }
        for raw in RAW_VALUES {
            out.push(Bad::Raw(i, raw));
        }
        out.push(Bad::NotUtf8(i, vec![0xff, 0xfe]));
        out.push(Bad::Nested(i, 100_000));
        out.push(Bad::Huge(i, 1 << 20));
    }
    if !example.is_empty() {
        if !extra_allowed {
            out.push(Bad::Extra("field".into(), Value::from(1)));
        }
        for ct in [
            "",
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
        ] {
            out.push(Bad::WrongContentType(ct));
        }
        out.push(Bad::Truncated(1));
        out.push(Bad::Truncated(usize::MAX / 2));
        out.push(Bad::Empty);
    }
    let params = valid
        .query
        .iter()
        .map(|(k, _)| Place::Query(k.clone()))
        .chain(valid.segments.iter().map(|s| Place::Segment(*s)));
    for place in params {
        if matches!(place, Place::Query(_)) {
            out.push(Bad::Param(place.clone(), None));
        }
        for v in PARAM_VALUES {
            out.push(Bad::Param(place.clone(), Some((*v).to_owned())));
        }
    }
    out
}

/// Small JSON values of every type.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The random cases: every class again, with values from the whole of Unicode.
fn random_cases(valid: &Valid, extra: bool) -> BoxedStrategy<Bad> {
    let fields = valid.fields();
    let mut options: Vec<BoxedStrategy<Bad>> = Vec::new();
    if fields > 0 {
        let field = 0..fields;
        let invalid_byte = proptest::sample::select(vec![0x80u8, 0xc0, 0xc1, 0xf5, 0xfe, 0xff]);
        options.extend([
            field.clone().prop_map(Bad::Missing).boxed(),
            (field.clone(), json_value())
                .prop_map(|(i, v)| Bad::WrongType(i, v))
                .boxed(),
            (field.clone(), any::<String>())
                .prop_map(|(i, t)| Bad::Text(i, t))
                .boxed(),
            (field.clone(), proptest::collection::vec(invalid_byte, 1..4))
                .prop_map(|(i, b)| Bad::NotUtf8(i, b))
                .boxed(),
            (0usize..512).prop_map(Bad::Truncated).boxed(),
            (field.clone(), 2usize..100_000)
                .prop_map(|(i, d)| Bad::Nested(i, d))
                .boxed(),
            (field, 65_536usize..1_048_576)
                .prop_map(|(i, n)| Bad::Huge(i, n))
                .boxed(),
        ]);
        if !extra {
            options.push(
                ("[a-z]{1,8}", json_value())
                    .prop_map(|(n, v)| Bad::Extra(n, v))
                    .boxed(),
            );
        }
    }
    let places: Vec<Place> = valid
        .query
        .iter()
        .map(|(k, _)| Place::Query(k.clone()))
        .chain(valid.segments.iter().map(|s| Place::Segment(*s)))
        .collect();
    if !places.is_empty() {
        options.push(
            (proptest::sample::select(places), any::<String>())
                .prop_map(|(p, v)| Bad::Param(p, Some(enc(&v))))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

/// What leaks a service's internals in an error answer: the pattern's name and itself.
const LEAKS: &[(&str, &str)] = &[
    (
        "a database's own error",
        r"(?i)(db error:|sqlstate|syntax error at or near|invalid byte sequence for encoding|duplicate key value violates|violates (not-null|foreign key|unique) constraint|ORA-\d{5}|psycopg2?\.|pq: |SQLITE_[A-Z]+|mysql_|PSQLException)",
    ),
    (
        "SQL",
        r"(?i)\b(SELECT\s+[\w*,\s]+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b",
    ),
    (
        "a stack trace",
        r#"(panicked at|Traceback \(most recent call last\)|Exception in thread|\bat [\w$.]+\([\w]+\.java:\d+\)|\.rs:\d+:\d+|\.py", line \d+|goroutine \d+ \[|\bat .+ \(.+\.js:\d+:\d+\))"#,
    ),
    (
        "a source path",
        r"(/home/[\w.-]+/|/usr/src/|/root/\.cargo/|[A-Z]:\\Users\\|/app/src/)",
    ),
];

/// The internals `body` leaks, by pattern name.
fn leaks(body: &str) -> Vec<&'static str> {
    static PATTERNS: std::sync::OnceLock<Vec<(&'static str, Regex)>> = std::sync::OnceLock::new();
    PATTERNS
        .get_or_init(|| {
            // Constants of this module, compiled once; a test compiles each of them.
            LEAKS
                .iter()
                .filter_map(|(n, p)| Regex::new(p).ok().map(|r| (*n, r)))
                .collect()
        })
        .iter()
        .filter(|(_, r)| r.is_match(body))
        .map(|(n, _)| *n)
        .collect()
}

/// How one answer is judged.
enum Judged {
    /// As required.
    Ok,
    /// Not as required: what came back.
    Wrong(String),
    /// Not the handler's answer: no evidence either way.
    NotHandler(String),
}

fn judge(answer: &Answer, expect: Expect, rejections: &[u16], leak: &[&str]) -> Judged {
    let Some(status) = answer.status else {
        return Judged::Wrong(answer.describe());
    };
    if status >= 500 && leak.is_empty() {
        return Judged::Wrong(answer.describe());
    }
    if !leak.is_empty() && status >= 400 {
        return Judged::Wrong(format!(
            "{} — the answer leaks {}",
            answer.describe(),
            leak.join(" and ")
        ));
    }
    match expect {
        Expect::Rejection if rejections.contains(&status) => Judged::Ok,
        Expect::Rejection if (200..400).contains(&status) => Judged::Wrong(answer.describe()),
        Expect::Rejection => Judged::NotHandler(answer.describe()),
        Expect::NoCrash if matches!(status, 401 | 403 | 405 | 429) => {
            Judged::NotHandler(answer.describe())
        }
        Expect::NoCrash => Judged::Ok,
    }
}

/// Why a valid request was not accepted, as a hint of what to fix.
fn refused_valid(answer: &Answer) -> String {
    let hint = match answer.status {
        Some(401 | 403) => "missing credentials? give the route its token (Route::with_bearer)",
        Some(404 | 405) => "a wrong URL or method?",
        Some(429) => "rate limited: space the checks or raise the limit",
        Some(400..=499) => "the example is not valid for the service: give a valid one",
        Some(_) => "the service fails on a valid request",
        None => "the service does not answer",
    };
    format!("{}: {hint}", answer.describe())
}

/// The drive of `sec.malformed_input`: every probe sent and judged as it came back.
async fn drive_rejects_malformed_input(
    route: &Route,
    malformed: &Malformed,
) -> std::result::Result<Measured, Failure> {
    let name = route.name();
    let check = check(
        "sec.malformed_input",
        format!("{name} answers malformed input by its handler, never by a crash"),
        malformed.recorder.as_ref(),
    )
    .with_subject(format!("{name} sec.malformed_input"))
    .with_target(route.target());
    let example = match route.json_body() {
        Some(Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    };
    let url = match url::Url::parse(&route.url) {
        Ok(u) => u,
        Err(e) => {
            return Err(check.error(Error::InvalidInput(format!(
                "{:?} is not a URL: {e}",
                route.url
            ))));
        }
    };
    let valid = Valid {
        example,
        query: url.query_pairs().into_owned().collect(),
        segments: route.path_params.clone(),
        url,
    };
    if valid.example.is_none() && valid.query.is_empty() && valid.segments.is_empty() {
        return Err(check.error(Error::InvalidInput(format!(
            "{name} has nothing to break: no JSON object body (Route::with_json), no query \
             parameter, no path parameter (Route::with_path_param)"
        ))));
    }
    let ready_route = Route::get(&malformed.ready);
    let prepared = route
        .client()
        .and_then(|c| Ok((c, malformed.seed(&name)?, ready_route.client()?)));
    let (client, seed, ready_client) = match prepared {
        Ok(p) => p,
        Err(e) => return Err(check.error(e)),
    };
    let send = |bad: Bad| {
        let made = valid.make(&bad);
        let mut edit = Edit::default();
        if let Some((bytes, ct)) = &made.body {
            edit.body = Some((bytes.clone(), ct.map(str::to_owned)));
            edit = edit.without("content-type");
        }
        let target = made.url.as_ref().map(|u| route.at(u));
        let client = &client;
        async move {
            let answer = match &target {
                Some(r) => r.send(client, &edit).await,
                None => route.send(client, &edit).await,
            };
            (bad, made, answer)
        }
    };

    // 1. The valid request must be accepted: otherwise nothing below reached the handler.
    let first = route.send(&client, &Edit::default()).await;
    if !first.status.is_some_and(|s| (200..300).contains(&s)) {
        return Err(check.error(Error::InvalidInput(format!(
            "the valid request was not accepted, so bad ones prove nothing: {}",
            refused_valid(&first)
        ))));
    }

    let classes = classes(&valid, malformed.extra_fields_allowed);
    let check = check.with_scenario(format!(
        "the valid request accepted, then {} bad requests of every class (every field, query \
         and path parameter) and {} random ones, seed {seed} (READINESS_MALFORMED_SEED); the \
         valid request again, then GET {} for {}",
        classes.len(),
        malformed.cases,
        malformed.ready,
        readiness_core::Quantity::duration(malformed.settle)
    ));
    let mut items = Vec::new();
    let mut not_handler: Vec<String> = Vec::new();
    let mut answered = 0u32;
    let mut record =
        |made: &Made, expect: Expect, answer: &Answer, items: &mut Vec<SecurityItem>| {
            let leak = leaks(&answer.body);
            let expected = match expect {
                Expect::Rejection => format!(
                    "the handler's rejection ({})",
                    malformed
                        .rejections
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Expect::NoCrash => "a 2xx or a 4xx of the handler, no leak".to_owned(),
            };
            match judge(answer, expect, &malformed.rejections, &leak) {
                Judged::Ok => {
                    items.push(SecurityItem::new(
                        &name,
                        made.to_string(),
                        expected,
                        answer.describe(),
                        true,
                    ));
                    true
                }
                Judged::Wrong(got) => {
                    items.push(SecurityItem::new(
                        &name,
                        made.to_string(),
                        expected,
                        got,
                        false,
                    ));
                    false
                }
                Judged::NotHandler(got) => {
                    not_handler.push(format!("{made}: {got}"));
                    true
                }
            }
        };

    // 2. Every class, once each.
    for bad in classes {
        let expect = bad.expect();
        let (_, made, answer) = send(bad).await;
        answered += u32::from(answer.status.is_some());
        record(&made, expect, &answer, &mut items);
    }

    // 3. Random cases; the first failure shrunk as proptest does.
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    let mut runner = TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = random_cases(&valid, malformed.extra_fields_allowed);
    let fails = |answer: &Answer, expect: Expect| {
        matches!(
            judge(answer, expect, &malformed.rejections, &leaks(&answer.body)),
            Judged::Wrong(_)
        )
    };
    for _ in 0..malformed.cases {
        let mut tree = match strategy.new_tree(&mut runner) {
            Ok(t) => t,
            Err(e) => return Err(check.error(Error::Other(format!("generator: {e}")))),
        };
        let (bad, made, answer) = send(tree.current()).await;
        answered += u32::from(answer.status.is_some());
        if record(&made, bad.expect(), &answer, &mut items) {
            continue;
        }
        let mut last = (made, answer);
        let mut steps = 0u32;
        'shrink: while steps < malformed.max_shrink && tree.simplify() {
            loop {
                steps += 1;
                let (bad, made, answer) = send(tree.current()).await;
                if fails(&answer, bad.expect()) {
                    last = (made, answer);
                    break;
                }
                if steps >= malformed.max_shrink || !tree.complicate() {
                    break 'shrink;
                }
            }
        }
        items.push(SecurityItem::new(
            &name,
            format!(
                "the minimal failing input after {steps} shrink steps (seed {seed}): {}",
                last.0
            ),
            "no failure",
            last.1.describe(),
            false,
        ));
        break;
    }
    if answered == 0 {
        return Err(no_answer(check, route.target(), &items));
    }
    if items.is_empty() {
        return Err(check.error(Error::InvalidInput(format!(
            "no answer to a bad request came from the handler ({}): nothing was judged",
            not_handler.first().cloned().unwrap_or_default()
        ))));
    }

    // 4. Still whole: the valid request accepted again, ready over the settle window.
    let again = route.send(&client, &Edit::default()).await;
    items.push(SecurityItem::new(
        &name,
        "the valid request after the bad ones",
        "2xx",
        again.describe(),
        again.status.is_some_and(|s| (200..300).contains(&s)),
    ));
    let looks = (malformed.settle.as_millis() / 250) as u32 + 1;
    let mut down = None;
    for look in 0..looks.min(240) {
        let ready = ready_route.send(&ready_client, &Edit::default()).await;
        if !ready.status.is_some_and(|s| (200..300).contains(&s)) {
            down = Some((look, ready.describe()));
            break;
        }
        if look + 1 < looks {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    items.push(SecurityItem::new(
        format!("GET {}", malformed.ready),
        format!(
            "readiness over {} after the bad requests",
            readiness_core::Quantity::duration(malformed.settle)
        ),
        "2xx at every look",
        match &down {
            None => format!("2xx at all {looks} looks"),
            Some((look, got)) => format!("{got} at {:.2}s", f64::from(*look) * 0.25),
        },
        down.is_none(),
    ));
    let mut summary = format!(
        "{} bad requests answered as required (seed {seed}); accepted and ready afterwards",
        items.len().saturating_sub(2)
    );
    if !not_handler.is_empty() {
        summary.push_str(&format!(
            "; {} answers did not come from the handler and were not judged (first: {})",
            not_handler.len(),
            not_handler[0]
        ));
    }
    Ok(Measured::new(check, items, summary))
}

/// Drives `sec.malformed_input` and returns what it measured, to be judged by [`assert_rejects_malformed_input`] (or
/// [`Probed::judge`]); [`try_assert_rejects_malformed_input`] does both.
pub async fn probe_malformed_input(route: &Route, malformed: &Malformed) -> Probed {
    Probed::from(drive_rejects_malformed_input(route, malformed).await)
}

/// `sec.malformed_input`: see the module documentation for the drive and the judgement. A
/// route with nothing to break (no JSON object body, no query or path parameter), or
/// whose valid example is not accepted, is an `error`, as is a run where nothing
/// answered or nothing that answered was the handler.
pub async fn try_assert_rejects_malformed_input(
    route: &Route,
    malformed: &Malformed,
) -> std::result::Result<Evidence, Failure> {
    probe_malformed_input(route, malformed).await.judge()
}

/// Judges what [`probe_malformed_input`] measured, panicking with the failure at the caller's line.
#[track_caller]
pub fn assert_rejects_malformed_input(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Valid {
        let example = match serde_json::json!({"customer": "alice", "item": "widget", "quantity": 1})
        {
            Value::Object(m) => Some(m),
            _ => None,
        };
        let url = url::Url::parse("http://127.0.0.1:1/orders/7?customer=a&limit=5").expect("url");
        Valid {
            example,
            query: url.query_pairs().into_owned().collect(),
            segments: vec![1],
            url,
        }
    }

    #[test]
    fn each_kind_of_bad_request_is_what_it_says() {
        let v = valid();
        let body = |m: &Made| m.body.as_ref().map(|(b, _)| b.clone()).unwrap_or_default();
        let not_json = |m: &Made| serde_json::from_slice::<Value>(&body(m)).is_err();
        let m = v.make(&Bad::NotUtf8(0, vec![0xff]));
        assert!(std::str::from_utf8(&body(&m)).is_err(), "{m}");
        let m = v.make(&Bad::Nested(1, 100_000));
        assert!(not_json(&m), "serde_json stops at 128 levels");
        let m = v.make(&Bad::WrongType(0, Value::String("x".into())));
        assert!(m.what.contains("customer = 0"), "{}", m.what);
        let m = v.make(&Bad::Truncated(5));
        assert_eq!(body(&m).len(), 5);
        let m = v.make(&Bad::Text(0, "a\u{0}b".into()));
        let parsed: Value = serde_json::from_slice(&body(&m)).expect("valid JSON");
        assert_eq!(parsed["customer"], "a\u{0}b");
        let m = v.make(&Bad::Raw(2, "1e999"));
        assert!(
            String::from_utf8_lossy(&body(&m)).contains("\"quantity\":1e999"),
            "{m}"
        );
        let m = v.make(&Bad::Param(
            Place::Query("customer".into()),
            Some("a%00b".into()),
        ));
        let url = m.url.expect("a url");
        assert!(url.ends_with("?limit=5&customer=a%00b"), "{url}");
        let m = v.make(&Bad::Param(Place::Segment(1), Some("%FF".into())));
        assert!(m.url.expect("a url").contains("/orders/%FF?"), "path");
    }

    #[test]
    fn every_field_and_parameter_gets_every_class_whatever_the_seed() {
        let v = valid();
        let all = classes(&v, false);
        for field in ["customer", "item", "quantity"] {
            for class in ["missing", "null", "wrong type", "not UTF-8", "arrays deep"] {
                assert!(
                    all.iter().any(|b| {
                        let m = v.make(b);
                        m.what.starts_with(field) && m.what.contains(class)
                    }),
                    "{field}: {class}"
                );
            }
        }
        assert!(
            all.iter()
                .any(|b| v.make(b).what.contains("customer = \"a\\u0000b\""))
        );
        assert!(
            all.iter()
                .any(|b| v.make(b).what == "query customer = a%00b")
        );
        assert!(all.iter().any(|b| v.make(b).what == "query limit left out"));
        assert!(
            all.iter()
                .any(|b| v.make(b).what.starts_with("path segment 2"))
        );
    }

    #[test]
    fn an_answer_is_judged_by_who_gave_it_and_what_it_says() {
        let answer = |status: u16, body: &str| Answer {
            status: Some(status),
            headers: reqwest::header::HeaderMap::new(),
            body: body.into(),
            failure: None,
            cut: false,
        };
        let r = [400, 413, 415, 422];
        let ok = |a: &Answer, e| matches!(judge(a, e, &r, &[]), Judged::Ok);
        assert!(ok(&answer(422, "{}"), Expect::Rejection));
        assert!(!ok(&answer(201, "{}"), Expect::Rejection));
        assert!(matches!(
            judge(&answer(404, "{}"), Expect::Rejection, &r, &[]),
            Judged::NotHandler(_)
        ));
        assert!(matches!(
            judge(&answer(429, "{}"), Expect::NoCrash, &r, &[]),
            Judged::NotHandler(_)
        ));
        assert!(ok(&answer(200, "{}"), Expect::NoCrash));
        assert!(!ok(&answer(500, "internal error"), Expect::NoCrash));
        for (name, p) in LEAKS {
            assert!(Regex::new(p).is_ok(), "the leak pattern {name} compiles");
        }
        let body = r#"{"error":"database error: db error: ERROR: invalid byte sequence for encoding \"UTF8\": 0x00"}"#;
        assert_eq!(leaks(body), ["a database's own error"]);
        assert!(leaks(r#"{"error":"customer must be 1 to 200 characters"}"#).is_empty());
        assert_eq!(
            leaks("thread 'tokio' panicked at src/app.rs:12:5"),
            ["a stack trace"]
        );
        let leak = leaks(body);
        assert!(
            matches!(
                judge(&answer(400, body), Expect::Rejection, &r, &leak),
                Judged::Wrong(_)
            ),
            "a leak fails even a 4xx"
        );
    }
}
