//! One service of a compose file: short and long syntaxes brought to one form (ports,
//! volumes, environment, depends_on, healthcheck…), relative paths made absolute against
//! the project directory.

use super::interpolate::parse_env_file;
use super::model::{Build, Dependency, Healthcheck, Mount, Service};
use super::parse::{check_keys, IGNORED_SERVICE, SERVICE_KEYS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

pub(super) fn service(
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
        cpuset: str_of("cpuset")?,
        mem_reservation: str_of("mem_reservation")?,
        shm_size: str_of("shm_size")?,
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
    s.cpu_shares = get("cpu_shares").and_then(Value::as_u64);
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
