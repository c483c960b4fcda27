//! The whole stack in one call, for tests: PostgreSQL and Redis from the catalogue of
//! `readiness-core`, and the service as a process or as a container on a Docker network.
//! Everything is removed (containers) or killed (the process) when the [`Stack`] drops.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use readiness_core::containers::{self, POSTGRES_PORT, REDIS_PORT};
use readiness_core::testcontainers::core::{IntoContainerPort, WaitFor};
use readiness_core::testcontainers::{ContainerAsync, GenericImage, ImageExt};
use readiness_core::testcontainers_modules::{postgres::Postgres, redis::Redis};
use readiness_core::{Error, Probe, Result};
use readiness_dr::history::WriteError;
use readiness_dr::proxy::Proxy;

/// The port the service listens on inside its container.
pub const SERVICE_PORT: u16 = 8080;

/// The port of the TLS front ([`Stack::start_tls_front`]) inside its container.
pub const TLS_FRONT_PORT: u16 = 8443;

/// What to start.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct StackOptions {
    defects: Vec<String>,
    env: Vec<(String, String)>,
    redis: bool,
    published_ports: Vec<u16>,
}

impl StackOptions {
    /// Postgres, Redis and the service, no defect.
    pub fn new() -> Self {
        StackOptions {
            redis: true,
            ..Default::default()
        }
    }
    /// Switches a defect on (see [`crate::defects`]).
    pub fn with_defect(mut self, defect: &str) -> Self {
        self.defects.push(defect.to_owned());
        self
    }
    /// Sets a variable of the service.
    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }
    /// No Redis (the service runs without a cache).
    pub fn without_redis(mut self) -> Self {
        self.redis = false;
        self
    }
    /// Container mode: the service's container also exposes and publishes `port` (TCP),
    /// besides [`SERVICE_PORT`], e.g. [`crate::defects::DEBUG_PORT`]; also for
    /// [`Stack::start_another_service_with`]. A process listens on the host itself, so
    /// this changes nothing there.
    pub fn with_published_port(mut self, port: u16) -> Self {
        if !self.published_ports.contains(&port) {
            self.published_ports.push(port);
        }
        self
    }
}

/// How the service runs.
#[derive(Debug)]
pub enum Service {
    /// A child process (killed on drop).
    Process(tokio::process::Child),
    /// A container on the stack's network.
    Container(Box<ContainerAsync<GenericImage>>),
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    /// Base URL of the service, on loopback (`http://127.0.0.1:PORT`).
    pub url: String,
    /// PostgreSQL as reachable from the host.
    pub database_url: String,
    /// Redis as reachable from the host (when started).
    pub redis_url: Option<String>,
    /// The service; for a process, stdout (JSON logs) goes to [`Stack::log_path`].
    pub service: Service,
    /// PostgreSQL.
    pub postgres: ContainerAsync<Postgres>,
    /// Redis.
    pub redis: Option<ContainerAsync<Redis>>,
    /// From the first container start to the service answering ready.
    pub started_in: Duration,
    log: Option<tempfile_path::LogFile>,
    /// Container mode: the fault proxies the service reaches its dependencies through.
    proxies: Option<Proxies>,
    /// Container mode: what another instance of the service needs.
    instance: Option<Instance>,
}

/// Container mode: the fault proxies of the harness (`readiness-dr`) named `postgres` and
/// `redis`, on the gateway of the stack's network, through which the service's container
/// reaches its dependencies: a test can add toxics to them, and the proxy mutants of
/// `readiness sensitivity` (`dep.latency`, `dep.flaky`, `dep.down`, `dep.bandwidth`)
/// reach the service the way they reach any suite that starts such proxies.
#[derive(Debug)]
pub struct Proxies {
    /// In front of PostgreSQL.
    pub postgres: Proxy,
    /// In front of Redis, when it was started.
    pub redis: Option<Proxy>,
}

impl Proxies {
    /// Proxies on the gateway of `network`, to the dependencies' addresses on it (a
    /// container killed and started again keeps its address there while no other
    /// container joins the network in between, which nothing of the stack does).
    async fn start(
        network: &str,
        postgres: &ContainerAsync<Postgres>,
        redis: Option<&ContainerAsync<Redis>>,
    ) -> Result<Proxies> {
        let (gateway, prefix_len) = containers::network_gateway(network).await?;
        let proxy = |name: &'static str, ip: Ipv4Addr, port: u16| {
            Proxy::builder(name, format!("{ip}:{port}"))
                .allow_non_loopback()
                .listen_on_network_gateway(gateway, prefix_len)
                .start()
        };
        let pg_ip = containers::address_on_network(postgres.id(), network).await?;
        let postgres = proxy("postgres", pg_ip, POSTGRES_PORT).await?;
        let redis = match redis {
            Some(r) => {
                let ip = containers::address_on_network(r.id(), network).await?;
                Some(proxy("redis", ip, REDIS_PORT).await?)
            }
            None => None,
        };
        Ok(Proxies { postgres, redis })
    }
}

/// Container mode: the network, the service's variables and its extra published ports.
#[derive(Debug)]
struct Instance {
    network: String,
    service_name: String,
    env: Vec<(String, String)>,
    published_ports: Vec<u16>,
}

/// The service's container request on `network` with `env`, publishing [`SERVICE_PORT`]
/// and `published_ports`.
fn service_request(
    network: &str,
    name: Option<&str>,
    env: &[(String, String)],
    published_ports: &[u16],
) -> Result<readiness_core::testcontainers::ContainerRequest<GenericImage>> {
    let mut image = GenericImage::new("readiness-local/reference-service", "latest")
        .with_exposed_port(SERVICE_PORT.tcp());
    for port in published_ports {
        image = image.with_exposed_port(port.tcp());
    }
    let image = image.with_wait_for(WaitFor::message_on_stdout("\"message\":\"listening\""));
    let mut request = containers::catalogue(image, "reference")?.with_network(network);
    if let Some(name) = name {
        request = request.with_container_name(name);
    }
    for (k, v) in env {
        request = request.with_env_var(k, v);
    }
    Ok(request)
}

mod tempfile_path {
    /// A log file removed on drop.
    #[derive(Debug)]
    pub(super) struct LogFile(pub(super) std::path::PathBuf);
    impl Drop for LogFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn other<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Other(format!("{what}: {e}"))
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

async fn dependencies(
    opts: &StackOptions,
    network: Option<&str>,
    names: (&str, &str),
) -> Result<(ContainerAsync<Postgres>, Option<ContainerAsync<Redis>>)> {
    let mut pg = containers::postgres()?;
    let mut redis = containers::redis()?;
    if let Some(net) = network {
        pg = pg.with_network(net).with_container_name(names.0);
        redis = redis.with_network(net).with_container_name(names.1);
    }
    if opts.redis {
        let (pg, redis) = tokio::join!(containers::start(pg), containers::start(redis));
        Ok((pg?, Some(redis?)))
    } else {
        Ok((containers::start(pg).await?, None))
    }
}

/// Redis as reachable from the host, when it was started.
async fn redis_host_url(redis: Option<&ContainerAsync<Redis>>) -> Result<Option<String>> {
    let Some(r) = redis else { return Ok(None) };
    let port = r
        .get_host_port_ipv4(REDIS_PORT)
        .await
        .map_err(other("redis port"))?;
    Ok(Some(format!("redis://127.0.0.1:{port}/")))
}

impl Stack {
    /// Starts PostgreSQL and Redis in containers and the service binary `bin` as a child
    /// process on a free loopback port, and waits until `/health/ready` answers 200.
    pub async fn start_process(bin: impl AsRef<Path>, opts: StackOptions) -> Result<Stack> {
        let started = Instant::now();
        let (postgres, redis) = dependencies(&opts, None, ("", "")).await?;
        let pg_port = postgres
            .get_host_port_ipv4(POSTGRES_PORT)
            .await
            .map_err(other("postgres port"))?;
        let database_url = format!("postgres://postgres:postgres@127.0.0.1:{pg_port}/postgres");
        let redis_url = redis_host_url(redis.as_ref()).await?;
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!("reference-service-{}.log", suffix()));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Error::Other(format!("cannot create {}: {e}", log_path.display())))?;
        let mut cmd = tokio::process::Command::new(bin.as_ref());
        cmd.env("DATABASE_URL", &database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("REFERENCE_DEFECT", opts.defects.join(","))
            .env_remove("REDIS_URL")
            .stdout(Stdio::from(log))
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = &redis_url {
            cmd.env("REDIS_URL", url);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::Other(format!("cannot run {}: {e}", bin.as_ref().display())))?;
        let mut stack = Stack {
            url: format!("http://127.0.0.1:{port}"),
            database_url,
            redis_url,
            service: Service::Process(child),
            postgres,
            redis,
            started_in: Duration::ZERO,
            log: Some(tempfile_path::LogFile(log_path)),
            proxies: None,
            instance: None,
        };
        stack.wait_until_ready(Duration::from_secs(60)).await?;
        stack.started_in = started.elapsed();
        Ok(stack)
    }

    /// Starts PostgreSQL, Redis and the service image (`READINESS_IMAGE_REFERENCE`,
    /// default `readiness-local/reference-service:latest`) on a new Docker network, the
    /// service reaching PostgreSQL and Redis through fault proxies of the test
    /// ([`Stack::proxies`]), and waits until `/health/ready` answers 200.
    pub async fn start_containers(opts: StackOptions) -> Result<Stack> {
        let started = Instant::now();
        let id = suffix();
        let network = format!("readiness-{id}");
        let (pg_name, redis_name) = (format!("postgres-{id}"), format!("redis-{id}"));
        let (postgres, redis) =
            dependencies(&opts, Some(&network), (&pg_name, &redis_name)).await?;
        let pg_port = postgres
            .get_host_port_ipv4(POSTGRES_PORT)
            .await
            .map_err(other("postgres port"))?;
        let redis_url = redis_host_url(redis.as_ref()).await?;
        let proxies = Proxies::start(&network, &postgres, redis.as_ref()).await?;
        let pg_proxy = proxies.postgres.listen_addr();
        let mut env = vec![
            (
                "DATABASE_URL".to_owned(),
                format!("postgres://postgres:postgres@{pg_proxy}/postgres"),
            ),
            ("BIND_ADDR".to_owned(), format!("0.0.0.0:{SERVICE_PORT}")),
            ("REFERENCE_DEFECT".to_owned(), opts.defects.join(",")),
        ];
        if let Some(redis_proxy) = &proxies.redis {
            env.push((
                "REDIS_URL".to_owned(),
                format!("redis://{}/", redis_proxy.listen_addr()),
            ));
        }
        env.extend(opts.env.iter().cloned());
        let service_name = format!("service-{id}");
        let request = service_request(&network, Some(&service_name), &env, &opts.published_ports)?;
        let service = containers::start(request).await?;
        let port = service
            .get_host_port_ipv4(SERVICE_PORT)
            .await
            .map_err(other("service port"))?;
        let mut stack = Stack {
            url: format!("http://127.0.0.1:{port}"),
            database_url: format!("postgres://postgres:postgres@127.0.0.1:{pg_port}/postgres"),
            redis_url,
            service: Service::Container(Box::new(service)),
            postgres,
            redis,
            started_in: Duration::ZERO,
            log: None,
            proxies: Some(proxies),
            instance: Some(Instance {
                network,
                service_name,
                env,
                published_ports: opts.published_ports.clone(),
            }),
        };
        stack.wait_until_ready(Duration::from_secs(60)).await?;
        stack.started_in = started.elapsed();
        Ok(stack)
    }

    /// Container mode: the proxies the service reaches PostgreSQL and Redis through.
    pub fn proxies(&self) -> Option<&Proxies> {
        self.proxies.as_ref()
    }

    /// Container mode: the Docker network of the stack (made for it).
    pub fn network(&self) -> Option<&str> {
        self.instance.as_ref().map(|i| i.network.as_str())
    }

    /// Container mode: the service's container (e.g. for the host port of a port published
    /// with [`StackOptions::with_published_port`]); `None` for a process.
    pub fn service_container(&self) -> Option<&ContainerAsync<GenericImage>> {
        match &self.service {
            Service::Container(c) => Some(c.as_ref()),
            Service::Process(_) => None,
        }
    }

    /// Container mode: a TLS front of the service (stunnel: `READINESS_IMAGE_STUNNEL`,
    /// default `readiness-local/stunnel:5`) on the stack's network, with `config` as its
    /// `stunnel.conf` (`{service}` in it replaced by the service's host on the network) and
    /// `pem` (a certificate and its key) at `/etc/stunnel/front.pem`. Returns the container
    /// and its `127.0.0.1:<port>` for the front's port 8443, once stunnel has read its
    /// configuration.
    pub async fn start_tls_front(
        &self,
        config: &str,
        pem: &[u8],
    ) -> Result<(ContainerAsync<GenericImage>, String)> {
        let Some(instance) = &self.instance else {
            return Err(Error::Other(
                "a TLS front needs the stack in containers (Stack::start_containers)".into(),
            ));
        };
        let image = GenericImage::new("readiness-local/stunnel", "5")
            .with_exposed_port(TLS_FRONT_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stderr("Configuration successful"));
        let config = config.replace("{service}", &instance.service_name);
        let request = containers::catalogue(image, "stunnel")?
            .with_network(&instance.network)
            .with_copy_to("/etc/stunnel/stunnel.conf", config.into_bytes())
            .with_copy_to("/etc/stunnel/front.pem", pem.to_vec());
        let front = containers::start(request).await?;
        let port = front
            .get_host_port_ipv4(TLS_FRONT_PORT)
            .await
            .map_err(other("TLS front port"))?;
        Ok((front, format!("127.0.0.1:{port}")))
    }

    /// Container mode: another instance of the service on the same network, database and
    /// cache, with the same variables and defects (the green of a blue/green switch).
    /// Returns it once it listens, with its base URL on loopback.
    pub async fn start_another_service(&self) -> Result<(ContainerAsync<GenericImage>, String)> {
        self.start_another_service_with(&[]).await
    }

    /// [`Stack::start_another_service`] with some variables set otherwise, e.g.
    /// `[("REFERENCE_DEFECT", "slow_search")]` for a green that should be rolled back.
    pub async fn start_another_service_with(
        &self,
        overrides: &[(&str, &str)],
    ) -> Result<(ContainerAsync<GenericImage>, String)> {
        let Some(instance) = &self.instance else {
            return Err(Error::Other(
                "another instance needs the stack in containers (Stack::start_containers)".into(),
            ));
        };
        let mut env = instance.env.clone();
        for (key, value) in overrides {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let request = service_request(&instance.network, None, &env, &instance.published_ports)?;
        let service = containers::start(request).await?;
        let port = service
            .get_host_port_ipv4(SERVICE_PORT)
            .await
            .map_err(other("service port"))?;
        Ok((service, format!("http://127.0.0.1:{port}")))
    }

    /// A write for readiness-dr's [`readiness_dr::history::Writer`]: `POST /orders` of an
    /// order for customer `w-<seq>` with the write token. 201 is acknowledged; another
    /// status or a refused connection is failed (nothing was written); a timeout or a
    /// connection dropped after sending is indeterminate.
    pub fn order_writer(
        &self,
    ) -> impl Fn(u64) -> Pin<Box<dyn Future<Output = std::result::Result<(), WriteError>> + Send>>
    + Send
    + 'static {
        let url = format!("{}/orders", self.url);
        let client = reqwest::Client::new();
        move |seq| {
            let request = client
                .post(&url)
                .header("authorization", "Bearer write-token")
                .json(&serde_json::json!({ "customer": format!("w-{seq}"), "item": "widget", "quantity": 1 }));
            Box::pin(async move {
                match request.send().await {
                    Ok(r) if r.status() == 201 => Ok(()),
                    Ok(r) => Err(WriteError::Failed(r.status().to_string())),
                    Err(e) if e.is_connect() => Err(WriteError::Failed(e.to_string())),
                    Err(e) => Err(WriteError::Indeterminate(e.to_string())),
                }
            })
        }
    }

    /// Creates `n` orders through the service (the write token; customers `c0` to `c3`,
    /// in turn, so a search finds a quarter of them): the ids it acknowledged, in order.
    pub async fn create_orders(&self, n: usize) -> Vec<i64> {
        let client = reqwest::Client::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let created = client
                .post(format!("{}/orders", self.url))
                .header("authorization", "Bearer write-token")
                .json(&serde_json::json!({
                    "customer": format!("c{}", i % 4), "item": "widget", "quantity": 1
                }))
                .send()
                .await;
            if let Ok(r) = created
                && r.status().is_success()
                && let Ok(body) = r.json::<serde_json::Value>().await
                && let Some(id) = body.get("id").and_then(serde_json::Value::as_i64)
            {
                ids.push(id);
            }
        }
        ids
    }

    /// One order created and read back once (so it is in the cache): its URL. An order
    /// the service acknowledged but cannot read back within 10 s is an error (a write
    /// acknowledged before it is stored is `dr.no_ack_write_lost`'s to judge, not the
    /// caller's).
    pub async fn readable_order(&self) -> Result<String> {
        let id = *self
            .create_orders(1)
            .await
            .first()
            .ok_or_else(|| Error::Other(format!("{} acknowledged no order", self.url)))?;
        let url = format!("{}/orders/{id}", self.url);
        let client = reqwest::Client::new();
        for _ in 0..100 {
            let read = client.get(&url).send().await;
            if read.is_ok_and(|r| r.status().is_success()) {
                return Ok(url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Other(format!(
            "the order {url} did not read back within 10 s"
        )))
    }

    /// A connection to PostgreSQL itself, on its current host port (it changes when
    /// PostgreSQL is started again).
    async fn database(&self) -> Result<tokio_postgres::Client> {
        let port = self
            .postgres
            .get_host_port_ipv4(POSTGRES_PORT)
            .await
            .map_err(other("postgres port"))?;
        let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres");
        let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(other("connecting to PostgreSQL"))?;
        tokio::spawn(connection);
        Ok(db)
    }

    /// The sequence numbers of the [`Stack::order_writer`] orders PostgreSQL holds, read
    /// from PostgreSQL itself.
    pub async fn orders_written(&self) -> Result<BTreeSet<u64>> {
        let rows = self
            .database()
            .await?
            .query("SELECT customer FROM orders WHERE customer LIKE 'w-%'", &[])
            .await
            .map_err(other("reading the orders back"))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, String>(0).strip_prefix("w-")?.parse().ok())
            .collect())
    }

    /// `n` orders written straight into PostgreSQL with `COPY … FROM STDIN` (as a team
    /// seeds a production-sized table), of 10,000 customers `m0` to `m9999` in turn, so a
    /// customer has `n / 10,000` of them; then `ANALYZE`, so the planner knows the table's
    /// size. The service's schema must be there (call it after the service is ready).
    pub async fn seed_orders(&self, n: u64) -> Result<()> {
        use futures_util::SinkExt;
        let db = self.database().await?;
        let failed = other("seeding orders with COPY");
        let sink = db
            .copy_in("COPY orders (customer, item, quantity, amount_cents) FROM STDIN")
            .await
            .map_err(&failed)?;
        let mut sink = std::pin::pin!(sink);
        let mut seq = 0;
        while seq < n {
            let mut chunk = String::with_capacity(2 << 20);
            for i in seq..n.min(seq + 100_000) {
                chunk.push_str(&format!(
                    "m{}\twidget\t{}\t{}\n",
                    i % 10_000,
                    1 + i % 5,
                    100 + i % 900
                ));
            }
            seq = n.min(seq + 100_000);
            sink.send(std::io::Cursor::new(chunk.into_bytes()))
                .await
                .map_err(&failed)?;
        }
        sink.as_mut().finish().await.map_err(&failed)?;
        db.batch_execute("ANALYZE orders").await.map_err(&failed)?;
        Ok(())
    }

    /// Polls `/health/ready` until it answers 200 (or the process exits).
    pub async fn wait_until_ready(&mut self, deadline: Duration) -> Result<()> {
        let probe = Probe::http(format!("{}/health/ready", self.url))
            .with_interval(Duration::from_millis(50));
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Service::Process(child) = &mut self.service
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::Other(format!(
                    "the service exited with {status} before it was ready; log: {}",
                    self.log_text()
                )));
            }
            if probe.once().await?.0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Other(format!(
            "the service was not ready within {deadline:?}; log: {}",
            self.log_text()
        )))
    }

    /// The service's process id (process mode).
    pub fn pid(&self) -> Option<u32> {
        match &self.service {
            Service::Process(c) => c.id(),
            Service::Container(_) => None,
        }
    }

    /// Where the service's JSON logs go (process mode).
    pub fn log_path(&self) -> Option<&PathBuf> {
        self.log.as_ref().map(|l| &l.0)
    }

    /// The service's logs so far (process mode: the log file; container: empty).
    pub fn log_text(&self) -> String {
        self.log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the service process, by its pid.
    pub async fn signal(&self, signal: &str) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::Other("the service is not a running process".into()))?;
        let status = tokio::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .await
            .map_err(|e| Error::Other(format!("kill -{signal} {pid}: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "kill -{signal} {pid} failed: {status}"
            )))
        }
    }

    /// Waits for the service process to exit (bounded).
    pub async fn wait_exit(&mut self, deadline: Duration) -> Result<std::process::ExitStatus> {
        let Service::Process(child) = &mut self.service else {
            return Err(Error::Other("the service is not a process".into()));
        };
        tokio::time::timeout(deadline, child.wait())
            .await
            .map_err(|_| Error::Other(format!("the service did not exit within {deadline:?}")))?
            .map_err(|e| Error::Other(e.to_string()))
    }
}

/// A free port on 127.0.0.1 (bound and released; the service binds it next).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Other(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Other(e.to_string()))
}
