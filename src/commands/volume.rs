//! `hako volume create|ls|inspect|rm|prune`.

use super::ps::print_table;
use crate::cli::VolumeCommand;
use crate::store::Store;
use crate::volumes::{self, Volume};
use anyhow::{bail, Result};
use serde_json::json;
use std::collections::BTreeMap;

pub fn volume(store: &Store, command: &VolumeCommand) -> Result<i32> {
    match command {
        VolumeCommand::Create { labels, name, .. } => {
            let labels = parse_labels(labels)?;
            let _writer = store.writer_guard()?;
            let v = volumes::create(store, name.as_deref(), labels)?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet, filter } => {
            let containers = store.containers()?;
            let mut list = volumes::list(store);
            for f in filter {
                let (key, value) = f
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("bad filter {f:?}: expected KEY=VALUE"))?;
                list.retain(|v| match key {
                    "dangling" => {
                        volumes::users(&containers, &v.name).is_empty() == (value == "true")
                    }
                    "name" => v.name.contains(value),
                    "label" => match value.split_once('=') {
                        Some((k, val)) => v.labels.get(k).map(String::as_str) == Some(val),
                        None => v.labels.contains_key(value),
                    },
                    _ => true,
                });
                if !["dangling", "name", "label"].contains(&key) {
                    bail!("invalid filter {key:?} (dangling, name or label)");
                }
            }
            if *quiet {
                list.iter().for_each(|v| println!("{}", v.name));
            } else {
                let rows: Vec<[String; 2]> = list
                    .iter()
                    .map(|v| ["local".to_string(), v.name.clone()])
                    .collect();
                print_table(&["DRIVER", "VOLUME NAME"], &rows);
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut out = vec![];
            let mut missing = vec![];
            for name in names {
                match volumes::find(store, name) {
                    Ok(v) => out.push(inspect_json(store, &v)),
                    Err(e) => missing.push(e.to_string()),
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            if !missing.is_empty() {
                bail!("{}", missing.join("; "));
            }
        }
        VolumeCommand::Rm { force, names } => {
            let _writer = store.writer_guard()?;
            let mut failures = vec![];
            for name in names {
                match volumes::remove(store, name, *force) {
                    Ok(()) => println!("{name}"),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            if !failures.is_empty() {
                bail!("{}", failures.join("; "));
            }
        }
        VolumeCommand::Prune { all, .. } => {
            let _writer = store.writer_guard()?;
            let (removed, freed) = volumes::prune(store, *all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                removed.iter().for_each(|n| println!("{n}"));
                println!();
            }
            println!("Total reclaimed space: {}", crate::units::human_size(freed));
        }
    }
    Ok(0)
}

fn inspect_json(store: &Store, v: &Volume) -> serde_json::Value {
    json!({
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": v.labels,
        "Mountpoint": volumes::data_dir(store, &v.name),
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

/// `--label K=V` (a bare `K` is an empty value, as Docker).
pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    Ok(labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect())
}
