//! The files the pair writes for Prometheus and Alertmanager: the mounted directory, the
//! team's Alertmanager config pointed at the webhook (keeping its `send_resolved`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use readiness_core::{Error, Result};

use crate::webhook::Webhook;

pub(super) fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A port for Prometheus or Alertmanager to listen on (they run on the host's network and
/// need it before they start). Taken below the kernel's ephemeral range (32768 and up on
/// Linux): a port there may be taken, between this check and the container's bind, as the
/// local port of any outgoing connection — a load test opens thousands — and the container
/// would fail with "address already in use". Bounded: 64 candidates, then the kernel's
/// choice.
pub(super) fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
        ^ u64::from(std::process::id()).wrapping_mul(0x9E37_79B9);
    for _ in 0..64 {
        let n = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        let port = 20_000 + (n % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The mounted directory: readable by the containers' user (`nobody`).
#[derive(Debug)]
pub(super) struct Files {
    root: PathBuf,
}

impl Files {
    pub(super) fn new(root: &Path) -> Result<Self> {
        for d in [root.to_owned(), root.join("rules"), root.join("check")] {
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Files {
            root: root.to_owned(),
        })
    }
    pub(super) fn write(&self, relative: &str, text: &str) -> Result<()> {
        let path = self.root.join(relative);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        Ok(())
    }
    pub(super) fn clear(&self, dir: &str) -> Result<()> {
        for entry in std::fs::read_dir(self.root.join(dir))? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(())
    }
}

pub(super) fn safe_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "rule file name {name:?}: use letters, digits, '.', '_' and '-' only"
        )))
    }
}

/// Whether an integration of `kind` sends resolves when its config does not say
/// (Alertmanager 0.25's defaults).
fn sends_resolved_by_default(kind: &str) -> bool {
    !matches!(
        kind,
        "email_configs" | "slack_configs" | "wechat_configs" | "telegram_configs"
    )
}

/// The Alertmanager config the pair loads: the team's route tree, every receiver sending
/// to the webhook, and whether each receiver sends resolves. A receiver keeps the team's
/// `send_resolved`: it sends resolves when any of its integrations does (set, or by the
/// integration's default); a receiver with no integration sends them.
pub(super) fn alertmanager_config(
    webhook: &Webhook,
    team: Option<&str>,
) -> Result<(String, BTreeMap<String, bool>)> {
    use serde_yaml_ng::{Mapping, Value as Y};
    let Some(team) = team else {
        let yaml = format!(
            "route:\n  receiver: default\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: default\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
            json(&webhook.url_for("default"))
        );
        return Ok((yaml, BTreeMap::from([("default".to_owned(), true)])));
    };
    let mut resolves = BTreeMap::new();
    let mut config: Y = serde_yaml_ng::from_str(team).map_err(|e| Error::Config {
        path: "alertmanager.yml".into(),
        reason: e.to_string(),
    })?;
    let Y::Mapping(top) = &mut config else {
        return Err(Error::Config {
            path: "alertmanager.yml".into(),
            reason: "the config is not a YAML mapping".into(),
        });
    };
    top.remove("templates");
    if let Some(Y::Mapping(global)) = top.get_mut("global") {
        // Secrets read from files that exist only where the team deploys.
        let file_keys: Vec<Y> = global
            .keys()
            .filter(|k| k.as_str().is_some_and(|k| k.ends_with("_file")))
            .cloned()
            .collect();
        for k in file_keys {
            global.remove(&k);
        }
    }
    if let Some(Y::Sequence(receivers)) = top.get_mut("receivers") {
        for receiver in receivers.iter_mut() {
            let Y::Mapping(r) = receiver else { continue };
            let name = r.get("name").and_then(Y::as_str).unwrap_or("").to_owned();
            let mut integrations = 0;
            let mut sends = false;
            for (kind, configs) in r.iter() {
                let (Some(kind), Y::Sequence(configs)) = (kind.as_str(), configs) else {
                    continue;
                };
                if !kind.ends_with("_configs") {
                    continue;
                }
                for c in configs {
                    integrations += 1;
                    sends |= c
                        .get("send_resolved")
                        .and_then(Y::as_bool)
                        .unwrap_or_else(|| sends_resolved_by_default(kind));
                }
            }
            let sends = sends || integrations == 0;
            resolves.insert(name.clone(), sends);
            let mut hook = Mapping::new();
            hook.insert("url".into(), Y::String(webhook.url_for(&name)));
            hook.insert("send_resolved".into(), Y::Bool(sends));
            let mut only = Mapping::new();
            only.insert("name".into(), Y::String(name));
            only.insert(
                "webhook_configs".into(),
                Y::Sequence(vec![Y::Mapping(hook)]),
            );
            *r = only;
        }
    }
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Other(e.to_string()))?;
    Ok((yaml, resolves))
}
