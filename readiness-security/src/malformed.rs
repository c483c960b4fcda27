//! `sec.malformed_input`: generated bad requests are answered 4xx, in time, and the
//! service stays ready.

use std::fmt;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value};

use super::{Answer, Edit, Route, SecurityItem, check, judge_items, no_answer};
use readiness_core::Evidence;
use readiness_core::Recorder;
use readiness_core::settings;
use readiness_core::{CheckResultExt, Failure};
use readiness_core::{Error, Result};

/// How to make bad requests for a route whose valid JSON example is its body: how many
/// (default 64), how far to shrink a failure (default 64 steps), the seed (default
/// `READINESS_MALFORMED_SEED`, else the clock: a failure prints the seed that replays it),
/// and the readiness URL that must answer 2xx afterwards.
///
/// Every field of the example counts as required: leave optional fields out of it, or a
/// request without one is answered 2xx and counted as a failure.
#[derive(Debug, Clone)]
#[must_use]
pub struct Malformed {
    recorder: Option<Recorder>,
    ready: String,
    cases: u32,
    max_shrink: u32,
    seed: Option<u64>,
    extra_fields_allowed: bool,
}

impl Malformed {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// Bad requests; `ready_url` (`GET`, 2xx) must still answer after them.
    pub fn new(ready_url: impl Into<String>) -> Self {
        Malformed {
            recorder: None,
            ready: ready_url.into(),
            cases: 64,
            max_shrink: 64,
            seed: None,
            extra_fields_allowed: false,
        }
    }
    /// How many bad requests to try.
    pub fn with_cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }
    /// Most requests spent shrinking a failure.
    pub fn with_max_shrink(mut self, steps: u32) -> Self {
        self.max_shrink = steps;
        self
    }
    /// The seed of the generator (a failure prints the one that replays it).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// The service may accept (ignore) fields it does not know: no extra-field cases.
    pub fn allowing_extra_fields(mut self) -> Self {
        self.extra_fields_allowed = true;
        self
    }

    fn seed(&self) -> Result<u64> {
        if let Some(s) = self.seed {
            return Ok(s);
        }
        settings::seed("READINESS_MALFORMED_SEED")
    }
}

/// One bad request, made from the valid example.
#[derive(Debug, Clone)]
enum Bad {
    /// A field left out.
    Missing(usize),
    /// A field with a value of another JSON type.
    WrongType(usize, Value),
    /// A field the route does not have.
    Extra(String, Value),
    /// Bytes that are not UTF-8 inside a field's string.
    NotUtf8(usize, Vec<u8>),
    /// The body with another content type (empty: none).
    WrongContentType(&'static str),
    /// The body cut after this many bytes.
    Truncated(usize),
    /// A field nested this deep in arrays.
    Nested(usize, usize),
    /// A field this many bytes long.
    Huge(usize, usize),
}

/// A bad request, ready to send and to show.
struct Made {
    body: Vec<u8>,
    content_type: Option<&'static str>,
    what: String,
}

impl Bad {
    fn make(&self, example: &Map<String, Value>) -> Made {
        let keys: Vec<&String> = example.keys().collect();
        let key = |i: usize| keys[i % keys.len()].clone();
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
        let (body, content_type, what) = match self {
            Bad::Missing(i) => {
                let mut m = example.clone();
                m.remove(&key(*i));
                (
                    json(&m),
                    Some("application/json"),
                    format!("{} missing", key(*i)),
                )
            }
            Bad::WrongType(i, v) => {
                let k = key(*i);
                let v = other_type(&example[&k], v.clone());
                let what = format!("{k} = {} (wrong type)", shown_value(&v));
                (json(&with(&k, v)), Some("application/json"), what)
            }
            Bad::Extra(name, v) => {
                let name = format!("x_{name}");
                let what = format!("extra field {name} = {}", shown_value(v));
                (
                    json(&with(&name, v.clone())),
                    Some("application/json"),
                    what,
                )
            }
            Bad::NotUtf8(i, bytes) => {
                let k = key(*i);
                let raw = [b"\"ab".as_slice(), bytes, b"\"".as_slice()].concat();
                let what = format!("{k} holds bytes that are not UTF-8 ({bytes:02x?})");
                (spliced(&k, &raw), Some("application/json"), what)
            }
            Bad::WrongContentType(ct) => {
                let what = if ct.is_empty() {
                    "no Content-Type".to_owned()
                } else {
                    format!("Content-Type {ct}")
                };
                let ct = (!ct.is_empty()).then_some(*ct);
                (json(example), ct, what)
            }
            Bad::Truncated(n) => {
                let full = json(example);
                let n = (*n).min(full.len().saturating_sub(1));
                let what = format!("the body cut after {n} of {} bytes", full.len());
                (full[..n].to_vec(), Some("application/json"), what)
            }
            Bad::Nested(i, depth) => {
                let k = key(*i);
                let raw = ["[".repeat(*depth), "]".repeat(*depth)].concat();
                let what = format!("{k} nested {depth} arrays deep");
                (spliced(&k, raw.as_bytes()), Some("application/json"), what)
            }
            Bad::Huge(i, len) => {
                let k = key(*i);
                let what = format!("{k} = \"xxx…\" ({len} bytes)");
                let v = Value::String("x".repeat(*len));
                (json(&with(&k, v)), Some("application/json"), what)
            }
        };
        Made {
            body,
            content_type,
            what,
        }
    }
}

impl fmt::Display for Made {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        write!(
            f,
            "{}: body {} ({})",
            self.what,
            super::shown(&body),
            self.content_type.unwrap_or("no Content-Type")
        )
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

/// Small JSON values of every type but null (null often means "absent", which an optional
/// field accepts).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::from(0)),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bad_requests(fields: usize, extra: bool) -> BoxedStrategy<Bad> {
    let field = 0..fields.max(1);
    let invalid_byte = proptest::sample::select(vec![0x80u8, 0xc0, 0xc1, 0xf5, 0xfe, 0xff]);
    let content_types = vec![
        "",
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ];
    let mut options: Vec<BoxedStrategy<Bad>> = vec![
        field.clone().prop_map(Bad::Missing).boxed(),
        (field.clone(), json_value())
            .prop_map(|(i, v)| Bad::WrongType(i, v))
            .boxed(),
        (field.clone(), proptest::collection::vec(invalid_byte, 1..4))
            .prop_map(|(i, b)| Bad::NotUtf8(i, b))
            .boxed(),
        proptest::sample::select(content_types)
            .prop_map(Bad::WrongContentType)
            .boxed(),
        (0usize..512).prop_map(Bad::Truncated).boxed(),
        (field.clone(), 2usize..100_000)
            .prop_map(|(i, d)| Bad::Nested(i, d))
            .boxed(),
        (field, 65_536usize..1_048_576)
            .prop_map(|(i, n)| Bad::Huge(i, n))
            .boxed(),
    ];
    if !extra {
        options.push(
            ("[a-z]{1,8}", json_value())
                .prop_map(|(n, v)| Bad::Extra(n, v))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

/// What a bad request got; `None` when it was answered 4xx.
fn wrong(answer: &Answer) -> Option<String> {
    match answer.status {
        Some(s) if (400..500).contains(&s) => None,
        _ => Some(answer.describe()),
    }
}

/// `sec.malformed_input`: sends the route's body broken in generated ways (wrong types,
/// missing and extra fields, not UTF-8, wrong or no content type, cut short, nested 100,000
/// arrays deep, up to 1 MiB long); each must be answered 4xx within the route's timeout.
/// The first request that is not is shrunk to a minimal one (printed with the seed that
/// replays it). Afterwards the readiness URL must answer 2xx. A route without a JSON
/// object body to break is `error`, as is a run where nothing answered.
pub async fn try_assert_rejects_malformed_input(
    route: &Route,
    malformed: &Malformed,
) -> std::result::Result<Evidence, Failure> {
    let name = route.name();
    let check = check(
        "sec.malformed_input",
        format!("{name} answers malformed input with 4xx"),
        malformed.recorder.as_ref(),
    )
    .with_subject(format!("{name} sec.malformed_input"))
    .with_target(route.target());
    let Some(Value::Object(example)) = route
        .json_body()
        .filter(|b| b.as_object().is_some_and(|m| !m.is_empty()))
    else {
        return Err(check.error(Error::InvalidInput(format!(
            "{name} has no JSON object body to break; give it a valid example with \
             Route::with_json(..)"
        ))));
    };
    let ready_route = Route::get(&malformed.ready);
    let prepared = route
        .client()
        .and_then(|c| Ok((c, malformed.seed()?, ready_route.client()?)));
    let (client, seed, ready_client) = match prepared {
        Ok(p) => p,
        Err(e) => return Err(check.error(e)),
    };
    let check = check.with_scenario(format!(
        "{} generated bad requests, seed {seed} (READINESS_MALFORMED_SEED), then GET {}",
        malformed.cases, malformed.ready
    ));
    let send = |bad: Bad| {
        let made = bad.make(&example);
        let edit = Edit {
            body: Some((made.body.clone(), made.content_type.map(str::to_owned))),
            ..Edit::default()
        }
        .without("content-type");
        let client = &client;
        async move { (made, route.send(client, &edit).await) }
    };

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
    let strategy = bad_requests(example.len(), malformed.extra_fields_allowed);
    let mut items = Vec::new();
    let mut answered = 0u32;
    let mut minimal: Option<(Made, String, u32)> = None;
    for _ in 0..malformed.cases {
        let mut tree = match strategy.new_tree(&mut runner) {
            Ok(t) => t,
            Err(e) => return Err(check.error(Error::Other(format!("generator: {e}")))),
        };
        let (made, answer) = send(tree.current()).await;
        answered += u32::from(answer.status.is_some());
        let got = wrong(&answer);
        items.push(SecurityItem::new(
            &name,
            made.to_string(),
            "4xx",
            got.clone().unwrap_or_else(|| answer.describe()),
            got.is_none(),
        ));
        let Some(got) = got else { continue };
        // Shrink as proptest does: simplify while it still fails, complicate when it passes.
        let mut last = (made, got);
        let mut steps = 0u32;
        'shrink: while steps < malformed.max_shrink && tree.simplify() {
            loop {
                steps += 1;
                let (made, answer) = send(tree.current()).await;
                if let Some(got) = wrong(&answer) {
                    last = (made, got);
                    break;
                }
                if steps >= malformed.max_shrink || !tree.complicate() {
                    break 'shrink;
                }
            }
        }
        minimal = Some((last.0, last.1, steps));
        break;
    }
    if answered == 0 {
        return Err(no_answer(check, route.target(), &items));
    }
    if let Some((made, got, steps)) = &minimal {
        items.push(SecurityItem::new(
            &name,
            format!("the minimal failing input after {steps} shrink steps (seed {seed}): {made}"),
            "4xx",
            got,
            false,
        ));
    }
    let ready = ready_route.send(&ready_client, &Edit::default()).await;
    items.push(SecurityItem::new(
        format!("GET {}", malformed.ready),
        "readiness after the bad requests",
        "2xx",
        ready.describe(),
        ready.status.is_some_and(|s| (200..300).contains(&s)),
    ));
    let summary = format!(
        "{} bad requests answered 4xx (seed {seed}); ready afterwards",
        items.len() - 1
    );
    judge_items(check, items, summary)
}

/// [`try_assert_rejects_malformed_input`], panicking with the failure.
pub async fn assert_rejects_malformed_input(route: &Route, malformed: &Malformed) -> Evidence {
    try_assert_rejects_malformed_input(route, malformed)
        .await
        .or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Map<String, Value> {
        match serde_json::json!({"customer": "alice", "item": "widget", "quantity": 1}) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn each_kind_of_bad_request_is_what_it_says() {
        let ex = example();
        let not_json = |b: &Made| serde_json::from_slice::<Value>(&b.body).is_err();
        let m = Bad::NotUtf8(0, vec![0xff]).make(&ex);
        assert!(std::str::from_utf8(&m.body).is_err(), "{m}");
        let m = Bad::Nested(0, 3).make(&ex);
        let v: Value = serde_json::from_slice(&m.body).unwrap_or_default();
        assert_eq!(v["customer"], serde_json::json!([[[]]]), "{m}");
        let m = Bad::Nested(1, 100_000).make(&ex);
        assert!(not_json(&m), "serde_json stops at 128 levels");
        let m = Bad::WrongType(0, Value::String("x".into())).make(&ex);
        assert!(m.what.contains("customer = 0"), "{}", m.what);
        let m = Bad::Truncated(5).make(&ex);
        assert_eq!(m.body.len(), 5);
        assert!(not_json(&m));
        let m = Bad::Missing(2).make(&ex);
        assert!(m.what.contains("quantity missing"), "{}", m.what);
        let m = Bad::Huge(1, 70_000).make(&ex);
        assert!(m.body.len() > 70_000 && m.to_string().len() < 400, "{m}");
        let m = Bad::WrongContentType("").make(&ex);
        assert!(m.content_type.is_none());
    }
}
