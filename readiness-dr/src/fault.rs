//! Container faults on containers the test started: kill with a signal, stop, start,
//! restart, pause/unpause, disconnect from and reconnect to a network. testcontainers does
//! pause/unpause/stop/start; the rest goes through the Docker API it already uses
//! (bollard). Every fault is timestamped ([`Fault`]) for the recovery timeline and the
//! write history.
//!
//! When the [`Faults`] drops (the test ended or panicked), every container it paused is
//! unpaused and every container it disconnected is reconnected; testcontainers then
//! removes the containers as usual.
//!
//! Host ports change after a stop/start (testcontainers-rs #433): read them again with
//! `get_host_port_ipv4` after the fault, or put the dependency behind a
//! [`crate::proxy::Proxy`], whose port stays the same, and [`Faults::follow`] it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_core::containers::{self, LABEL_HARNESS, LABEL_PID};
use readiness_core::testcontainers::bollard::Docker;
use readiness_core::testcontainers::bollard::models::{
    NetworkConnectRequest, NetworkDisconnectRequest,
};
use readiness_core::testcontainers::bollard::query_parameters::{
    KillContainerOptionsBuilder, RestartContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use readiness_core::testcontainers::{ContainerAsync, Image};
use readiness_core::{Error, Moment, Result};

/// A container a fault may hit: one the test holds ([`ContainerAsync`]), or one named by
/// id that carries this process's harness label ([`Faults::adopt`]).
pub trait FaultTarget {
    /// The container's id.
    fn container_id(&self) -> &str;
}

impl<I: Image> FaultTarget for ContainerAsync<I> {
    fn container_id(&self) -> &str {
        self.id()
    }
}

/// A container named by id that [`Faults::adopt`] found to be this test process's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted(String);

impl FaultTarget for Adopted {
    fn container_id(&self) -> &str {
        &self.0
    }
}

/// One injected fault or recovery action, with the moment it was made: readiness-core's
/// [`Moment`], the same type an alert's cause is, so a fault starts an alert timeline as
/// it is.
pub type Fault = Moment;

pub(crate) use readiness_core::moment::ms_between;

/// What the drop must undo.
#[derive(Debug, Default)]
struct Undo {
    paused: BTreeSet<String>,
    disconnected: BTreeSet<(String, String)>,
}

/// Injects container faults and remembers them; undoes pauses and disconnections on drop.
#[derive(Debug)]
pub struct Faults {
    docker: Docker,
    log: Mutex<Vec<Fault>>,
    undo: Arc<Mutex<Undo>>,
}

/// The short form of a container id, as Docker prints it.
pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn docker_error(
    what: &str,
    id: &str,
) -> impl Fn(readiness_core::testcontainers::bollard::errors::Error) -> Error {
    let context = format!("{what} {}", short(id));
    move |e| Error::Other(format!("failed to {context}: {e}"))
}

impl Faults {
    /// A fault injector on the Docker engine testcontainers uses (`DOCKER_HOST` or the
    /// local socket); fails when the engine is unreachable.
    pub async fn new() -> Result<Faults> {
        Ok(Faults {
            docker: containers::docker().await?,
            log: Mutex::new(Vec::new()),
            undo: Arc::new(Mutex::new(Undo::default())),
        })
    }

    /// The container with id (or name) `id`, if this test process started it through the
    /// harness (label `org.readiness.pid` = this process): a fault never hits a container
    /// the test does not own.
    pub async fn adopt(&self, id: &str) -> Result<Adopted> {
        let inspected = self.docker.inspect_container(id, None).await.map_err(|e| {
            Error::InvalidInput(format!(
                "no container {id:?} to inject a fault into: {e}; faults go only to containers the test started"
            ))
        })?;
        let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
        let ours = labels.contains_key(LABEL_HARNESS)
            && labels.get(LABEL_PID) == Some(&std::process::id().to_string());
        if !ours {
            return Err(Error::InvalidInput(format!(
                "refusing to inject a fault into container {id:?}: this test did not start it \
                 (its label {LABEL_PID} is {:?}, this process is {}); faults go only to \
                 containers the test started through the harness",
                labels.get(LABEL_PID),
                std::process::id()
            )));
        }
        Ok(Adopted(inspected.id.unwrap_or_else(|| id.to_owned())))
    }

    fn record(&self, what: String) -> Fault {
        let fault = Fault::now(what);
        if let Ok(mut log) = self.log.lock() {
            log.push(fault.clone());
        }
        fault
    }

    /// Every fault and recovery action so far, in order.
    pub fn events(&self) -> Vec<Fault> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends `signal` (`SIGKILL`, `SIGTERM`, `SIGINT`, `SIGHUP`, ..) to the container's
    /// main process. The fault's time is taken just before the call returns.
    pub async fn kill(&self, target: &impl FaultTarget, signal: &str) -> Result<Fault> {
        let signal = signal.trim();
        let valid = signal.starts_with("SIG")
            && signal.len() > 3
            && signal[3..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !valid {
            return Err(Error::InvalidInput(format!(
                "signal {signal:?} is not a signal name; use SIGKILL, SIGTERM, SIGINT, ..."
            )));
        }
        let id = target.container_id();
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        self.docker
            .kill_container(id, Some(options))
            .await
            .map_err(docker_error(&format!("send {signal} to"), id))?;
        Ok(self.record(format!("kill {signal} {}", short(id))))
    }

    /// Stops the container: SIGTERM (or its stop signal), then SIGKILL after `grace`.
    pub async fn stop(&self, target: &impl FaultTarget, grace: Duration) -> Result<Fault> {
        let id = target.container_id();
        let options = StopContainerOptionsBuilder::new()
            .t(grace.as_secs().min(i32::MAX as u64) as i32)
            .build();
        let fault = self.record(format!("stop {}", short(id)));
        self.docker
            .stop_container(id, Some(options))
            .await
            .map_err(docker_error("stop", id))?;
        Ok(fault)
    }

    /// Starts a stopped or killed container (its host ports change: read them again).
    pub async fn start(&self, target: &impl FaultTarget) -> Result<Fault> {
        let id = target.container_id();
        let fault = self.record(format!("start {}", short(id)));
        self.docker
            .start_container(id, None)
            .await
            .map_err(docker_error("start", id))?;
        Ok(fault)
    }

    /// Restarts the container (stop with `grace`, then start).
    pub async fn restart(&self, target: &impl FaultTarget, grace: Duration) -> Result<Fault> {
        let id = target.container_id();
        let options = RestartContainerOptionsBuilder::new()
            .t(grace.as_secs().min(i32::MAX as u64) as i32)
            .build();
        let fault = self.record(format!("restart {}", short(id)));
        self.docker
            .restart_container(id, Some(options))
            .await
            .map_err(docker_error("restart", id))?;
        Ok(fault)
    }

    /// Freezes every process of the container (`docker pause`); undone on drop.
    pub async fn pause(&self, target: &impl FaultTarget) -> Result<Fault> {
        let id = target.container_id();
        self.docker
            .pause_container(id)
            .await
            .map_err(docker_error("pause", id))?;
        if let Ok(mut u) = self.undo.lock() {
            u.paused.insert(id.to_owned());
        }
        Ok(self.record(format!("pause {}", short(id))))
    }

    /// Thaws a paused container.
    pub async fn unpause(&self, target: &impl FaultTarget) -> Result<Fault> {
        let id = target.container_id();
        self.docker
            .unpause_container(id)
            .await
            .map_err(docker_error("unpause", id))?;
        if let Ok(mut u) = self.undo.lock() {
            u.paused.remove(id);
        }
        Ok(self.record(format!("unpause {}", short(id))))
    }

    /// A reading of `target`'s memory use in bytes (the Docker API's stats, one answer per
    /// call), to pass to `readiness_load::soak`; `None` when the engine gives no figure.
    pub fn memory_of(
        &self,
        target: &impl FaultTarget,
    ) -> impl Fn() -> futures_util::future::BoxFuture<'static, Option<u64>> + Send + Sync + 'static
    {
        use futures_util::{FutureExt as _, StreamExt as _};
        let (docker, id) = (self.docker.clone(), target.container_id().to_owned());
        move || {
            let (docker, id) = (docker.clone(), id.clone());
            async move {
                let options = StatsOptionsBuilder::new()
                    .stream(false)
                    .one_shot(true)
                    .build();
                let stats = docker.stats(&id, Some(options)).next().await?.ok()?;
                stats.memory_stats?.usage
            }
            .boxed()
        }
    }

    /// Takes the container off `network` (its peers there no longer reach it); undone on
    /// drop.
    pub async fn disconnect(&self, target: &impl FaultTarget, network: &str) -> Result<Fault> {
        let id = target.container_id();
        let request = NetworkDisconnectRequest {
            container: id.to_owned(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network, request)
            .await
            .map_err(docker_error(&format!("disconnect from {network}"), id))?;
        if let Ok(mut u) = self.undo.lock() {
            u.disconnected.insert((id.to_owned(), network.to_owned()));
        }
        Ok(self.record(format!("disconnect {} from {network}", short(id))))
    }

    /// Puts the container back on `network`.
    pub async fn reconnect(&self, target: &impl FaultTarget, network: &str) -> Result<Fault> {
        let id = target.container_id();
        connect(&self.docker, id, network).await?;
        if let Ok(mut u) = self.undo.lock() {
            u.disconnected.remove(&(id.to_owned(), network.to_owned()));
        }
        Ok(self.record(format!("reconnect {} to {network}", short(id))))
    }

    /// Points `proxy` at the container's current host port for `internal_port` (after a
    /// stop/start the host port changes; the proxy's does not). Returns the new upstream.
    pub async fn follow<I: Image>(
        &self,
        proxy: &crate::proxy::Proxy,
        container: &ContainerAsync<I>,
        internal_port: u16,
    ) -> Result<String> {
        let port = container.get_host_port_ipv4(internal_port).await?;
        let upstream = format!("127.0.0.1:{port}");
        proxy.set_upstream(&upstream).await?;
        self.record(format!("proxy {} follows {upstream}", proxy.name()));
        Ok(upstream)
    }
}

async fn connect(docker: &Docker, id: &str, network: &str) -> Result<()> {
    let request = NetworkConnectRequest {
        container: id.to_owned(),
        endpoint_config: None,
    };
    docker
        .connect_network(network, request)
        .await
        .map_err(docker_error(&format!("reconnect to {network}"), id))
}

impl Drop for Faults {
    /// Unpauses and reconnects what the test left paused or disconnected, on a thread of
    /// its own (a drop may run inside or outside a runtime, and after a panic).
    fn drop(&mut self) {
        let undo = match self.undo.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(_) => return,
        };
        if undo.paused.is_empty() && undo.disconnected.is_empty() {
            return;
        }
        readiness_core::containers::with_docker_blocking(move |docker| async move {
            for id in &undo.paused {
                let _ = docker.unpause_container(id).await;
            }
            for (id, network) in &undo.disconnected {
                let _ = connect(&docker, id, network).await;
            }
        });
    }
}
