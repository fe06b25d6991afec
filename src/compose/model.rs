//! The compose file, resolved: YAML read, variables interpolated, short and long syntaxes
//! brought to one form, relative paths made absolute against the project directory, and
//! every key checked (an unknown key is an error naming where it is, as Docker Compose
//! does; a known key hako does not act on is a warning). Pure apart from reading
//! `env_file`s.

use super::interpolate::{interpolate, parse_env_file, Env};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

const TOP_KEYS: &[&str] = &["version", "name", "services", "volumes", "networks"];
/// Keys of the compose specification hako reads but does not act on: a warning each.
const IGNORED_TOP: &[&str] = &["configs", "secrets", "include"];
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "tmpfs",
    "working_dir",
    "user",
    "hostname",
    "container_name",
    "depends_on",
    "healthcheck",
    "restart",
    "networks",
    "labels",
    "tty",
    "stdin_open",
    "privileged",
    "read_only",
    "cap_add",
    "cap_drop",
    "stop_signal",
    "stop_grace_period",
    "network_mode",
    "extra_hosts",
    "dns",
    "expose",
    "mem_limit",
    "cpus",
    "pids_limit",
];
const IGNORED_SERVICE: &[&str] = &[
    "deploy",
    "logging",
    "init",
    "platform",
    "pull_policy",
    "profiles",
    "ulimits",
    "secrets",
    "configs",
    "scale",
    "domainname",
    "security_opt",
    "sysctls",
    "shm_size",
    "devices",
];

pub struct Load<'a> {
    pub text: &'a str,
    /// The file's directory: relative paths resolve against it.
    pub dir: &'a Path,
    pub project_name: Option<&'a str>,
    pub env: &'a Env,
}

pub fn load(input: &Load) -> Result<Project, String> {
    let mut yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(input.text).map_err(|e| format!("parse the compose file: {e}"))?;
    yaml.apply_merge()
        .map_err(|e| format!("compose file merge keys: {e}"))?;
    // File order, which JSON maps do not keep: services are listed (and tied) in it.
    let file_order: Vec<String> = yaml
        .get("services")
        .and_then(|s| s.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut root: Value = serde_json::to_value(&yaml).map_err(|e| format!("compose file: {e}"))?;
    interpolate_all(&mut root, input.env, "")?;
    let top = root
        .as_object()
        .ok_or("the compose file must be a mapping with a services key")?;
    let mut warnings = vec![];
    check_keys(top, TOP_KEYS, IGNORED_TOP, "", &mut warnings)?;
    let name = input
        .project_name
        .map(String::from)
        .or_else(|| top.get("name").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| {
            input
                .dir
                .file_name()
                .map_or("default".into(), |n| n.to_string_lossy().into_owned())
        });
    let name = normalize_project_name(&name)?;
    let volumes = resources(top.get("volumes"), &name, "volumes")?;
    let networks = resources(top.get("networks"), &name, "networks")?;
    let services_v = top
        .get("services")
        .and_then(Value::as_object)
        .ok_or("the compose file has no services")?;
    let mut services = vec![];
    for (sname, v) in services_v {
        let s = service(sname, v, input.dir, &mut warnings)?;
        for m in &s.volumes {
            if let (Some(src), "volume") = (&m.source, m.kind.as_str()) {
                if !volumes.contains_key(src) {
                    return Err(format!("service {sname:?} refers to undefined volume {src}: declare it under the top-level volumes key"));
                }
            }
        }
        for (n, _) in &s.networks {
            if n != "default" && !networks.contains_key(n) {
                return Err(format!("service {sname:?} refers to undefined network {n}: declare it under the top-level networks key"));
            }
        }
        services.push(s);
    }
    for s in &services {
        for d in &s.depends_on {
            if !services.iter().any(|o| o.name == d.service) {
                return Err(format!(
                    "service {:?} depends on undefined service {:?}",
                    s.name, d.service
                ));
            }
        }
    }
    services.sort_by_key(|s| file_order.iter().position(|n| *n == s.name));
    order_by_dependencies(&services)?;
    Ok(Project {
        name,
        dir: input.dir.to_path_buf(),
        services,
        volumes,
        networks,
        warnings,
    })
}

/// Docker Compose's rule: lowercase letters, digits, `-` and `_`, starting with a letter or
/// digit.
fn normalize_project_name(name: &str) -> Result<String, String> {
    let lower: String = name
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    match lower.chars().next() {
        Some(c) if c.is_ascii_alphanumeric() => Ok(lower),
        _ => Err(format!("{name:?} is not a valid project name: use lowercase letters, digits, dashes and underscores (-p NAME)")),
    }
}

fn interpolate_all(v: &mut Value, env: &Env, path: &str) -> Result<(), String> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, env).map_err(|e| format!("{path}: {e}"))?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate_all(x, env, &format!("{path}[{i}]"))?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                interpolate_all(x, env, &format!("{path}.{k}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_keys(
    m: &Map<String, Value>,
    known: &[&str],
    ignored: &[&str],
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    for k in m.keys() {
        if known.contains(&k.as_str()) || k.starts_with("x-") {
            continue;
        }
        if ignored.contains(&k.as_str()) {
            warnings.push(format!("{at}{k}: not supported by hako compose, ignored"));
            continue;
        }
        return Err(format!(
            "{at}{k}: unknown key (additional property {k} is not allowed)"
        ));
    }
    Ok(())
}

fn resources(
    v: Option<&Value>,
    project: &str,
    what: &str,
) -> Result<BTreeMap<String, Resource>, String> {
    let mut out = BTreeMap::new();
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(out);
    };
    for (key, def) in m {
        let external = match def.get("external") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(_)) => true,
            _ => false,
        };
        let explicit = def.get("name").and_then(Value::as_str).map(String::from);
        if let Some(d) = def.as_object() {
            let known = [
                "external",
                "name",
                "driver",
                "labels",
                "driver_opts",
                "ipam",
                "attachable",
            ];
            if let Some(bad) = d.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(format!("{what}.{key}.{bad}: unknown key"));
            }
        }
        let name = match (explicit, external) {
            (Some(n), _) => n,
            (None, true) => key.clone(),
            (None, false) => format!("{project}_{key}"),
        };
        out.insert(key.clone(), Resource { name, external });
    }
    Ok(out)
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| scalar(x).ok_or_else(|| format!("{at}: expected a list of strings")))
            .collect(),
        Value::Null => Ok(vec![]),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("{at}: expected a string or a list")),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `command: "a b 'c d'"` splits like a shell would (no variables: those were interpolated).
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut word = String::new();
    let mut started = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("{s:?}: unterminated single quote")),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(c) => word.push(c),
                        None => return Err(format!("{s:?}: unterminated double quote")),
                    }
                }
            }
            '\\' => {
                started = true;
                word.extend(chars.next());
            }
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        out.push(word);
    }
    Ok(out)
}

fn command(v: &Value, at: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => shell_split(s).map_err(|e| format!("{at}: {e}")),
        other => strings(other, at),
    }
}

/// `environment` as a list (`K=V`, `K`) or a map (`K: V`, `K:` for the host's value).
fn environment(v: &Value, at: &str, env: &mut Vec<String>) -> Result<(), String> {
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::Null => {
                        if let Ok(host) = std::env::var(k) {
                            set(format!("{k}={host}"));
                        }
                    }
                    other => set(format!(
                        "{k}={}",
                        scalar(other).ok_or_else(|| format!("{at}.{k}: expected a string"))?
                    )),
                }
            }
        }
        other => {
            for e in strings(other, at)? {
                if e.contains('=') {
                    set(e);
                } else if let Ok(host) = std::env::var(&e) {
                    set(format!("{e}={host}"));
                }
            }
        }
    }
    Ok(())
}

fn duration_ms(v: Option<&Value>, at: &str, default: u64) -> Result<u64, String> {
    match v.and_then(scalar) {
        None => Ok(default),
        Some(s) => crate::units::parse_duration(&s)
            .map(|d| d.as_millis() as u64)
            .map_err(|e| format!("{at}: {e}")),
    }
}

fn absolute(dir: &Path, p: &str) -> PathBuf {
    let expanded = match p.strip_prefix("~/") {
        Some(rest) => {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into())).join(rest)
        }
        None => dir.join(p),
    };
    let mut out = PathBuf::from("/");
    for c in expanded.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn service(
    name: &str,
    v: &Value,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Service, String> {
    let at = format!("services.{name}");
    let m = v
        .as_object()
        .ok_or_else(|| format!("{at}: expected a mapping"))?;
    check_keys(
        m,
        SERVICE_KEYS,
        IGNORED_SERVICE,
        &format!("{at}."),
        warnings,
    )?;
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    let str_of = |k: &str| -> Result<Option<String>, String> {
        get(k)
            .map(|v| scalar(v).ok_or_else(|| format!("{at}.{k}: expected a string")))
            .transpose()
    };
    let bool_of = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut s = Service {
        name: name.to_string(),
        image: str_of("image")?,
        working_dir: str_of("working_dir")?,
        user: str_of("user")?,
        hostname: str_of("hostname")?,
        container_name: str_of("container_name")?,
        restart: str_of("restart")?,
        stop_signal: str_of("stop_signal")?,
        network_mode: str_of("network_mode")?,
        mem_limit: str_of("mem_limit")?,
        tty: bool_of("tty"),
        stdin_open: bool_of("stdin_open"),
        privileged: bool_of("privileged"),
        read_only: bool_of("read_only"),
        ..Default::default()
    };
    if let Some(b) = get("build") {
        s.build = Some(match b {
            Value::String(ctx) => Build {
                context: absolute(dir, ctx),
                dockerfile: None,
                args: BTreeMap::new(),
                target: None,
            },
            Value::Object(bm) => {
                let known = [
                    "context",
                    "dockerfile",
                    "args",
                    "target",
                    "labels",
                    "network",
                    "no_cache",
                    "pull",
                ];
                if let Some(bad) = bm.keys().find(|k| !known.contains(&k.as_str())) {
                    return Err(format!("{at}.build.{bad}: unknown key"));
                }
                let context = absolute(
                    dir,
                    bm.get("context").and_then(Value::as_str).unwrap_or("."),
                );
                let mut args = BTreeMap::new();
                let mut list = vec![];
                if let Some(a) = bm.get("args") {
                    environment(a, &format!("{at}.build.args"), &mut list)?;
                }
                for kv in list {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    args.insert(k.to_string(), v.to_string());
                }
                Build {
                    dockerfile: bm
                        .get("dockerfile")
                        .and_then(Value::as_str)
                        .map(|d| context.join(d)),
                    context,
                    args,
                    target: bm.get("target").and_then(Value::as_str).map(String::from),
                }
            }
            _ => return Err(format!("{at}.build: expected a path or a mapping")),
        });
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(format!("service {name:?} has neither an image nor a build context specified: at least one must be provided"));
    }
    if let Some(c) = get("command") {
        s.command = Some(command(c, &format!("{at}.command"))?);
    }
    if let Some(c) = get("entrypoint") {
        s.entrypoint = Some(command(c, &format!("{at}.entrypoint"))?);
    }
    // env_file first, then environment over it (Compose's precedence).
    if let Some(files) = get("env_file") {
        for f in strings(files, &format!("{at}.env_file"))? {
            let path = absolute(dir, &f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{at}.env_file: {}: {e}", path.display()))?;
            for (k, v) in parse_env_file(&text).map_err(|e| format!("{}: {e}", path.display()))? {
                s.environment
                    .retain(|x| x.split('=').next() != Some(k.as_str()));
                s.environment.push(format!("{k}={v}"));
            }
        }
    }
    if let Some(e) = get("environment") {
        environment(e, &format!("{at}.environment"), &mut s.environment)?;
    }
    if let Some(p) = get("ports") {
        for port in p
            .as_array()
            .ok_or_else(|| format!("{at}.ports: expected a list"))?
        {
            s.ports.push(match port {
                Value::Object(pm) => {
                    let target = pm
                        .get("target")
                        .and_then(scalar)
                        .ok_or_else(|| format!("{at}.ports: target is required"))?;
                    let mut spec = target;
                    if let Some(p) = pm.get("published").and_then(scalar) {
                        spec = format!("{p}:{spec}");
                        if let Some(ip) = pm.get("host_ip").and_then(Value::as_str) {
                            spec = format!("{ip}:{spec}");
                        }
                    }
                    if let Some(proto) = pm.get("protocol").and_then(Value::as_str) {
                        spec = format!("{spec}/{proto}");
                    }
                    spec
                }
                other => scalar(other).ok_or_else(|| format!("{at}.ports: expected a string"))?,
            });
        }
    }
    if let Some(vols) = get("volumes") {
        for vol in vols
            .as_array()
            .ok_or_else(|| format!("{at}.volumes: expected a list"))?
        {
            s.volumes.push(mount(vol, dir, &at)?);
        }
    }
    if let Some(t) = get("tmpfs") {
        s.tmpfs = strings(t, &format!("{at}.tmpfs"))?;
    }
    if let Some(d) = get("depends_on") {
        match d {
            Value::Object(dm) => {
                for (dep, cond) in dm {
                    let condition = cond
                        .get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("service_started")
                        .to_string();
                    if ![
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully",
                    ]
                    .contains(&condition.as_str())
                    {
                        return Err(format!(
                            "{at}.depends_on.{dep}: unknown condition {condition:?}"
                        ));
                    }
                    s.depends_on.push(Dependency {
                        service: dep.clone(),
                        condition,
                    });
                }
            }
            other => {
                for dep in strings(other, &format!("{at}.depends_on"))? {
                    s.depends_on.push(Dependency {
                        service: dep,
                        condition: "service_started".into(),
                    });
                }
            }
        }
    }
    if let Some(h) = get("healthcheck") {
        s.healthcheck = healthcheck(h, &format!("{at}.healthcheck"))?;
    }
    match get("networks") {
        None => {}
        Some(Value::Object(nm)) => {
            for (n, opts) in nm {
                let aliases = opts
                    .get("aliases")
                    .map(|a| strings(a, &format!("{at}.networks.{n}.aliases")))
                    .transpose()?
                    .unwrap_or_default();
                s.networks.push((n.clone(), aliases));
            }
        }
        Some(other) => {
            for n in strings(other, &format!("{at}.networks"))? {
                s.networks.push((n, vec![]));
            }
        }
    }
    if let Some(l) = get("labels") {
        let mut list = vec![];
        environment(l, &format!("{at}.labels"), &mut list)?;
        for kv in list {
            let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
            s.labels.insert(k.to_string(), v.to_string());
        }
    }
    for (key, field) in [
        ("cap_add", &mut s.cap_add),
        ("cap_drop", &mut s.cap_drop),
        ("extra_hosts", &mut s.extra_hosts),
        ("dns", &mut s.dns),
        ("expose", &mut s.expose),
    ] {
        if let Some(v) = get(key) {
            *field = strings(v, &format!("{at}.{key}"))?;
        }
    }
    if let Some(g) = get("stop_grace_period") {
        s.stop_grace_period =
            Some(duration_ms(Some(g), &format!("{at}.stop_grace_period"), 0)? / 1000);
    }
    s.cpus = get("cpus").and_then(|c| c.as_f64().or_else(|| c.as_str()?.parse().ok()));
    s.pids_limit = get("pids_limit").and_then(Value::as_i64);
    Ok(s)
}

fn mount(v: &Value, dir: &Path, at: &str) -> Result<Mount, String> {
    if let Value::Object(m) = v {
        let kind = m
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("volume")
            .to_string();
        let target = m
            .get("target")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.volumes: target is required"))?
            .to_string();
        let source = m.get("source").and_then(Value::as_str).map(|s| {
            if kind == "bind" {
                absolute(dir, s).display().to_string()
            } else {
                s.to_string()
            }
        });
        return Ok(Mount {
            kind,
            source,
            target,
            read_only: m.get("read_only").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    let spec = scalar(v).ok_or_else(|| format!("{at}.volumes: expected a string or a mapping"))?;
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => (Some(*s), *t, ""),
        [s, t, m] => (Some(*s), *t, *m),
        _ => {
            return Err(format!(
                "{at}.volumes: {spec:?} is not SOURCE:TARGET[:MODE]"
            ))
        }
    };
    let read_only = mode.split(',').any(|m| m == "ro");
    let is_path = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    Ok(match source {
        Some(s) if is_path(s) => Mount {
            kind: "bind".into(),
            source: Some(absolute(dir, s).display().to_string()),
            target: target.into(),
            read_only,
        },
        source => Mount {
            kind: "volume".into(),
            source: source.map(String::from),
            target: target.into(),
            read_only,
        },
    })
}

fn healthcheck(v: &Value, at: &str) -> Result<Option<Healthcheck>, String> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("{at}: expected a mapping"))?;
    if m.get("disable").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let test = match m.get("test") {
        Some(Value::String(s)) => vec!["CMD-SHELL".into(), s.clone()],
        Some(other) => strings(other, &format!("{at}.test"))?,
        None => return Err(format!("{at}: test is required")),
    };
    if test.first().map(String::as_str) == Some("NONE") {
        return Ok(None);
    }
    if !matches!(test.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) {
        return Err(format!("{at}.test: must start with CMD, CMD-SHELL or NONE"));
    }
    Ok(Some(Healthcheck {
        test,
        interval_ms: duration_ms(m.get("interval"), &format!("{at}.interval"), 30_000)?,
        timeout_ms: duration_ms(m.get("timeout"), &format!("{at}.timeout"), 30_000)?,
        retries: m.get("retries").and_then(Value::as_u64).unwrap_or(3) as u32,
        start_period_ms: duration_ms(m.get("start_period"), &format!("{at}.start_period"), 0)?,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Project, String> {
        let env: Env = [("PORT".to_string(), "8081".to_string())]
            .into_iter()
            .collect();
        load(&Load {
            text,
            dir: Path::new("/srv/My App"),
            project_name: None,
            env: &env,
        })
    }

    #[test]
    fn the_seed_file() {
        let p = load_text(
            "version: '3'\nservices:\n  web:\n    build: .\n    ports:\n      - \"${PORT:-80}:80\"\n    volumes:\n      - ~/data:/data\n      - cache:/cache:ro\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: busybox\n    command: sh -c 'sleep 1000'\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\nvolumes:\n  cache:\n",
        )
        .unwrap();
        assert_eq!(p.name, "myapp");
        let web = &p.services[0];
        assert_eq!(web.ports, ["8081:80"]);
        assert_eq!(
            web.build.as_ref().unwrap().context,
            PathBuf::from("/srv/My App")
        );
        assert_eq!(web.volumes[0].kind, "bind");
        assert!(web.volumes[0].source.as_ref().unwrap().ends_with("/data"));
        assert_eq!(web.volumes[1].source.as_deref(), Some("cache"));
        assert!(web.volumes[1].read_only);
        assert_eq!(p.volumes["cache"].name, "myapp_cache");
        let db = &p.services[1];
        assert_eq!(db.command.as_ref().unwrap(), &["sh", "-c", "sleep 1000"]);
        assert_eq!(db.healthcheck.as_ref().unwrap().interval_ms, 1000);
        let order: Vec<&str> = order_by_dependencies(&p.services)
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(order, ["db", "web"]);
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(load_text("services:\n  a:\n    image: x\n    imagee: y\n")
            .unwrap_err()
            .contains("imagee"));
        assert!(
            load_text("services:\n  a:\n    image: x\n    volumes: [v:/v]\n")
                .unwrap_err()
                .contains("undefined volume")
        );
        assert!(
            load_text("services:\n  a:\n    image: x\n    depends_on: [b]\n")
                .unwrap_err()
                .contains("undefined service")
        );
        assert!(load_text(
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n"
        )
        .unwrap_err()
        .contains("cycle"));
        assert!(load_text("services:\n  a: {}\n")
            .unwrap_err()
            .contains("neither an image"));
        let p = load_text("services:\n  a:\n    image: x\n    deploy: {}\nx-any: 1\n").unwrap();
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn environment_forms() {
        let p = load_text(
            "services:\n  a:\n    image: x\n    environment:\n      A: 1\n      B: two\n  b:\n    image: x\n    environment: [C=3, \"D=four 4\"]\n",
        )
        .unwrap();
        assert_eq!(p.services[0].environment, ["A=1", "B=two"]);
        assert_eq!(p.services[1].environment, ["C=3", "D=four 4"]);
        assert_eq!(
            shell_split("a 'b c' \"d\\\"e\"").unwrap(),
            ["a", "b c", "d\"e"]
        );
    }
}
