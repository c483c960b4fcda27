//! An in-process OTLP/HTTP receiver (protobuf and JSON, `POST /v1/traces`) and
//! `obs.traces`: spans arrive for the requests made, with parent and child linked.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

use hyper::{Method, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation,
    Quantity, Recorder, Result, Threshold,
};

use crate::http::{Answer, Server};

/// One span as received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedSpan {
    /// `service.name` of its resource.
    pub service: String,
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Parent span id, hex (empty for a root).
    pub parent_span_id: String,
    /// The span's name.
    pub name: String,
}

#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    exports: u64,
    rejected: Vec<String>,
}

fn lock(r: &Mutex<Received>) -> MutexGuard<'_, Received> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// The receiver. Point the service's `OTEL_EXPORTER_OTLP_ENDPOINT` at
/// [`OtlpReceiver::endpoint`]. Dropping it closes the endpoint.
#[derive(Debug)]
pub struct OtlpReceiver {
    server: Server,
    received: Arc<Mutex<Received>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans_of(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(AnyValue::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                out.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                });
            }
        }
    }
    out
}

impl OtlpReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Result<OtlpReceiver> {
        OtlpReceiver::start_on(IpAddr::from([127, 0, 0, 1])).await
    }

    /// Listens on the gateway address of the Docker network `network` (a network the test
    /// made), so that a service in a container on it exports to
    /// `http://<gateway>:<port>` ([`OtlpReceiver::endpoint`]). Only a private (RFC 1918)
    /// gateway is accepted.
    pub async fn start_for_network(network: &str) -> Result<OtlpReceiver> {
        let docker = readiness_core::containers::docker().await?;
        let inspect = docker
            .inspect_network(network, None)
            .await
            .map_err(|e| Error::Other(format!("docker network {network}: {e}")))?;
        let gateway = inspect
            .ipam
            .and_then(|i| i.config)
            .into_iter()
            .flatten()
            .filter_map(|c| c.gateway)
            .filter_map(|g| g.parse::<std::net::Ipv4Addr>().ok())
            .find(std::net::Ipv4Addr::is_private)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "docker network {network} has no private IPv4 gateway to listen on"
                ))
            })?;
        OtlpReceiver::start_on(IpAddr::V4(gateway)).await
    }

    async fn start_on(ip: IpAddr) -> Result<OtlpReceiver> {
        let received = Arc::new(Mutex::new(Received::default()));
        let into = received.clone();
        let server = Server::start_on("OTLP receiver", ip, move |call| {
            if call.method != Method::POST || !call.path.starts_with("/v1/traces") {
                return Answer::text(StatusCode::NOT_FOUND, "POST OTLP traces to /v1/traces");
            }
            let json = call.content_type.starts_with("application/json");
            let decoded = if json {
                serde_json::from_slice::<ExportTraceServiceRequest>(&call.body)
                    .map_err(|e| e.to_string())
            } else {
                ExportTraceServiceRequest::decode(call.body.as_ref()).map_err(|e| e.to_string())
            };
            let mut r = lock(&into);
            match decoded {
                Ok(request) => {
                    r.exports += 1;
                    r.spans.extend(spans_of(request));
                    if json {
                        Answer::new(StatusCode::OK, "application/json", b"{}".to_vec())
                    } else {
                        let body = ExportTraceServiceResponse::default().encode_to_vec();
                        Answer::new(StatusCode::OK, "application/x-protobuf", body)
                    }
                }
                Err(e) => {
                    let why = format!(
                        "{} body ({}): {e}",
                        if json { "JSON" } else { "protobuf" },
                        call.content_type
                    );
                    r.rejected.push(why.clone());
                    Answer::text(StatusCode::BAD_REQUEST, why)
                }
            }
        })
        .await?;
        Ok(OtlpReceiver { server, received })
    }

    /// `http://127.0.0.1:<port>`: the value of `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.received).spans.clone()
    }

    /// Export requests that could not be decoded.
    pub fn rejected(&self) -> Vec<String> {
        lock(&self.received).rejected.clone()
    }

    /// Panics unless [`OtlpReceiver::try_assert_traces`] passes.
    pub async fn assert_traces(&self, expect: &Traces) -> Evidence {
        self.try_assert_traces(expect).await.or_panic()
    }

    /// `obs.traces` in one call: [`OtlpReceiver::collect`], then [`Traced::judge`].
    pub async fn try_assert_traces(&self, expect: &Traces) -> Result<Evidence, Failure> {
        self.collect(expect).await.judge()
    }

    /// Waits, up to `expect`'s bound, until a trace of the service links a child span to
    /// its parent, then takes what arrived. Judged by [`Traced::judge`].
    pub async fn collect(&self, expect: &Traces) -> Traced {
        let deadline = Instant::now() + expect.within;
        // Bounded by the deadline; the exporter's batches arrive every few seconds.
        // One snapshot: the links and the spans judged are of the same spans.
        let (received, linked) = loop {
            let received = self.spans();
            let linked = linked_traces(&received, &expect.service);
            if expect.requests == 0 || !linked.is_empty() || Instant::now() > deadline {
                break (received, linked);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (spans, others): (Vec<ReceivedSpan>, Vec<ReceivedSpan>) = received
            .into_iter()
            .partition(|s| s.service == expect.service);
        Traced {
            expect: expect.clone(),
            endpoint: self.endpoint(),
            spans,
            others: others.into_iter().map(|s| s.service).collect(),
            rejected: self.rejected(),
            linked,
        }
    }
}

/// The spans that reached the receiver for one service. Measured by
/// [`OtlpReceiver::collect`], judged by [`Traced::judge`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Traced {
    /// What was expected.
    pub expect: Traces,
    /// The receiver's OTLP/HTTP endpoint.
    pub endpoint: String,
    /// The service's spans.
    pub spans: Vec<ReceivedSpan>,
    /// Other services that sent spans.
    pub others: BTreeSet<String>,
    /// Export requests that could not be decoded.
    pub rejected: Vec<String>,
    /// One `(parent name, child name)` per trace that links a child to its parent.
    pub linked: Vec<(String, String)>,
}

impl Traced {
    /// `obs.traces`: spans of the service arrived and at least one trace links a child span
    /// to its parent (the request span and the work under it). An `error` when the test
    /// made no request: no trace is owed.
    pub fn judge(&self) -> Result<Evidence, Failure> {
        let expect = &self.expect;
        let mut check = Check::new(
            "obs.traces",
            format!("{} sends linked traces", expect.service),
            Category::OBSERVABILITY,
        )
        .with_subject(format!("traces/{}", expect.service))
        .with_target(self.endpoint.clone())
        .with_threshold(Threshold::at_least(Count(1)))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!(
            "{} request(s) made; spans of {} awaited for up to {:?} at {}/v1/traces",
            expect.requests, expect.service, expect.within, self.endpoint
        ));
        if let Some(r) = &expect.recorder {
            check = check.with_recorder(r.clone());
        }
        if expect.requests == 0 {
            return Err(check.nothing_measured("no request was made: no trace is owed"));
        }
        let spans = &self.spans;
        let traces: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
        let summary = if spans.is_empty() {
            format!(
                "no span of {} arrived within {:?}{}{}",
                expect.service,
                expect.within,
                if self.others.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (spans of: {})",
                        self.others.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                },
                match self.rejected.first() {
                    None => String::new(),
                    Some(first) =>
                        format!(" ({} export(s) rejected: {first})", self.rejected.len()),
                },
            )
        } else if self.linked.is_empty() {
            format!(
                "{} span(s) in {} trace(s) arrived, none with a parent in its trace: every span is a root ({})",
                spans.len(),
                traces.len(),
                spans
                    .iter()
                    .take(3)
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            let (parent, child) = &self.linked[0];
            format!(
                "{} of {} trace(s) link parent and child, e.g. {parent} → {child}; {} span(s)",
                self.linked.len(),
                traces.len(),
                spans.len()
            )
        };
        check.judge(
            Observation::new(Quantity::count(self.linked.len() as u64)).with_summary(summary),
        )
    }
}

/// Panics unless [`Traced::judge`] passes.
#[track_caller]
pub fn assert_traces(traced: &Traced) -> Evidence {
    traced.judge().or_panic()
}

/// One `(parent name, child name)` per trace that links a child to a parent of the
/// service.
fn linked_traces(spans: &[ReceivedSpan], service: &str) -> Vec<(String, String)> {
    let mine: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.service == service).collect();
    let by_id: BTreeMap<(&str, &str), &ReceivedSpan> = mine
        .iter()
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), *s))
        .collect();
    let mut per_trace: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for s in &mine {
        if s.parent_span_id.is_empty() {
            continue;
        }
        if let Some(parent) = by_id.get(&(s.trace_id.as_str(), s.parent_span_id.as_str())) {
            per_trace
                .entry(s.trace_id.as_str())
                .or_insert_with(|| (parent.name.clone(), s.name.clone()));
        }
    }
    per_trace.into_values().collect()
}

/// What [`OtlpReceiver::try_assert_traces`] expects.
#[derive(Debug, Clone)]
#[must_use]
pub struct Traces {
    service: String,
    requests: u64,
    within: Duration,
    recorder: Option<Recorder>,
}

impl Traces {
    /// Spans of `service` (its `service.name`) for `requests` requests the test made,
    /// within 15 s (exporters batch every few seconds).
    pub fn of(service: impl Into<String>, requests: u64) -> Self {
        Traces {
            service: service.into(),
            requests,
            within: Duration::from_secs(15),
            recorder: None,
        }
    }
    /// How long to wait for them.
    pub fn within(mut self, d: Duration) -> Self {
        self.within = d;
        self
    }
    /// Records the check with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn request(service: &str, spans: &[(&[u8], &[u8], &str)]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(Any {
                            value: Some(AnyValue::StringValue(service.into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .iter()
                        .map(|(id, parent, name)| Span {
                            trace_id: vec![7; 16],
                            span_id: id.to_vec(),
                            parent_span_id: parent.to_vec(),
                            name: (*name).into(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    async fn post(url: &str, content_type: &str, body: Vec<u8>) -> u16 {
        reqwest::Client::new()
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn protobuf_and_json_exports_are_read_and_links_found() -> Result<()> {
        let r = OtlpReceiver::start().await?;
        let url = format!("{}/v1/traces", r.endpoint());
        let linked = request(
            "svc",
            &[
                (&[1; 8], &[], "GET /orders"),
                (&[2; 8], &[1; 8], "db query"),
            ],
        );
        assert_eq!(
            post(&url, "application/x-protobuf", linked.encode_to_vec()).await,
            200
        );
        let json =
            serde_json::to_vec(&request("other", &[(&[3; 8], &[], "root")])).unwrap_or_default();
        assert_eq!(post(&url, "application/json", json).await, 200);
        assert_eq!(
            post(&url, "application/x-protobuf", b"\xff\xff".to_vec()).await,
            400
        );
        assert_eq!(r.spans().len(), 3);
        assert_eq!(r.rejected().len(), 1);

        let ok = r
            .try_assert_traces(
                &Traces::of("svc", 1)
                    .within(Duration::from_millis(100))
                    .with_recorder(crate::self_test_recorder()),
            )
            .await;
        let ok = ok.map_err(|f| readiness_core::Error::Other(f.to_string()))?;
        assert!(
            ok.summary
                .as_deref()
                .is_some_and(|s| s.contains("GET /orders → db query"))
        );

        let roots = r
            .try_assert_traces(
                &Traces::of("other", 1)
                    .within(Duration::from_millis(100))
                    .with_recorder(crate::self_test_recorder()),
            )
            .await;
        let m = roots.err().map(|f| f.to_string()).unwrap_or_default();
        assert!(
            m.contains("1 span(s) in 1 trace(s) arrived, none with a parent"),
            "{m}"
        );
        let none = r
            .try_assert_traces(
                &Traces::of("absent", 1)
                    .within(Duration::from_millis(100))
                    .with_recorder(crate::self_test_recorder()),
            )
            .await;
        let m = none.err().map(|f| f.to_string()).unwrap_or_default();
        assert!(m.contains("no span of absent arrived"), "{m}");
        let nothing = r
            .try_assert_traces(&Traces::of("svc", 0).with_recorder(crate::self_test_recorder()))
            .await;
        assert!(nothing.is_err_and(|f| f.verdict() == readiness_core::Verdict::Error));
        Ok(())
    }
}
