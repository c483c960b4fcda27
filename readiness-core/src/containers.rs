//! The container catalogue: every dependency the harness starts, started through
//! testcontainers, labelled, replaceable by an environment variable.
//!
//! | service | default image | variable | catalogue |
//! |---|---|---|---|
//! | PostgreSQL | `postgres:15` | `READINESS_IMAGE_POSTGRES` | [`postgres`] (testcontainers-modules) |
//! | Redis | `redis:7.0` | `READINESS_IMAGE_REDIS` | [`redis`] (testcontainers-modules) |
//! | Prometheus | `prom/prometheus:v2.42.0` | `READINESS_IMAGE_PROMETHEUS` | [`prometheus`] ([`Prometheus`]) |
//! | Alertmanager | `prom/alertmanager:v0.25.0` | `READINESS_IMAGE_ALERTMANAGER` | [`alertmanager`] ([`Alertmanager`]) |
//! | Pushgateway | `prom/pushgateway:v1.5.1` | `READINESS_IMAGE_PUSHGATEWAY` | [`pushgateway`] ([`Pushgateway`]) |
//!
//! On a machine without a registry, `images/build.sh` builds local images with the same
//! contract and prints the `READINESS_IMAGE_*` lines to export.
//!
//! Every container carries the labels [`LABEL_HARNESS`], [`LABEL_RUN`], [`LABEL_PID`] and
//! [`LABEL_TEST`], and is removed when its handle is dropped, also when the test panics
//! (drop needs a tokio runtime: use `#[tokio::test]`). testcontainers' `watchdog` removes
//! them on SIGINT/SIGTERM; [`remove_containers`] removes leftovers of killed runs. Never
//! keep a container in a `static`: testcontainers never removes those.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::{ContainerPort, ExecCommand, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{
    ContainerAsync, ContainerRequest, CopyDataSource, CopyToContainer, Image, ImageExt,
};
use testcontainers_modules::{postgres::Postgres, redis::Redis};

use crate::check::{current_test_name, run_id};
use crate::error::{Error, Result};
use crate::settings;

/// Label on every container the harness starts: `org.readiness.harness=readiness`.
pub const LABEL_HARNESS: &str = "org.readiness.harness";
/// Label with the run id ([`crate::run_id`]).
pub const LABEL_RUN: &str = "org.readiness.run";
/// Label with the id of the process that started the container.
pub const LABEL_PID: &str = "org.readiness.pid";
/// Label with the test that started the container.
pub const LABEL_TEST: &str = "org.readiness.test";
/// Label naming the variable that replaces the container's image.
pub const LABEL_IMAGE_VARIABLE: &str = "org.readiness.image-variable";
/// Value of [`LABEL_HARNESS`].
pub const HARNESS: &str = "readiness";

/// The PostgreSQL port inside the container.
pub const POSTGRES_PORT: u16 = 5432;
/// The Redis port inside the container.
pub const REDIS_PORT: u16 = 6379;
/// The Prometheus port inside the container.
pub const PROMETHEUS_PORT: u16 = 9090;
/// The Alertmanager port inside the container.
pub const ALERTMANAGER_PORT: u16 = 9093;
/// The Pushgateway port inside the container.
pub const PUSHGATEWAY_PORT: u16 = 9091;

/// Where an image comes from: its `name:tag` and the variable that replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChoice {
    /// Image name (`postgres`, `readiness-local/postgres`).
    pub name: String,
    /// Tag.
    pub tag: String,
    /// The variable (`READINESS_IMAGE_POSTGRES`).
    pub variable: String,
    /// Whether the variable (or its config key) chose the image.
    pub from_variable: bool,
}

/// The image for `service`: `READINESS_IMAGE_<SERVICE>` if set, else `default` (`name:tag`).
pub fn image_choice(service: &str, default: &str) -> Result<ImageChoice> {
    let variable = format!(
        "READINESS_IMAGE_{}",
        service.to_ascii_uppercase().replace('-', "_")
    );
    let (reference, from_variable) = match settings::get(&variable)? {
        Some(v) if !v.trim().is_empty() => (v.trim().to_owned(), true),
        _ => (default.to_owned(), false),
    };
    let (name, tag) = split_reference(&reference).ok_or_else(|| {
        Error::InvalidInput(format!(
            "{variable}={reference:?} is not an image reference; use name:tag, e.g. readiness-local/{service}:latest"
        ))
    })?;
    Ok(ImageChoice {
        name,
        tag,
        variable,
        from_variable,
    })
}

/// `name[:tag]` -> (name, tag); a `:` before the last `/` is a registry port.
fn split_reference(reference: &str) -> Option<(String, String)> {
    if reference.is_empty() || reference.contains(char::is_whitespace) || reference.contains('@') {
        return None;
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) if i > 0 => {
            let (name, tag) = reference.split_at(slash + i);
            let tag = &tag[1..];
            (!tag.is_empty()).then(|| (name.to_owned(), tag.to_owned()))
        }
        Some(_) => None,
        None => Some((reference.to_owned(), "latest".to_owned())),
    }
}

/// Any image as a catalogue entry: the image from `READINESS_IMAGE_<SERVICE>` (else the
/// image's own name and tag), the harness labels, and the startup timeout
/// (`READINESS_STARTUP_TIMEOUT_SECS`, default 60). Use it for images of your own.
pub fn catalogue<I: Image>(image: I, service: &str) -> Result<ContainerRequest<I>> {
    let default = format!("{}:{}", image.name(), image.tag());
    let choice = image_choice(service, &default)?;
    let timeout = match settings::get("READINESS_STARTUP_TIMEOUT_SECS")? {
        Some(s) => s.trim().parse::<u64>().map_err(|_| {
            Error::InvalidInput(format!(
                "READINESS_STARTUP_TIMEOUT_SECS={s:?} is not a whole number of seconds"
            ))
        })?,
        None => 60,
    };
    let test = current_test_name().unwrap_or_default();
    Ok(image
        .with_name(choice.name)
        .with_tag(choice.tag)
        .with_label(LABEL_HARNESS, HARNESS)
        .with_label(LABEL_RUN, run_id())
        .with_label(LABEL_PID, std::process::id().to_string())
        .with_label(LABEL_TEST, test)
        .with_label(LABEL_IMAGE_VARIABLE, choice.variable)
        .with_startup_timeout(Duration::from_secs(timeout)))
}

/// PostgreSQL (user, password and database `postgres`), default image `postgres:15`.
pub fn postgres() -> Result<ContainerRequest<Postgres>> {
    catalogue(Postgres::default(), "postgres").map(|r| {
        let descriptor = r.descriptor();
        if descriptor.starts_with("postgres:11-alpine") {
            r.with_tag("15")
        } else {
            r
        }
    })
}

/// Redis, default image `redis:7.0`.
pub fn redis() -> Result<ContainerRequest<Redis>> {
    catalogue(Redis::default(), "redis").map(|r| {
        let descriptor = r.descriptor();
        if descriptor.starts_with("redis:5.0") {
            r.with_tag("7.0")
        } else {
            r
        }
    })
}

/// Prometheus with the harness's settings (see [`Prometheus`]).
pub fn prometheus() -> Result<ContainerRequest<Prometheus>> {
    catalogue(Prometheus::default(), "prometheus")
}

/// Alertmanager with the harness's settings (see [`Alertmanager`]).
pub fn alertmanager() -> Result<ContainerRequest<Alertmanager>> {
    catalogue(Alertmanager::default(), "alertmanager")
}

/// A Pushgateway (see [`Pushgateway`]).
pub fn pushgateway() -> Result<ContainerRequest<Pushgateway>> {
    catalogue(Pushgateway, "pushgateway")
}

/// Runs `work` with a Docker client on a thread and a runtime of its own, and waits for it:
/// for a drop, which may run inside a runtime, outside one, or after a panic. Nothing runs
/// when the engine cannot be reached.
pub fn with_docker_blocking<F, Fut>(work: F)
where
    F: FnOnce(Docker) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(docker) = Docker::connect_with_defaults() {
                work(docker).await;
            }
        });
    });
    let _ = worker.join();
}

/// A Docker client for `DOCKER_HOST` (or the local socket), checked with a ping.
pub async fn docker() -> Result<Docker> {
    let docker_host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unset".to_owned());
    let endpoint = if docker_host == "unset" {
        "unix:///var/run/docker.sock".to_owned()
    } else {
        docker_host.clone()
    };
    let unavailable = |reason: String| Error::DockerUnavailable {
        endpoint: endpoint.clone(),
        docker_host: docker_host.clone(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unavailable(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(_) => Err(unavailable("no answer to a ping within 10s".to_owned())),
    }
}

/// Starts a container request from the catalogue, with errors that say what to do: no
/// engine (naming `DOCKER_HOST`), an image neither local nor pullable (naming its
/// `READINESS_IMAGE_*` variable and `images/build.sh`), a container that never became ready.
pub async fn start<I: Image>(request: ContainerRequest<I>) -> Result<ContainerAsync<I>> {
    let docker = docker().await?;
    let image = request.descriptor();
    let variable = request
        .labels()
        .get(LABEL_IMAGE_VARIABLE)
        .cloned()
        .unwrap_or_else(|| "READINESS_IMAGE_<NAME>".into());
    let from_variable = std::env::var_os(&variable).is_some();
    let missing = |reason: String| Error::ImageMissing {
        image: image.clone(),
        source_of: if from_variable {
            variable.clone()
        } else {
            "the default".to_owned()
        },
        variable: variable.clone(),
        reason,
    };
    let inspected = docker.inspect_image(&image).await;
    if inspected.is_err() && image.starts_with("readiness-local/") {
        return Err(missing(
            "readiness-local images are built on this machine, never pulled".to_owned(),
        ));
    }
    // The ports the image itself declares (EXPOSE), published like the request's own.
    let image_ports: Vec<ContainerPort> = inspected
        .ok()
        .and_then(|i| i.config)
        .and_then(|c| c.exposed_ports)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| parse_port(p))
        .collect();
    // An operational mutant aimed at this catalogue service (READINESS_MUTANT): limits
    // before the start, a strike after it.
    let service = variable
        .strip_prefix("READINESS_IMAGE_")
        .map(str::to_ascii_lowercase);
    let mutant = match &service {
        Some(name) => crate::mutate::aimed_at(name)?,
        None => None,
    };
    let request = match &mutant {
        Some(spec) => {
            crate::mutate::limited(request, spec, crate::mutant::service_memory()?, &docker).await?
        }
        None => request,
    };
    let container = loopback_only(request, &image_ports)
        .start()
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("failed to pull the image") || text.contains("No such image") {
                missing(text)
            } else {
                Error::ContainerStart {
                    image: image.clone(),
                    reason: text,
                }
            }
        })?;
    if let Some(service) = &service {
        crate::mutate::note_started(service);
    }
    if let (Some(spec), Some(service)) = (mutant, service) {
        crate::mutate::strike(docker, container.id().to_owned(), spec, service);
    }
    Ok(container)
}

/// The request with every port published on 127.0.0.1 only: Docker publishes on every
/// interface (`0.0.0.0` and `[::]`) unless told otherwise, which would make a test's
/// database reachable from off the host while the tests run. A host-config change the
/// request already had is kept, and runs first.
fn loopback_only<I: Image>(
    request: ContainerRequest<I>,
    image_ports: &[ContainerPort],
) -> ContainerRequest<I> {
    // Every declared port mapped explicitly (host port 0: any free one), so Docker
    // publishes those, and only those, where the modifier below says.
    let mapped: Vec<ContainerPort> = request
        .ports()
        .map(|m| m.iter().map(|p| p.container_port()).collect())
        .unwrap_or_default();
    let mut declared: Vec<ContainerPort> = Vec::new();
    for p in request.expose_ports().iter().chain(image_ports) {
        if !mapped.contains(p) && !declared.contains(p) {
            declared.push(*p);
        }
    }
    let previous = request.host_config_modifier().cloned();
    let mut request = request;
    for port in declared {
        request = request.with_mapped_port(0, port);
    }
    request.with_host_config_modifier(move |host| {
        if let Some(m) = &previous {
            m(host);
        }
        host.publish_all_ports = Some(false);
        for bindings in host.port_bindings.iter_mut().flat_map(|b| b.values_mut()) {
            for b in bindings.iter_mut().flatten() {
                if b.host_ip
                    .as_deref()
                    .is_none_or(|ip| ip.is_empty() || ip == "0.0.0.0")
                {
                    b.host_ip = Some("127.0.0.1".to_owned());
                }
                // Host port 0 is "any free port": Docker's API spells it empty.
                if b.host_port.as_deref() == Some("0") {
                    b.host_port = Some(String::new());
                }
            }
        }
    })
}

/// `5432/tcp` as a container port.
fn parse_port(text: &str) -> Option<ContainerPort> {
    let (number, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let number: u16 = number.parse().ok()?;
    match protocol {
        "tcp" => Some(ContainerPort::Tcp(number)),
        "udp" => Some(ContainerPort::Udp(number)),
        "sctp" => Some(ContainerPort::Sctp(number)),
        _ => None,
    }
}

/// The gateway of the Docker network `network` (its bridge's address on this host) and its
/// prefix length: where a fault proxy of the test listens so that the containers on that
/// network reach it (readiness-dr's `ProxyBuilder::listen_on_network_gateway`). An
/// error when the network has no IPv4 gateway (rootless Docker and Docker Desktop keep it
/// inside their VM or namespace).
pub async fn network_gateway(network: &str) -> Result<(std::net::Ipv4Addr, u8)> {
    let docker = docker().await?;
    let inspect = docker
        .inspect_network(
            network,
            None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .map_err(|e| Error::Other(format!("docker network inspect {network}: {e}")))?;
    let configs = inspect.ipam.and_then(|i| i.config).unwrap_or_default();
    configs
        .iter()
        .find_map(|c| {
            let gateway = c.gateway.as_deref()?.parse().ok()?;
            let prefix_len = c.subnet.as_deref()?.split_once('/')?.1.parse().ok()?;
            Some((gateway, prefix_len))
        })
        .ok_or_else(|| {
            Error::Other(format!(
                "docker network {network} has no IPv4 gateway on this host ({configs:?}): a \
                 container on it cannot reach a proxy of the test; use rootful Docker on Linux"
            ))
        })
}

/// The IPv4 address of the container `id` on the Docker network `network`, where the
/// host reaches it (rootful Docker on Linux routes the bridge).
pub async fn address_on_network(id: &str, network: &str) -> Result<std::net::Ipv4Addr> {
    let docker = docker().await?;
    let inspect = docker
        .inspect_container(
            id,
            None::<testcontainers::bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(|e| Error::Other(format!("docker inspect {id}: {e}")))?;
    inspect
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut n| n.remove(network))
        .and_then(|e| e.ip_address)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| {
            Error::Other(format!(
                "container {id} has no IPv4 address on the network {network}: is it running \
                 and attached to it?"
            ))
        })
}

/// The ids of containers (running or not) that carry `key=value`.
pub async fn containers_with_label(key: &str, value: &str) -> Result<Vec<String>> {
    let docker = docker().await?;
    Ok(labelled(&docker, key, value)
        .await?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

/// Containers (running or not) that carry `key=value`, with their labels.
async fn labelled(
    docker: &Docker,
    key: &str,
    value: &str,
) -> Result<Vec<testcontainers::bollard::models::ContainerSummary>> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .map_err(|e| Error::Other(format!("failed to list containers: {e}")))
}

/// Which of the harness's containers to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftovers {
    /// Those whose test process (label [`LABEL_PID`]) no longer runs on this machine: what
    /// a SIGKILLed run leaves. Containers of tests still running are kept.
    OfDeadProcesses,
    /// Those of one run ([`LABEL_RUN`]), running or not.
    OfRun(String),
    /// Every container with the harness label.
    All,
}

/// Removes (with their volumes) the harness's containers that `which` selects — what
/// `readiness clean` does after a killed run. Returns how many.
pub async fn remove_containers(which: Leftovers) -> Result<usize> {
    let docker = docker().await?;
    let ids = match &which {
        Leftovers::OfRun(run) => containers_with_label(LABEL_RUN, run).await?,
        Leftovers::All => containers_with_label(LABEL_HARNESS, HARNESS).await?,
        Leftovers::OfDeadProcesses => labelled(&docker, LABEL_HARNESS, HARNESS)
            .await?
            .into_iter()
            .filter(|c| {
                let pid = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_PID))
                    .and_then(|p| p.parse::<u32>().ok());
                pid.is_none_or(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
            })
            .filter_map(|c| c.id)
            .collect(),
    };
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    for id in &ids {
        docker
            .remove_container(id, Some(options.clone()))
            .await
            .map_err(|e| Error::Other(format!("failed to remove container {id}: {e}")))?;
    }
    Ok(ids.len())
}

/// What a command run in a container printed, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code (`None`: Docker did not report one).
    pub code: Option<i64>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `command` in `container` and returns what it printed, whatever its exit code.
pub async fn exec_output<I: Image>(
    container: &ContainerAsync<I>,
    command: &[&str],
) -> Result<ExecOutput> {
    let mut result = container
        .exec(ExecCommand::new(command.iter().copied()))
        .await?;
    let stdout = result.stdout_to_vec().await?;
    let stderr = result.stderr_to_vec().await?;
    Ok(ExecOutput {
        code: result.exit_code().await?,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs `command` in `container`; its stdout, or an error with its stderr.
pub async fn exec<I: Image>(container: &ContainerAsync<I>, command: &[&str]) -> Result<String> {
    let out = exec_output(container, command).await?;
    match out.code {
        Some(0) => Ok(out.stdout),
        code => Err(Error::Other(format!(
            "`{}` exited with {}: {}",
            command.join(" "),
            code.map_or("no code".into(), |c| c.to_string()),
            out.stderr.trim()
        ))),
    }
}

/// Prometheus for tests: the config and rule files given, alerts resent every second
/// (`--rules.alert.resend-delay=1s`, or the first notification waits a minute), the
/// lifecycle API on. Ready at "Server is ready to receive web requests." on stderr.
#[derive(Debug, Clone, Default)]
pub struct Prometheus {
    copy: Vec<CopyToContainer>,
}

/// The directory rule files are copied into; a config lists them as `rules/*.yml`.
pub const PROMETHEUS_RULES_DIR: &str = "/etc/prometheus/rules";

impl Prometheus {
    /// Uses `yaml` as `/etc/prometheus/prometheus.yml`.
    #[must_use]
    pub fn with_config(mut self, yaml: impl Into<String>) -> Self {
        self.copy.push(CopyToContainer::new(
            CopyDataSource::Data(yaml.into().into_bytes()),
            "/etc/prometheus/prometheus.yml",
        ));
        self
    }
    /// Adds a rule file as `/etc/prometheus/rules/<name>`.
    #[must_use]
    pub fn with_rule_file(mut self, name: &str, yaml: impl Into<String>) -> Self {
        self.copy.push(CopyToContainer::new(
            CopyDataSource::Data(yaml.into().into_bytes()),
            format!("{PROMETHEUS_RULES_DIR}/{name}"),
        ));
        self
    }
}

impl Image for Prometheus {
    fn name(&self) -> &str {
        "prom/prometheus"
    }
    fn tag(&self) -> &str {
        "v2.42.0"
    }
    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stderr(
            "Server is ready to receive web requests.",
        )]
    }
    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--web.enable-lifecycle",
            "--rules.alert.resend-delay=1s",
        ]
    }
    fn expose_ports(&self) -> &[ContainerPort] {
        &[ContainerPort::Tcp(PROMETHEUS_PORT)]
    }
    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.copy
    }
}

/// Alertmanager for tests: the config given, clustering off. Ready at "Listening on"
/// on stderr.
#[derive(Debug, Clone, Default)]
pub struct Alertmanager {
    copy: Vec<CopyToContainer>,
}

impl Alertmanager {
    /// Uses `yaml` as `/etc/alertmanager/alertmanager.yml`.
    #[must_use]
    pub fn with_config(mut self, yaml: impl Into<String>) -> Self {
        self.copy.push(CopyToContainer::new(
            CopyDataSource::Data(yaml.into().into_bytes()),
            "/etc/alertmanager/alertmanager.yml",
        ));
        self
    }
}

impl Image for Alertmanager {
    fn name(&self) -> &str {
        "prom/alertmanager"
    }
    fn tag(&self) -> &str {
        "v0.25.0"
    }
    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stderr("Listening on")]
    }
    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        [
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
            "--cluster.listen-address=",
        ]
    }
    fn expose_ports(&self) -> &[ContainerPort] {
        &[ContainerPort::Tcp(ALERTMANAGER_PORT)]
    }
    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.copy
    }
}

/// A Prometheus Pushgateway for tests: nothing persisted, ready at "Listening on" on
/// stderr.
#[derive(Debug, Clone, Default)]
pub struct Pushgateway;

impl Image for Pushgateway {
    fn name(&self) -> &str {
        "prom/pushgateway"
    }
    fn tag(&self) -> &str {
        "v1.5.1"
    }
    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stderr("Listening on")]
    }
    fn expose_ports(&self) -> &[ContainerPort] {
        &[ContainerPort::Tcp(PUSHGATEWAY_PORT)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_like_docker() {
        let s = |r: &str| split_reference(r);
        assert_eq!(s("postgres:15"), Some(("postgres".into(), "15".into())));
        assert_eq!(
            s("readiness-local/postgres"),
            Some(("readiness-local/postgres".into(), "latest".into()))
        );
        assert_eq!(
            s("localhost:5000/pg:15"),
            Some(("localhost:5000/pg".into(), "15".into()))
        );
        assert_eq!(
            s("localhost:5000/pg"),
            Some(("localhost:5000/pg".into(), "latest".into()))
        );
        assert_eq!(s("pg:"), None);
        assert_eq!(s("a b"), None);
    }
}
