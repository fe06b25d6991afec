//! The resolved compose project: what `load` (in `parse` and `service`) makes of a
//! docker-compose.yml, and the order services start in. Pure.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    /// In file order.
    pub services: Vec<Service>,
    /// Key in the file → volume definition.
    pub volumes: BTreeMap<String, Resource>,
    pub networks: BTreeMap<String, Resource>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Project {
    /// The resolved model in the compose file's own shape (`compose config`): services
    /// keyed by name, unset and empty fields left out.
    pub fn resolved(&self) -> Value {
        fn prune(v: Value) -> Option<Value> {
            match v {
                Value::Null | Value::Bool(false) => None,
                Value::Array(a) if a.is_empty() => None,
                Value::Object(m) => {
                    let m: Map<String, Value> = m
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, prune(v)?)))
                        .collect();
                    (!m.is_empty()).then_some(Value::Object(m))
                }
                other => Some(other),
            }
        }
        let services: Map<String, Value> = self
            .services
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.remove("name");
                }
                (
                    s.name.clone(),
                    prune(v).unwrap_or_else(|| Value::Object(Map::new())),
                )
            })
            .collect();
        let mut out = serde_json::json!({"name": self.name, "services": services});
        for (key, defs) in [("networks", &self.networks), ("volumes", &self.volumes)] {
            if !defs.is_empty() {
                out[key] = serde_json::to_value(defs).unwrap_or_default();
            }
        }
        out
    }
}

/// A top-level volume or network: hako's name for it and whether compose owns it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Resource {
    pub name: String,
    pub external: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: Vec<String>,
    pub ports: Vec<String>,
    pub volumes: Vec<Mount>,
    pub tmpfs: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub container_name: Option<String>,
    pub depends_on: Vec<Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    /// Network key → aliases on it.
    pub networks: Vec<(String, Vec<String>)>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub privileged: bool,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<u64>,
    pub network_mode: Option<String>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub expose: Vec<String>,
    pub mem_limit: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset: Option<String>,
    pub mem_reservation: Option<String>,
    pub shm_size: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: Option<PathBuf>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
}

/// A service's mount: `kind` is bind, volume or tmpfs; a volume's `source` is the key of a
/// top-level volume (None: anonymous).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mount {
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Dependency {
    pub service: String,
    /// service_started, service_healthy or service_completed_successfully.
    pub condition: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// Services ordered so each comes after what it depends on; a cycle is an error.
pub fn order_by_dependencies(services: &[Service]) -> Result<Vec<&Service>, String> {
    let mut done: Vec<&Service> = vec![];
    let mut visiting: Vec<&str> = vec![];
    fn visit<'a>(
        s: &'a Service,
        all: &'a [Service],
        done: &mut Vec<&'a Service>,
        visiting: &mut Vec<&'a str>,
    ) -> Result<(), String> {
        if done.iter().any(|d| d.name == s.name) {
            return Ok(());
        }
        if visiting.contains(&s.name.as_str()) {
            return Err(format!(
                "dependency cycle: {} -> {}",
                visiting.join(" -> "),
                s.name
            ));
        }
        visiting.push(&s.name);
        for d in &s.depends_on {
            if let Some(dep) = all.iter().find(|x| x.name == d.service) {
                visit(dep, all, done, visiting)?;
            }
        }
        visiting.pop();
        done.push(s);
        Ok(())
    }
    for s in services {
        visit(s, services, &mut done, &mut visiting)?;
    }
    Ok(done)
}
