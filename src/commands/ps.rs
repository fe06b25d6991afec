//! `hako ps`: Docker's columns, filters and `--format` fields.

use crate::cli::PsArgs;
use crate::format::Format;
use crate::state::{ContainerRecord, Status};
use crate::store::Store;
use crate::timefmt::{human_duration, now_secs, parse_rfc3339};
use crate::units::human_size;
use anyhow::{bail, Result};
use serde_json::{json, Value};

pub fn status_text(c: &ContainerRecord) -> String {
    let ago = |t: &str| {
        parse_rfc3339(t)
            .map(|s| human_duration(now_secs() - s))
            .unwrap_or_default()
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running if c.is_running() => format!("Up {}", ago(&c.state.started_at)),
        Status::Paused if c.is_running() => format!("Up {} (Paused)", ago(&c.state.started_at)),
        // The supervisor died without recording an exit: say so rather than guess a code.
        Status::Running | Status::Paused => "Exited (unknown): supervisor gone".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            ago(&c.state.finished_at)
        ),
    }
}

/// Docker's one-word state: created, running, paused, exited.
pub fn state_word(c: &ContainerRecord) -> &'static str {
    match (c.is_running(), c.state.status) {
        (true, Status::Paused) => "paused",
        (true, _) => "running",
        (false, Status::Created) => "created",
        _ => "exited",
    }
}

/// `--filter KEY=VALUE`, each key ANDed and repeated keys ORed, as Docker does.
struct Filters(Vec<(String, String)>);

impl Filters {
    fn parse(raw: &[String]) -> Result<Filters> {
        let mut out = vec![];
        for f in raw {
            let Some((k, v)) = f.split_once('=') else {
                bail!(
                    "--filter {f}: expected KEY=VALUE (id, name, status, exited, ancestor, label)"
                );
            };
            if !["id", "name", "status", "exited", "ancestor", "label"].contains(&k) {
                bail!("--filter {f}: invalid filter '{k}' (id, name, status, exited, ancestor, label)");
            }
            out.push((k.to_string(), v.to_string()));
        }
        Ok(Filters(out))
    }

    fn matches(&self, c: &ContainerRecord) -> bool {
        let keys: std::collections::BTreeSet<&str> =
            self.0.iter().map(|(k, _)| k.as_str()).collect();
        keys.into_iter().all(|key| {
            self.0
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(_, v)| match key {
                    "id" => c.id.starts_with(v.as_str()),
                    "name" => c.name.contains(v.as_str()),
                    "status" => state_word(c) == v,
                    "exited" => {
                        c.state.status == Status::Exited && c.state.exit_code.to_string() == *v
                    }
                    "ancestor" => c.image_name == *v || c.image.to_string().contains(v.as_str()),
                    "label" => match v.split_once('=') {
                        Some((lk, lv)) => c.config.labels.get(lk).map(String::as_str) == Some(lv),
                        None => c.config.labels.contains_key(v.as_str()),
                    },
                    _ => false,
                })
        })
    }

    fn shows_stopped(&self) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == "exited" || (k == "status" && v != "running"))
    }
}

/// The fields Docker's `ps --format` knows, for one container.
fn row(store: &Store, c: &ContainerRecord, no_trunc: bool, size: bool) -> Value {
    let mut cmd = c
        .config
        .entrypoint
        .iter()
        .chain(&c.config.cmd)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
    }
    let running_for = parse_rfc3339(&c.created)
        .map(|s| format!("{} ago", human_duration(now_secs() - s)))
        .unwrap_or_default();
    let size_text = if size {
        human_size(upper_size(&store.container_dir(&c.id).join("upper")))
    } else {
        String::new()
    };
    json!({
        "ID": if no_trunc { c.id.as_str() } else { c.short_id() },
        "Image": c.image_name,
        "Command": format!("\"{cmd}\""),
        "CreatedAt": c.created,
        "RunningFor": running_for,
        "Ports": c.network.ports.iter().filter(|_| c.is_running()).map(|p| p.display()).collect::<Vec<_>>().join(", "),
        "Status": status_text(c),
        "State": state_word(c),
        "Size": size_text,
        "Names": c.name,
        "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": c.host_config.binds.iter().map(|b| b.destination.clone()).collect::<Vec<_>>().join(","),
        "Networks": c.host_config.network_mode.name(),
    })
}

fn upper_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

pub fn ps(store: &Store, args: &PsArgs) -> Result<i32> {
    let filters = Filters::parse(&args.filter)?;
    let format = args
        .format
        .as_deref()
        .map(|f| Format::parse(f, HEADERS))
        .transpose()?;
    // Newest first; -n and -l look at every container, whatever its state.
    let limit = if args.latest { Some(1) } else { args.last };
    let show_all = args.all || limit.is_some() || filters.shows_stopped();
    let mut containers: Vec<ContainerRecord> =
        crate::container::reap::reaped(store, store.containers()?)
            .into_iter()
            .filter(|c| show_all || c.is_running())
            .filter(|c| filters.matches(c))
            .collect();
    if let Some(n) = limit {
        containers.truncate(n);
    }
    if args.quiet {
        for c in &containers {
            println!("{}", if args.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row(store, c, args.no_trunc, args.size))
        .collect();
    if let Some(f) = format {
        print!("{}", f.render_all(&rows)?);
        return Ok(0);
    }
    let mut columns = vec![
        "ID",
        "Image",
        "Command",
        "RunningFor",
        "Status",
        "Ports",
        "Names",
    ];
    if args.size {
        columns.push("Size");
    }
    let table: String = columns
        .iter()
        .map(|c| format!("{{{{.{c}}}}}"))
        .collect::<Vec<_>>()
        .join("\t");
    print!(
        "{}",
        Format::parse(&format!("table {table}"), HEADERS)?.render_all(&rows)?
    );
    Ok(0)
}

/// Left-aligned columns separated by three spaces, as Docker's tabwriter prints them.
pub fn print_table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
