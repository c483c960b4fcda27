//! One proxied connection: two directions, each a reader that timestamps chunks and a
//! writer that applies the toxics of its direction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use super::toxic::{Stream, ToxicKind};
use super::{BUFFER, CHUNKS_IN_FLIGHT, Entry, Open, PACING_SLACK, Shared, connect_upstream};

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

pub(super) async fn serve(mut client: TcpStream, open: Open, number: u64) {
    let Ok(mut server) = connect_upstream(&open.upstream).await else {
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
        let both = open.shared.close_both_on_eof;
        tokio::select! {
            end = &mut up => if end == End::Eof && !both { down.await } else { end },
            end = &mut down => if end == End::Eof && !both { up.await } else { end },
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
    /// When its timer started: when the connection first saw it, and for a `timeout`
    /// again at every chunk it dropped (Toxiproxy starts a new timer each time round).
    since: Instant,
    passed: u64,
    /// A `reset_peer`: when the chunk that set it off arrived.
    triggered: Option<Instant>,
    /// A `timeout` that applies: removing it closes the connection, as Toxiproxy's
    /// cleanup does.
    closes_on_removal: bool,
}

/// The toxics of one direction, folded into what the writer does.
#[derive(Debug, Default)]
struct Effects {
    hold: bool,
    /// Chunks are dropped (`timeout`, a `reset_peer` set off); the toxics whose timer a
    /// dropped chunk restarts.
    drop: Option<Vec<u64>>,
    /// `reset_peer`s waiting for their first chunk.
    reset_on_data: Vec<u64>,
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
                    Some(Msg::Data(_)) if self.swallows(&fx) => {}
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

    /// Whether a chunk is dropped on the floor, as Toxiproxy's `timeout` and
    /// `reset_peer` do: the chunk restarts the timers of the `timeout`s and sets off the
    /// `reset_peer`s that waited for data.
    fn swallows(&mut self, fx: &Effects) -> bool {
        if fx.drop.is_none() && fx.reset_on_data.is_empty() {
            return false;
        }
        let now = Instant::now();
        for id in fx.drop.iter().flatten() {
            if let Some(s) = self.states.get_mut(id) {
                s.since = now;
            }
        }
        for id in &fx.reset_on_data {
            if let Some(s) = self.states.get_mut(id) {
                s.triggered = Some(now);
            }
        }
        true
    }

    /// Folds the toxics of this direction that apply to this connection.
    fn effects(&mut self, toxics: &mut watch::Receiver<Arc<Vec<Entry>>>) -> Effects {
        let list = Arc::clone(&*toxics.borrow_and_update());
        let removed_timeout = self
            .states
            .iter()
            .any(|(id, s)| s.closes_on_removal && !list.iter().any(|e| e.id == *id));
        self.states.retain(|id, _| list.iter().any(|e| e.id == *id));
        let mut fx = Effects::default();
        if removed_timeout {
            fx.ends_at = Some((Instant::now(), End::Close));
        }
        let (seed, number) = (self.shared.seed, self.number);
        for entry in list.iter().filter(|e| e.toxic.stream == self.stream) {
            let toxic = &entry.toxic;
            let state = self.states.entry(entry.id).or_insert_with(|| {
                let applies = applies(seed, number, &toxic.name, toxic.toxicity);
                ToxicState {
                    applies,
                    since: Instant::now(),
                    passed: 0,
                    triggered: None,
                    closes_on_removal: applies && matches!(toxic.kind, ToxicKind::Timeout { .. }),
                }
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
                    fx.drop.get_or_insert_with(Vec::new).push(entry.id);
                    if !timeout.is_zero() {
                        end_at(state.since + timeout, End::Close);
                    }
                }
                ToxicKind::Hold => fx.hold = true,
                ToxicKind::ResetPeer { timeout } => match state.triggered {
                    Some(at) => {
                        fx.drop.get_or_insert_with(Vec::new);
                        end_at(at + timeout, End::Reset);
                    }
                    None => fx.reset_on_data.push(entry.id),
                },
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
                if self.swallows(&fx) {
                    return None;
                }
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
