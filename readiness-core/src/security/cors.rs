//! `sec.cors`: only allowed origins get `Access-Control-Allow-Origin`.

use super::{Edit, Route, SecurityItem, check, judge_items, no_answer};
use crate::check::{CheckResultExt, Failure};
use crate::evidence::Evidence;
use crate::recorder::Recorder;

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

/// `sec.cors`: for each origin, a preflight (`OPTIONS` with `Access-Control-Request-Method`
/// the route's method and `Access-Control-Request-Headers: authorization, content-type`) and
/// the route's own request with `Origin`. A refused origin must get no
/// `Access-Control-Allow-Origin` (neither its own nor `*`); an allowed origin must get its
/// own back. No answer at all is verdict `error`.
pub async fn try_assert_cors_restrictive(
    route: &Route,
    cors: &Cors,
) -> std::result::Result<Evidence, Failure> {
    let check = check(
        "sec.cors",
        "CORS allows only the allowed origins",
        cors.recorder.as_ref(),
    )
    .with_subject(format!("{} sec.cors", route.name()))
    .with_target(route.target())
    .with_scenario(format!(
        "preflight and request from {} refused and {} allowed origins",
        cors.refused.len(),
        cors.allowed.len()
    ));
    let client = match route.client() {
        Ok(c) => c,
        Err(e) => return Err(check.error(e)),
    };
    let name = route.name();
    let mut items = Vec::new();
    let mut answered = false;
    let origins = cors
        .refused
        .iter()
        .map(|o| (o, false))
        .chain(cors.allowed.iter().map(|o| (o, true)));
    for (origin, allowed) in origins {
        let preflight = Edit {
            method: Some("OPTIONS".into()),
            ..Edit::default()
        }
        .header("origin", origin.clone())
        .header("access-control-request-method", route.method.clone())
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        );
        let simple = Edit::default().header("origin", origin.clone());
        for (kind, edit) in [("preflight", preflight), ("request", simple)] {
            let answer = route.send(&client, &edit).await;
            answered |= answer.status.is_some();
            let acao = answer
                .header("access-control-allow-origin")
                .map(str::to_owned);
            let (expected, ok) = if allowed {
                (
                    format!("Access-Control-Allow-Origin: {origin}"),
                    answer.status.is_some() && acao.as_deref() == Some(origin.as_str()),
                )
            } else {
                (
                    "no Access-Control-Allow-Origin".to_owned(),
                    answer.status.is_some() && acao.is_none(),
                )
            };
            let observed = match (&answer.status, &acao) {
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
        "{} refused origins got no Access-Control-Allow-Origin, {} allowed got their own",
        cors.refused.len(),
        cors.allowed.len()
    );
    judge_items(check, items, summary)
}

/// [`try_assert_cors_restrictive`], panicking with the failure.
pub async fn assert_cors_restrictive(route: &Route, cors: &Cors) -> Evidence {
    try_assert_cors_restrictive(route, cors).await.or_panic()
}
