//! A TCP fault proxy inside the test process, with Toxiproxy's toxics.
//!
//! A [`Proxy`] listens on 127.0.0.1 and forwards every connection it accepts to an
//! upstream `host:port`. [`Toxic`]s, added and removed while traffic flows, degrade one
//! direction of the bytes the way Toxiproxy's do
//! (<https://github.com/Shopify/toxiproxy#toxics>): same type names, attributes, units
//! and default names, so a toxic in Toxiproxy's JSON ([`Toxic::from_toxiproxy_json`])
//! means the same here. The upstream must be on loopback unless the test opts in with
//! [`ProxyBuilder::allow_non_loopback`]: faults go only to what the test itself started.
//!
//! | type | builder | attributes (Toxiproxy's units) | effect on its direction |
//! |---|---|---|---|
//! | `latency` | [`Toxic::latency`], [`Toxic::with_jitter`] | `latency`, `jitter` (ms) | each chunk waits `latency` ± a uniform `jitter`, counted from when the proxy read it |
//! | `bandwidth` | [`Toxic::bandwidth_kb_per_s`] | `rate` (KB/s, 1 KB = 1000 bytes) | bytes pass at `rate`, in pieces of at most 100 ms worth |
//! | `slow_close` | [`Toxic::slow_close`] | `delay` (ms) | the close (EOF) is passed on `delay` after it arrived |
//! | `timeout` | [`Toxic::timeout`] | `timeout` (ms) | no data passes; the connection closes after `timeout`; with 0 it stays open and the data is held until the toxic is removed |
//! | `reset_peer` | [`Toxic::reset_peer`] | `timeout` (ms) | data passes until `timeout`, then both sides get a TCP RST (`SO_LINGER` 0) |
//! | `slicer` | [`Toxic::slicer`], [`Toxic::with_size_variation`], [`Toxic::with_slice_delay`] | `average_size`, `size_variation` (bytes), `delay` (µs) | writes are cut into slices of `average_size` ± `size_variation` bytes, each sent `delay` after the previous one |
//! | `limit_data` | [`Toxic::limit_data`] | `bytes` | the connection closes once exactly `bytes` bytes have passed |
//!
//! Every toxic acts on one [`Stream`] (`downstream`, server to client, by default) and on
//! a share of the connections, its `toxicity` (1 by default). Whether it applies to a
//! connection is decided once, from the proxy's seed ([`ProxyBuilder::with_seed`]), the
//! connection's number and the toxic's name, so a run with the same seed and the same
//! order of connections replays. Toxics added or removed act on open connections too:
//! removing a `timeout` releases the data it held. Several toxics in one direction
//! combine: latencies add up, the lowest `rate` wins, the first slicer slices, the
//! tightest `limit_data` closes. Timers that count from "the start" of a toxic start when
//! the connection first sees it (when it opens, or when the toxic is added).
//!
//! [`Proxy::disable`] is Toxiproxy's `enabled: false` except that the port stays bound:
//! open connections are closed and new ones are reset at once. [`Proxy::set_upstream`]
//! makes it the switchable front of a blue/green drill: new connections go to the new
//! upstream while open ones drain from the old ([`Proxy::wait_drained`]).
//! [`Proxy::events`] lists what was done to the proxy as timestamped
//! [`Fault`]s, the same events container faults give, so a toxic can end an RPO window or
//! start a recovery timeline. Dropping the
//! proxy (or [`Proxy::close`]) stops the listener and every connection.
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use std::time::Duration;
//! use readiness_dr::proxy::{Proxy, Toxic};
//!
//! let redis = Proxy::start("redis", "127.0.0.1:6379").await?;
//! let url = format!("redis://{}", redis.listen_addr()); // give this to the service
//! redis.add(Toxic::latency(Duration::from_millis(100)).with_jitter(Duration::from_millis(10)))?;
//! redis.add(Toxic::timeout(Duration::ZERO).upstream().with_toxicity(0.5))?;
//! // ... exercise the service ...
//! redis.remove("timeout_upstream")?;
//! redis.disable().await; // redis is down
//! redis.enable();
//! # let _ = url; Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use readiness_core::guard::{Reach, check_target};
use readiness_core::{Error, Result};

use crate::fault::Fault;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// Bytes read at once from either side.
const BUFFER: usize = 32 * 1024;
/// Chunks read but not yet written, per direction (backpressure beyond that).
const CHUNKS_IN_FLIGHT: usize = 8;
/// How long the check of an upstream, and each connection to it, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lag of the bandwidth schedule that is made up for rather than lost.
const PACING_SLACK: Duration = Duration::from_millis(20);
const OPT_IN: &str = "Proxy::builder(..).allow_non_loopback()";

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
    /// `timeout`: no data; closed after `timeout`, never with zero.
    Timeout {
        /// When the connection closes; zero holds the data until the toxic is removed.
        timeout: Duration,
    },
    /// `reset_peer`: a TCP RST after `timeout`.
    ResetPeer {
        /// When the connection is reset.
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
    name: String,
    named: bool,
    stream: Stream,
    toxicity: f64,
    kind: ToxicKind,
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

    /// `timeout`: no data passes and the connection closes after `timeout`; with
    /// `Duration::ZERO` it never closes and the data waits until the toxic is removed.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new(ToxicKind::Timeout { timeout })
    }

    /// `reset_peer`: `timeout` after the toxic starts, both sides get a TCP RST.
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
    fn validate(&self) -> Result<()> {
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

/// What passed through a proxy since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct ProxyCounters {
    /// Connections accepted and forwarded (not those refused while disabled).
    pub connections: u64,
    /// Bytes handed to the server (client to server).
    pub bytes_upstream: u64,
    /// Bytes handed to the client (server to client).
    pub bytes_downstream: u64,
}

/// Options of a [`Proxy`] before it starts ([`Proxy::builder`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct ProxyBuilder {
    name: String,
    upstream: String,
    port: u16,
    reach: Reach,
    seed: Option<u64>,
}

impl ProxyBuilder {
    /// Listens on 127.0.0.1:`port` instead of any free port.
    pub fn listen_on(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Lets the upstream (and later ones) be off loopback: a container the test started
    /// on another network, never a shared system.
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }

    /// The seed of the toxicity decisions and the jitter, so a run replays (random by
    /// default, and written in the start event).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks that the upstream accepts a connection, then listens. Nothing is started
    /// when it fails.
    pub async fn start(self) -> Result<Proxy> {
        check_upstream(&self.name, &self.upstream, self.reach).await?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await.map_err(|e| {
            Error::Other(format!(
                "proxy `{}`: cannot listen on 127.0.0.1:{}: {e}; give another port, or 0 for any free one",
                self.name, self.port
            ))
        })?;
        let listen = listener.local_addr()?;
        let seed = self.seed.unwrap_or_else(|| fastrand::u64(..));
        let shared = Arc::new(Shared {
            name: self.name,
            reach: self.reach,
            seed,
            enabled: AtomicBool::new(true),
            upstream: Mutex::new(self.upstream),
            toxics: watch::Sender::new(Arc::new(Vec::new())),
            next_toxic: AtomicU64::new(0),
            open: watch::Sender::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        shared.event(format!(
            "started proxy `{}` on {listen} to {} (seed {seed})",
            shared.name,
            lock(&shared.upstream)
        ));
        let (commands, rx) = mpsc::channel(4);
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared), rx));
        Ok(Proxy {
            shared,
            listen,
            commands,
            accept,
        })
    }
}

/// An in-process TCP proxy with Toxiproxy's toxics; see the [module docs](self).
///
/// Dropping it stops the listener and every connection.
pub struct Proxy {
    shared: Arc<Shared>,
    listen: SocketAddr,
    commands: mpsc::Sender<Command>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.shared.name)
            .field("listen", &self.listen)
            .field("upstream", &self.upstream())
            .field("enabled", &self.shared.enabled.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy named `name` (for messages and events) to `upstream` (`host:port`), to
    /// configure before [`ProxyBuilder::start`].
    pub fn builder(name: impl Into<String>, upstream: impl Into<String>) -> ProxyBuilder {
        ProxyBuilder {
            name: name.into(),
            upstream: upstream.into(),
            port: 0,
            reach: Reach::Loopback,
            seed: None,
        }
    }

    /// Starts a proxy on any free port of 127.0.0.1 to `upstream` (`host:port` on
    /// loopback), once `upstream` accepts a connection.
    pub async fn start(name: impl Into<String>, upstream: impl Into<String>) -> Result<Proxy> {
        Self::builder(name, upstream).start().await
    }

    /// Where clients connect.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The upstream new connections go to.
    pub fn upstream(&self) -> String {
        lock(&self.shared.upstream).clone()
    }

    /// The seed of the toxicity decisions and the jitter.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Adds a toxic; it acts on open connections too. A toxicity outside 0..=1, a name
    /// already present, a bandwidth of 0 or a slicer of 0 bytes is
    /// [`Error::InvalidInput`], and nothing changes.
    pub fn add(&self, toxic: Toxic) -> Result<()> {
        toxic.validate()?;
        let mut outcome = Ok(());
        self.shared.toxics.send_if_modified(|list| {
            if list.iter().any(|e| e.toxic.name == toxic.name) {
                outcome = Err(Error::InvalidInput(format!(
                    "proxy `{}` already has a toxic named `{}`; remove it first or name the new one with `with_name`",
                    self.shared.name, toxic.name
                )));
                return false;
            }
            let id = self.shared.next_toxic.fetch_add(1, Ordering::SeqCst);
            let mut next = Vec::clone(list);
            next.push(Entry { id, toxic: toxic.clone() });
            *list = Arc::new(next);
            true
        });
        outcome?;
        self.shared.event(format!("added toxic {toxic}"));
        Ok(())
    }

    /// Removes the toxic named `name`; what it held is released. An unknown name is an
    /// error that lists the present ones.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut removed = None;
        self.shared.toxics.send_if_modified(|list| {
            let Some(at) = list.iter().position(|e| e.toxic.name == name) else {
                return false;
            };
            let mut next = Vec::clone(list);
            removed = Some(next.remove(at).toxic);
            *list = Arc::new(next);
            true
        });
        match removed {
            Some(toxic) => {
                self.shared.event(format!("removed toxic {toxic}"));
                Ok(())
            }
            None => {
                let present: Vec<String> = self
                    .toxics()
                    .iter()
                    .map(|t| format!("`{}`", t.name))
                    .collect();
                Err(Error::InvalidInput(format!(
                    "proxy `{}` has no toxic named `{name}`; present: {}",
                    self.shared.name,
                    if present.is_empty() {
                        "none".to_owned()
                    } else {
                        present.join(", ")
                    }
                )))
            }
        }
    }

    /// Removes every toxic.
    pub fn remove_all(&self) {
        let old = self.shared.toxics.send_replace(Arc::new(Vec::new()));
        if !old.is_empty() {
            let names: Vec<&str> = old.iter().map(|e| e.toxic.name.as_str()).collect();
            self.shared
                .event(format!("removed all toxics: {}", names.join(", ")));
        }
    }

    /// The toxics present, in the order they were added.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.shared
            .toxics
            .borrow()
            .iter()
            .map(|e| e.toxic.clone())
            .collect()
    }

    /// Takes the dependency down: closes every open connection (returning once they are
    /// closed) and resets new ones at once. The port stays bound, so
    /// [`Proxy::enable`] brings it back at the same address.
    pub async fn disable(&self) {
        let open: usize = self.connections().values().sum();
        self.shared.enabled.store(false, Ordering::SeqCst);
        let (ack, done) = oneshot::channel();
        if self.commands.send(Command::Disable(ack)).await.is_ok() {
            let _closed = done.await;
        }
        self.shared.event(format!(
            "disabled: closed the open connections ({open}), resetting new ones"
        ));
    }

    /// Forwards new connections again after [`Proxy::disable`].
    pub fn enable(&self) {
        if !self.shared.enabled.swap(true, Ordering::SeqCst) {
            self.shared.event("enabled".to_owned());
        }
    }

    /// Sends new connections to `upstream` (checked like the first one) while open ones
    /// go on with the upstream they started with, until they close.
    pub async fn set_upstream(&self, upstream: impl Into<String>) -> Result<()> {
        let upstream = upstream.into();
        check_upstream(&self.shared.name, &upstream, self.shared.reach).await?;
        let old = std::mem::replace(&mut *lock(&self.shared.upstream), upstream.clone());
        self.shared
            .event(format!("switched upstream from {old} to {upstream}"));
        Ok(())
    }

    /// Open connections per upstream (upstreams with none are left out).
    pub fn connections(&self) -> BTreeMap<String, usize> {
        self.shared.open.borrow().clone()
    }

    /// Waits until no connection to `upstream` is open, at most `timeout`: `true` once
    /// drained, `false` if some were still open then. The current upstream never drains,
    /// so asking for it is an error.
    pub async fn wait_drained(&self, upstream: &str, timeout: Duration) -> Result<bool> {
        if *lock(&self.shared.upstream) == upstream {
            return Err(Error::InvalidInput(format!(
                "proxy `{}`: {upstream} is the current upstream, so new connections keep going \
                 there; switch with `set_upstream` before waiting for it to drain",
                self.shared.name
            )));
        }
        let mut open = self.shared.open.subscribe();
        let drained = open.wait_for(|m| !m.contains_key(upstream));
        Ok(tokio::time::timeout(timeout, drained).await.is_ok())
    }

    /// Connections and bytes so far.
    pub fn counters(&self) -> ProxyCounters {
        ProxyCounters {
            connections: self.shared.connections.load(Ordering::SeqCst),
            bytes_upstream: self.shared.bytes[0].load(Ordering::SeqCst),
            bytes_downstream: self.shared.bytes[1].load(Ordering::SeqCst),
        }
    }

    /// What was done to the proxy: start, toxics added and removed, disable and enable,
    /// upstream switches, each a [`Fault`] with its time.
    pub fn events(&self) -> Vec<Fault> {
        lock(&self.shared.events).clone()
    }

    /// Stops the listener and closes every connection, returning once they are closed
    /// and the port is free.
    pub async fn close(mut self) {
        let _ = self.commands.send(Command::Close).await;
        let _stopped = (&mut self.accept).await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: dropping it aborts them all.
        self.accept.abort();
    }
}

/// What the proxy handle and its tasks share.
#[derive(Debug)]
struct Shared {
    name: String,
    reach: Reach,
    seed: u64,
    enabled: AtomicBool,
    upstream: Mutex<String>,
    toxics: watch::Sender<Arc<Vec<Entry>>>,
    next_toxic: AtomicU64,
    /// Open connections per upstream.
    open: watch::Sender<BTreeMap<String, usize>>,
    events: Mutex<Vec<Fault>>,
    connections: AtomicU64,
    /// Bytes handed on, upstream then downstream.
    bytes: [AtomicU64; 2],
}

impl Shared {
    fn event(&self, what: String) {
        lock(&self.events).push(Fault::now(what));
    }
}

/// A toxic as added, with an id so that one removed and added again starts afresh.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    toxic: Toxic,
}

#[derive(Debug)]
enum Command {
    Disable(oneshot::Sender<()>),
    Close,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The loopback guard, then a TCP connection within [`CONNECT_TIMEOUT`].
async fn check_upstream(name: &str, upstream: &str, reach: Reach) -> Result<()> {
    if upstream.contains("://") {
        return Err(Error::InvalidInput(format!(
            "proxy `{name}`: upstream {upstream:?} is a URL; give host:port (127.0.0.1:6379)"
        )));
    }
    if let (_, None) = check_target(upstream, reach, OPT_IN)? {
        return Err(Error::InvalidInput(format!(
            "proxy `{name}`: upstream {upstream:?} has no port"
        )));
    }
    let reason = match timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e.kind().to_string(),
        Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
    };
    Err(Error::TargetRefused {
        target: upstream.to_owned(),
        reason: format!(
            "proxy `{name}`: upstream {upstream} accepts no connection: {reason}; start the dependency before the proxy"
        ),
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut conns = JoinSet::new();
    // Declared after `conns`, so dropped before it: when the task is aborted the port is
    // closed before any connection is.
    let listener = listener;
    let mut number = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else {
                    // Out of file descriptors or similar: wait rather than spin.
                    sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if !shared.enabled.load(Ordering::SeqCst) {
                    let _ = client.set_zero_linger();
                    continue;
                }
                number += 1;
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let upstream = lock(&shared.upstream).clone();
                let open = Open::new(&shared, upstream);
                conns.spawn(serve(client, open, number));
            }
            command = commands.recv() => match command {
                Some(Command::Disable(ack)) => {
                    conns.shutdown().await;
                    let _ = ack.send(());
                }
                Some(Command::Close) | None => {
                    conns.shutdown().await;
                    return;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// An open connection, counted under its upstream until dropped (also when aborted).
struct Open {
    shared: Arc<Shared>,
    upstream: String,
}

impl Open {
    fn new(shared: &Arc<Shared>, upstream: String) -> Self {
        shared
            .open
            .send_modify(|m| *m.entry(upstream.clone()).or_default() += 1);
        Open {
            shared: Arc::clone(shared),
            upstream,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.open.send_modify(|m| {
            if let Some(n) = m.get_mut(&self.upstream) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.upstream);
                }
            }
        });
    }
}

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The source closed; the close was passed on (half-close), the other way goes on.
    Eof,
    /// Close the whole connection (timeout, limit_data, an error).
    Close,
    /// Close the whole connection with a TCP RST (reset_peer).
    Reset,
}

async fn serve(mut client: TcpStream, open: Open, number: u64) {
    let connect = timeout(CONNECT_TIMEOUT, TcpStream::connect(open.upstream.as_str())).await;
    let Ok(Ok(mut server)) = connect else {
        return; // the client sees the close, as with Toxiproxy
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let up = direction(cr, sw, Stream::Upstream, &open.shared, number);
        let down = direction(sr, cw, Stream::Downstream, &open.shared, number);
        tokio::pin!(up, down);
        tokio::select! {
            end = &mut up => if end == End::Eof { down.await } else { end },
            end = &mut down => if end == End::Eof { up.await } else { end },
        }
    };
    if end == End::Reset {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// A read, with when it was read (latency counts from there).
struct Chunk {
    data: Vec<u8>,
    at: Instant,
}

enum Msg {
    Data(Chunk),
    Eof,
    Failed,
}

/// One direction: a reader that timestamps chunks, and a writer that applies the toxics.
async fn direction<R, W>(mut src: R, dst: W, stream: Stream, shared: &Shared, number: u64) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0; BUFFER];
        loop {
            let msg = match src.read(&mut buf).await {
                Ok(0) => Msg::Eof,
                Ok(n) => Msg::Data(Chunk {
                    data: buf[..n].to_vec(),
                    at: Instant::now(),
                }),
                Err(_) => Msg::Failed,
            };
            let last = !matches!(msg, Msg::Data(_));
            if tx.send(msg).await.is_err() || last {
                break;
            }
        }
        std::future::pending::<End>().await
    };
    let writer = Writer {
        dst,
        stream,
        number,
        shared,
        states: HashMap::new(),
        rng: fastrand::Rng::with_seed(mix(shared.seed, number, stream as u64 + 1)),
        paced_to: None,
    };
    tokio::select! {
        end = writer.run(rx, shared.toxics.subscribe()) => end,
        end = reader => end,
    }
}

/// A toxic as one connection sees it.
#[derive(Debug)]
struct ToxicState {
    applies: bool,
    since: Instant,
    passed: u64,
}

/// The toxics of one direction, folded into what the writer does.
#[derive(Debug, Default)]
struct Effects {
    hold: bool,
    ends_at: Option<(Instant, End)>,
    latency: Duration,
    jitter: Duration,
    rate: Option<u64>,
    slicer: Option<(usize, usize, Duration)>,
    limits: Vec<(u64, u64)>,
    slow_close: Duration,
}

struct Writer<'a, W> {
    dst: W,
    stream: Stream,
    number: u64,
    shared: &'a Shared,
    states: HashMap<u64, ToxicState>,
    rng: fastrand::Rng,
    /// When the bandwidth toxic lets the next byte go.
    paced_to: Option<Instant>,
}

impl<W: AsyncWrite + Unpin> Writer<'_, W> {
    async fn run(
        mut self,
        mut chunks: mpsc::Receiver<Msg>,
        mut toxics: watch::Receiver<Arc<Vec<Entry>>>,
    ) -> End {
        loop {
            let fx = self.effects(&mut toxics);
            tokio::select! {
                end = until(fx.ends_at) => return end,
                changed = toxics.changed() => if changed.is_err() { return End::Close },
                msg = chunks.recv(), if !fx.hold => {
                    // A toxic added before these bytes arrived acts on them, even when the
                    // select saw the bytes first.
                    let fx = if toxics.has_changed().unwrap_or(true) {
                        self.effects(&mut toxics)
                    } else {
                        fx
                    };
                    match msg {
                    Some(Msg::Data(chunk)) => {
                        if let Some(end) = self.deliver(chunk, fx, &mut toxics).await {
                            return end;
                        }
                    }
                    Some(Msg::Eof) => {
                        sleep(fx.slow_close).await;
                        let _ = self.dst.shutdown().await;
                        return End::Eof;
                    }
                    Some(Msg::Failed) | None => return End::Close,
                    }
                }
            }
        }
    }

    /// Folds the toxics of this direction that apply to this connection.
    fn effects(&mut self, toxics: &mut watch::Receiver<Arc<Vec<Entry>>>) -> Effects {
        let list = Arc::clone(&*toxics.borrow_and_update());
        self.states.retain(|id, _| list.iter().any(|e| e.id == *id));
        let mut fx = Effects::default();
        let (seed, number) = (self.shared.seed, self.number);
        for entry in list.iter().filter(|e| e.toxic.stream == self.stream) {
            let toxic = &entry.toxic;
            let state = self.states.entry(entry.id).or_insert_with(|| ToxicState {
                applies: applies(seed, number, &toxic.name, toxic.toxicity),
                since: Instant::now(),
                passed: 0,
            });
            if !state.applies {
                continue;
            }
            let mut end_at = |at: Instant, end: End| {
                if fx.ends_at.is_none_or(|(t, _)| at < t) {
                    fx.ends_at = Some((at, end));
                }
            };
            match toxic.kind {
                ToxicKind::Latency { latency, jitter } => {
                    fx.latency += latency;
                    fx.jitter += jitter;
                }
                ToxicKind::Bandwidth { rate } => {
                    fx.rate = Some(fx.rate.map_or(rate, |r| r.min(rate)))
                }
                ToxicKind::SlowClose { delay } => fx.slow_close += delay,
                ToxicKind::Timeout { timeout } => {
                    fx.hold = true;
                    if !timeout.is_zero() {
                        end_at(state.since + timeout, End::Close);
                    }
                }
                ToxicKind::ResetPeer { timeout } => end_at(state.since + timeout, End::Reset),
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    fx.slicer
                        .get_or_insert((average_size, size_variation, delay));
                }
                ToxicKind::LimitData { bytes } => fx.limits.push((entry.id, bytes)),
            }
        }
        fx
    }

    /// Writes one chunk through the toxics; `Some` ends the connection.
    async fn deliver(
        &mut self,
        chunk: Chunk,
        mut fx: Effects,
        toxics: &mut watch::Receiver<Arc<Vec<Entry>>>,
    ) -> Option<End> {
        // Latency counts from the read; a change of toxics recomputes it (a removed
        // latency lets the chunk go at once, as in Toxiproxy).
        loop {
            let due = chunk.at + self.delay(&fx);
            if fx.hold || due > Instant::now() {
                tokio::select! {
                    end = until(fx.ends_at) => return Some(end),
                    _ = sleep_until(due), if !fx.hold => break,
                    changed = toxics.changed() => if changed.is_err() { return Some(End::Close) },
                }
                fx = self.effects(toxics);
            } else {
                break;
            }
        }
        let mut rest = &chunk.data[..];
        while !rest.is_empty() {
            let remaining = fx
                .limits
                .iter()
                .map(|(id, bytes)| {
                    bytes.saturating_sub(self.states.get(id).map_or(0, |s| s.passed))
                })
                .min();
            if remaining == Some(0) {
                return Some(End::Close);
            }
            let mut n = rest.len();
            if let Some((average, variation, delay)) = fx.slicer {
                let low = average.saturating_sub(variation).max(1);
                n = n.min(self.rng.usize(low..=average + variation));
                sleep(delay).await;
            }
            if let Some(rate) = fx.rate {
                let per_100ms = usize::try_from(rate.saturating_mul(100)).unwrap_or(usize::MAX);
                n = n.min(per_100ms);
                // Continue the schedule, forgiving up to PACING_SLACK of lag in the writer
                // (timer rounding, scheduling) but never saving up after a pause.
                let now = Instant::now();
                let floor = now.checked_sub(PACING_SLACK).unwrap_or(now);
                let start = self.paced_to.map_or(now, |t| t.max(floor));
                let due = start + Duration::from_secs_f64(n as f64 / (rate as f64 * 1000.0));
                self.paced_to = Some(due);
                sleep_until(due).await;
            }
            if let Some(remaining) = remaining {
                n = n.min(usize::try_from(remaining).unwrap_or(usize::MAX));
            }
            self.shared.bytes[self.stream as usize].fetch_add(n as u64, Ordering::SeqCst);
            if self.dst.write_all(&rest[..n]).await.is_err() {
                return Some(End::Close);
            }
            for (id, _) in &fx.limits {
                if let Some(state) = self.states.get_mut(id) {
                    state.passed += n as u64;
                }
            }
            rest = &rest[n..];
            if remaining == Some(n as u64) {
                return Some(End::Close);
            }
        }
        None
    }

    /// Latency ± a uniform jitter, never below zero.
    fn delay(&mut self, fx: &Effects) -> Duration {
        let jitter = u64::try_from(fx.jitter.as_micros()).unwrap_or(u64::MAX / 2);
        let latency = u64::try_from(fx.latency.as_micros()).unwrap_or(u64::MAX / 2);
        if jitter == 0 {
            return fx.latency;
        }
        let offset = self.rng.u64(0..=2 * jitter);
        Duration::from_micros((latency + offset).saturating_sub(jitter))
    }
}

/// Resolves at `at` with its end, or never.
async fn until(at: Option<(Instant, End)>) -> End {
    match at {
        Some((at, end)) => {
            sleep_until(at).await;
            end
        }
        None => std::future::pending().await,
    }
}

/// Whether a toxic of `toxicity` applies to connection `number`: decided from the seed,
/// the number and the toxic's name, so a run replays.
fn applies(seed: u64, number: u64, name: &str, toxicity: f64) -> bool {
    let name = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    fastrand::Rng::with_seed(mix(seed, number, name)).f64() < toxicity
}

fn mix(seed: u64, number: u64, salt: u64) -> u64 {
    let mut z = seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
