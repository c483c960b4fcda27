//! `sec.auth_required`: write routes refuse requests without good credentials.

use super::{Edit, Route, SecurityItem, check, judge_items, no_answer};
use crate::check::{CheckResultExt, Failure};
use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::recorder::Recorder;

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
    fn value(&self, credential: &str) -> String {
        format!("{}{credential}", self.prefix)
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

/// The write routes of an OpenAPI document's text.
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
        for method in ["post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            if op
                .get("security")
                .and_then(serde_json::Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                continue;
            }
            let concrete = fill_path_params(path);
            let json = &op["requestBody"]["content"]["application/json"];
            let body = [&json["example"], &json["schema"]["example"]]
                .into_iter()
                .find(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            routes.push(Route::new(method, format!("{base}{concrete}")).with_json(&body));
        }
    }
    Ok(routes)
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

/// `sec.auth_required`: each route is sent with no credentials, with an invalid one (401
/// each) and, when [`Auth::with_read_only`] is given, with one without the scope (403). The
/// evidence lists each route and what it answered. No route, or no answer at all, is
/// verdict `error`.
pub async fn try_assert_auth_required(
    routes: &[Route],
    auth: &Auth,
) -> std::result::Result<Evidence, Failure> {
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
            format!("an invalid credential ({})", auth.value(&auth.invalid)),
            Some(auth.value(&auth.invalid)),
            401,
        ),
    ];
    if let Some(ro) = &auth.read_only {
        cases.push((
            format!("a credential without the write scope ({})", auth.value(ro)),
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
        for (probe, credential, expected) in &cases {
            let mut edit = Edit::default().without(&auth.header);
            if let Some(c) = credential {
                edit = edit.header(&auth.header, c.clone());
            }
            let answer = route.send(&client, &edit).await;
            answered |= answer.status.is_some();
            items.push(SecurityItem::new(
                route.name(),
                probe,
                expected.to_string(),
                answer.describe(),
                answer.status == Some(*expected),
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
    judge_items(check, items, summary)
}

/// [`try_assert_auth_required`], panicking with the failure.
pub async fn assert_auth_required(routes: &[Route], auth: &Auth) -> Evidence {
    try_assert_auth_required(routes, auth).await.or_panic()
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
        assert_eq!(names, ["POST /orders", "DELETE /orders/1"]);
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
}
