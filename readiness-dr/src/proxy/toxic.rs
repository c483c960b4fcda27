//! The toxics: what each does, its builder, and Toxiproxy's JSON form.

use std::fmt;
use std::time::Duration;

use readiness_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A direction of the bytes through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server (Toxiproxy's `upstream`).
    Upstream,
    /// Server to client (Toxiproxy's `downstream`, the default).
    #[default]
    Downstream,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        })
    }
}

/// What a toxic does, with Toxiproxy's attributes (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToxicKind {
    /// `latency`: each chunk waits `latency` ± a uniform `jitter`.
    Latency {
        /// The delay added to each chunk.
        latency: Duration,
        /// The largest deviation from `latency`, either way.
        jitter: Duration,
    },
    /// `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes).
    Bandwidth {
        /// KB (1000 bytes) per second; never 0.
        rate: u64,
    },
    /// `slow_close`: the close is passed on `delay` late.
    SlowClose {
        /// How late.
        delay: Duration,
    },
    /// `timeout`: data is dropped; the connection closes once `timeout` passed without
    /// data (never with zero), and when the toxic is removed.
    Timeout {
        /// How long without data before the close; zero never closes.
        timeout: Duration,
    },
    /// Not one of Toxiproxy's: data is held (not dropped) and released when the toxic is
    /// removed; the connection stays open. A stall that ends.
    Hold,
    /// `reset_peer`: the first chunk is dropped, and `timeout` after it both sides get a
    /// TCP RST.
    ResetPeer {
        /// From the first chunk to the reset.
        timeout: Duration,
    },
    /// `slicer`: writes cut into slices.
    Slicer {
        /// Bytes in an average slice; never 0.
        average_size: usize,
        /// The largest deviation from `average_size`, either way.
        size_variation: usize,
        /// The wait before each slice.
        delay: Duration,
    },
    /// `limit_data`: closed after `bytes` bytes.
    LimitData {
        /// Bytes that pass before the close.
        bytes: u64,
    },
}

impl ToxicKind {
    /// Toxiproxy's name of the type (`latency`, `slow_close`, ..).
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::Hold => "hold",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }
}

impl fmt::Display for ToxicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: &Duration| d.as_millis();
        match self {
            ToxicKind::Latency { latency, jitter } => {
                write!(f, "latency={}ms jitter={}ms", ms(latency), ms(jitter))
            }
            ToxicKind::Bandwidth { rate } => write!(f, "rate={rate}KB/s"),
            ToxicKind::SlowClose { delay } => write!(f, "delay={}ms", ms(delay)),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                write!(f, "timeout={}ms", ms(timeout))
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => write!(
                f,
                "average_size={average_size} size_variation={size_variation} delay={}us",
                delay.as_micros()
            ),
            ToxicKind::LimitData { bytes } => write!(f, "bytes={bytes}"),
            ToxicKind::Hold => f.write_str("held until removed"),
        }
    }
}

/// A fault on one direction of a [`Proxy`]'s connections, as in Toxiproxy.
///
/// Built by value: `Toxic::latency(ms(100)).with_jitter(ms(10)).upstream()`. Its name is
/// `<type>_<stream>` (`latency_upstream`) unless set with [`Toxic::with_name`]; it is
/// checked when added ([`Proxy::add`]).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Toxic {
    pub(super) name: String,
    named: bool,
    pub(super) stream: Stream,
    pub(super) toxicity: f64,
    pub(super) kind: ToxicKind,
}

impl Toxic {
    fn new(kind: ToxicKind) -> Self {
        let mut toxic = Toxic {
            name: String::new(),
            named: false,
            stream: Stream::Downstream,
            toxicity: 1.0,
            kind,
        };
        toxic.rename();
        toxic
    }

    fn rename(&mut self) {
        if !self.named {
            self.name = format!("{}_{}", self.kind.type_name(), self.stream);
        }
    }

    /// `latency`: each chunk waits `latency` (add a spread with [`Toxic::with_jitter`]).
    pub fn latency(latency: Duration) -> Self {
        Self::new(ToxicKind::Latency {
            latency,
            jitter: Duration::ZERO,
        })
    }

    /// `bandwidth`: at most `rate` KB/s, 1 KB being 1000 bytes as in Toxiproxy.
    pub fn bandwidth_kb_per_s(rate: u64) -> Self {
        Self::new(ToxicKind::Bandwidth { rate })
    }

    /// `slow_close`: the close is passed on `delay` after it arrived.
    pub fn slow_close(delay: Duration) -> Self {
        Self::new(ToxicKind::SlowClose { delay })
    }

    /// `timeout`, as Toxiproxy's: data is dropped, the connection closes once `timeout`
    /// passed without data (each dropped chunk starts the wait again; with
    /// `Duration::ZERO` it never closes), and removing the toxic closes it too.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new(ToxicKind::Timeout { timeout })
    }

    /// `hold` (not one of Toxiproxy's toxics): no data passes, none is lost; removing the
    /// toxic releases what it held and the connection goes on. A stall that ends, where
    /// Toxiproxy's `timeout` is a stall that loses the data and the connection.
    pub fn hold() -> Self {
        Self::new(ToxicKind::Hold)
    }

    /// `reset_peer`, as Toxiproxy's: the first chunk in its direction is dropped, and
    /// `timeout` after it both sides get a TCP RST (`SO_LINGER` 0), so the peer's first
    /// read is `ECONNRESET`. A connection that sends nothing is never reset.
    pub fn reset_peer(timeout: Duration) -> Self {
        Self::new(ToxicKind::ResetPeer { timeout })
    }

    /// `slicer`: writes are cut into slices of `average_size` bytes (vary it with
    /// [`Toxic::with_size_variation`], space it with [`Toxic::with_slice_delay`]).
    pub fn slicer(average_size: usize) -> Self {
        Self::new(ToxicKind::Slicer {
            average_size,
            size_variation: 0,
            delay: Duration::ZERO,
        })
    }

    /// `limit_data`: the connection closes once exactly `bytes` bytes have passed.
    pub fn limit_data(bytes: u64) -> Self {
        Self::new(ToxicKind::LimitData { bytes })
    }

    /// The spread of a `latency` toxic: each delay is `latency` ± up to `jitter`
    /// (uniform). Other toxics have no jitter and are left as they are.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        if let ToxicKind::Latency { jitter: j, .. } = &mut self.kind {
            *j = jitter;
        }
        self
    }

    /// The spread of a `slicer`'s slices, in bytes either way. Other toxics are left as
    /// they are.
    pub fn with_size_variation(mut self, size_variation: usize) -> Self {
        if let ToxicKind::Slicer {
            size_variation: v, ..
        } = &mut self.kind
        {
            *v = size_variation;
        }
        self
    }

    /// The wait before each of a `slicer`'s slices. Other toxics are left as they are.
    pub fn with_slice_delay(mut self, delay: Duration) -> Self {
        if let ToxicKind::Slicer { delay: d, .. } = &mut self.kind {
            *d = delay;
        }
        self
    }

    /// Acts on the bytes from the client to the server.
    pub fn upstream(mut self) -> Self {
        self.stream = Stream::Upstream;
        self.rename();
        self
    }

    /// Acts on the bytes from the server to the client (the default).
    pub fn downstream(mut self) -> Self {
        self.stream = Stream::Downstream;
        self.rename();
        self
    }

    /// The share of connections the toxic applies to, in `0..=1` (1 by default).
    pub fn with_toxicity(mut self, toxicity: f64) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// Names the toxic (by default `<type>_<stream>`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.named = true;
        self
    }

    /// The name [`Proxy::remove`] takes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The direction it acts on.
    pub fn stream(&self) -> Stream {
        self.stream
    }

    /// The share of connections it applies to.
    pub fn toxicity(&self) -> f64 {
        self.toxicity
    }

    /// What it does.
    pub fn kind(&self) -> &ToxicKind {
        &self.kind
    }

    /// Parses Toxiproxy's JSON form of a toxic,
    /// `{"name":"slow","type":"latency","stream":"downstream","toxicity":1.0,"attributes":{"latency":100,"jitter":10}}`,
    /// in Toxiproxy's units (ms, KB/s, µs for the slicer's `delay`). `name`, `stream`
    /// and `toxicity` may be left out; a missing attribute is 0 as in Toxiproxy. An
    /// unknown type, stream or attribute, a negative or fractional number, and a
    /// toxicity outside 0–1 are [`Error::InvalidInput`].
    pub fn from_toxiproxy_json(json: &str) -> Result<Toxic> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            name: Option<String>,
            #[serde(rename = "type")]
            kind: String,
            stream: Option<String>,
            toxicity: Option<f64>,
            #[serde(default)]
            attributes: Map<String, Value>,
        }
        let raw: Raw = serde_json::from_str(json).map_err(|e| {
            Error::InvalidInput(format!(
                "toxic {json}: {e}; Toxiproxy's form is {{\"type\":\"latency\",\"stream\":\"downstream\",\
                 \"toxicity\":1.0,\"attributes\":{{\"latency\":100}}}}"
            ))
        })?;
        let attrs = Attributes {
            kind: &raw.kind,
            map: &raw.attributes,
        };
        let known: &[&str] = match raw.kind.as_str() {
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "slow_close" => &["delay"],
            "timeout" | "reset_peer" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown toxic type {other:?}; Toxiproxy's types are latency, bandwidth, \
                     slow_close, timeout, reset_peer, slicer and limit_data"
                )));
            }
        };
        attrs.only(known)?;
        let ms = |key| attrs.number(key).map(Duration::from_millis);
        let size = |key| {
            usize::try_from(attrs.number(key)?)
                .map_err(|_| Error::InvalidInput(format!("slicer attribute `{key}` is too large")))
        };
        let mut toxic = match raw.kind.as_str() {
            "latency" => Toxic::latency(ms("latency")?).with_jitter(ms("jitter")?),
            "bandwidth" => Toxic::bandwidth_kb_per_s(attrs.number("rate")?),
            "slow_close" => Toxic::slow_close(ms("delay")?),
            "timeout" => Toxic::timeout(ms("timeout")?),
            "reset_peer" => Toxic::reset_peer(ms("timeout")?),
            "slicer" => Toxic::slicer(size("average_size")?)
                .with_size_variation(size("size_variation")?)
                .with_slice_delay(Duration::from_micros(attrs.number("delay")?)),
            _ => Toxic::limit_data(attrs.number("bytes")?),
        };
        match raw.stream.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("downstream") => {}
            Some("upstream") => toxic = toxic.upstream(),
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "toxic stream {other:?} is unknown; use \"upstream\" (client to server) or \
                     \"downstream\" (server to client)"
                )));
            }
        }
        if let Some(toxicity) = raw.toxicity {
            toxic = toxic.with_toxicity(toxicity);
        }
        if let Some(name) = raw.name {
            toxic = toxic.with_name(name);
        }
        toxic.validate()?;
        Ok(toxic)
    }

    /// Refuses what no connection could carry out.
    pub(super) fn validate(&self) -> Result<()> {
        let what = format!("toxic `{}`", self.name);
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(Error::InvalidInput(format!(
                "{what}: toxicity {} is outside 0..=1 (the share of connections it applies to)",
                self.toxicity
            )));
        }
        if self.name.is_empty() {
            return Err(Error::InvalidInput(
                "a toxic's name is empty; leave it out for the default".into(),
            ));
        }
        match self.kind {
            ToxicKind::Bandwidth { rate: 0 } => Err(Error::InvalidInput(format!(
                "{what}: bandwidth rate 0 KB/s would never deliver; use a `timeout` toxic to stop the data"
            ))),
            ToxicKind::Slicer {
                average_size: 0, ..
            } => Err(Error::InvalidInput(format!(
                "{what}: slicer average_size 0 would never deliver; give at least 1 byte"
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Toxic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} {}, toxicity {}: {})",
            self.name,
            self.kind.type_name(),
            self.stream,
            self.toxicity,
            self.kind
        )
    }
}

/// The `attributes` of a toxic in Toxiproxy's JSON.
struct Attributes<'a> {
    kind: &'a str,
    map: &'a Map<String, Value>,
}

impl Attributes<'_> {
    fn only(&self, known: &[&str]) -> Result<()> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(Error::InvalidInput(format!(
                "toxic type {} has no attribute `{key}`; its attributes are {}",
                self.kind,
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    fn number(&self, key: &str) -> Result<u64> {
        match self.map.get(key) {
            None => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "toxic type {}: attribute `{key}` is {v}; it must be a whole number >= 0",
                    self.kind
                ))
            }),
        }
    }
}
