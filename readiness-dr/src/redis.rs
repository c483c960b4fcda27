//! Redis persistence: the RDB and AOF settings read from the running server
//! (`CONFIG GET`), the durability they give stated in words and as the window of
//! acknowledged writes a crash can lose, and a snapshot on demand (`BGSAVE`).
//!
//! What the settings promise is one half; the other is shown by a drill ([`KillNine`]):
//! write keys through a [`crate::history::Writer`], optionally snapshot (`BGSAVE`), `kill -9`
//! the container, start it, read the keys back, and judge the history with
//! [`crate::history::assert_no_acknowledged_write_lost`] and
//! [`crate::history::assert_rpo_within`].

use std::fmt;
use std::time::Duration;

use readiness_core::containers::REDIS_PORT;
use readiness_core::testcontainers::{ContainerAsync, Image};
use readiness_core::{
    Category, Check, CheckResultExt, Combine, Error, Evidence, Failure, Observation, Quantity,
    Recorder, Result, Threshold,
};

use crate::exec;
use crate::fault::Faults;
use crate::history::{History, WriteError, Writer};
use crate::recovery::{Health, Recovery};

/// Runs `redis-cli` with `args` inside the container; its stdout.
pub async fn cli<I: Image>(container: &ContainerAsync<I>, args: &[&str]) -> Result<String> {
    let mut command = vec!["redis-cli"];
    command.extend_from_slice(args);
    exec(container, &command).await
}

/// The durability Redis's settings give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// AOF with `appendfsync always`: every acknowledged write survives a crash.
    EveryWrite,
    /// AOF with `appendfsync everysec`: up to about 2 s of acknowledged writes can be lost.
    EverySecond,
    /// AOF with `appendfsync no`: the kernel flushes when it likes (about 30 s on Linux).
    OsFlush,
    /// Only RDB snapshots (`save` rules): everything since the last snapshot can be lost.
    Snapshots(String),
    /// No persistence: a restart loses everything.
    None,
}

impl Durability {
    /// The window of acknowledged writes a crash can lose, at worst; `None` when it has
    /// no bound (no persistence).
    pub fn worst_loss(&self) -> Option<Duration> {
        match self {
            Durability::EveryWrite => Some(Duration::ZERO),
            Durability::EverySecond => Some(Duration::from_secs(2)),
            Durability::OsFlush => Some(Duration::from_secs(30)),
            Durability::Snapshots(rules) => rules
                .split_whitespace()
                .step_by(2)
                .filter_map(|s| s.parse::<u64>().ok())
                .max()
                .map(Duration::from_secs),
            Durability::None => None,
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::EveryWrite => {
                f.write_str("AOF, fsync always: every acknowledged write survives a crash")
            }
            Durability::EverySecond => f.write_str(
                "AOF, fsync everysec: up to about 2s of acknowledged writes can be lost",
            ),
            Durability::OsFlush => f.write_str(
                "AOF, fsync left to the OS: up to about 30s of acknowledged writes can be lost",
            ),
            Durability::Snapshots(rules) => write!(
                f,
                "RDB snapshots only (save \"{rules}\"): every write since the last snapshot can be lost"
            ),
            Durability::None => f.write_str("no persistence: a restart loses every write"),
        }
    }
}

/// Redis's persistence settings.
#[derive(Debug, Clone)]
pub struct Persistence {
    /// `appendonly`.
    pub appendonly: bool,
    /// `appendfsync`.
    pub appendfsync: String,
    /// `save` (RDB rules, `seconds changes` pairs; empty: no snapshots).
    pub save: String,
    recorder: Option<Recorder>,
}

fn config_value(answer: &str, key: &str) -> Result<String> {
    let lines: Vec<&str> = answer.lines().map(str::trim).collect();
    match lines.as_slice() {
        [k, v, ..] if *k == key => Ok((*v).to_owned()),
        [k] if *k == key => Ok(String::new()),
        _ => Err(Error::Other(format!(
            "unexpected answer to CONFIG GET {key}: {answer:?}"
        ))),
    }
}

impl Persistence {
    /// Reads `appendonly`, `appendfsync` and `save` from the server in `container`.
    pub async fn read<I: Image>(container: &ContainerAsync<I>) -> Result<Persistence> {
        let get = |key: &'static str| async move {
            config_value(&cli(container, &["CONFIG", "GET", key]).await?, key)
        };
        Ok(Persistence {
            appendonly: get("appendonly").await? == "yes",
            appendfsync: get("appendfsync").await?,
            save: get("save").await?,
            recorder: None,
        })
    }
    /// Where the evidence of [`assert_redis_durability`] goes.
    #[must_use]
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// The durability the settings give.
    pub fn durability(&self) -> Durability {
        match (self.appendonly, self.appendfsync.as_str()) {
            (true, "always") => Durability::EveryWrite,
            (true, "everysec") => Durability::EverySecond,
            (true, _) => Durability::OsFlush,
            (false, _) if !self.save.trim().is_empty() => {
                Durability::Snapshots(self.save.trim().to_owned())
            }
            (false, _) => Durability::None,
        }
    }
}

/// A field of `INFO persistence`.
fn info_field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
}

/// Asks the server in `container` for a snapshot (`BGSAVE`) and waits until it is
/// written (bounded by `deadline`): the count of snapshots (`rdb_saves`) has grown and none
/// is in progress. `LASTSAVE` would not do: it counts whole seconds, so a snapshot in the
/// same second as the previous one would never be seen. A failed snapshot is an error.
pub async fn bgsave<I: Image>(container: &ContainerAsync<I>, deadline: Duration) -> Result<()> {
    let saves = |info: &str| info_field(info, "rdb_saves").and_then(|v| v.parse::<u64>().ok());
    let before = cli(container, &["INFO", "persistence"]).await?;
    let before = saves(&before).ok_or_else(|| {
        Error::Other("INFO persistence has no rdb_saves (Redis 7 or later is needed)".into())
    })?;
    cli(container, &["BGSAVE"]).await?;
    let until = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < until {
        let info = cli(container, &["INFO", "persistence"]).await?;
        let done = saves(&info).is_some_and(|n| n > before)
            && info_field(&info, "rdb_bgsave_in_progress") == Some("0");
        if done {
            return match info_field(&info, "rdb_last_bgsave_status") {
                Some("ok") => Ok(()),
                status => Err(Error::Other(format!(
                    "BGSAVE failed: rdb_last_bgsave_status {}",
                    status.unwrap_or("missing")
                ))),
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Error::Other(format!(
        "BGSAVE did not finish within {deadline:?}"
    )))
}

/// A `kill -9` drill of a Redis container: keys `k:<seq>` written through a fresh
/// connection each (a refused connection is a failed write, an error after connecting an
/// indeterminate one), optionally a snapshot (`BGSAVE`, the seeds' "trigger a manual
/// snapshot") part way, then SIGKILL, a start, and the keys read back. The [`History`] it
/// gives is judged by [`crate::history::try_assert_no_acknowledged_write_lost`] and
/// [`crate::history::try_assert_rpo_within`] (the kill is its fault).
#[derive(Debug, Clone)]
#[must_use]
pub struct KillNine {
    writes: usize,
    snapshot_after: Option<usize>,
    recorder: Option<Recorder>,
}

impl Default for KillNine {
    fn default() -> Self {
        KillNine::new()
    }
}

impl KillNine {
    /// 150 writes, then the kill; no snapshot.
    pub fn new() -> Self {
        KillNine {
            writes: 150,
            snapshot_after: None,
            recorder: None,
        }
    }
    /// `n` writes before the kill, all of them done before it.
    pub fn with_writes(mut self, n: usize) -> Self {
        self.writes = n;
        self
    }
    /// A snapshot (`BGSAVE`, waited for) once `n` writes are done, the rest written after
    /// it: what the snapshot holds must be back; what came after is the loss window of
    /// snapshots. `n` equal to the writes: every write is in the snapshot.
    pub fn with_snapshot_after(mut self, n: usize) -> Self {
        self.snapshot_after = Some(n);
        self
    }
    /// Where the evidence of the history's judges goes.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Runs the drill on `redis` (its port 6379 published). An error, never a verdict, when
    /// the drill cannot be done: a drill of no writes or a snapshot after more writes than
    /// it makes, Redis not taking the writes within 30 s, or not answering `PING` within
    /// 30 s of its start after the kill.
    pub async fn run<I: Image>(&self, redis: &ContainerAsync<I>) -> Result<History> {
        if self.writes == 0 || self.snapshot_after.is_some_and(|n| n > self.writes) {
            return Err(Error::InvalidInput(format!(
                "a kill -9 drill of {} writes with a snapshot after {:?}: give at least one \
                 write and a snapshot after at most that many",
                self.writes, self.snapshot_after
            )));
        }
        let url = host_url(redis).await?;
        let faults = Faults::new().await?;
        let mut writer = Writer::new("redis keys")
            .with_interval(Duration::from_millis(5))
            .with_timeout(Duration::from_secs(1))
            .with_max_writes(self.writes as u64);
        if let Some(r) = &self.recorder {
            writer = writer.with_recorder(r.clone());
        }
        let writing = writer.start(move |seq| set_key(url.clone(), seq))?;
        let written = |n: usize| {
            let done = writing.wait_for(n, Duration::from_secs(30));
            async move {
                let done = done.await;
                if done < n {
                    return Err(Error::Other(format!(
                        "Redis took {done} of {n} writes within 30 s: is it running?"
                    )));
                }
                Ok(())
            }
        };
        if let Some(n) = self.snapshot_after {
            written(n).await?;
            bgsave(redis, Duration::from_secs(30)).await?;
        }
        written(self.writes).await?;
        let killed = faults.kill(redis, "SIGKILL").await?;
        writing.mark(&killed);
        let history = writing.stop().await?;
        faults.start(redis).await?;
        let back = Recovery::of("redis", Health::exec(redis, &["redis-cli", "ping"]))
            .with_interval(Duration::from_millis(100))
            .with_settle(Duration::from_millis(300))
            .with_deadline(Duration::from_secs(30))
            .measure(&killed, &[])
            .await?;
        if back.rto().is_none() {
            return Err(Error::Other(
                "Redis did not answer PING within 30 s of its start after the kill".into(),
            ));
        }
        // Read inside the container: the host port changed with the start.
        let keys = cli(redis, &["--scan", "--pattern", "k:*"]).await?;
        Ok(history.read_back(
            keys.lines()
                .filter_map(|k| k.trim().strip_prefix("k:")?.parse().ok()),
        ))
    }
}

/// `redis://127.0.0.1:<port>/` of the container's published Redis port.
async fn host_url<I: Image>(redis: &ContainerAsync<I>) -> Result<String> {
    let port = redis
        .get_host_port_ipv4(REDIS_PORT)
        .await
        .map_err(|e| Error::Other(format!("Redis's port 6379 is not published: {e}")))?;
    Ok(format!("redis://127.0.0.1:{port}/"))
}

/// `SET k:<seq> <seq>` through a fresh connection.
async fn set_key(url: String, seq: u64) -> std::result::Result<(), WriteError> {
    let client = redis::Client::open(url).map_err(|e| WriteError::Failed(e.to_string()))?;
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| WriteError::Failed(e.to_string()))?;
    redis::cmd("SET")
        .arg(format!("k:{seq}"))
        .arg(seq)
        .query_async::<()>(&mut con)
        .await
        .map_err(|e| WriteError::Indeterminate(e.to_string()))
}

/// `dr.redis_durability`: the settings lose at most `max_loss` of acknowledged writes in
/// a crash (0 s needs AOF with `appendfsync always`). The summary states the durability in
/// words.
pub fn try_assert_redis_durability(
    persistence: &Persistence,
    max_loss: Duration,
) -> Result<Evidence, Failure> {
    let durability = persistence.durability();
    let mut check = Check::new(
        "dr.redis_durability",
        format!(
            "Redis loses at most {} of acknowledged writes in a crash",
            Quantity::duration(max_loss)
        ),
        Category::RECOVERY,
    )
    .with_subject("redis/dr.redis_durability")
    .with_combine(Combine::VerdictOnly)
    .with_threshold(Threshold::at_most(max_loss))
    .with_scenario(format!(
        "CONFIG GET: appendonly {}, appendfsync {}, save \"{}\"",
        if persistence.appendonly { "yes" } else { "no" },
        persistence.appendfsync,
        persistence.save
    ))
    .with_hint("set appendonly yes and the appendfsync your promise needs (always: no loss)");
    if let Some(r) = &persistence.recorder {
        check = check.with_recorder(r.clone());
    }
    let observed = match durability.worst_loss() {
        Some(window) => Observation::new(window),
        // Unbounded: everything since the start; at least any limit a test can state.
        None => Observation::at_least(max_loss + Duration::from_secs(1)),
    };
    check.judge(observed.with_summary(durability.to_string()))
}

/// Panics unless [`try_assert_redis_durability`] passes.
#[track_caller]
pub fn assert_redis_durability(persistence: &Persistence, max_loss: Duration) -> Evidence {
    try_assert_redis_durability(persistence, max_loss).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(appendonly: bool, fsync: &str, save: &str) -> Durability {
        Persistence {
            appendonly,
            appendfsync: fsync.into(),
            save: save.into(),
            recorder: None,
        }
        .durability()
    }

    #[test]
    fn settings_give_the_durability_redis_documents() {
        assert_eq!(p(true, "always", ""), Durability::EveryWrite);
        assert_eq!(p(true, "everysec", "3600 1"), Durability::EverySecond);
        assert_eq!(
            p(false, "everysec", "3600 1 300 100 60 10000").worst_loss(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(p(false, "always", " "), Durability::None);
        assert_eq!(Durability::None.worst_loss(), None);
        assert_eq!(
            config_value("save\n3600 1\n", "save").ok(),
            Some("3600 1".into())
        );
        assert_eq!(config_value("save\n", "save").ok(), Some(String::new()));
        assert!(config_value("", "save").is_err());
        let info = "# Persistence\r\nrdb_saves:3\r\nrdb_bgsave_in_progress:0\r\n";
        assert_eq!(info_field(info, "rdb_saves"), Some("3"));
        assert_eq!(info_field(info, "rdb_bgsave_in_progress"), Some("0"));
        assert_eq!(info_field(info, "rdb_last_bgsave_status"), None);
    }
}
