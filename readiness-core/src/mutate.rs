//! The catalogue's side of the operational mutants ([`crate::mutant`]): limits on the
//! service's container before it starts, and the strike on a dependency's container after
//! it is ready (killed, paused, restarted, frozen at start).

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    KillContainerOptionsBuilder, RestartContainerOptionsBuilder,
};
use testcontainers::{ContainerRequest, Image, ImageExt};

use crate::error::{Error, Result};
use crate::mutant::{self, Mutant, Spec, Via};

/// Catalogue entries that are the harness's instruments, never a mutant's target.
const INSTRUMENTS: &[&str] = &["prometheus", "alertmanager", "pushgateway", "stunnel"];

/// Notes a started catalogue container of `service` as a target a mutant could reach
/// (in the clean run of `readiness sensitivity` only: [`mutant::note_target`]); the
/// harness's instruments are none.
pub(crate) fn note_started(service: &str) {
    if !INSTRUMENTS.contains(&service) {
        mutant::note_target(Via::Dependency, service);
    }
}

/// The mutant of this run aimed at the catalogue service `service` (`postgres`), if any.
pub(crate) fn aimed_at(service: &str) -> Result<Option<Spec>> {
    if INSTRUMENTS.contains(&service) {
        return Ok(None);
    }
    let Some(spec) = mutant::current()? else {
        return Ok(None);
    };
    let the_service = mutant::service()?;
    let aimed = spec.aims_at(Via::Dependency, service, None)
        || spec.aims_at(Via::Service, service, the_service.as_deref());
    Ok(aimed.then_some(spec))
}

/// The request with the limits of `spec` (half the memory budget `budget`, half the
/// engine's CPUs), keeping the host-config change it already had.
pub(crate) async fn limited<I: Image>(
    request: ContainerRequest<I>,
    spec: &Spec,
    budget: Option<u64>,
    docker: &Docker,
) -> Result<ContainerRequest<I>> {
    let (memory, nano_cpus) = match spec.mutant {
        Mutant::SvcMemoryHalf => {
            let budget = budget.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} halves the service's memory budget: set {} (512MiB, the limit it runs \
                     with in production)",
                    spec.mutant,
                    mutant::SERVICE_MEMORY
                ))
            })?;
            (Some(i64::try_from(budget / 2).unwrap_or(i64::MAX)), None)
        }
        Mutant::SvcCpuHalf => {
            let info = docker
                .info()
                .await
                .map_err(|e| Error::Other(format!("docker info: {e}")))?;
            let cpus = info.ncpu.filter(|n| *n > 0).unwrap_or(1);
            (None, Some(cpus * 1_000_000_000 / 2))
        }
        _ => return Ok(request),
    };
    tracing::warn!(
        "readiness: mutant {}: {}",
        spec.mutant,
        spec.mutant.describe()
    );
    mutant::note_applied(spec, "the service's container (limits)");
    let previous = request.host_config_modifier().cloned();
    Ok(request.with_host_config_modifier(move |host| {
        if let Some(m) = &previous {
            m(host);
        }
        if let Some(bytes) = memory {
            host.memory = Some(bytes);
            host.memory_swap = Some(bytes);
        }
        if let Some(n) = nano_cpus {
            host.nano_cpus = Some(n);
        }
    }))
}

/// Strikes the container `id` of the catalogue service `service` as `spec` says, from a
/// task of its own: killed, paused or restarted [`mutant::MID_RUN`] after it was ready,
/// frozen for [`mutant::SLOW_START`] at once, or signalled halfway through the process's
/// first load. Each strike that lands is noted ([`mutant::note_applied`]). A container
/// left paused when the task ends (the test ended first) is unpaused, so its removal finds
/// it running.
pub(crate) fn strike(docker: Docker, id: String, spec: Spec, service: String) {
    let m = spec.mutant;
    if !matches!(
        m,
        Mutant::DepKilled
            | Mutant::DepPaused
            | Mutant::DepRestarted
            | Mutant::DepSlowStart
            | Mutant::SvcSigkill
            | Mutant::SvcSigterm
    ) {
        return;
    }
    tracing::warn!("readiness: mutant {m} on container {id}: {}", m.describe());
    let landed = move |what: &str| {
        mutant::note_applied(&spec, &format!("the container of `{service}` ({what})"));
    };
    tokio::spawn(async move {
        match m {
            Mutant::DepSlowStart => {
                pause_for(&docker, &id, mutant::SLOW_START, || landed("paused")).await;
            }
            Mutant::DepPaused => {
                tokio::time::sleep(mutant::MID_RUN).await;
                pause_for(&docker, &id, mutant::HOLD, || landed("paused")).await;
            }
            Mutant::DepKilled => {
                tokio::time::sleep(mutant::MID_RUN).await;
                let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
                if docker.kill_container(&id, Some(options)).await.is_ok() {
                    landed("killed");
                }
            }
            Mutant::DepRestarted => {
                tokio::time::sleep(mutant::MID_RUN).await;
                let options = RestartContainerOptionsBuilder::new().t(0).build();
                if docker.restart_container(&id, Some(options)).await.is_ok() {
                    landed("restarted");
                }
            }
            Mutant::SvcSigkill | Mutant::SvcSigterm => {
                // Halfway through the process's first load: polled every 100 ms, for at
                // most an hour (a test that never loads is never struck).
                for _ in 0..36_000 {
                    if let Some((started, length)) = mutant::first_load() {
                        let at = started + length / 2;
                        tokio::time::sleep_until(at.into()).await;
                        let signal = if m == Mutant::SvcSigkill {
                            "SIGKILL"
                        } else {
                            "SIGTERM"
                        };
                        let options = KillContainerOptionsBuilder::new().signal(signal).build();
                        if docker.kill_container(&id, Some(options)).await.is_ok() {
                            landed(signal);
                        }
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            _ => {}
        }
    });
}

/// Pauses `id` for `hold`, then unpauses it; unpaused too when the task is dropped first.
async fn pause_for(docker: &Docker, id: &str, hold: std::time::Duration, landed: impl FnOnce()) {
    if docker.pause_container(id).await.is_err() {
        return;
    }
    landed();
    let mut guard = Unpause(id.to_owned());
    tokio::time::sleep(hold).await;
    let _ = docker.unpause_container(id).await;
    guard.0.clear();
}

/// Unpauses its container when dropped before the hold was over (the test's runtime
/// ended), on a thread of its own: a drop may run while a runtime shuts down. Empty:
/// disarmed.
struct Unpause(String);

impl Drop for Unpause {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.0);
        if id.is_empty() {
            return;
        }
        crate::containers::with_docker_blocking(move |docker| async move {
            let _ = docker.unpause_container(&id).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        Spec::parse(text).expect("parses").expect("a spec")
    }

    #[test]
    fn instruments_are_never_aimed_at_and_no_setting_is_no_mutant() {
        for instrument in INSTRUMENTS {
            assert_eq!(aimed_at(instrument).expect("no error"), None);
        }
        // This process sets no READINESS_MUTANT.
        assert_eq!(aimed_at("postgres").expect("no error"), None);
    }

    /// The host config a request ends with under the mutant `text`, with `budget`.
    async fn limited_host(
        text: &str,
        budget: Option<u64>,
        docker: &Docker,
    ) -> testcontainers::bollard::models::HostConfig {
        let request = limited(
            crate::containers::redis().expect("request"),
            &spec(text),
            budget,
            docker,
        )
        .await
        .expect("limited");
        let modify = request
            .host_config_modifier()
            .expect("a change of the host config");
        let mut host = testcontainers::bollard::models::HostConfig::default();
        modify(&mut host);
        host
    }

    #[tokio::test]
    async fn half_the_memory_needs_a_budget_and_other_mutants_leave_the_request_as_it_is() {
        // A client is made without reaching the engine: these paths never ask it.
        let docker = Docker::connect_with_defaults().expect("a client");
        let e = match limited(
            crate::containers::redis().expect("request"),
            &spec("svc.memory_half"),
            None,
            &docker,
        )
        .await
        {
            Ok(_) => panic!("no budget is set: the mutant cannot halve it"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("set READINESS_SERVICE_MEMORY") && e.contains("512MiB"),
            "{e}"
        );
        let host = limited_host("svc.memory_half", Some(64 << 20), &docker).await;
        assert_eq!(host.memory, Some(32 << 20));
        assert_eq!(host.nano_cpus, None);
        for other in ["dep.latency", "dep.killed", "svc.sigkill"] {
            let request = limited(
                crate::containers::redis().expect("request"),
                &spec(other),
                Some(512 << 20),
                &docker,
            )
            .await
            .expect("unchanged");
            assert!(request.host_config_modifier().is_none(), "{other}");
        }
    }

    #[tokio::test]
    async fn half_the_cpus_is_half_of_what_the_engine_has_and_nothing_else_changes() {
        let docker = crate::containers::docker()
            .await
            .expect("a Docker engine: the mutant asks it how many CPUs it has");
        let cpus = docker
            .info()
            .await
            .expect("docker info")
            .ncpu
            .expect("the engine says its CPUs");
        let host = limited_host("svc.cpu_half", Some(512 << 20), &docker).await;
        assert_eq!(host.nano_cpus, Some(cpus * 1_000_000_000 / 2));
        assert_eq!(host.memory, None);
        assert_eq!(host.memory_swap, None);
    }
}
