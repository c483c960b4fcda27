//! `sec.auth_required`: write routes refuse requests without good credentials.

use super::{Edit, Measured, Probed, Route, SecurityItem, check, no_answer};
use readiness_core::Evidence;
use readiness_core::Recorder;
use readiness_core::{CheckResultExt, Failure};
use readiness_core::{Error, Result};

/// How the service takes credentials, and the ones that must be refused: none at all, an
/// invalid one (401 each), and, when given, a valid one without the right scope (403).
#[derive(Debug, Clone)]
#[must_use]
pub struct Auth {
    recorder: Option<Recorder>,
    header: String,
    prefix: String,
    invalid: String,
    read_only: Option<String>,
    valid: Option<String>,
}

impl Auth {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// `Authorization: Bearer <token>`; the invalid token is `readiness-invalid-token`.
    pub fn bearer() -> Self {
        Auth {
            header: "authorization".into(),
            recorder: None,
            prefix: "Bearer ".into(),
            invalid: "readiness-invalid-token".into(),
            read_only: None,
            valid: None,
        }
    }
    /// A key in header `name` (`x-api-key`); the invalid key is `readiness-invalid-key`.
    pub fn header(name: impl Into<String>) -> Self {
        Auth {
            header: name.into().to_ascii_lowercase(),
            recorder: None,
            prefix: String::new(),
            invalid: "readiness-invalid-key".into(),
            read_only: None,
            valid: None,
        }
    }
    /// The invalid credential to send (default above).
    pub fn with_invalid(mut self, credential: impl Into<String>) -> Self {
        self.invalid = credential.into();
        self
    }
    /// A valid credential without the scope to write: each route must answer it 403.
    pub fn with_read_only(mut self, credential: impl Into<String>) -> Self {
        self.read_only = Some(credential.into());
        self
    }
    /// The credential that may write: near misses of it (empty, a prefix, one of the same
    /// length, it with a character changed or added, under another scheme) must each be
    /// answered 401, as must those of the read-only credential. It is never sent itself.
    pub fn with_valid(mut self, credential: impl Into<String>) -> Self {
        self.valid = Some(credential.into());
        self
    }
    fn value(&self, credential: &str) -> String {
        format!("{}{credential}", self.prefix)
    }

    /// Near misses of the real credentials: (what it is, header value). Each must be
    /// refused like no credential at all.
    fn near_misses(&self) -> Vec<(String, String)> {
        let mut out = vec![("an empty credential".to_owned(), self.value(""))];
        for (whose, real) in [
            ("the write", &self.valid),
            ("the read-only", &self.read_only),
        ] {
            let Some(real) = real else { continue };
            let chars: Vec<char> = real.chars().collect();
            if chars.len() < 2 {
                continue;
            }
            let half: String = chars[..chars.len() / 2].iter().collect();
            let same_length: String = chars
                .iter()
                .map(|c| {
                    if c.is_ascii_digit() {
                        '7'
                    } else if *c == 'x' {
                        'y'
                    } else {
                        'x'
                    }
                })
                .collect();
            let mut last_changed = chars.clone();
            if let Some(last) = last_changed.last_mut() {
                *last = if *last == 'A' { 'B' } else { 'A' };
            }
            let last_changed: String = last_changed.into_iter().collect();
            out.push((format!("a prefix of {whose} credential"), self.value(&half)));
            out.push((
                format!("a credential of the same length as {whose} one"),
                self.value(&same_length),
            ));
            out.push((
                format!("{whose} credential with its last character changed"),
                self.value(&last_changed),
            ));
            out.push((
                format!("{whose} credential with a character added"),
                self.value(&format!("{real}A")),
            ));
            if !self.prefix.is_empty() {
                out.push((
                    format!("{whose} credential under another scheme (Basic)"),
                    format!("Basic {real}"),
                ));
            }
        }
        out
    }
}

/// The write routes (`POST`, `PUT`, `PATCH`, `DELETE`) of the OpenAPI 3 document (JSON)
/// served at `doc_url`, as routes on `base_url`. A path parameter becomes `1`; the body is
/// the operation's JSON example (or its schema's), else `{}`. An operation that declares
/// `security: []` is public by design and left out.
pub async fn openapi_write_routes(doc_url: &str, base_url: &str) -> Result<Vec<Route>> {
    let doc = Route::get(doc_url);
    let answer = doc.send(&doc.client()?, &Edit::default()).await;
    let Some(200) = answer.status else {
        return Err(Error::TargetRefused {
            target: format!("GET {doc_url}"),
            reason: format!(
                "the OpenAPI document was not served: {}; give the write routes as a list \
                 instead",
                answer.describe()
            ),
        });
    };
    write_routes_of(&answer.body, base_url)
}

/// A `$ref` of the document resolved (local references, `#/components/...`, followed until
/// a value that is no reference); an external or broken one is an error that names it.
fn resolve<'a>(
    doc: &'a serde_json::Value,
    value: &'a serde_json::Value,
) -> Result<&'a serde_json::Value> {
    let mut v = value;
    for _ in 0..32 {
        let Some(target) = v.get("$ref").and_then(serde_json::Value::as_str) else {
            return Ok(v);
        };
        let pointer = target.strip_prefix('#').ok_or_else(|| {
            Error::InvalidInput(format!(
                "the OpenAPI document refers to {target:?} outside itself; bundle it into one \
                 document (e.g. `redocly bundle`) or give the routes as a list"
            ))
        })?;
        v = doc.pointer(pointer).ok_or_else(|| {
            Error::InvalidInput(format!(
                "the OpenAPI document's $ref {target:?} points at nothing"
            ))
        })?;
    }
    Err(Error::InvalidInput(
        "the OpenAPI document's $refs go round in a circle".into(),
    ))
}

/// The write routes of an OpenAPI document's text: every documented write operation,
/// and every write method a documented path does not list (it must not be open either).
pub(crate) fn write_routes_of(doc: &str, base_url: &str) -> Result<Vec<Route>> {
    let doc: serde_json::Value = serde_json::from_str(doc).map_err(|e| {
        Error::InvalidInput(format!(
            "the OpenAPI document is not JSON ({e}); serve it as JSON or give the routes as a list"
        ))
    })?;
    let paths = doc
        .get("paths")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| {
            Error::InvalidInput("the OpenAPI document has no \"paths\" object".into())
        })?;
    let base = base_url.trim_end_matches('/');
    let mut routes = Vec::new();
    for (path, item) in paths {
        let item = resolve(&doc, item)?;
        let concrete = fill_path_params(path);
        for method in ["post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else {
                routes.push(
                    Route::new(method, format!("{base}{concrete}"))
                        .with_json(&serde_json::json!({}))
                        .undocumented(),
                );
                continue;
            };
            let op = resolve(&doc, op)?;
            if op
                .get("security")
                .and_then(serde_json::Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                continue;
            }
            let body = match op.get("requestBody") {
                Some(b) => example_of(&doc, resolve(&doc, b)?)?,
                None => None,
            };
            let body = body.unwrap_or_else(|| serde_json::json!({}));
            let mut route = Route::new(method, format!("{base}{concrete}")).with_json(&body);
            for segment in param_segments(path) {
                route = route.with_path_param(segment);
            }
            routes.push(route);
        }
    }
    Ok(routes)
}

/// The JSON example of a request body: the media type's `example`, the first of its
/// `examples`, or its schema's `example` (each through `$ref`).
fn example_of(
    doc: &serde_json::Value,
    body: &serde_json::Value,
) -> Result<Option<serde_json::Value>> {
    let json = &body["content"]["application/json"];
    if json.is_null() {
        return Ok(None);
    }
    if let Some(e) = json.get("example") {
        return Ok(Some(resolve(doc, e)?.clone()));
    }
    if let Some(first) = json
        .get("examples")
        .and_then(serde_json::Value::as_object)
        .and_then(|m| m.values().next())
    {
        let e = resolve(doc, first)?;
        if let Some(v) = e.get("value") {
            return Ok(Some(v.clone()));
        }
    }
    if let Some(schema) = json.get("schema") {
        let schema = resolve(doc, schema)?;
        if let Some(e) = schema.get("example") {
            return Ok(Some(e.clone()));
        }
    }
    Ok(None)
}

/// The 0-based segments of `path` that are parameters (`/orders/{id}`: 1).
fn param_segments(path: &str) -> Vec<usize> {
    path.trim_start_matches('/')
        .split('/')
        .enumerate()
        .filter(|(_, s)| s.starts_with('{') && s.ends_with('}'))
        .map(|(i, _)| i)
        .collect()
}

fn fill_path_params(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' if in_param => {
                in_param = false;
                out.push('1');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The drive of `sec.auth_required`: every probe sent and judged as it came back.
async fn drive_auth_required(
    routes: &[Route],
    auth: &Auth,
) -> std::result::Result<Measured, Failure> {
    let names: Vec<String> = routes.iter().map(Route::name).collect();
    let check = check(
        "sec.auth_required",
        "write routes refuse missing, invalid and under-scoped credentials",
        auth.recorder.as_ref(),
    )
    .with_target(names.join(", "))
    .with_scenario(if auth.read_only.is_some() {
        "each route without credentials, with an invalid one, with a read-only one"
    } else {
        "each route without credentials and with an invalid one"
    });
    if routes.is_empty() {
        return Err(check.nothing_measured(
            "no write route to probe; list them, or serve an OpenAPI document with some",
        ));
    }
    let mut cases = vec![
        ("no credentials".to_owned(), None, 401),
        (
            format!(
                "an invalid credential ({})",
                crate::mask_credential(&auth.value(&auth.invalid))
            ),
            Some(auth.value(&auth.invalid)),
            401,
        ),
    ];
    for (what, value) in auth.near_misses() {
        cases.push((
            format!("{what} ({})", crate::mask_credential(&value)),
            Some(value),
            401,
        ));
    }
    if let Some(ro) = &auth.read_only {
        cases.push((
            format!(
                "a credential without the write scope ({})",
                crate::mask_credential(&auth.value(ro))
            ),
            Some(auth.value(ro)),
            403,
        ));
    }
    let mut items = Vec::new();
    let mut answered = false;
    for route in routes {
        let client = match route.client() {
            Ok(c) => c,
            Err(e) => return Err(check.error(e)),
        };
        // A method the document does not list must not be open either: refused, or not
        // there at all.
        let undocumented = route.undocumented;
        let probes = if undocumented {
            &cases[..2]
        } else {
            &cases[..]
        };
        for (probe, credential, expected) in probes {
            let mut edit = Edit::default().without(&auth.header);
            if let Some(c) = credential {
                edit = edit.header(&auth.header, c.clone());
            }
            let answer = route.send(&client, &edit).await;
            answered |= answer.status.is_some();
            let (expected_text, ok) = if undocumented {
                (
                    "401, 403, 404 or 405 (a method the document does not list)".to_owned(),
                    answer
                        .status
                        .is_some_and(|s| matches!(s, 401 | 403 | 404 | 405)),
                )
            } else {
                (expected.to_string(), answer.status == Some(*expected))
            };
            items.push(SecurityItem::new(
                route.name(),
                probe,
                expected_text,
                answer.describe(),
                ok,
            ));
        }
    }
    if !answered {
        return Err(no_answer(check, names.join(", "), &items));
    }
    let summary = format!(
        "{} routes × {} cases answered as required",
        routes.len(),
        cases.len()
    );
    Ok(Measured::new(check, items, summary))
}

/// Drives `sec.auth_required` and returns what it measured, to be judged by [`assert_auth_required`] (or
/// [`Probed::judge`]); [`try_assert_auth_required`] does both.
pub async fn probe_auth(routes: &[Route], auth: &Auth) -> Probed {
    Probed::from(drive_auth_required(routes, auth).await)
}

/// `sec.auth_required`: each route is sent with no credentials, with an invalid one (401
/// each) and, when [`Auth::with_read_only`] is given, with one without the scope (403). The
/// evidence lists each route and what it answered. No route, or no answer at all, is
/// verdict `error`.
pub async fn try_assert_auth_required(
    routes: &[Route],
    auth: &Auth,
) -> std::result::Result<Evidence, Failure> {
    probe_auth(routes, auth).await.judge()
}

/// Judges what [`probe_auth`] measured, panicking with the failure at the caller's line.
#[track_caller]
pub fn assert_auth_required(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_routes_come_from_the_openapi_paths() -> Result<()> {
        let doc = serde_json::json!({
            "openapi": "3.0.3",
            "paths": {
                "/orders": {
                    "get": {},
                    "post": {"requestBody": {"content": {"application/json": {
                        "example": {"customer": "a"}}}}}
                },
                "/orders/{id}": {"delete": {}, "put": {"security": []}},
            }
        });
        let routes = write_routes_of(&doc.to_string(), "http://127.0.0.1:1/")?;
        let names: Vec<String> = routes.iter().map(Route::name).collect();
        assert_eq!(
            names,
            [
                "POST /orders",
                "PUT /orders",
                "PATCH /orders",
                "DELETE /orders",
                "POST /orders/1",
                "PATCH /orders/1",
                "DELETE /orders/1"
            ]
        );
        let documented: Vec<String> = routes
            .iter()
            .filter(|r| !r.undocumented)
            .map(Route::name)
            .collect();
        assert_eq!(documented, ["POST /orders", "DELETE /orders/1"]);
        assert_eq!(
            routes[0].json_body(),
            Some(serde_json::json!({"customer": "a"}))
        );
        let e = write_routes_of("openapi: 3.0.3", "http://127.0.0.1:1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not JSON"), "{e}");
        Ok(())
    }

    #[test]
    fn references_are_followed_and_an_external_one_is_named() -> Result<()> {
        let doc = serde_json::json!({
            "openapi": "3.0.3",
            "paths": {
                "/orders": {"$ref": "#/components/pathItems/orders"},
            },
            "components": {
                "pathItems": {"orders": {"post": {"$ref": "#/components/x-ops/create"}}},
                "x-ops": {"create": {"requestBody": {"$ref": "#/components/requestBodies/order"}}},
                "requestBodies": {"order": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Order"}}}}},
                "schemas": {"Order": {"type": "object", "example": {"customer": "b"}}},
            }
        });
        let routes = write_routes_of(&doc.to_string(), "http://127.0.0.1:1")?;
        let post = routes
            .iter()
            .find(|r| r.name() == "POST /orders" && !r.undocumented)
            .expect("the referenced POST is probed");
        assert_eq!(post.json_body(), Some(serde_json::json!({"customer": "b"})));
        let external = serde_json::json!({"paths": {"/x": {"$ref": "other.yaml#/x"}}});
        let e = write_routes_of(&external.to_string(), "http://127.0.0.1:1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("outside itself") && e.contains("other.yaml"),
            "{e}"
        );
        Ok(())
    }
}
