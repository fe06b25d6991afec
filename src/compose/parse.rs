//! The compose file, resolved: YAML read, variables interpolated, every key checked (an
//! unknown key is an error naming where it is, as Docker Compose does; a known key hako
//! does not act on is a warning), top-level volumes and networks named, dependencies
//! checked. Each service is read by `service`. Pure apart from reading `env_file`s.

use super::interpolate::{interpolate, Env};
use super::model::{order_by_dependencies, Project, Resource};
use super::service::service;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

const TOP_KEYS: &[&str] = &["version", "name", "services", "volumes", "networks"];
/// Keys of the compose specification hako reads but does not act on: a warning each.
const IGNORED_TOP: &[&str] = &["configs", "secrets", "include"];
pub(super) const SERVICE_KEYS: &[&str] = &[
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
    "cpu_shares",
    "cpuset",
    "mem_reservation",
    "shm_size",
];
pub(super) const IGNORED_SERVICE: &[&str] = &[
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

pub(super) fn check_keys(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::order_by_dependencies;
    use crate::compose::service::shell_split;
    use std::path::PathBuf;

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
