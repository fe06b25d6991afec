//! `hako ps`: Docker's columns.

use crate::cli::PsArgs;
use crate::state::{ContainerRecord, Status};
use crate::store::Store;
use crate::timefmt::{human_duration, now_secs, parse_rfc3339};
use anyhow::Result;

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

pub fn ps(store: &Store, args: &PsArgs) -> Result<i32> {
    let containers: Vec<ContainerRecord> = store
        .containers()?
        .into_iter()
        .filter(|c| args.all || c.is_running())
        .collect();
    if args.quiet {
        for c in &containers {
            println!("{}", if args.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = containers
        .iter()
        .map(|c| {
            let mut cmd = c
                .config
                .entrypoint
                .iter()
                .chain(&c.config.cmd)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            if !args.no_trunc && cmd.chars().count() > 20 {
                cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
            }
            let created = parse_rfc3339(&c.created)
                .map(|s| format!("{} ago", human_duration(now_secs() - s)))
                .unwrap_or_default();
            [
                if args.no_trunc {
                    c.id.clone()
                } else {
                    c.short_id().to_string()
                },
                c.image_name.clone(),
                format!("\"{cmd}\""),
                created,
                status_text(c),
                c.name.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &rows,
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
