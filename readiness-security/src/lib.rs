//! Security criteria with evidence: each probes the running service (or reads what CI
//! produced) and records what it saw, request by request, in a [`SecurityReport`].
//!
//! | criterion | check | passes when |
//! |---|---|---|
//! | `sec.rate_limit` | [`try_assert_rate_limit_holds`] | a client driven at a multiple of its limit gets no more than the limit (plus a tolerance) once its burst is spent; refusals are 429 with `Retry-After`; another client keeps its own budget; the limit lets the client in again after `Retry-After` |
//! | `sec.auth_required` | [`try_assert_auth_required`] | every write method of every write route (a list, or the OpenAPI document, `$ref`s resolved) answers 401 without credentials, with a bad one and with near misses of the real ones, and 403 without the right scope |
//! | `sec.cors` | [`try_assert_cors_restrictive`] | a browser (the Fetch standard) keeps out every origin not on the allow-list, near misses of each allowed origin among them, on a preflight asking for the route's headers and on a request it would send; an allowed origin is let in |
//! | `sec.malformed_input` | [`try_assert_rejects_malformed_input`] | the valid example is accepted; every class of bad value in every field, query and path parameter, then random cases, gets the handler's rejection (or, for odd but valid text, no crash), no answer leaks internals, and afterwards the valid example is accepted again and the service stays ready; 401/403/404/405/429 judge nothing; a random failure is shrunk |
//! | `sec.exposed_ports` | [`try_assert_exposed_ports`] (feature `containers`) | a container publishes, and listens on, only the declared ports, watched over a window |
//! | `sec.no_secrets` | [`SecretScan::try_assert_no_secrets`] | no secret pattern (or known secret value) appears in the captured log lines and response bodies |
//! | `sec.tls_protocol` | [`try_assert_tls_protocol`] | a TLS front refuses every protocol version before the minimum (TLS 1.2 by default), each offered on its own handshake by `openssl s_client`, and accepts one at or after it |
//! | `sec.tls_certificate` | [`try_assert_tls_certificate`] | the leaf certificate of the newest version the front accepts is valid now and for at least the given time more (30 days by default) |
//! | `sec.vulnerabilities` | [`try_assert_no_vulnerabilities`] | the findings of Trivy or cargo-audit JSON reports stay within the limits per severity |
//!
//! Each probing criterion has the shape of every criterion: `probe_*` drives (async) and
//! returns a [`Probed`]; [`Probed::judge`] judges it (the judgement `Evidence::verify`
//! repeats from the stored report); `assert_*` judges and panics at the caller's line
//! (synchronous, `#[track_caller]`); `try_assert_*` drives and judges in one call. The
//! observed value is the number of probes that failed (findings beyond the limits for
//! vulnerabilities), judged against at most 0; a check with nothing to judge (no answer at
//! all, no route, no text to scan, no report) is verdict `error`. Like every probe, these
//! aim only at loopback unless a [`Route`] opts in with [`Route::allow_non_loopback`];
//! redirects are answers here, never followed.
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use readiness_security::{self as security, Auth, RateLimit, Route};
//!
//! let base = "http://127.0.0.1:8080";
//! // Drive (async), then judge and assert (sync: a failure points at this line).
//! let search = Route::get(format!("{base}/orders/search?customer=a"));
//! let probed = security::probe_rate_limit(&search, &RateLimit::per_minute(1000)).await;
//! security::assert_rate_limit_holds(probed);
//! let writes = security::openapi_write_routes(&format!("{base}/openapi.json"), base).await?;
//! let auth = Auth::bearer().with_read_only("read-token");
//! security::assert_auth_required(security::probe_auth(&writes, &auth).await);
//! # Ok(())
//! # }
//! ```

mod auth;
mod cors;
mod files;
mod malformed;
#[cfg(feature = "containers")]
mod ports;
mod rate_limit;
pub mod rules;
mod secrets;
mod tls;
mod vulns;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use auth::{
    Auth, assert_auth_required, openapi_write_routes, probe_auth, try_assert_auth_required,
};
pub use cors::{Cors, assert_cors_restrictive, probe_cors, try_assert_cors_restrictive};
pub use files::{FileFinding, FileScan, scan_files};
pub use malformed::{
    Malformed, assert_rejects_malformed_input, probe_malformed_input,
    try_assert_rejects_malformed_input,
};
#[cfg(feature = "containers")]
pub use ports::{
    ExposedPorts, assert_exposed_ports, probe_exposed_ports, try_assert_exposed_ports,
};
pub use rate_limit::{
    RateLimit, assert_rate_limit_holds, probe_rate_limit, try_assert_rate_limit_holds,
};
pub use readiness_core::{
    LimitedRequest, RateLimitTimeline, SecurityItem, SecurityReport, Severity,
    VulnerabilityFinding, VulnerabilityFindings,
};
pub use rules::{Rules, mask_credential};
pub use secrets::{MAX_SCANNED_BODY, SecretScan, Text};
pub use tls::{
    Tls, TlsVersion, assert_tls_certificate, assert_tls_protocol, probe_tls_certificate,
    probe_tls_protocol, self_signed_pem, try_assert_tls_certificate, try_assert_tls_protocol,
};
pub use vulns::{
    ScanReport, VulnerabilityLimits, assert_no_vulnerabilities, try_assert_no_vulnerabilities,
};

use readiness_core::Recorder;
use readiness_core::guard::{self, Reach};
use readiness_core::{Category, Evidence};
use readiness_core::{Check, Failure, Observation};
use readiness_core::{Count, Quantity, Threshold};
use readiness_core::{Error, Result};

/// How much of a response body a probe keeps (and shows).
const BODY_SHOWN: usize = 160;
/// How much of a response body is read at most.
const BODY_READ: usize = 256 * 1024;

/// One request a security check sends: method, URL, headers and body. The URL must be on
/// loopback unless [`Route::allow_non_loopback`].
#[derive(Debug, Clone)]
#[must_use]
pub struct Route {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<(Vec<u8>, Option<String>)>,
    timeout: Duration,
    reach: Reach,
    /// A write method the service's OpenAPI document does not list for its path.
    undocumented: bool,
    /// Path segments (0-based) that are parameters (`/orders/{id}`: 1).
    path_params: Vec<usize>,
}

impl Route {
    /// A request with `method` (`GET`, `POST`, …) to `url`.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Route {
            method: method.into().to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(5),
            reach: Reach::Loopback,
            undocumented: false,
            path_params: Vec::new(),
        }
    }
    /// Path segment `segment` (0-based: in `/orders/7`, `7` is 1) is a parameter, which
    /// `sec.malformed_input` fills with bad values. Routes read from an OpenAPI document
    /// know theirs.
    pub fn with_path_param(mut self, segment: usize) -> Self {
        if !self.path_params.contains(&segment) {
            self.path_params.push(segment);
        }
        self
    }
    /// The same request to another URL.
    pub(crate) fn at(&self, url: &str) -> Route {
        Route {
            url: url.to_owned(),
            ..self.clone()
        }
    }
    /// Marks a method its path does not document (auth probes expect it refused or absent).
    pub(crate) fn undocumented(mut self) -> Self {
        self.undocumented = true;
        self
    }
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Route::new("GET", url)
    }
    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Route::new("POST", url)
    }
    /// A header sent with every request of the route.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// `Authorization: Bearer <token>`.
    pub fn with_bearer(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.with_header("authorization", value)
    }
    /// A JSON body (`Content-Type: application/json`).
    pub fn with_json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some((
            body.to_string().into_bytes(),
            Some("application/json".into()),
        ));
        self
    }
    /// A body of any bytes, with its content type (`None`: no `Content-Type`).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>, content_type: Option<&str>) -> Self {
        self.body = Some((body.into(), content_type.map(str::to_owned)));
        self
    }
    /// How long one request may take before it counts as unanswered (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Lets the checks aim outside loopback.
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }

    /// `POST http://127.0.0.1:8080/orders`.
    pub fn target(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
    /// `POST /orders`: the method and the path (with its query).
    pub fn name(&self) -> String {
        let path = url::Url::parse(&self.url)
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            })
            .unwrap_or_else(|_| self.url.clone());
        format!("{} {path}", self.method)
    }
    /// The JSON body, when the route has one that parses.
    pub(crate) fn json_body(&self) -> Option<serde_json::Value> {
        let (bytes, _) = self.body.as_ref()?;
        serde_json::from_slice(bytes).ok()
    }

    /// Checks the target and builds a client that follows no redirect.
    pub(crate) fn client(&self) -> Result<reqwest::Client> {
        guard::check_target(&self.url, self.reach, "Route::allow_non_loopback()")?;
        reqwest::Method::from_bytes(self.method.as_bytes()).map_err(|_| {
            Error::InvalidInput(format!(
                "{:?} is not an HTTP method; use GET, POST, PUT, PATCH or DELETE",
                self.method
            ))
        })?;
        // A connection per request: one probe's answer (a 413 that closes its connection)
        // never decides the next probe's.
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Other(format!("failed to build an HTTP client: {e}")))
    }

    /// Sends the route as it is, changed by `edit` (headers, body, method).
    pub(crate) async fn send(&self, client: &reqwest::Client, edit: &Edit) -> Answer {
        self.send_reading(client, edit, BODY_READ).await
    }

    /// [`Route::send`], reading at most `max` bytes of the body (the answer says whether
    /// there was more).
    pub(crate) async fn send_reading(
        &self,
        client: &reqwest::Client,
        edit: &Edit,
        max: usize,
    ) -> Answer {
        let method_name = edit.method.as_deref().unwrap_or(&self.method);
        let method =
            reqwest::Method::from_bytes(method_name.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut headers = HeaderMap::new();
        let insert = |headers: &mut HeaderMap, pairs: &[(String, String)]| {
            for (k, v) in pairs {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    headers.insert(k, v);
                }
            }
        };
        // The route's headers, less those the probe removes, then the probe's own.
        insert(&mut headers, &self.headers);
        for k in &edit.remove_headers {
            headers.remove(k.as_str());
        }
        insert(&mut headers, &edit.headers);
        let body = edit.body.as_ref().or(self.body.as_ref());
        if let Some((_, Some(ct))) = body
            && !headers.contains_key(reqwest::header::CONTENT_TYPE)
            && let Ok(v) = HeaderValue::from_str(ct)
        {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        let mut request = client.request(method, &self.url).headers(headers);
        if let Some((bytes, _)) = body {
            request = request.body(bytes.clone());
        }
        let outcome = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            let mut cut = false;
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > max {
                    body.truncate(max);
                    cut = true;
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, headers, body, cut))
        }
        .await;
        match outcome {
            Ok((status, headers, body, cut)) => Answer {
                status: Some(status),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                failure: None,
                cut,
            },
            Err(e) => Answer {
                status: None,
                headers: HeaderMap::new(),
                body: String::new(),
                failure: Some(describe_reqwest_error(&e, self.timeout)),
                cut: false,
            },
        }
    }
}

/// What a probe changes in a route's request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edit {
    pub(crate) method: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) remove_headers: Vec<String>,
    pub(crate) body: Option<(Vec<u8>, Option<String>)>,
}

impl Edit {
    pub(crate) fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
    pub(crate) fn without(mut self, k: &str) -> Self {
        self.remove_headers.push(k.to_ascii_lowercase());
        self
    }
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: Option<u16>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) failure: Option<String>,
    /// The body was longer than what was read.
    pub(crate) cut: bool,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// `401 {"error":"missing bearer token"}`, or `no answer: timed out after 5s`.
    pub(crate) fn describe(&self) -> String {
        match self.status {
            Some(s) => {
                let body = shown(&self.body);
                if body.is_empty() {
                    s.to_string()
                } else {
                    format!("{s} {body}")
                }
            }
            None => format!(
                "no answer: {}",
                self.failure.as_deref().unwrap_or("unknown error")
            ),
        }
    }
}

/// A body as shown in evidence: one line, at most [`BODY_SHOWN`] characters.
pub(crate) fn shown(text: &str) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > BODY_SHOWN {
        let cut: String = one_line.chars().take(BODY_SHOWN).collect();
        format!("{cut}… ({} bytes)", text.len())
    } else {
        one_line
    }
}

fn describe_reqwest_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// The check of a security criterion, recorded where `recorder` says (default: the
/// evidence directory).
pub(crate) fn check(id: &str, title: impl Into<String>, recorder: Option<&Recorder>) -> Check {
    let check =
        Check::new(id, title, Category::SECURITY).with_threshold(Threshold::at_most(Count(0)));
    match recorder {
        Some(r) => check.with_recorder(r.clone()),
        None => check,
    }
}

/// What a security probe measured, to be judged: the check it belongs to and every probe
/// (what was sent, what was required, what came back, whether it held); or why nothing
/// could be measured (no answer, no route, nothing to break), which judges as `error`.
/// Made by the `probe_*` drives, judged by [`Probed::judge`] or the `assert_*` of its
/// criterion.
#[must_use = "a probe decides nothing until it is judged (Probed::judge or its assert_*)"]
pub struct Probed(std::result::Result<Measured, Failure>);

/// The probes of a drive that measured something.
pub(crate) struct Measured {
    check: Check,
    items: Vec<SecurityItem>,
    ok_summary: String,
}

impl Measured {
    pub(crate) fn new(check: Check, items: Vec<SecurityItem>, ok_summary: String) -> Self {
        Measured {
            check,
            items,
            ok_summary,
        }
    }
}

/// Counts only: the probes are not masked until they are judged.
impl std::fmt::Debug for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(m) => write!(
                f,
                "Probed({} probes, {} failed)",
                m.items.len(),
                m.items.iter().filter(|i| !i.ok).count()
            ),
            Err(e) => write!(f, "Probed(nothing measured: {})", e.verdict()),
        }
    }
}

impl From<std::result::Result<Measured, Failure>> for Probed {
    fn from(measured: std::result::Result<Measured, Failure>) -> Self {
        Probed(measured)
    }
}

impl Probed {
    /// The verdict, as `Evidence::verify` derives it again from the stored report: the
    /// observed value is the number of probes that failed, against at most 0; the record is
    /// written (everything in it masked). A drive that measured nothing is its `error`.
    pub fn judge(self) -> std::result::Result<Evidence, Failure> {
        match self.0 {
            Ok(m) => judge_items(m.check, m.items, m.ok_summary),
            Err(f) => Err(f),
        }
    }
}

/// Judges probes: the observed count is the number that failed; the summary names the
/// first failures (route, request, what came back), or `ok` when none failed.
pub(crate) fn judge_items(
    check: Check,
    items: Vec<SecurityItem>,
    ok_summary: String,
) -> std::result::Result<Evidence, Failure> {
    // Nothing a check writes holds a secret: what a service answered, what a probe sent,
    // are masked by the default rules before they are kept (masks are left as they are).
    let rules = rules::shared_defaults();
    let clean = |t: &str| rules::redact(rules, t, &[]);
    let items = items
        .into_iter()
        .map(|mut i| {
            i.subject = clean(&i.subject);
            i.probe = clean(&i.probe);
            i.expected = clean(&i.expected);
            i.observed = clean(&i.observed);
            i
        })
        .collect();
    let report = SecurityReport::new(items);
    let failed = report.failed();
    let summary = if failed == 0 {
        ok_summary
    } else {
        let mut lines: Vec<String> = report
            .items
            .iter()
            .filter(|i| !i.ok)
            .take(5)
            .map(ToString::to_string)
            .collect();
        if failed > 5 {
            lines.push(format!("… and {} more in the evidence", failed - 5));
        }
        format!(
            "{failed} of {} probes failed:\n    {}",
            report.items.len(),
            lines.join("\n    ")
        )
    };
    check.judge(
        Observation::new(Quantity::count(failed))
            .with_summary(summary)
            .with_attachment(report),
    )
}

/// The error of a check whose probes of `target` got no answer at all: the first probe's
/// story is the reason.
pub(crate) fn no_answer(check: Check, target: String, items: &[SecurityItem]) -> Failure {
    let reason = items
        .first()
        .map_or_else(String::new, |i| i.observed.clone());
    check.error(Error::TargetRefused { target, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(dir: &std::path::Path, oks: &[bool], observed: &str) -> Probed {
        let check = check(
            "sec.cors",
            "CORS allows only the allowed origins",
            Some(&Recorder::new(dir)),
        );
        let items = oks
            .iter()
            .map(|ok| SecurityItem::new("POST /orders", "a preflight", "kept out", observed, *ok))
            .collect();
        Probed::from(Ok(Measured::new(check, items, "all kept out".into())))
    }

    #[test]
    fn the_judge_counts_failed_probes_masks_them_and_the_evidence_judges_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let passed = measured(dir.path(), &[true, true], "204").judge().unwrap();
        assert_eq!(passed.observed, Some(Quantity::count(0)));
        assert_eq!(passed.verify(), Ok(()));

        let key = ["AKIA", "QX7ZT2NB5KVR4WLM"].concat();
        let probed = measured(dir.path(), &[true, false, false], &format!("200 {key}"));
        assert_eq!(format!("{probed:?}"), "Probed(3 probes, 2 failed)");
        let failure = probed.judge().unwrap_err();
        assert_eq!(failure.evidence().observed, Some(Quantity::count(2)));
        assert_eq!(failure.evidence().verify(), Ok(()));
        let text = failure.to_string();
        assert!(
            text.contains("2 of 3 probes failed") && !text.contains(&key),
            "{text}"
        );
        let written = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>();
        assert!(!written.contains(&key) && written.contains("«aws-access-key-id "));
    }

    #[test]
    #[should_panic(expected = "readiness criterion failed: sec.cors")]
    fn an_assert_panics_with_the_failure() {
        let dir = tempfile::tempdir().unwrap();
        assert_cors_restrictive(measured(dir.path(), &[true, false, false], "200"));
    }
}
