//! `sec.exposed_ports`: a container publishes and listens on only the declared ports.

use std::collections::BTreeSet;

use readiness_core::testcontainers::{ContainerAsync, Image};

use super::{Measured, Probed, SecurityItem, check};
use readiness_core::Error;
use readiness_core::Evidence;
use readiness_core::Recorder;
use readiness_core::containers;
use readiness_core::{CheckResultExt, Failure};

/// The ports a container may expose (published by Docker, or listening inside on a
/// non-loopback address): TCP ports, and UDP ports only when declared.
#[derive(Debug, Clone)]
#[must_use]
pub struct ExposedPorts {
    declared: Vec<u16>,
    udp: Vec<u16>,
    window: std::time::Duration,
    recorder: Option<Recorder>,
}

/// Time between two looks at a container's sockets.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl ExposedPorts {
    /// Only the TCP `ports` (and no UDP port).
    pub fn only(ports: impl IntoIterator<Item = u16>) -> Self {
        ExposedPorts {
            declared: ports.into_iter().collect(),
            udp: Vec::new(),
            window: std::time::Duration::from_secs(5),
            recorder: None,
        }
    }
    /// How long the sockets are watched (default 5 s, a look every 500 ms): a port opened
    /// a moment after the first look is seen too.
    pub fn with_window(mut self, window: std::time::Duration) -> Self {
        self.window = window;
        self
    }
    /// UDP ports the container may also expose.
    pub fn with_udp(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.udp.extend(ports);
        self
    }
    /// `8080/tcp, 53/udp`.
    fn describe(&self) -> String {
        let tcp = self.declared.iter().map(|p| format!("{p}/tcp"));
        let udp = self.udp.iter().map(|p| format!("{p}/udp"));
        tcp.chain(udp).collect::<Vec<_>>().join(", ")
    }
    fn allows(&self, port: u16, protocol: &str) -> bool {
        match protocol {
            "tcp" => self.declared.contains(&port),
            "udp" => self.udp.contains(&port),
            _ => false,
        }
    }
    /// Where the record goes (default: the evidence directory); self-tests give their own.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
}

/// A socket listening inside the container: TCP in state LISTEN, UDP bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listener {
    protocol: &'static str,
    port: u16,
    address: String,
    loopback: bool,
}

/// The listening sockets of `/proc/net/{tcp,tcp6}` text (state `0A`, LISTEN) or of
/// `/proc/net/{udp,udp6}` text (state `07`, a bound socket), as `protocol` says.
fn listeners(text: &str, protocol: &'static str) -> BTreeSet<Listener> {
    let state = if protocol == "udp" { "07" } else { "0A" };
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 4 || cols[3] != state {
            continue;
        }
        let Some((ip_hex, port_hex)) = cols[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let (address, loopback) = decode_ip(ip_hex);
        out.insert(Listener {
            protocol,
            port,
            address,
            loopback,
        });
    }
    out
}

/// `/proc/net/tcp` addresses: IPv4 as one little-endian word, IPv6 as four.
fn decode_ip(hex: &str) -> (String, bool) {
    let words: Vec<u32> = (0..hex.len() / 8)
        .filter_map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => {
            let ip = std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            (ip.to_string(), ip.is_loopback())
        }
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&bytes);
            let ip = std::net::Ipv6Addr::from(b);
            let loopback =
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
            (ip.to_string(), loopback)
        }
        _ => (hex.to_owned(), false),
    }
}

/// The drive of `sec.exposed_ports`: every probe sent and judged as it came back.
async fn drive_exposed_ports<I: Image>(
    container: &ContainerAsync<I>,
    ports: &ExposedPorts,
) -> std::result::Result<Measured, Failure> {
    let id = container.id().to_owned();
    let short = &id[..id.len().min(12)];
    let declared_text = ports.describe();
    let check = check(
        "sec.exposed_ports",
        format!("only {declared_text} exposed"),
        ports.recorder.as_ref(),
    )
    .with_subject(format!("{} sec.exposed_ports", container.image().name()))
    .with_target(format!("container {short} ({})", container.image().name()))
    .with_scenario(format!(
        "Docker's published ports and the sockets listening inside the container, watched \
         for {}",
        readiness_core::Quantity::duration(ports.window)
    ));
    let seen = async {
        let docker = containers::docker().await?;
        let inspected = docker
            .inspect_container(&id, None)
            .await
            .map_err(|e| Error::Other(format!("failed to inspect container {short}: {e}")))?;
        let published: Vec<(String, String)> = inspected
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(port, bindings)| {
                let hosts: Vec<String> = bindings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        format!(
                            "{}:{}",
                            b.host_ip.unwrap_or_default(),
                            b.host_port.unwrap_or_default()
                        )
                    })
                    .collect();
                (!hosts.is_empty()).then(|| (port, hosts.join(", ")))
            })
            .collect();
        // The sockets, looked at over the window: every one seen at any look counts.
        let mut listening: BTreeSet<(Listener, u64)> = BTreeSet::new();
        let looks = (ports.window.as_millis() / SAMPLE_EVERY.as_millis()) as u64 + 1;
        for look in 0..looks.min(600) {
            for protocol in ["tcp", "udp"] {
                let (v4, v6) = (
                    format!("/proc/net/{protocol}"),
                    format!("/proc/net/{protocol}6"),
                );
                let out = containers::exec_output(container, &["cat", &v4, &v6]).await?;
                if out.stdout.trim().is_empty() {
                    return Err(Error::Other(format!(
                        "cannot read {v4} in container {short} (exit {:?}: {}); the image \
                         needs `cat`",
                        out.code,
                        out.stderr.trim()
                    )));
                }
                let at_ms = look * SAMPLE_EVERY.as_millis() as u64;
                for l in listeners(&out.stdout, protocol) {
                    if !listening.iter().any(|(seen, _)| *seen == l) {
                        listening.insert((l, at_ms));
                    }
                }
            }
            if look + 1 < looks {
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        }
        Ok((published, listening))
    }
    .await;
    let (mut published, listening) = match seen {
        Ok(s) => s,
        Err(e) => return Err(check.error(e)),
    };
    if listening.is_empty() {
        return Err(check.nothing_measured(format!(
            "nothing listens in container {short}; is the service running?"
        )));
    }
    published.sort();
    let mut items = Vec::new();
    for (port, hosts) in &published {
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        let number = number.parse::<u16>().unwrap_or(0);
        items.push(SecurityItem::new(
            port,
            "Docker's published ports",
            format!("declared ({declared_text})"),
            format!("published on {hosts}"),
            ports.allows(number, protocol),
        ));
    }
    for (l, at_ms) in &listening {
        let when = if *at_ms == 0 {
            String::new()
        } else {
            format!(" (from {:.1}s into the watch)", *at_ms as f64 / 1e3)
        };
        items.push(SecurityItem::new(
            format!("{}/{}", l.port, l.protocol),
            "sockets listening inside the container",
            format!("declared ({declared_text}), or on loopback only"),
            format!("listening on {}{when}", l.address),
            l.loopback || ports.allows(l.port, l.protocol),
        ));
    }
    let open: BTreeSet<String> = listening
        .iter()
        .map(|(l, _)| l)
        .filter(|l| !l.loopback)
        .map(|l| format!("{}/{}", l.port, l.protocol))
        .collect();
    let summary = format!(
        "published: {}; listening outside loopback: {}",
        if published.is_empty() {
            "none".to_owned()
        } else {
            published
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        open.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok(Measured::new(check, items, summary))
}

/// Drives `sec.exposed_ports` and returns what it measured, to be judged by [`assert_exposed_ports`] (or
/// [`Probed::judge`]); [`try_assert_exposed_ports`] does both.
pub async fn probe_exposed_ports<I: Image>(
    container: &ContainerAsync<I>,
    ports: &ExposedPorts,
) -> Probed {
    Probed::from(drive_exposed_ports(container, ports).await)
}

/// `sec.exposed_ports`: Docker's view (every container port published to the host) and
/// the container's own (every TCP socket listening and every UDP socket bound on a
/// non-loopback address, read from `/proc/net/{tcp,tcp6,udp,udp6}` with `cat` in the
/// container) must hold only the declared ports. Loopback listeners are listed but not judged: nothing outside the
/// container reaches them. No listening socket at all is verdict `error`.
pub async fn try_assert_exposed_ports<I: Image>(
    container: &ContainerAsync<I>,
    ports: &ExposedPorts,
) -> std::result::Result<Evidence, Failure> {
    probe_exposed_ports(container, ports).await.judge()
}

/// Judges what [`probe_exposed_ports`] measured, panicking with the failure at the caller's line.
#[track_caller]
pub fn assert_exposed_ports(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_gives_the_listeners_and_their_addresses() {
        let text = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:17AC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200A8C0:1F90 0100A8C0:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3 1
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:17AC 00000000000000000000000000000000:0000 0A 0 0
   1: 00000000000000000000000001000000:0CEA 00000000000000000000000000000000:0000 0A 0 0
";
        let l: Vec<(u16, String, bool)> = listeners(text, "tcp")
            .into_iter()
            .map(|l| (l.port, l.address, l.loopback))
            .collect();
        assert_eq!(
            l,
            [
                (3306, "::1".to_owned(), true),
                (6060, "127.0.0.1".to_owned(), true),
                (6060, "::".to_owned(), false),
                (8080, "0.0.0.0".to_owned(), false),
            ]
        );
        // UDP: a bound socket (07) is a listener; a connected one (01) is a client.
        let udp = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0
  121: 0200A8C0:A1B2 0100A8C0:0035 01 00000000:00000000 00:00000000 00000000     0        0 2 2 0 0
";
        let u: Vec<(&str, u16, bool)> = listeners(udp, "udp")
            .into_iter()
            .map(|l| (l.protocol, l.port, l.loopback))
            .collect();
        assert_eq!(u, [("udp", 53, false)]);
        let ports = ExposedPorts::only([8080]).with_udp([53]);
        assert_eq!(ports.describe(), "8080/tcp, 53/udp");
        assert!(ports.allows(53, "udp") && !ports.allows(53, "tcp") && !ports.allows(8080, "udp"));
    }
}
