//! `sec.cors`: only allowed origins get `Access-Control-Allow-Origin`.

use super::{Edit, Measured, Probed, Route, SecurityItem, check, no_answer};
use readiness_core::Evidence;
use readiness_core::Recorder;
use readiness_core::{CheckResultExt, Failure};

/// The CORS policy a route must have: the origins allowed (each must get its own
/// `Access-Control-Allow-Origin`), and origins that must get none (default
/// `https://evil.example` and `null`).
#[derive(Debug, Clone)]
#[must_use]
pub struct Cors {
    recorder: Option<Recorder>,
    allowed: Vec<String>,
    refused: Vec<String>,
}

impl Cors {
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// Only `origins` are allowed (may be empty: no origin is).
    pub fn allowing<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        Cors {
            recorder: None,
            allowed: origins.into_iter().map(Into::into).collect(),
            refused: vec!["https://evil.example".into(), "null".into()],
        }
    }
    /// An origin that must be refused, besides the defaults.
    pub fn with_refused(mut self, origin: impl Into<String>) -> Self {
        self.refused.push(origin.into());
        self
    }
}

/// Origins one character of policy away from `allowed`, which a policy that compares by
/// prefix, suffix or host alone lets in: `https://app.example` gives
/// `https://app.example.evil.example` (prefix), `https://evilapp.example` (suffix),
/// `https://evil.app.example` (a subdomain), `http://app.example` (another scheme) and
/// `https://app.example:8443` (another port).
pub(crate) fn near_misses(allowed: &str) -> Vec<String> {
    let Some((scheme, rest)) = allowed.split_once("://") else {
        return Vec::new();
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (rest.trim_end_matches('/'), None),
    };
    let with_port = |h: &str| match port {
        Some(p) => format!("{h}:{p}"),
        None => h.to_owned(),
    };
    let other_scheme = if scheme == "https" { "http" } else { "https" };
    let other_port = if port == Some("8443") { "9443" } else { "8443" };
    vec![
        format!(
            "{scheme}://{}.evil.example",
            with_port(host).replace(':', "-")
        ),
        format!("{scheme}://{}", with_port(&format!("evil{host}"))),
        format!("{scheme}://{}", with_port(&format!("evil.{host}"))),
        format!("{other_scheme}://{}", with_port(host)),
        format!("{scheme}://{host}:{other_port}"),
    ]
}

/// Request headers a browser asks a preflight for: every header of the request that is
/// not CORS-safelisted (the Fetch standard), `content-type` when its value is not one of
/// the three simple ones.
fn unsafe_headers(route: &Route) -> Vec<String> {
    const SAFE: [&str; 4] = ["accept", "accept-language", "content-language", "range"];
    const SIMPLE_TYPES: [&str; 3] = [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/plain",
    ];
    let mut names: Vec<String> = route
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !SAFE.contains(&k.as_str()) && k != "content-type")
        .collect();
    let content_type = route
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .or_else(|| route.body.as_ref().and_then(|(_, ct)| ct.clone()));
    if let Some(ct) = content_type {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !SIMPLE_TYPES.contains(&essence.as_str()) {
            names.push("content-type".into());
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Whether a browser's CORS check (the Fetch standard) lets `origin` read the answer: its
/// `Access-Control-Allow-Origin` is `*` or exactly the origin; for a preflight, the method
/// and every requested header are allowed too (`*` never stands for `authorization`).
fn browser_lets_in(
    answer: &super::Answer,
    origin: &str,
    preflight: Option<(&str, &[String])>,
) -> bool {
    let Some(acao) = answer.header("access-control-allow-origin") else {
        return false;
    };
    let acao = acao.trim();
    if acao != "*" && acao != origin {
        return false;
    }
    let Some((method, headers)) = preflight else {
        return true;
    };
    let list = |name: &str| -> Vec<String> {
        answer
            .header(name)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let methods = list("access-control-allow-methods");
    let simple = matches!(method, "GET" | "HEAD" | "POST");
    let method_ok = simple
        || methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method));
    let allowed = list("access-control-allow-headers");
    let headers_ok = headers.iter().all(|h| {
        allowed.iter().any(|a| a == h) || (h != "authorization" && allowed.iter().any(|a| a == "*"))
    });
    method_ok && headers_ok
}

/// The drive of `sec.cors`: every probe sent and judged as it came back.
async fn drive_cors_restrictive(
    route: &Route,
    cors: &Cors,
) -> std::result::Result<Measured, Failure> {
    let mut refused = cors.refused.clone();
    for allowed in &cors.allowed {
        for near in near_misses(allowed) {
            if !cors.allowed.contains(&near) && !refused.contains(&near) {
                refused.push(near);
            }
        }
    }
    let requested = unsafe_headers(route);
    let check = check(
        "sec.cors",
        "CORS allows only the allowed origins",
        cors.recorder.as_ref(),
    )
    .with_subject(format!("{} sec.cors", route.name()))
    .with_target(route.target())
    .with_scenario(format!(
        "preflight and request from {} refused origins (near misses of the allowed ones \
         among them) and {} allowed origins",
        refused.len(),
        cors.allowed.len()
    ));
    let client = match route.client() {
        Ok(c) => c,
        Err(e) => return Err(check.error(e)),
    };
    let name = route.name();
    // A browser sends this route's request only after a preflight lets it (the Fetch
    // standard: a method other than GET, HEAD, POST, or a header that is not safelisted).
    let needs_preflight =
        !requested.is_empty() || !matches!(route.method.as_str(), "GET" | "HEAD" | "POST");
    let mut items = Vec::new();
    let mut answered = false;
    let origins = refused
        .iter()
        .map(|o| (o, false))
        .chain(cors.allowed.iter().map(|o| (o, true)));
    for (origin, allowed) in origins {
        let mut preflight = Edit {
            method: Some("OPTIONS".into()),
            ..Edit::default()
        }
        .header("origin", origin.clone())
        .header("access-control-request-method", route.method.clone());
        if !requested.is_empty() {
            preflight = preflight.header("access-control-request-headers", requested.join(", "));
        }
        let simple = Edit::default().header("origin", origin.clone());
        let mut preflight_kept_out = false;
        for (kind, edit, is_preflight) in
            [("preflight", preflight, true), ("request", simple, false)]
        {
            let answer = route.send(&client, &edit).await;
            answered |= answer.status.is_some();
            let asked = is_preflight.then_some((route.method.as_str(), requested.as_slice()));
            let let_in = answer.status.is_some() && browser_lets_in(&answer, origin, asked);
            let acao = answer.header("access-control-allow-origin");
            let kept_out = answer.status.is_some() && !let_in;
            let (expected, ok) = if allowed {
                (format!("a browser lets {origin} in"), let_in)
            } else if !is_preflight && needs_preflight && preflight_kept_out {
                // Never sent by a browser: what it answers lets nobody in.
                (
                    format!(
                        "a browser keeps {origin} out (its preflight did: the request is never sent)"
                    ),
                    answer.status.is_some(),
                )
            } else {
                (format!("a browser keeps {origin} out"), kept_out)
            };
            if is_preflight {
                preflight_kept_out = kept_out;
            }
            let observed = match (&answer.status, acao) {
                (None, _) => answer.describe(),
                (Some(s), Some(v)) => format!("{s} with Access-Control-Allow-Origin: {v}"),
                (Some(s), None) => format!("{s} without Access-Control-Allow-Origin"),
            };
            items.push(SecurityItem::new(
                &name,
                format!(
                    "a {kind} from {} origin {origin}",
                    if allowed { "allowed" } else { "refused" }
                ),
                expected,
                observed,
                ok,
            ));
        }
    }
    if items.is_empty() {
        return Err(check.nothing_measured("no origin to try; name allowed or refused origins"));
    }
    if !answered {
        return Err(no_answer(check, route.target(), &items));
    }
    let summary = format!(
        "{} refused origins kept out, {} allowed let in, as a browser judges them",
        refused.len(),
        cors.allowed.len()
    );
    Ok(Measured::new(check, items, summary))
}

/// Drives `sec.cors` and returns what it measured, to be judged by [`assert_cors_restrictive`] (or
/// [`Probed::judge`]); [`try_assert_cors_restrictive`] does both.
pub async fn probe_cors(route: &Route, cors: &Cors) -> Probed {
    Probed::from(drive_cors_restrictive(route, cors).await)
}

/// `sec.cors`: for each origin, a preflight (`OPTIONS` with `Access-Control-Request-Method`
/// the route's method and `Access-Control-Request-Headers` the headers the route needs)
/// and the route's own request with `Origin`, judged as a browser judges them (the Fetch
/// standard). A refused origin, the defaults and the near misses of every allowed origin
/// ([`Cors::allowing`]), must not be let in (an `Access-Control-Allow-Origin` of `*` or
/// of the origin itself; a fixed one naming another origin lets nobody else in); an
/// allowed origin must be. No answer at all is verdict `error`.
pub async fn try_assert_cors_restrictive(
    route: &Route,
    cors: &Cors,
) -> std::result::Result<Evidence, Failure> {
    probe_cors(route, cors).await.judge()
}

/// Judges what [`probe_cors`] measured, panicking with the failure at the caller's line.
#[track_caller]
pub fn assert_cors_restrictive(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_an_origin_differ_by_one_thing_each() {
        assert_eq!(
            near_misses("https://app.example"),
            [
                "https://app.example.evil.example",
                "https://evilapp.example",
                "https://evil.app.example",
                "http://app.example",
                "https://app.example:8443",
            ]
        );
        assert!(near_misses("null").is_empty());
    }

    #[test]
    fn a_route_asks_the_preflight_for_the_headers_it_needs() {
        let json = Route::post("http://127.0.0.1:1/orders")
            .with_bearer("t")
            .with_json(&serde_json::json!({}));
        assert_eq!(unsafe_headers(&json), ["authorization", "content-type"]);
        let form = Route::post("http://127.0.0.1:1/orders")
            .with_body(b"a=1".to_vec(), Some("application/x-www-form-urlencoded"));
        assert!(unsafe_headers(&form).is_empty());
    }
}
