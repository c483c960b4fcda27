//! A TCP fault proxy inside the test process, with Toxiproxy's toxics.
//!
//! A [`Proxy`] listens on 127.0.0.1 (or, for containers, on the gateway of their Docker
//! network: [`ProxyBuilder::listen_on_network_gateway`]) and forwards every connection it
//! accepts to an upstream `host:port`. [`Toxic`]s, added and removed while traffic flows, degrade one
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
//! | `timeout` | [`Toxic::timeout`] | `timeout` (ms) | data is dropped; the connection closes once `timeout` passed without data (every dropped chunk starts the wait again; 0 never closes) and when the toxic is removed |
//! | `reset_peer` | [`Toxic::reset_peer`] | `timeout` (ms) | the first chunk is dropped; `timeout` after it both sides get a TCP RST (`SO_LINGER` 0), so the first read is `ECONNRESET` |
//! | `hold` (ours) | [`Toxic::hold`] | — | data is held, not dropped, and released when the toxic is removed; the connection stays open |
//! | `slicer` | [`Toxic::slicer`], [`Toxic::with_size_variation`], [`Toxic::with_slice_delay`] | `average_size`, `size_variation` (bytes), `delay` (µs) | writes are cut into slices of `average_size` ± `size_variation` bytes, each sent `delay` after the previous one |
//! | `limit_data` | [`Toxic::limit_data`] | `bytes` | the connection closes once exactly `bytes` bytes have passed |
//!
//! Every toxic acts on one [`Stream`] (`downstream`, server to client, by default) and on
//! a share of the connections, its `toxicity` (1 by default). Whether it applies to a
//! connection is decided once, from the proxy's seed ([`ProxyBuilder::with_seed`]), the
//! connection's number and the toxic's name, so a run with the same seed and the same
//! order of connections replays. Toxics added or removed act on open connections too:
//! removing a `hold` releases the data it held, removing a `timeout` closes the
//! connection (Toxiproxy's cleanup). Several toxics in one direction
//! combine: latencies add up, the lowest `rate` wins, the first slicer slices, the
//! tightest `limit_data` closes. Timers that count from "the start" of a toxic start when
//! the connection first sees it (when it opens, or when the toxic is added).
//!
//! As in Toxiproxy, up to 1,024 chunks of 32 KiB wait in each direction, so a latency
//! delays bulk data by about the latency, not by a rate. Where it differs, on purpose:
//! a close from one side is passed on as a half-close (the other direction goes on, as
//! the dependency would do without a proxy) where Toxiproxy closes the whole connection;
//! [`ProxyBuilder::close_both_on_eof`] does what Toxiproxy does. `hold` is not one of
//! Toxiproxy's toxics (its JSON cannot name it).
//!
//! [`Proxy::disable`] is Toxiproxy's `enabled: false` except that the port stays bound:
//! open connections are closed and new ones are reset at once. [`Proxy::set_upstream`]
//! makes it the switchable front of a blue/green drill: new connections go to the new
//! upstream while open ones drain from the old ([`Proxy::wait_drained`]).
//! [`Proxy::events`] lists what was done to the proxy as timestamped
//! [`Moment`]s, the same type container faults are, so a toxic can end an RPO window or
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

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use readiness_core::guard::{Reach, Staging, check_target};
use readiness_core::mutant::{self, Mutant, Spec, Via};
use readiness_core::{Error, Quantity, Result};

use readiness_core::Moment;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, timeout};

mod link;
mod toxic;

pub use toxic::{Stream, Toxic, ToxicKind};

use link::serve;

/// Bytes read at once from either side.
const BUFFER: usize = 32 * 1024;
/// Chunks read but not yet written, per direction (backpressure beyond that): Toxiproxy's
/// buffer of 1,024 chunks, so that a latency delays the bytes without capping their rate
/// (up to 32 MiB per direction waits out a latency).
const CHUNKS_IN_FLIGHT: usize = 1024;
/// How long the check of an upstream, and each connection to it, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lag of the bandwidth schedule that is made up for rather than lost.
const PACING_SLACK: Duration = Duration::from_millis(20);
const OPT_IN: &str = "Proxy::builder(..).allow_non_loopback()";

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
    close_both_on_eof: bool,
    staging: Option<Staging>,
    /// Where it listens, and the network (address, prefix length) whose peers it accepts
    /// when that is not loopback.
    listen_ip: Ipv4Addr,
    peers: Option<(Ipv4Addr, u8)>,
    /// `Some`: the mutant given by the test instead of `READINESS_MUTANT`'s.
    mutant: Option<Option<Spec>>,
}

impl ProxyBuilder {
    /// Puts the proxy in front of `staging` (its upstream staging's host and port): faults
    /// there only when told twice, [`Staging::allow_faults_and_stress`] in the test and
    /// `READINESS_STAGING_DESTRUCTIVE=yes` in the run; refused at [`ProxyBuilder::start`]
    /// otherwise, before any connection.
    pub fn on_staging(mut self, staging: &Staging) -> Self {
        self.staging = Some(staging.clone());
        self.reach = Reach::Anywhere;
        self
    }

    /// When one side closes, closes the whole connection, as Toxiproxy does, instead of
    /// passing the half-close on.
    pub fn close_both_on_eof(mut self) -> Self {
        self.close_both_on_eof = true;
        self
    }

    /// Listens on 127.0.0.1:`port` instead of any free port.
    pub fn listen_on(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Listens on `gateway`, the gateway of a Docker network the test made (its bridge's
    /// address on this host), instead of 127.0.0.1, so that the containers on that network
    /// reach the proxy; a connection from outside `gateway/prefix_len` is reset at once.
    /// Containers there reach the proxy at `gateway` and [`Proxy::listen_addr`]'s port.
    /// Only a private address (RFC 1918) is taken, never `0.0.0.0`.
    pub fn listen_on_network_gateway(mut self, gateway: Ipv4Addr, prefix_len: u8) -> Self {
        self.listen_ip = gateway;
        self.peers = Some((gateway, prefix_len));
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

    /// The operational mutant this proxy applies, instead of the one `READINESS_MUTANT`
    /// names ([`readiness_core::mutant`]); `None`: none.
    pub fn with_mutant(mut self, mutant: Option<Spec>) -> Self {
        self.mutant = Some(mutant);
        self
    }

    /// Checks that the upstream accepts a connection, then listens. Nothing is started
    /// when it fails. Under a mutant aimed at this proxy's name (`READINESS_MUTANT`:
    /// `dep.latency`, `dep.flaky`, `dep.bandwidth`, `dep.down`, by default on proxies
    /// named `postgres` or `redis`), its toxic is in place before the first connection,
    /// and the proxy's seed, unless given, comes from the mutant and the name.
    pub async fn start(mut self) -> Result<Proxy> {
        // A mutant of the setting is a sensitivity run's, whose landing is noted; one the
        // test gave is the test's own.
        let noted = self.mutant.is_none();
        let mutant = match self.mutant.take() {
            Some(given) => given,
            None => mutant::current()?,
        }
        .filter(|m| self.staging.is_none() && m.aims_at(Via::Proxy, &self.name, None));
        if let Some(staging) = &self.staging {
            if !staging.covers_address(&self.upstream) {
                return Err(Error::InvalidInput(format!(
                    "proxy `{}`: upstream {} is not staging's host and port ({})",
                    self.name,
                    self.upstream,
                    staging.url()
                )));
            }
            staging.check_destructive(&format!("a fault proxy (`{}`)", self.name))?;
        }
        if let Some((gateway, prefix_len)) = self.peers
            && (!gateway.is_private() || prefix_len > 32)
        {
            return Err(Error::InvalidInput(format!(
                "proxy `{}`: {gateway}/{prefix_len} is not a Docker network's gateway; give \
                 the gateway and prefix length of a network the test made (a private address)",
                self.name
            )));
        }
        check_upstream(&self.name, &self.upstream, self.reach).await?;
        let ip = self.listen_ip;
        let listener = TcpListener::bind((ip, self.port)).await.map_err(|e| {
            Error::Other(format!(
                "proxy `{}`: cannot listen on {ip}:{}: {e}; give another port, or 0 for any free one",
                self.name, self.port
            ))
        })?;
        let listen = listener.local_addr()?;
        if self.staging.is_none() {
            mutant::note_target(Via::Proxy, &self.name);
        }
        let seed = self
            .seed
            .or_else(|| mutant.as_ref().map(|m| m.seed(&self.name)))
            .unwrap_or_else(|| fastrand::u64(..));
        let shared = Arc::new(Shared {
            close_both_on_eof: self.close_both_on_eof,
            peers: self.peers,
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
        let proxy = Proxy {
            shared,
            listen,
            commands,
            accept,
        };
        if let Some(m) = mutant {
            proxy.apply(&m, noted)?;
        }
        Ok(proxy)
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
            close_both_on_eof: false,
            staging: None,
            listen_ip: Ipv4Addr::LOCALHOST,
            peers: None,
            mutant: None,
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

    /// Puts the mutant of `spec` in place (its toxic, or the cut it schedules), with an
    /// event that names it, and, when `noted`, notes it reached this proxy once it did
    /// (the cut: when it came).
    fn apply(&self, spec: &Spec, noted: bool) -> Result<()> {
        let m = spec.mutant;
        self.shared.event(format!("mutant {m}: {}", m.describe()));
        let reached = format!("proxy `{}`", self.shared.name);
        if noted && m != Mutant::DepDown {
            mutant::note_applied(spec, &reached);
        }
        match m {
            Mutant::DepLatency => self.add(
                Toxic::latency(mutant::LATENCY.0)
                    .with_jitter(mutant::LATENCY.1)
                    .with_name("mutant_latency"),
            ),
            Mutant::DepFlaky => self.add(
                Toxic::reset_peer(Duration::ZERO)
                    .with_toxicity(mutant::FLAKY_SHARE)
                    .with_name("mutant_flaky"),
            ),
            Mutant::DepBandwidth => self.add(
                Toxic::bandwidth_kb_per_s(mutant::BANDWIDTH_KB_PER_S).with_name("mutant_bandwidth"),
            ),
            Mutant::DepDown => {
                // The cut comes MID_RUN after the start, and only while the proxy lives.
                let shared = Arc::downgrade(&self.shared);
                let commands = self.commands.clone();
                let spec = spec.clone();
                tokio::spawn(async move {
                    sleep(mutant::MID_RUN).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    shared.event(format!(
                        "mutant {m}: disabled {} after its start, for good",
                        Quantity::duration(mutant::MID_RUN)
                    ));
                    shared.enabled.store(false, Ordering::SeqCst);
                    let (ack, done) = oneshot::channel();
                    if commands.send(Command::Disable(ack)).await.is_ok() {
                        let _closed = done.await;
                        if noted {
                            mutant::note_applied(&spec, &format!("{reached} (cut)"));
                        }
                    }
                });
                Ok(())
            }
            _ => Ok(()),
        }
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
    /// upstream switches, each a [`Moment`] with its time.
    pub fn events(&self) -> Vec<Moment> {
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
    /// A close of one side closes both (Toxiproxy) instead of passing a half-close on.
    close_both_on_eof: bool,
    /// Off loopback: the network whose peers are accepted.
    peers: Option<(Ipv4Addr, u8)>,
    reach: Reach,
    seed: u64,
    enabled: AtomicBool,
    upstream: Mutex<String>,
    toxics: watch::Sender<Arc<Vec<Entry>>>,
    next_toxic: AtomicU64,
    /// Open connections per upstream.
    open: watch::Sender<BTreeMap<String, usize>>,
    events: Mutex<Vec<Moment>>,
    connections: AtomicU64,
    /// Bytes handed on, upstream then downstream.
    bytes: [AtomicU64; 2],
}

impl Shared {
    fn event(&self, what: String) {
        lock(&self.events).push(Moment::now(what));
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
    let reason = match connect_upstream(upstream).await {
        Ok(_) => return Ok(()),
        // Ours say what happened; the system's, its kind ("connection refused").
        Err(e) => match e.get_ref() {
            Some(ours) => ours.to_string(),
            None => e.kind().to_string(),
        },
    };
    Err(Error::TargetRefused {
        target: upstream.to_owned(),
        reason: format!(
            "proxy `{name}`: upstream {upstream} accepts no connection: {reason}; start the dependency before the proxy"
        ),
    })
}

/// A connection to `upstream` within [`CONNECT_TIMEOUT`]. A socket connected to itself
/// is refused: with nothing listening on a loopback port of the ephemeral range (a
/// dependency killed, its port not yet followed), the kernel can give the connection that
/// very port as its source and join it to itself (TCP simultaneous open), and the client's
/// own bytes would come back as the dependency's answer — a write "acknowledged" by no one.
async fn connect_upstream(upstream: &str) -> std::io::Result<TcpStream> {
    let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )
        })??;
    not_joined_to_itself(stream)
}

/// `stream`, unless it is connected to itself (refused, as the port it aimed at is).
fn not_joined_to_itself(stream: TcpStream) -> std::io::Result<TcpStream> {
    if stream.local_addr()? == stream.peer_addr()? {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused (the socket was joined to itself: nothing listens there)",
        ));
    }
    Ok(stream)
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
                let Ok((client, peer)) = accepted else {
                    // Out of file descriptors or similar: wait rather than spin.
                    sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if !on_network(shared.peers, peer) {
                    let _ = client.set_zero_linger();
                    shared.event(format!("reset a connection from {peer}: not on the proxy's network"));
                    continue;
                }
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

/// Whether `peer` may connect: any peer of a loopback listener (only loopback reaches it),
/// else one in the network `peers`.
fn on_network(peers: Option<(Ipv4Addr, u8)>, peer: SocketAddr) -> bool {
    let Some((network, prefix_len)) = peers else {
        return true;
    };
    let SocketAddr::V4(peer) = peer else {
        return false;
    };
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    u32::from(*peer.ip()) & mask == u32::from(network) & mask
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_proxy_takes_peers_of_its_network_only() {
        let peer = |a, b, c, d| SocketAddr::from((Ipv4Addr::new(a, b, c, d), 40_000));
        let network = Some((Ipv4Addr::new(172, 18, 0, 1), 16));
        assert!(on_network(network, peer(172, 18, 0, 3)));
        assert!(on_network(network, peer(172, 18, 255, 254)));
        assert!(
            !on_network(network, peer(172, 17, 0, 2)),
            "the default bridge"
        );
        assert!(!on_network(network, peer(127, 0, 0, 1)));
        assert!(!on_network(network, "[::1]:40000".parse().expect("v6")));
        assert!(on_network(
            Some((Ipv4Addr::new(10, 0, 0, 1), 32)),
            peer(10, 0, 0, 1)
        ));
        assert!(!on_network(
            Some((Ipv4Addr::new(10, 0, 0, 1), 32)),
            peer(10, 0, 0, 2)
        ));
        // A loopback listener: only loopback reaches it at all.
        assert!(on_network(None, peer(127, 0, 0, 1)));
    }

    /// What the kernel may do when nothing listens on an ephemeral port: a socket bound to
    /// that port and connected to it is joined to itself. The proxy refuses it as an
    /// upstream (its client's bytes would come back as the answer); a real one passes.
    #[tokio::test]
    async fn an_upstream_socket_joined_to_itself_is_refused() {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("its port");
        let joined = socket
            .connect(addr)
            .await
            .expect("a simultaneous open with itself");
        assert_eq!(
            joined.local_addr().expect("local"),
            joined.peer_addr().expect("peer")
        );
        let e = not_joined_to_itself(joined).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("joined to itself"), "{e}");

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
        let real = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connects");
        assert!(not_joined_to_itself(real).is_ok());
    }
}
