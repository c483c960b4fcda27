//! The fault proxy against real sockets on 127.0.0.1: every toxic, its direction and its
//! toxicity, changes while traffic flows, disable/enable, the blue/green switch, and the
//! input it refuses. Timings are judged by firm lower bounds (a toxic never delivers
//! early) and medians with a margin for a busy 2-core machine.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed setup step should panic where it happened"
)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use readiness_core::Error;
use readiness_core::stats::wilson;
use readiness_dr::proxy::{Proxy, Stream, Toxic, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(30);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs a test body, failing it rather than hanging past [`LIMIT`].
async fn within<F: Future<Output = ()>>(body: F) {
    timeout(LIMIT, body).await.unwrap();
}

/// An upstream on 127.0.0.1 serving each connection with `serve`; stops when dropped.
struct Server {
    addr: String,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server<F, Fut>(serve: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                Ok((stream, _)) = listener.accept() => {
                    stream.set_nodelay(true).unwrap();
                    conns.spawn(serve(stream));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Server { addr, task }
}

/// Echoes every read, each reply prefixed with `tag` when there is one.
async fn echo(tag: Option<u8>) -> Server {
    server(move |mut s| async move {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let reply: Vec<u8> = tag.into_iter().chain(buf[..n].iter().copied()).collect();
            if s.write_all(&reply).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// After one byte from the client, writes `payload` in one write and closes.
async fn sender(payload: Vec<u8>) -> Server {
    server(move |mut s| {
        let payload = payload.clone();
        async move {
            let mut go = [0; 1];
            if s.read_exact(&mut go).await.is_ok() {
                let _ = s.write_all(&payload).await;
            }
        }
    })
    .await
}

async fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Writes `data` and reads back `expect` bytes.
async fn round_trip(s: &mut TcpStream, data: &[u8], expect: usize) -> Vec<u8> {
    s.write_all(data).await.unwrap();
    let mut back = vec![0; expect];
    s.read_exact(&mut back).await.unwrap();
    back
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn message(e: Error) -> String {
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_through_exactly_and_are_counted() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("echo", upstream.addr.clone()).await.unwrap();
        let mut s = connect(&proxy).await;
        let data = pattern(300_000);
        let (mut r, mut w) = s.split();
        let (back, ()) = tokio::join!(
            async {
                let mut back = vec![0; data.len()];
                r.read_exact(&mut back).await.unwrap();
                back
            },
            async { w.write_all(&data).await.unwrap() }
        );
        assert!(
            back == data,
            "the bytes that came back differ from those sent"
        );
        let c = proxy.counters();
        assert_eq!(
            (c.connections, c.bytes_upstream, c.bytes_downstream),
            (1, 300_000, 300_000)
        );
        assert_eq!(proxy.name(), "echo");
        assert_eq!(proxy.upstream(), upstream.addr);
        assert!(proxy.listen_addr().ip().is_loopback());
        let events = proxy.events();
        assert!(
            events[0]
                .what
                .starts_with("started proxy `echo` on 127.0.0.1:"),
            "{events:?}"
        );
    })
    .await;
}

/// One-way delays of `n` one-byte round trips: (client to server, server to client),
/// both measured on the same clock from the server's timestamps.
async fn one_way_delays(
    proxy: &Proxy,
    stamps: &mut mpsc::UnboundedReceiver<(Instant, Instant)>,
    n: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut s = connect(proxy).await;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let sent = Instant::now();
        round_trip(&mut s, b"x", 1).await;
        let back = Instant::now();
        let (received, replied) = stamps.recv().await.unwrap();
        up.push(received - sent);
        down.push(back - replied);
    }
    (up, down)
}

async fn stamping_server() -> (Server, mpsc::UnboundedReceiver<(Instant, Instant)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = server(move |mut s| {
        let tx = tx.clone();
        async move {
            let mut b = [0; 1];
            while s.read_exact(&mut b).await.is_ok() {
                let received = Instant::now();
                let replied = Instant::now();
                if s.write_all(&b).await.is_err() {
                    return;
                }
                let _ = tx.send((received, replied));
            }
        }
    })
    .await;
    (server, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_only_its_direction_by_latency_within_jitter() {
    within(async {
        let (upstream, mut stamps) = stamping_server().await;
        let proxy = Proxy::builder("svc", upstream.addr.clone())
            .with_seed(1)
            .start()
            .await
            .unwrap();

        proxy.add(Toxic::latency(ms(60)).upstream()).unwrap();
        let (up, down) = one_way_delays(&proxy, &mut stamps, 9).await;
        assert!(
            up.iter().all(|d| *d >= ms(60)),
            "an upstream delay below 60 ms: {up:?}"
        );
        let (m_up, m_down) = (median(up), median(down));
        eprintln!("latency 60 ms upstream: median upstream {m_up:?}, downstream {m_down:?}");
        assert!(
            m_up <= ms(70),
            "median upstream delay {m_up:?} > 60 ms + 10 ms"
        );
        assert!(
            m_down < ms(10),
            "downstream delayed by an upstream toxic: {m_down:?}"
        );

        proxy.remove("latency_upstream").unwrap();
        proxy
            .add(Toxic::latency(ms(60)).with_jitter(ms(15)))
            .unwrap();
        let (up, down) = one_way_delays(&proxy, &mut stamps, 9).await;
        assert!(
            down.iter().all(|d| *d >= ms(45)),
            "a downstream delay below 60 - 15 ms: {down:?}"
        );
        let (m_up, m_down) = (median(up), median(down));
        eprintln!(
            "latency 60 ms ± 15 ms downstream: median upstream {m_up:?}, downstream {m_down:?}"
        );
        assert!(
            m_down <= ms(60 + 15 + 10),
            "median downstream delay {m_down:?} > 60 + 15 + 10 ms"
        );
        assert!(
            m_up < ms(10),
            "upstream delayed by a downstream toxic: {m_up:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_caps_the_rate_in_kb_per_second() {
    within(async {
        let upstream = sender(pattern(200_000)).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::bandwidth_kb_per_s(100)).unwrap();
        let mut s = connect(&proxy).await;
        let start = Instant::now();
        s.write_all(b"g").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        let took = start.elapsed();
        let rate = got.len() as f64 / took.as_secs_f64() / 1000.0;
        eprintln!("bandwidth 100 KB/s: 200,000 bytes in {took:?} = {rate:.1} KB/s");
        assert!(
            got == pattern(200_000),
            "got {} bytes, not the 200,000 sent",
            got.len()
        );
        assert!(
            (90.0..=110.0).contains(&rate),
            "{rate:.1} KB/s is not within 10% of 100 KB/s"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_passes_exactly_n_bytes_then_closes() {
    within(async {
        let upstream = sender(pattern(10_000)).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::limit_data(4096)).unwrap();
        let mut s = connect(&proxy).await;
        s.write_all(b"g").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 4096);
        assert!(got == pattern(4096), "the first 4096 bytes differ");

        // Upstream: the server reads exactly 3 of the 5 bytes, then EOF.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let upstream = server(move |mut s| {
            let tx = tx.clone();
            async move {
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got).await;
                let _ = tx.send(got);
            }
        })
        .await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::limit_data(3).upstream()).unwrap();
        let mut s = connect(&proxy).await;
        s.write_all(b"hello").await.unwrap();
        // The proxy's check of the upstream at start was a connection that sent nothing.
        let mut got = rx.recv().await.unwrap();
        if got.is_empty() {
            got = rx.recv().await.unwrap();
        }
        assert_eq!(got, b"hel");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_cuts_a_write_into_average_size_slices() {
    within(async {
        let upstream = sender(pattern(1600)).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy
            .add(Toxic::slicer(100).with_slice_delay(ms(40)))
            .unwrap();
        let mut s = connect(&proxy).await;
        s.write_all(b"g").await.unwrap();
        let (mut got, mut reads) = (Vec::new(), Vec::new());
        let mut buf = [0; 4096];
        while got.len() < 1600 {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {} bytes", got.len());
            reads.push(n);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            reads,
            vec![100; 16],
            "1600 bytes in slices of 100 should arrive as 16 reads"
        );
        assert!(got == pattern(1600));
    })
    .await;
}

/// Toxiproxy's `TestResetToxic*`: the client writes; the toxic drops the first chunk in
/// its direction and resets `timeout` later, so the first read is ECONNRESET, the next
/// EOF, and nothing of the payload ever arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_drops_the_first_chunk_and_resets_after_its_timeout() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        for (toxic, wait) in [
            (Toxic::reset_peer(Duration::ZERO).upstream(), Duration::ZERO),
            (Toxic::reset_peer(ms(150)).upstream(), ms(150)),
            (Toxic::reset_peer(ms(150)), ms(150)),
        ] {
            let name = toxic.name().to_owned();
            proxy.add(toxic).unwrap();
            let mut s = connect(&proxy).await;
            // An idle connection is never reset: the toxic waits for data.
            assert!(timeout(ms(200), s.read(&mut [0; 8])).await.is_err());
            let start = Instant::now();
            s.write_all(b"reset toxic payload\n").await.unwrap();
            let err = s.read(&mut [0; 64]).await.unwrap_err();
            let took = start.elapsed();
            eprintln!("{name}: reset {took:?} after the write");
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset,
                "{name}: {err}"
            );
            assert!(
                took >= wait,
                "{name}: reset after {took:?}, before {wait:?}"
            );
            assert_eq!(s.read(&mut [0; 64]).await.unwrap(), 0, "{name}: then EOF");
            proxy.remove(&name).unwrap();
        }
    })
    .await;
}

/// Toxiproxy's `timeout`: the data is dropped, never delivered; the connection closes
/// once `timeout` passed without data, every chunk starting the wait again; with 0 it
/// stays open until the toxic is removed, which closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_drops_the_data_restarts_with_each_chunk_and_closes_when_removed() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::timeout(ms(200))).unwrap();
        let start = Instant::now();
        let mut s = connect(&proxy).await;
        s.write_all(b"x").await.unwrap();
        let n = s.read(&mut [0; 8]).await.unwrap();
        let took = start.elapsed();
        eprintln!("timeout 200 ms: closed after {took:?}");
        assert_eq!(n, 0, "data passed a timeout toxic");
        assert!(took >= ms(200), "closed after {took:?}, before 200 ms");
        proxy.remove("timeout_downstream").unwrap();

        // Each chunk restarts the wait: writes every 100 ms keep a 1 s timeout open for
        // 2.5 s; once they stop, it closes a full second after the last.
        proxy.add(Toxic::timeout(ms(1_000)).upstream()).unwrap();
        let mut s = connect(&proxy).await;
        let start = Instant::now();
        for _ in 0..25 {
            s.write_all(b"tick").await.unwrap();
            tokio::time::sleep(ms(100)).await;
        }
        let open_for = start.elapsed();
        assert!(
            timeout(ms(50), s.read(&mut [0; 8])).await.is_err(),
            "closed while chunks kept coming"
        );
        let last = Instant::now();
        assert_eq!(s.read(&mut [0; 8]).await.unwrap(), 0, "nothing delivered");
        let quiet = last.elapsed();
        eprintln!("timeout 1 s upstream: open {open_for:?} while writing, closed {quiet:?} after");
        assert!(open_for >= ms(2_500));
        proxy.remove("timeout_upstream").unwrap();

        proxy.add(Toxic::timeout(Duration::ZERO)).unwrap();
        let mut s = connect(&proxy).await;
        s.write_all(b"lost").await.unwrap();
        let mut back = [0; 4];
        assert!(
            timeout(ms(300), s.read(&mut back)).await.is_err(),
            "a timeout 0 closed the connection or passed data"
        );
        proxy.remove("timeout_downstream").unwrap();
        assert_eq!(
            s.read(&mut back).await.unwrap(),
            0,
            "removing the toxic closes the connection, and the data is gone"
        );
    })
    .await;
}

/// `hold`, ours: the data waits, none is lost, and removing the toxic releases it on the
/// same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_keeps_the_data_until_removed() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::hold()).unwrap();
        let mut s = connect(&proxy).await;
        s.write_all(b"held").await.unwrap();
        let mut back = [0; 4];
        assert!(
            timeout(ms(300), s.read_exact(&mut back)).await.is_err(),
            "data passed a hold"
        );
        proxy.remove("hold_downstream").unwrap();
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"held");
        assert_eq!(round_trip(&mut s, b"more", 4).await, b"more");
    })
    .await;
}

/// Toxiproxy's `TestLatencyToxicBandwidth`: behind a latency, bulk data takes about the
/// latency, not a rate. 8 MB behind 300 ms; a proxy that let 8 chunks wait at a time
/// would need over 9 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_bulk_data_without_capping_its_rate() {
    within(async {
        const SIZE: usize = 8_000_000;
        let payload = pattern(SIZE);
        let upstream = sender(payload.clone()).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::latency(ms(300))).unwrap();
        let mut s = connect(&proxy).await;
        let start = Instant::now();
        s.write_all(b"g").await.unwrap();
        let mut got = vec![0; SIZE];
        s.read_exact(&mut got).await.unwrap();
        let took = start.elapsed();
        eprintln!("8 MB behind a 300 ms latency: {took:?}");
        assert!(got == payload, "the bytes arrived intact");
        assert!(took >= ms(300), "{took:?}");
        assert!(
            took < ms(3_000),
            "8 MB behind 300 ms took {took:?}: the latency capped the rate"
        );
    })
    .await;
}

/// A close from one side: passed on as a half-close by default (the reply still comes),
/// the whole connection closed with `close_both_on_eof`, as Toxiproxy does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_close_is_passed_on_unless_both_close_as_in_toxiproxy() {
    within(async {
        // Replies "done" once the client has finished sending.
        let upstream = server(|mut s| async move {
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all).await;
            let _ = s.write_all(b"done").await;
        })
        .await;
        let half = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let mut s = connect(&half).await;
        s.write_all(b"request").await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"done");

        let both = Proxy::builder("svc", upstream.addr.clone())
            .close_both_on_eof()
            .start()
            .await
            .unwrap();
        let mut s = connect(&both).await;
        s.write_all(b"request").await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply).await;
        assert!(
            reply.is_empty(),
            "the reply came through a full close: {reply:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close() {
    within(async {
        let upstream = sender(b"bye".to_vec()).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::slow_close(ms(300))).unwrap();
        let mut s = connect(&proxy).await;
        let start = Instant::now();
        s.write_all(b"g").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        let took = start.elapsed();
        eprintln!("slow_close 300 ms: EOF after {took:?}");
        assert_eq!(got, b"bye");
        assert!(
            took >= ms(300) && took < ms(800),
            "EOF after {took:?}, not 300 ms"
        );
    })
    .await;
}

/// Which of `n` sequential connections a `limit_data 0` toxic of toxicity 0.3 closed.
async fn affected(upstream: &Server, seed: u64, n: usize) -> Vec<bool> {
    let proxy = Proxy::builder("svc", upstream.addr.clone())
        .with_seed(seed)
        .start()
        .await
        .unwrap();
    proxy.add(Toxic::limit_data(0).with_toxicity(0.3)).unwrap();
    let mut hit = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect(&proxy).await;
        s.write_all(b"x").await.unwrap();
        hit.push(s.read(&mut [0; 8]).await.unwrap() == 0);
    }
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_picks_a_seeded_share_of_connections() {
    within(async {
        let upstream = echo(None).await;
        let first = affected(&upstream, 7, 400).await;
        let k = first.iter().filter(|h| **h).count() as u64;
        let (low, high) = wilson(k, 400).unwrap();
        eprintln!("toxicity 0.3: {k} of 400 affected, 95% interval {low:.3}..{high:.3}");
        assert!(
            (low..=high).contains(&0.3),
            "{k} of 400: 0.3 is outside {low:.3}..{high:.3}"
        );
        assert_eq!(
            affected(&upstream, 7, 400).await,
            first,
            "the same seed gave other connections"
        );
        assert_ne!(
            affected(&upstream, 8, 400).await,
            first,
            "another seed gave the same connections"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_added_and_removed_act_on_an_open_connection() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let mut s = connect(&proxy).await;
        assert_eq!(round_trip(&mut s, b"a", 1).await, b"a");

        // A latency long enough that no loaded machine takes as long without it.
        proxy.add(Toxic::latency(ms(1_500))).unwrap();
        let start = Instant::now();
        round_trip(&mut s, b"b", 1).await;
        assert!(
            start.elapsed() >= ms(1_500),
            "latency added later missed the open connection"
        );
        proxy.remove("latency_downstream").unwrap();
        let start = Instant::now();
        round_trip(&mut s, b"c", 1).await;
        assert!(
            start.elapsed() < ms(1_500),
            "removed latency still acts: {:?}",
            start.elapsed()
        );

        proxy.add(Toxic::hold().upstream()).unwrap();
        s.write_all(b"d").await.unwrap();
        let mut back = [0; 1];
        assert!(
            timeout(ms(200), s.read_exact(&mut back)).await.is_err(),
            "hold did not hold"
        );
        proxy.remove_all();
        timeout(ms(1000), s.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&back, b"d");
        assert!(proxy.toxics().is_empty());

        let events: Vec<String> = proxy.events().into_iter().map(|e| e.what).collect();
        assert!(
            events
                .iter()
                .any(|e| e.starts_with("added toxic latency_downstream (latency downstream")),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e.starts_with("removed toxic latency_downstream")),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e == "removed all toxics: hold_upstream"),
            "{events:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_closes_and_refuses_on_the_same_port_and_enable_restores() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let addr = proxy.listen_addr();
        let mut open = connect(&proxy).await;
        assert_eq!(round_trip(&mut open, b"a", 1).await, b"a");

        proxy.disable().await;
        assert!(
            matches!(open.read(&mut [0; 8]).await, Ok(0) | Err(_)),
            "an open connection survived disable"
        );
        assert!(proxy.connections().is_empty());
        // Reset at once: the connect itself may already see it.
        let refused = async {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(b"b").await?;
            s.read(&mut [0; 8]).await
        }
        .await;
        assert!(
            matches!(refused, Ok(0) | Err(_)),
            "a new connection passed while disabled: {refused:?}"
        );

        proxy.enable();
        assert_eq!(proxy.listen_addr(), addr);
        let mut again = connect(&proxy).await;
        assert_eq!(round_trip(&mut again, b"c", 1).await, b"c");
        let events: Vec<String> = proxy.events().into_iter().map(|e| e.what).collect();
        assert!(
            events.contains(
                &"disabled: closed the open connections (1), resetting new ones".to_owned()
            ),
            "{events:?}"
        );
        assert!(events.contains(&"enabled".to_owned()), "{events:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_upstream_switches_new_connections_and_drains_old_ones() {
    within(async {
        let (blue, green) = (echo(Some(b'B')).await, echo(Some(b'G')).await);
        let proxy = Proxy::start("front", blue.addr.clone()).await.unwrap();
        let mut old = connect(&proxy).await;
        assert_eq!(round_trip(&mut old, b"1", 2).await, b"B1");

        proxy.set_upstream(green.addr.clone()).await.unwrap();
        let mut new = connect(&proxy).await;
        assert_eq!(round_trip(&mut new, b"2", 2).await, b"G2");
        assert_eq!(
            round_trip(&mut old, b"3", 2).await,
            b"B3",
            "the open connection left the old upstream"
        );
        let expect = BTreeMap::from([(blue.addr.clone(), 1), (green.addr.clone(), 1)]);
        assert_eq!(proxy.connections(), expect);

        assert!(!proxy.wait_drained(&blue.addr, ms(100)).await.unwrap());
        drop(old);
        assert!(proxy.wait_drained(&blue.addr, ms(2000)).await.unwrap());
        assert_eq!(
            proxy.connections(),
            BTreeMap::from([(green.addr.clone(), 1)])
        );
        let err = message(proxy.wait_drained(&green.addr, ms(10)).await.unwrap_err());
        assert!(err.contains("is the current upstream"), "{err}");
        let switch = format!("switched upstream from {} to {}", blue.addr, green.addr);
        assert!(proxy.events().iter().any(|e| e.what == switch));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_drop_stop_the_listener_and_every_connection() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let addr = proxy.listen_addr();
        let mut open = connect(&proxy).await;
        round_trip(&mut open, b"a", 1).await;
        proxy.close().await;
        assert!(matches!(open.read(&mut [0; 8]).await, Ok(0) | Err(_)));
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port still listens after close"
        );

        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let addr = proxy.listen_addr();
        let mut open = connect(&proxy).await;
        round_trip(&mut open, b"a", 1).await;
        drop(proxy);
        let read = timeout(ms(2000), open.read(&mut [0; 8])).await.unwrap();
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "a connection outlived the dropped proxy"
        );
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port still listens after drop"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstreams_are_refused_and_nothing_listens() {
    within(async {
        let err = Proxy::start("db", "db.example.invalid:5432").await.unwrap_err();
        assert!(matches!(err, Error::NonLoopbackTarget { .. }), "{err:?}");
        assert!(message(err).contains("`Proxy::builder(..).allow_non_loopback()`"));

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = Proxy::builder("redis", "127.0.0.1:1").listen_on(port).start().await.unwrap_err();
        assert!(matches!(err, Error::TargetRefused { .. }), "{err:?}");
        let text = message(err);
        assert!(
            text.contains("proxy `redis`: upstream 127.0.0.1:1 accepts no connection: connection refused; start the dependency before the proxy"),
            "{text}"
        );
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "a listener was left behind");

        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        let err = message(proxy.set_upstream("127.0.0.1:1").await.unwrap_err());
        assert!(err.contains("accepts no connection"), "{err}");
        assert_eq!(proxy.upstream(), upstream.addr, "a refused switch changed the upstream");
        let err = message(Proxy::start("x", "http://127.0.0.1:1/").await.unwrap_err());
        assert!(err.contains("give host:port"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_toxics_are_refused_before_anything_changes() {
    within(async {
        let upstream = echo(None).await;
        let proxy = Proxy::start("svc", upstream.addr.clone()).await.unwrap();
        proxy.add(Toxic::latency(ms(1))).unwrap();
        for (toxic, says) in [
            (
                Toxic::latency(ms(1)).with_name("a").with_toxicity(1.5),
                "toxicity 1.5 is outside 0..=1",
            ),
            (
                Toxic::latency(ms(1)).with_name("b").with_toxicity(-0.1),
                "toxicity -0.1 is outside 0..=1",
            ),
            (
                Toxic::latency(ms(1)).with_name("c").with_toxicity(f64::NAN),
                "toxicity NaN is outside 0..=1",
            ),
            (
                Toxic::latency(ms(2)),
                "already has a toxic named `latency_downstream`",
            ),
            (
                Toxic::bandwidth_kb_per_s(0),
                "bandwidth rate 0 KB/s would never deliver",
            ),
            (
                Toxic::slicer(0),
                "slicer average_size 0 would never deliver",
            ),
        ] {
            let err = proxy.add(toxic).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
            assert!(message(err).contains(says), "expected {says:?}");
        }
        assert_eq!(
            proxy.toxics(),
            vec![Toxic::latency(ms(1))],
            "a refused add changed the toxics"
        );

        let err = message(proxy.remove("nope").unwrap_err());
        assert!(
            err.contains("has no toxic named `nope`; present: `latency_downstream`"),
            "{err}"
        );
        proxy.remove("latency_downstream").unwrap();
        let err = message(proxy.remove("latency_downstream").unwrap_err());
        assert!(err.ends_with("present: none"), "{err}");
    })
    .await;
}

#[test]
fn toxiproxy_json_means_the_same_toxic() {
    let parsed = Toxic::from_toxiproxy_json(
        r#"{"name":"slow","type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":100,"jitter":10}}"#,
    )
    .unwrap();
    assert_eq!(
        parsed,
        Toxic::latency(ms(100))
            .with_jitter(ms(10))
            .upstream()
            .with_toxicity(0.5)
            .with_name("slow")
    );
    let parsed = Toxic::from_toxiproxy_json(
        r#"{"type":"slicer","attributes":{"average_size":64,"size_variation":8,"delay":250}}"#,
    )
    .unwrap();
    assert_eq!(parsed.name(), "slicer_downstream");
    assert_eq!(parsed.stream(), Stream::Downstream);
    assert_eq!(parsed.toxicity(), 1.0);
    assert_eq!(
        parsed.kind(),
        &ToxicKind::Slicer {
            average_size: 64,
            size_variation: 8,
            delay: Duration::from_micros(250)
        }
    );
    let parsed = Toxic::from_toxiproxy_json(
        r#"{"type":"bandwidth","stream":"downstream","attributes":{"rate":100}}"#,
    )
    .unwrap();
    assert_eq!(parsed.kind(), &ToxicKind::Bandwidth { rate: 100 });
    assert_eq!(
        Toxic::reset_peer(ms(5)).upstream().name(),
        "reset_peer_upstream"
    );

    for (json, says) in [
        (
            r#"{"type":"latency","attributes":{"latency":-5}}"#,
            "attribute `latency` is -5; it must be a whole number >= 0",
        ),
        (
            r#"{"type":"latency","attributes":{"latency":1.5}}"#,
            "attribute `latency` is 1.5",
        ),
        (
            r#"{"type":"latency","attributes":{"latancy":5}}"#,
            "has no attribute `latancy`; its attributes are latency, jitter",
        ),
        (
            r#"{"type":"lag","attributes":{}}"#,
            "unknown toxic type \"lag\"",
        ),
        (
            r#"{"type":"timeout","stream":"sideways"}"#,
            "toxic stream \"sideways\" is unknown",
        ),
        (
            r#"{"type":"timeout","toxicity":1.5}"#,
            "toxicity 1.5 is outside 0..=1",
        ),
        (
            r#"{"type":"timeout","toxicity":-0.1}"#,
            "toxicity -0.1 is outside 0..=1",
        ),
        (
            r#"{"type":"bandwidth","attributes":{"rate":0}}"#,
            "bandwidth rate 0 KB/s",
        ),
        (r#"{"kind":"latency"}"#, "Toxiproxy's form is"),
    ] {
        let err = Toxic::from_toxiproxy_json(json).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{json}: {err:?}");
        let text = message(err);
        assert!(text.contains(says), "{json}: {text}");
    }
}

/// Faults on staging only when told twice: a proxy in front of staging (a second loopback
/// address standing in for it) is refused, told once or not at all, before any
/// connection to it; and a proxy marked for staging goes nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_proxy_on_staging_needs_to_be_told_twice() {
    within(async {
        let upstream = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let address = upstream.local_addr().unwrap().to_string();
        let staging = readiness_core::guard::Staging::new(&format!("http://{address}")).unwrap();
        for (staging, code) in [
            (staging.clone(), "missing"),
            (staging.clone().allow_faults_and_stress(), "given"),
        ] {
            let err = Proxy::builder("api", &address)
                .on_staging(&staging)
                .start()
                .await
                .unwrap_err();
            let text = message(err);
            assert!(
                text.contains("a fault proxy (`api`) on staging")
                    && text.contains(&format!("in the test ({code})"))
                    && text.contains("READINESS_STAGING_DESTRUCTIVE=yes in the run (missing)"),
                "{text}"
            );
        }
        let accepted = tokio::time::timeout(Duration::from_millis(200), upstream.accept()).await;
        assert!(accepted.is_err(), "nothing connected to staging");
        let err = Proxy::builder("api", "127.0.0.1:5432")
            .on_staging(&staging)
            .start()
            .await
            .unwrap_err();
        assert!(message(err).contains("is not staging's host and port"));
    })
    .await;
}

fn spec(text: &str) -> Option<readiness_core::mutant::Spec> {
    readiness_core::mutant::Spec::parse(text).unwrap()
}

/// Which of `n` sequential connections through a proxy named `name` under `mutant` were
/// reset (an echo that never came back).
async fn reset_under(upstream: &Server, name: &str, mutant: &str, n: usize) -> Vec<bool> {
    let proxy = Proxy::builder(name, upstream.addr.clone())
        .with_mutant(spec(mutant))
        .start()
        .await
        .unwrap();
    let mut hit = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect(&proxy).await;
        s.write_all(b"x").await.unwrap();
        let mut buf = [0; 8];
        hit.push(!matches!(s.read(&mut buf).await, Ok(1)));
    }
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutant_puts_its_toxic_on_the_proxies_it_aims_at_before_the_first_connection() {
    within(async {
        let upstream = echo(None).await;
        let redis = Proxy::builder("redis", upstream.addr.clone())
            .with_mutant(spec("dep.latency"))
            .start()
            .await
            .unwrap();
        let toxics = redis.toxics();
        assert_eq!(toxics.len(), 1, "{toxics:?}");
        assert_eq!(toxics[0].name(), "mutant_latency");
        assert_eq!(
            toxics[0].kind(),
            &ToxicKind::Latency {
                latency: ms(250),
                jitter: ms(50)
            }
        );
        // The first answer is already late.
        let mut s = connect(&redis).await;
        let started = Instant::now();
        assert_eq!(round_trip(&mut s, b"a", 1).await, b"a");
        assert!(started.elapsed() >= ms(200), "{:?}", started.elapsed());
        let events: Vec<String> = redis.events().into_iter().map(|e| e.what).collect();
        assert!(
            events.iter().any(|e| e.starts_with("mutant dep.latency: ")),
            "{events:?}"
        );

        // Not a dependency's name, or another target named: untouched.
        for (name, mutant) in [("front", "dep.latency"), ("redis", "dep.latency@db")] {
            let other = Proxy::builder(name, upstream.addr.clone())
                .with_mutant(spec(mutant))
                .start()
                .await
                .unwrap();
            assert!(other.toxics().is_empty(), "{name} under {mutant}");
        }
        let bandwidth = Proxy::builder("postgres", upstream.addr.clone())
            .with_mutant(spec("dep.bandwidth"))
            .start()
            .await
            .unwrap();
        assert_eq!(
            bandwidth.toxics()[0].kind(),
            &ToxicKind::Bandwidth { rate: 16 }
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dep_flaky_resets_the_same_tenth_of_connections_in_every_run() {
    within(async {
        let upstream = echo(None).await;
        let first = reset_under(&upstream, "redis", "dep.flaky", 200).await;
        let k = first.iter().filter(|h| **h).count() as u64;
        let (low, high) = wilson(k, 200).unwrap();
        assert!(
            (low..=high).contains(&0.1),
            "{k} of 200 reset: 0.1 is outside {low:.3}..{high:.3}"
        );
        assert_eq!(
            reset_under(&upstream, "redis", "dep.flaky", 200).await,
            first,
            "the same mutant reset other connections"
        );
        assert!(
            reset_under(&upstream, "front", "dep.flaky", 50)
                .await
                .iter()
                .all(|h| !h),
            "a proxy the mutant does not aim at reset a connection"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dep_down_cuts_the_dependency_five_seconds_after_its_proxy_started() {
    within(async {
        let upstream = echo(None).await;
        let started = Instant::now();
        let proxy = Proxy::builder("postgres", upstream.addr.clone())
            .with_mutant(spec("dep.down"))
            .start()
            .await
            .unwrap();
        let mut open = connect(&proxy).await;
        assert_eq!(round_trip(&mut open, b"a", 1).await, b"a", "up at first");
        // The cut closes the open connection: its read ends when it comes.
        let closed = open.read(&mut [0; 8]).await;
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        assert!(started.elapsed() >= ms(5_000), "{:?}", started.elapsed());
        let refused = async {
            let mut s = TcpStream::connect(proxy.listen_addr()).await?;
            s.write_all(b"b").await?;
            s.read(&mut [0; 8]).await
        }
        .await;
        assert!(matches!(refused, Ok(0) | Err(_)), "{refused:?}");
        let events: Vec<String> = proxy.events().into_iter().map(|e| e.what).collect();
        assert!(
            events.contains(&"mutant dep.down: disabled 5s after its start, for good".to_owned()),
            "{events:?}"
        );
    })
    .await;
}
