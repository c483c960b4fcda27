//! One self-contained HTML file (no external URL): the scorecard, and a chart for every
//! attachment the evidence carries. Charts are described as data here and drawn as SVG by a
//! small script in the page; every drawn chart is marked `data-drawn="true"` and any script
//! error is shown in `#errors`, so a headless browser can check the page.

use std::fmt::Write as _;

use readiness_core::{Attachment, Quantity, Threshold, Unit};
use serde::Serialize;

use crate::render::{observation, xml_escape as esc};
use crate::scorecard::{CriterionResult, Decision, Scorecard};

/// A series of (x, y) points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// A vertical (x) or horizontal (y) marker line.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    /// "x" or "y".
    pub axis: &'static str,
    /// Where.
    pub at: f64,
    /// Label.
    pub label: String,
    /// Whether it is the criterion's limit (drawn solid red) rather than an event.
    pub limit: bool,
}

/// A chart drawn by the page.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Title.
    pub title: String,
    /// What the attachment kind was.
    pub kind: String,
    /// x axis label.
    pub x: String,
    /// y axis label.
    pub y: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Marker lines.
    pub markers: Vec<Marker>,
    /// A logarithmic x axis (latency buckets that double).
    pub log_x: bool,
    /// Named ticks of the y axis in place of numbers (an alert's states).
    pub y_ticks: Vec<(f64, String)>,
    /// Where a criterion's limit of a unit is drawn: the axis and the factor from the
    /// unit's base (seconds to ms: 1000).
    #[serde(skip)]
    pub limit_axes: Vec<(Unit, &'static str, f64)>,
}

impl Chart {
    /// Where the chart draws a limit of `unit`.
    #[must_use]
    fn limit_on(mut self, unit: Unit, axis: &'static str, scale: f64) -> Chart {
        self.limit_axes.push((unit, axis, scale));
        self
    }
    /// Draws `threshold` where the chart has an axis of its unit (nothing otherwise).
    pub fn with_threshold(mut self, threshold: Option<Threshold>) -> Chart {
        let Some(t) = threshold else {
            return self;
        };
        let Some(&(_, axis, scale)) = self.limit_axes.iter().find(|(u, ..)| *u == t.unit()) else {
            return self;
        };
        let lines: Vec<(Quantity, String)> = match t {
            Threshold::AtMost { limit } => vec![(limit, format!("limit {limit}"))],
            Threshold::AtLeast { limit } => vec![(limit, format!("at least {limit}"))],
            Threshold::Within { low, high } => {
                vec![(low, format!("low {low}")), (high, format!("high {high}"))]
            }
            _ => Vec::new(),
        };
        for (q, label) in lines {
            self.markers.push(Marker {
                axis,
                at: q.value() * scale,
                label,
                limit: true,
            });
        }
        self
    }
}

/// The charts of a criterion's attachments, its limit drawn on each that has its unit.
pub fn charts_of_criterion(r: &CriterionResult) -> Vec<(&str, Chart)> {
    r.attachments
        .iter()
        .flat_map(|a| {
            charts_of(a)
                .into_iter()
                .map(move |c| (a.kind(), c.with_threshold(r.threshold)))
        })
        .collect()
}

fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.into(),
        points,
    }
}

fn chart(title: &str, kind: &str, axes: (&str, &str), s: Vec<Series>, m: Vec<Marker>) -> Chart {
    Chart {
        title: title.into(),
        kind: kind.into(),
        x: axes.0.into(),
        y: axes.1.into(),
        series: s,
        markers: m,
        log_x: false,
        y_ticks: Vec::new(),
        limit_axes: Vec::new(),
    }
}

fn x_marker(at: f64, label: String) -> Marker {
    Marker {
        axis: "x",
        at,
        label,
        limit: false,
    }
}

const MS: f64 = 1e3;

/// The charts of one attachment (none for a kind the report does not draw).
pub fn charts_of(a: &Attachment) -> Vec<Chart> {
    let kind = a.kind();
    match a {
        Attachment::Timeline(t) => {
            let mut p = [Vec::new(), Vec::new(), Vec::new()];
            let (mut ok, mut err, mut rate) = (Vec::new(), Vec::new(), Vec::new());
            for s in &t.seconds {
                let x = s.second as f64;
                if let Ok(h) = s.histogram.decode()
                    && !h.is_empty()
                {
                    for (i, q) in [0.5, 0.95, 0.99].into_iter().enumerate() {
                        p[i].push((x, h.value_at_quantile(q) as f64 / 1e3));
                    }
                }
                let (o, e) = (s.ok as f64, s.failed() as f64);
                ok.push((x, o));
                err.push((x, e));
                rate.push((
                    x,
                    if o + e > 0.0 {
                        100.0 * e / (o + e)
                    } else {
                        0.0
                    },
                ));
            }
            let [p50, p95, p99] = p;
            vec![
                chart(
                    "latency percentiles per second",
                    kind,
                    ("seconds from the start", "ms"),
                    vec![series("p50", p50), series("p95", p95), series("p99", p99)],
                    vec![],
                )
                .limit_on(Unit::Seconds, "y", MS),
                chart(
                    "throughput per second",
                    kind,
                    ("seconds from the start", "requests/s"),
                    vec![series("ok", ok), series("errors", err)],
                    vec![],
                )
                .limit_on(Unit::PerSecond, "y", 1.0),
                chart(
                    "error rate per second",
                    kind,
                    ("seconds from the start", "% of requests"),
                    vec![series("error rate", rate)],
                    vec![],
                )
                .limit_on(Unit::Ratio, "y", 100.0),
            ]
        }
        Attachment::LatencyHistogram(l) => {
            let Ok(h) = l.histogram.decode() else {
                return Vec::new();
            };
            if h.is_empty() {
                return Vec::new();
            }
            // Percentile spectrum: x = "nines" (0 = p0, 1 = p90, 2 = p99, 3 = p99.9).
            let points = (0..=40)
                .map(|i| {
                    let nines = f64::from(i) / 10.0;
                    let q = 1.0 - 10f64.powf(-nines);
                    (nines, h.value_at_quantile(q) as f64 / 1e3)
                })
                .collect();
            // Counts per bucket, buckets doubling from 100 µs (log scale on x, in ms).
            let buckets: Vec<(f64, f64)> = h
                .iter_log(100, 2.0)
                .map(|v| {
                    (
                        v.value_iterated_to() as f64 / 1e3,
                        v.count_since_last_iteration() as f64,
                    )
                })
                .collect();
            let p = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
            let marks = [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")]
                .into_iter()
                .map(|(q, label)| x_marker(p(q), format!("{label} {:.1}ms", p(q))))
                .collect();
            vec![
                chart(
                    "latency distribution (percentile spectrum)",
                    kind,
                    ("nines: 1 = p90, 2 = p99, 3 = p99.9", "ms"),
                    vec![series("latency", points)],
                    vec![],
                )
                .limit_on(Unit::Seconds, "y", MS),
                Chart {
                    log_x: true,
                    ..chart(
                        "latency histogram (requests per bucket)",
                        kind,
                        ("ms, bucket upper edge (log scale)", "requests"),
                        vec![series("requests", buckets)],
                        marks,
                    )
                }
                .limit_on(Unit::Seconds, "x", MS),
            ]
        }
        Attachment::StressSteps(st) => {
            let achieved = st
                .steps
                .iter()
                .map(|s| (s.rate.value(), s.achieved.value()))
                .collect();
            let p95 = st
                .steps
                .iter()
                .filter_map(|s| Some((s.rate.value(), s.p95?.as_secs_f64() * 1e3)))
                .collect();
            let markers: Vec<Marker> = st
                .ceiling
                .map(|c| x_marker(c.value(), format!("ceiling {:.0}/s", c.value())))
                .into_iter()
                .collect();
            vec![
                chart(
                    "stress steps: achieved rate",
                    kind,
                    ("offered requests/s", "achieved requests/s"),
                    vec![series("achieved", achieved)],
                    markers.clone(),
                )
                .limit_on(Unit::PerSecond, "y", 1.0),
                chart(
                    "stress steps: p95 latency",
                    kind,
                    ("offered requests/s", "ms"),
                    vec![series("p95", p95)],
                    markers,
                )
                .limit_on(Unit::Seconds, "y", MS),
            ]
        }
        Attachment::SpikeRecovery(sp) => {
            let points = sp
                .p95_per_second
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((i as f64, (*v)?.as_secs_f64() * 1e3)))
                .collect();
            let (start, end) = (sp.spike_start.as_secs_f64(), sp.spike_end.as_secs_f64());
            let mut markers = vec![
                x_marker(start, "spike".into()),
                x_marker(end, "spike ends".into()),
            ];
            if let Some(r) = sp.recovery {
                let r = r.as_secs_f64();
                markers.push(x_marker(end + r, format!("recovered after {r:.0}s")));
            }
            markers.push(Marker {
                axis: "y",
                at: sp.band.as_secs_f64() * 1e3,
                label: "baseline band".into(),
                limit: false,
            });
            vec![chart(
                "spike: p95 per second",
                kind,
                ("seconds from the start", "ms"),
                vec![series("p95", points)],
                markers,
            )]
        }
        Attachment::Drift(d) => {
            let mut out = Vec::new();
            if !d.p95_ms.is_empty() {
                out.push(chart(
                    "soak: p95 over time",
                    kind,
                    ("seconds from the start", "ms"),
                    vec![series("p95", d.p95_ms.clone())],
                    vec![],
                ));
            }
            if !d.memory_bytes.is_empty() {
                let mem = d
                    .memory_bytes
                    .iter()
                    .map(|(t, b)| (*t, b / 1_048_576.0))
                    .collect();
                out.push(chart(
                    "soak: target memory over time",
                    kind,
                    ("seconds from the start", "MiB"),
                    vec![series("memory", mem)],
                    vec![],
                ));
            }
            out
        }
        Attachment::Scaling(sc) => {
            let points = sc.levels.iter().map(|(u, t)| (*u as f64, *t)).collect();
            vec![chart(
                "throughput by users",
                kind,
                ("users", "requests/s"),
                vec![series("throughput", points)],
                vec![],
            )]
        }
        Attachment::ProbeSamples(pr) => {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for s in &pr.samples {
                let point = (s.at_ms, s.latency_ms);
                if s.ok {
                    good.push(point);
                } else {
                    bad.push(point);
                }
            }
            vec![
                chart(
                    "probe samples",
                    kind,
                    ("ms from the start", "ms per attempt"),
                    vec![series("good", good), series("bad", bad)],
                    vec![],
                )
                .limit_on(Unit::Seconds, "x", MS),
            ]
        }
        Attachment::Recovery(r) => {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for s in &r.samples {
                let point = (s.at_ms, s.latency_ms);
                if s.ok {
                    good.push(point);
                } else {
                    bad.push(point);
                }
            }
            let mut markers: Vec<Marker> = r
                .events
                .iter()
                .map(|e| x_marker(e.at_ms, e.what.clone()))
                .collect();
            if let Some(at) = r.recovered_at_ms {
                markers.push(x_marker(at, "recovered".into()));
                let settled = at + r.settle.as_secs_f64() * 1e3;
                markers.push(x_marker(settled, "settled".into()));
            }
            vec![
                chart(
                    &format!("recovery of {}", r.target),
                    kind,
                    ("ms from the fault", "ms per probe"),
                    vec![series("good", good), series("bad", bad)],
                    markers,
                )
                .limit_on(Unit::Seconds, "x", MS),
            ]
        }
        Attachment::WriteHistory(h) => {
            use readiness_core::WriteOutcome;
            let mut classes: [(&str, Vec<(f64, f64)>); 5] = [
                ("ok", vec![]),
                ("lost", vec![]),
                ("recovered", vec![]),
                ("indeterminate", vec![]),
                ("failed", vec![]),
            ];
            for w in &h.writes {
                let class = match (w.outcome, w.found) {
                    (WriteOutcome::Ok, Some(false)) => 1,
                    (WriteOutcome::Ok, _) => 0,
                    (WriteOutcome::Indeterminate, Some(true)) => 2,
                    (WriteOutcome::Indeterminate, _) => 3,
                    (WriteOutcome::Failed, _) => 4,
                };
                classes[class].1.push((w.invoked_ms, w.seq as f64));
            }
            let markers = h
                .events
                .iter()
                .map(|e| x_marker(e.at_ms, e.what.clone()))
                .collect();
            vec![chart(
                &format!("write history of {}", h.name),
                kind,
                ("ms from the start", "write sequence number"),
                classes
                    .into_iter()
                    .filter(|(_, points)| !points.is_empty())
                    .map(|(name, points)| series(name, points))
                    .collect(),
                markers,
            )]
        }
        Attachment::Alert(t) => {
            use readiness_core::AlertState;
            // One lane per state: 0 inactive, 1 pending, 2 firing, 3 notified.
            let lanes = [
                (AlertState::Inactive, "inactive", 0.0),
                (AlertState::Pending, "pending", 1.0),
                (AlertState::Firing, "firing", 2.0),
                (AlertState::Notified, "notified", 3.0),
                (AlertState::ResolvedNotified, "resolved", 3.0),
            ];
            let series_list = lanes
                .iter()
                .map(|(state, name, lane)| {
                    let points = t
                        .events
                        .iter()
                        .filter(|e| e.state == *state)
                        .map(|e| (e.at_ms, *lane))
                        .collect::<Vec<_>>();
                    (name, points)
                })
                .filter(|(_, points)| !points.is_empty())
                .map(|(name, points)| series(name, points))
                .collect();
            let markers = t
                .events
                .iter()
                .filter_map(|e| match e.state {
                    AlertState::Induced => Some(x_marker(e.at_ms, format!("cause: {}", t.induced))),
                    AlertState::Cleared => Some(x_marker(e.at_ms, "cleared".into())),
                    AlertState::Notified | AlertState::ResolvedNotified => Some(x_marker(
                        e.at_ms,
                        e.receiver.clone().unwrap_or_else(|| "webhook".into()),
                    )),
                    _ => None,
                })
                .collect();
            let y_ticks = ["inactive", "pending", "firing", "notified"]
                .iter()
                .enumerate()
                .map(|(i, name)| (i as f64, (*name).to_owned()))
                .collect();
            vec![
                Chart {
                    y_ticks,
                    ..chart(
                        &format!("alert {}", t.alert),
                        kind,
                        ("ms from the cause", "state"),
                        series_list,
                        markers,
                    )
                }
                .limit_on(Unit::Seconds, "x", MS),
            ]
        }
        Attachment::RateLimit(t) => {
            // Accepted and refused requests per 250 ms, by client.
            const BUCKET_MS: u64 = 250;
            let per_second = 1e3 / BUCKET_MS as f64;
            let mut lines = Vec::new();
            for (c, name) in t.clients.iter().enumerate() {
                let mut accepted = std::collections::BTreeMap::<u64, f64>::new();
                let mut refused = std::collections::BTreeMap::<u64, f64>::new();
                for r in t.requests.iter().filter(|r| usize::from(r.client) == c) {
                    let bucket = r.at_ms / BUCKET_MS * BUCKET_MS;
                    let into = if r.accepted() {
                        &mut accepted
                    } else {
                        &mut refused
                    };
                    *into.entry(bucket).or_insert(0.0) += per_second;
                    let other = if r.accepted() {
                        &mut refused
                    } else {
                        &mut accepted
                    };
                    other.entry(bucket).or_insert(0.0);
                }
                let short = name.rsplit(' ').next().unwrap_or(name);
                for (what, points) in [("accepted", accepted), ("refused", refused)] {
                    let points: Vec<(f64, f64)> =
                        points.into_iter().map(|(k, v)| (k as f64, v)).collect();
                    if points.iter().any(|p| p.1 > 0.0) {
                        lines.push(series(&format!("{short} {what}"), points));
                    }
                }
            }
            let (from, to) = t.sustained_ms;
            let limit = t.limit as f64 * 1e3 / t.window_ms.max(1) as f64;
            vec![chart(
                "rate limit: requests per second by client",
                kind,
                ("ms from the start", "requests/s"),
                lines,
                vec![
                    x_marker(from as f64, "sustained phase".into()),
                    x_marker(to as f64, "end".into()),
                    Marker {
                        axis: "y",
                        at: limit,
                        label: format!("limit {limit:.1}/s"),
                        limit: true,
                    },
                ],
            )]
        }
        _ => Vec::new(),
    }
}

/// The security section: every probe that failed, by criterion, and the findings of the
/// vulnerability reports over their limits.
fn security_section(s: &Scorecard) -> String {
    use readiness_core::{AttachmentKind as _, SecurityReport, VulnerabilityFindings};
    let records = s.criteria();
    let mut rows = String::new();
    let mut findings = String::new();
    let mut probes = 0usize;
    for r in records {
        for report in r.attachments.iter().filter_map(SecurityReport::of) {
            probes += report.items.len();
            for i in report.items.iter().filter(|i| !i.ok) {
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.id),
                    esc(&i.subject),
                    esc(&i.probe),
                    esc(&i.expected),
                    esc(&i.observed)
                );
            }
        }
        for v in r.attachments.iter().filter_map(VulnerabilityFindings::of) {
            let counts = v.counts();
            let mut sorted: Vec<_> = v.findings.iter().collect();
            sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
            for f in sorted {
                let over = v
                    .limits
                    .get(&f.severity)
                    .is_some_and(|limit| counts[&f.severity] > *limit);
                let _ = write!(
                    findings,
                    "<tr><td class=\"{}\">{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                    if over { "fail" } else { "pass" },
                    f.severity,
                    esc(&f.id),
                    esc(&f.package),
                    esc(&f.installed),
                    esc(f.fixed.as_deref().unwrap_or("no fix")),
                    esc(&f.source)
                );
            }
        }
    }
    if probes == 0 && findings.is_empty() {
        return String::new();
    }
    let mut o = String::from("<h2 id=\"security\">Security probes</h2>");
    if rows.is_empty() {
        let _ = write!(o, "<p>{probes} probes, none failed.</p>");
    } else {
        let _ = write!(
            o,
            "<div class=\"scroll\"><table><tr><th>Criterion</th><th>Subject</th><th>Probe</th><th>Expected</th>\
             <th>Got</th></tr>{rows}</table></div>"
        );
    }
    if !findings.is_empty() {
        let _ = write!(
            o,
            "<div class=\"scroll\"><table><tr><th>Severity</th><th>Advisory</th><th>Package</th><th>Fixed in</th>\
             <th>Report</th></tr>{findings}</table></div>"
        );
    }
    o
}

/// The alerts section: each alert a test fired, and the roll-ups of fired rules.
fn alerts_section(s: &Scorecard) -> String {
    use readiness_core::{AlertState, AlertTimeline, AttachmentKind as _};
    let records = s.criteria();
    let mut rows = String::new();
    let mut rollups = Vec::new();
    for r in records {
        if r.id == "obs.alerts_fired" {
            rollups.push(format!(
                "<li><span class=\"{}\">{}</span> {}</li>",
                r.verdict,
                r.verdict,
                esc(r.summary.as_deref().unwrap_or(""))
            ));
        }
        if r.id != "obs.alert_fires" {
            continue;
        }
        for t in r.attachments.iter().filter_map(AlertTimeline::of) {
            let notified = t.first(AlertState::Notified);
            let _ = write!(
                rows,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td class=num>{}</td></tr>",
                esc(&t.alert),
                r.verdict,
                r.verdict,
                esc(t.expected_receiver.as_deref().unwrap_or("any")),
                notified.map_or("not notified".into(), |ms| format!("{:.2} s", ms / 1e3))
            );
        }
    }
    if rows.is_empty() && rollups.is_empty() {
        return String::new();
    }
    let mut o = String::from("<h2 id=\"alerts\">Alerts fired in testing</h2>");
    if !rollups.is_empty() {
        let _ = write!(o, "<ul>{}</ul>", rollups.join(""));
    }
    if !rows.is_empty() {
        let _ = write!(
            o,
            "<div class=\"scroll\"><table><tr><th>Alert</th><th>Verdict</th><th>Receiver</th><th>Cause → notification</th></tr>{rows}</table></div>"
        );
    }
    o
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330;padding:0 1rem}
h1 .go{color:#11733b}h1 .nogo{color:#b3261e}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #d5d9e0;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}.num{text-align:right}.pass{color:#11733b}.fail,.missing{color:#b3261e}.error{color:#8a5a00}
.chart{display:inline-block;margin:.5rem 1rem .5rem 0;vertical-align:top;max-width:100%}.chart svg{background:#fbfcfd;border:1px solid #e3e6eb;max-width:100%;height:auto}
details{margin:.3rem 0 1rem}summary{cursor:pointer}code{font-size:90%;overflow-wrap:anywhere}p,li{overflow-wrap:anywhere}td{overflow-wrap:break-word}#errors{color:#b3261e;white-space:pre-wrap}
.grid td{text-align:center;min-width:1.6rem}.grid th.rot{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;white-space:nowrap}
.hit{background:#cdebd6;color:#11733b}.also{background:#fbe3b5;color:#8a5a00}.miss{background:#f6d0cd;color:#b3261e}
"#;

const SCRIPT: &str = r#"
(function(){
  var errors = [];
  window.addEventListener('error', function(e){ errors.push(String(e.message)); show(); });
  function show(){ var el=document.getElementById('errors'); el.textContent=errors.join('\n'); document.body.setAttribute('data-errors', String(errors.length)); }
  var NS='http://www.w3.org/2000/svg', colours=['#2f6fdf','#e0882f','#7a3fbf','#16a085','#c0392b'];
  function el(name, attrs, parent){ var e=document.createElementNS(NS,name); for (var k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
  function text(parent, x, y, s, anchor){ var t=el('text',{x:x,y:y,'font-size':11,'text-anchor':anchor||'start',fill:'#3b4252'},parent); t.textContent=s; return t; }
  function fmt(v){ var a=Math.abs(v); return a>=1000?v.toFixed(0):a>=10?v.toFixed(1):a>=0.1||a===0?v.toFixed(2):v.toPrecision(2); }
  function box(t){ var r=t.getBoundingClientRect(); return {l:r.left,r:r.right,t:r.top,b:r.bottom}; }
  // Two labels clash when they overlap or stand closer than 3 px side by side.
  function hits(a, b){ return a.l<b.r+3 && b.l<a.r+3 && a.t<b.b-0.5 && b.t<a.b-0.5; }
  function draw(host, c){
    var W=480,H=260,L=62,R=14,T=30,B=44;
    var svg=el('svg',{width:W,height:H,viewBox:'0 0 '+W+' '+H,role:'img','aria-label':c.title},host);
    var placed=[];
    function fixed(t){ placed.push(box(t)); return t; }
    // A label moved down (then up) in steps until it overlaps nothing placed before it.
    function free(x, y, s, anchor, fill, lo, hi){
      var t=text(svg, x, y, s, anchor); if (fill) t.setAttribute('fill', fill);
      for (var k=0;k<24;k++){
        var b=box(t), clash=placed.some(function(p){ return hits(b,p); });
        if (!clash) break;
        var dy=(k%2===0?1:-1)*13*(Math.floor(k/2)+1), ny=y+dy;
        if (ny<lo||ny>hi) continue;
        t.setAttribute('y', ny);
      }
      placed.push(box(t)); return t;
    }
    fixed(text(svg, 8, 16, c.title));
    var xs=[],ys=[];
    c.series.forEach(function(s){ s.points.forEach(function(p){ xs.push(p[0]); ys.push(p[1]); }); });
    c.markers.forEach(function(m){ (m.axis==='x'?xs:ys).push(m.at); });
    c.y_ticks.forEach(function(t){ ys.push(t[0]); });
    if (c.log_x) xs=xs.filter(function(v){ return v>0; });
    if (!xs.length) { xs=[0,1]; } if (!ys.length) { ys=[0,1]; }
    var x0=Math.min.apply(null,xs), x1=Math.max.apply(null,xs), y0=Math.min(0,Math.min.apply(null,ys)), y1=Math.max.apply(null,ys);
    if (c.log_x) { x0=Math.pow(10,Math.floor(Math.log10(x0))); x1=Math.pow(10,Math.ceil(Math.log10(x1))); if (x1<=x0) x1=x0*10; }
    if (x1===x0) x1=x0+1; if (y1===y0) y1=y0+1; y1=y0+(y1-y0)*1.08;
    var lx=function(v){ return c.log_x?Math.log10(v):v; };
    function sx(v){ return L+(lx(v)-lx(x0))/(lx(x1)-lx(x0))*(W-L-R); } function sy(v){ return H-B-(v-y0)/(y1-y0)*(H-T-B); }
    el('line',{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:'#8892a0'},svg); el('line',{x1:L,y1:T,x2:L,y2:H-B,stroke:'#8892a0'},svg);
    var xticks=[];
    if (c.log_x) { for (var d=x0; d<=x1*1.0001; d*=10) xticks.push(d); }
    else { for (var i=0;i<=4;i++) xticks.push(x0+(x1-x0)*i/4); }
    // The first tick's label starts at the axis and the last ends at the edge: neither meets
    // the y axis's labels nor leaves the chart.
    xticks.forEach(function(v, i){ var anchor=i===0?'start':i===xticks.length-1?'end':'middle';
      fixed(text(svg, sx(v), H-B+15, fmt(v), anchor)); el('line',{x1:sx(v),y1:H-B,x2:sx(v),y2:H-B+3,stroke:'#8892a0'},svg); });
    var yticks=c.y_ticks.length?c.y_ticks:[0,1,2,3,4].map(function(i){ var v=y0+(y1-y0)*i/4; return [v, fmt(v)]; });
    yticks.forEach(function(t){ fixed(text(svg, L-5, sy(t[0])+4, t[1], 'end')); el('line',{x1:L,y1:sy(t[0]),x2:W-R,y2:sy(t[0]),stroke:'#eceff3'},svg); });
    fixed(text(svg, (L+W-R)/2, H-8, c.x, 'middle'));
    var yl=text(svg, 0, 0, c.y, 'middle'); yl.setAttribute('transform','translate(12,'+((T+H-B)/2)+') rotate(-90)'); fixed(yl);
    var drawn=0;
    c.series.forEach(function(s, k){
      var col=colours[k%colours.length];
      var pts=s.points.filter(function(p){ return !c.log_x||p[0]>0; });
      if (pts.length>1) { el('polyline',{fill:'none',stroke:col,'stroke-width':1.6,points:pts.map(function(p){return sx(p[0]).toFixed(1)+','+sy(p[1]).toFixed(1);}).join(' ')},svg); }
      pts.forEach(function(p){ el('circle',{cx:sx(p[0]),cy:sy(p[1]),r:pts.length>60?1.2:2.4,fill:col},svg); drawn++; });
    });
    // Limits first (they matter most), then events; each label where it overlaps nothing.
    var markers=c.markers.slice().sort(function(a,b){ return (b.limit?1:0)-(a.limit?1:0); });
    markers.forEach(function(m){
      var col=m.limit?'#b3261e':'#6b7280', dash=m.limit?'':'4 3';
      if (m.axis==='x') {
        var x=sx(m.at), right=x>W-R-120;
        el('line',{x1:x,y1:T,x2:x,y2:H-B,stroke:col,'stroke-width':m.limit?1.5:1,'stroke-dasharray':dash},svg);
        free(right?x-3:x+3, T+10, m.label, right?'end':'start', col, T+8, H-B-4);
      } else {
        var y=sy(m.at);
        el('line',{x1:L,y1:y,x2:W-R,y2:y,stroke:col,'stroke-width':m.limit?1.5:1,'stroke-dasharray':dash},svg);
        free(W-R-3, y-3, m.label, 'end', col, T+8, H-B-4);
      }
    });
    c.series.forEach(function(s, k){ free(W-R-3, T+10+k*13, '\u25A0 '+s.name, 'end', colours[k%colours.length], T+8, H-B-4); });
    var overlaps=0, texts=svg.querySelectorAll('text'), clashes=[];
    for (var a=0;a<texts.length;a++) for (var b=a+1;b<texts.length;b++) if (hits(box(texts[a]),box(texts[b]))) { overlaps++; clashes.push(texts[a].textContent+' / '+texts[b].textContent); }
    if (clashes.length) host.setAttribute('data-clashes', clashes.join('; '));
    host.setAttribute('data-overlaps', String(overlaps));
    host.setAttribute('data-limits', String(c.markers.filter(function(m){ return m.limit; }).length));
    host.setAttribute('data-points', String(drawn));
    host.setAttribute('data-drawn', 'true');
  }
  var charts=JSON.parse(document.getElementById('chart-data').textContent);
  document.querySelectorAll('.chart').forEach(function(host){
    try { draw(host, charts[Number(host.getAttribute('data-chart'))]); }
    catch (e) { errors.push('chart '+host.getAttribute('data-chart')+': '+e.message); }
  });
  document.body.setAttribute('data-viewport-width', String(window.innerWidth));
  document.body.setAttribute('data-scroll-width', String(document.documentElement.scrollWidth));
  show();
})();
"#;

/// The capacity plan drawn: the peak now and as it grows, against the ceiling and the share
/// of it to stay under.
fn capacity_chart(cap: &crate::capacity::CapacityPlan) -> Chart {
    let peak = std::iter::once((0.0, cap.peak_rate))
        .chain(
            cap.projections
                .iter()
                .map(|p| (f64::from(p.months), p.peak_rate)),
        )
        .collect();
    let y = |at: f64, label: String, limit: bool| Marker {
        axis: "y",
        at,
        label,
        limit,
    };
    chart(
        "capacity plan: peak requests/s as it grows",
        "capacity",
        ("months from now", "requests/s"),
        vec![series("peak", peak)],
        vec![
            y(cap.ceiling, format!("ceiling {:.0}/s", cap.ceiling), true),
            y(
                cap.ceiling * cap.utilisation_limit,
                format!("{:.0}% of the ceiling", cap.utilisation_limit * 100.0),
                false,
            ),
        ],
    )
}

/// The defect matrix drawn as a grid: a row per run, a column per criterion meant to catch
/// a defect or that failed; caught as meant (green), failed besides (amber), meant to catch
/// it and did not (red).
fn matrix_grid(m: &crate::Matrix) -> String {
    let mut columns: Vec<&str> = m
        .rows
        .iter()
        .flat_map(|r| r.expected.iter().chain(&r.failed))
        .map(String::as_str)
        .collect();
    columns.sort_unstable();
    columns.dedup();
    let mut o = String::from(
        "<p>Which criteria failed in which run: <span class=hit>✓</span> caught as meant, \
         <span class=also>✗</span> failed besides, <span class=miss>·</span> meant to catch \
         the defect and did not.</p><div class=\"scroll\"><table class=grid><tr><th>run</th>",
    );
    for c in &columns {
        let _ = write!(o, "<th class=rot>{}</th>", esc(c));
    }
    o.push_str("</tr>");
    for r in &m.rows {
        let _ = write!(o, "<tr><th>{}</th>", esc(r.name()));
        for c in &columns {
            let (expected, failed) = (
                r.expected.iter().any(|e| e == c),
                r.failed.iter().any(|f| f == c),
            );
            o.push_str(match (expected, failed) {
                (true, true) => "<td class=hit>✓</td>",
                (false, true) => "<td class=also>✗</td>",
                (true, false) => "<td class=miss>·</td>",
                (false, false) => "<td></td>",
            });
        }
        o.push_str("</tr>");
    }
    o.push_str("</table></div>");
    o
}

/// The whole page.
pub fn page(s: &Scorecard) -> String {
    let mut charts: Vec<Chart> = Vec::new();
    let mut o = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    );
    let _ = write!(
        o,
        "<title>Readiness scorecard: {}</title><style>{STYLE}</style></head><body>",
        s.verdict
    );
    let class = match s.verdict {
        Decision::Go => "go",
        Decision::NoGo => "nogo",
    };
    let _ = write!(
        o,
        "<h1>Readiness scorecard: <span class=\"{class}\">{}</span></h1>\
         <p><b>Score {:.1}/10</b> (go needs {:.1}) from {} records in {} evidence files \
         (<code>{}</code>), made {}.</p><pre id=\"errors\"></pre>",
        s.verdict,
        s.score,
        s.min_score,
        s.records,
        s.files,
        esc(&s.evidence_dir),
        esc(&s.generated_at)
    );
    if !s.reasons.is_empty() {
        o.push_str("<h2>Reasons for no-go</h2><ul>");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", esc(r));
        }
        o.push_str("</ul>");
    }
    o.push_str(
        "<h2>Categories</h2><div class=\"scroll\"><table><tr><th>Category</th><th>Weight</th><th>Score</th>\
         <th>Pass</th><th>Fail</th><th>Error</th><th>Missing</th></tr>",
    );
    for c in &s.categories {
        if !c.assessed {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=num>{}</td><td class=missing colspan=5>not assessed: \
                 no evidence</td></tr>",
                esc(&c.name),
                c.weight
            );
            continue;
        }
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=num>{}</td><td class=num>{:.1}</td><td class=num>{}</td>\
             <td class=num>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
            esc(&c.name),
            c.weight,
            c.score,
            c.passed,
            c.failed,
            c.errors,
            c.missing
        );
    }
    let _ = write!(
        o,
        "<tr><th>Weighted</th><td></td><th class=num>{:.1}</th><td colspan=4></td></tr></table></div>",
        s.score
    );
    for c in s.categories.iter().filter(|c| c.assessed) {
        let _ = write!(o, "<h2>{}</h2>", esc(&c.name));
        let (list, more) = crate::render::listed(s.criteria_of(c));
        for r in list {
            let _ = write!(
                o,
                "<details open><summary><span class=\"{}\">{}</span> <code>{}</code> {}{} — {}</summary>",
                r.verdict,
                r.verdict,
                esc(&r.id),
                esc(&r.title),
                if r.must_pass { " (must pass)" } else { "" },
                esc(&observation(r))
            );
            let _ = write!(
                o,
                "<p>{}{}{}</p>",
                r.test
                    .as_ref()
                    .map(|t| format!("test <code>{}</code>; ", esc(t)))
                    .unwrap_or_default(),
                r.evidence
                    .as_ref()
                    .map(|e| format!("evidence <code>{}</code>", esc(&e.to_string())))
                    .unwrap_or_default(),
                r.summary
                    .as_ref()
                    .map(|e| format!("<br>{}", esc(e)))
                    .unwrap_or_default()
            );
            for (kind, chart) in charts_of_criterion(r) {
                let _ = write!(
                    o,
                    "<div class=\"chart\" data-chart=\"{}\" data-kind=\"{}\"></div>",
                    charts.len(),
                    esc(kind)
                );
                charts.push(chart);
            }
            o.push_str("</details>");
        }
        if more > 0 {
            let _ = write!(
                o,
                "<p>… and {more} more passed; scorecard.json and junit.xml list every one.</p>"
            );
        }
    }
    o.push_str(&alerts_section(s));
    o.push_str(&security_section(s));
    if let Some(cap) = &s.capacity {
        let _ = write!(
            o,
            "<h2>Capacity plan</h2><p>{}</p><div class=\"scroll\"><table><tr><th>In</th><th>Peak</th>\
             <th>Share of the ceiling ({:.0}/s)</th></tr>",
            esc(&cap.advice),
            cap.ceiling,
        );
        for (when, peak, share) in cap.rows() {
            let _ = write!(
                o,
                "<tr><td>{when}</td><td class=num>{peak:.0}/s</td><td class=num>{:.0}%</td></tr>",
                share * 100.0
            );
        }
        let _ = write!(o, "</table></div><p>Ceiling from {}.</p>", esc(&cap.source));
        let _ = write!(
            o,
            "<div class=\"chart\" data-chart=\"{}\" data-kind=\"capacity\"></div>",
            charts.len()
        );
        charts.push(capacity_chart(cap));
    }
    if !s.attested.is_empty() {
        o.push_str(
            "<h2>Attested by people</h2><p>What only people judge: shown apart, never measured \
             and never in the score.</p><div class=\"scroll\"><table><tr><th></th><th>Attestation</th><th>Category</th>\
             <th>By</th><th>On</th><th>Record</th><th>Holds</th></tr>",
        );
        for a in &s.attested {
            let link = &a.attestation.link;
            let record = if link.starts_with("https://") || link.starts_with("http://") {
                format!("<a href=\"{0}\">{0}</a>", esc(link))
            } else {
                esc(link)
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td><code>{}</code> {}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{record}</td><td>{}</td></tr>",
                a.mark(),
                esc(&a.attestation.id),
                esc(&a.attestation.title),
                esc(&a.attestation.category),
                esc(&a.attestation.by),
                esc(&a.attestation.on),
                esc(&a.describe())
            );
        }
        o.push_str("</table></div>");
    }
    if let Some(sens) = &s.sensitivity {
        let _ = write!(
            o,
            "<h2>Suite sensitivity</h2><p>The suite once clean and once per operational mutant; \
             a mutant is caught when its run is no-go. {}.</p><div class=\"scroll\"><table><tr>\
             <th>Mutant</th><th>What it does</th><th>Outcome</th><th>Time</th></tr>",
            esc(&sens.summary())
        );
        for r in &sens.rows {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=num>{:.0} s</td></tr>",
                esc(&r.mutant),
                esc(&r.what),
                esc(&r.describe()),
                r.seconds
            );
        }
        o.push_str("</table></div>");
    }
    if let Some(m) = &s.matrix {
        let list = |v: &[String]| {
            if v.is_empty() {
                "—".to_owned()
            } else {
                esc(&v.join(", "))
            }
        };
        let _ = write!(
            o,
            "<h2>Defect matrix</h2><p>The review once on the healthy service and once per defect \
             switched on; each row is the verdict of its own run. {}.</p><div class=\"scroll\"><table><tr>\
             <th>Defect</th><th>Meant to be caught by</th><th>Failed</th>\
             <th>Also failed or not measured</th><th>Verdict</th><th>As expected</th>\
             <th>Time</th></tr>",
            esc(&m.summary())
        );
        for r in &m.rows {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=num>{:.0} s</td></tr>",
                esc(r.name()),
                list(&r.expected),
                list(&r.failed),
                list(&r.collateral()),
                r.verdict,
                esc(&r.outcome()),
                r.seconds
            );
        }
        o.push_str("</table></div>");
        o.push_str(&matrix_grid(m));
    }
    if let Some(b) = &s.baseline {
        o.push_str(
            "<h2>Compared with the baseline</h2><div class=\"scroll\"><table><tr><th>Change</th><th>Criterion</th>\
             <th>Test</th><th>Detail</th></tr>",
        );
        for c in b {
            let _ = write!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                c.change,
                esc(&c.id),
                esc(&c.test),
                esc(&c.detail)
            );
        }
        o.push_str("</table></div>");
    }
    if !s.findings.is_empty() {
        o.push_str("<h2>Findings</h2><ul>");
        for f in &s.findings {
            let _ = write!(o, "<li>{}</li>", esc(&f.message));
        }
        o.push_str("</ul>");
    }
    // JSON inside <script>: "</" must not appear, or the element would end early.
    let data = serde_json::to_string(&charts)
        .unwrap_or_else(|_| "[]".into())
        .replace("</", "<\\/");
    let _ = writeln!(
        o,
        "<script type=\"application/json\" id=\"chart-data\">{data}</script>\
         <script>{SCRIPT}</script></body></html>"
    );
    o
}
