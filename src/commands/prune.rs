//! `hako image prune`, `hako system prune`, `hako system df`: cleanup with Docker's output.

use super::ps::print_table;
use crate::cli::PruneArgs;
use crate::reference::Reference;
use crate::store::gc::disk_usage;
use crate::store::images::ImageRecord;
use crate::store::Store;
use crate::units::human_size;
use anyhow::Result;
use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};

/// Docker's confirmation: anything but y/yes (EOF included) declines.
pub fn confirm(warning: &str) -> bool {
    eprint!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
        if !std::io::stdin().is_terminal() {
            eprintln!();
        }
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Images no container uses; only dangling ones unless `all`.
fn unused_images(store: &Store, all: bool) -> Result<Vec<ImageRecord>> {
    let used: HashSet<_> = store.containers()?.into_iter().map(|c| c.image).collect();
    let images = store.images()?;
    // An ID with a name somewhere (a pushed image keeps it under its compressed manifest)
    // is not dangling: its nameless record is that named image, not one to prune.
    let named: HashSet<_> = images
        .iter()
        .filter(|i| !i.names.is_empty())
        .map(|i| i.config.clone())
        .collect();
    Ok(images
        .into_iter()
        .filter(|i| !used.contains(&i.config))
        .filter(|i| all || (i.names.is_empty() && !named.contains(&i.config)))
        .collect())
}

/// Removes the images and collects garbage; prints Docker's "Deleted Images" block and
/// returns the bytes freed.
fn remove_images(store: &Store, images: &[ImageRecord]) -> Result<u64> {
    if images.is_empty() {
        return Ok(store.collect_garbage()?.bytes);
    }
    println!("Deleted Images:");
    for img in images {
        for n in &img.names {
            if let Ok(r) = n.parse::<Reference>() {
                println!("untagged: {}", r.familiar());
            }
        }
        store.remove_image(&img.manifest)?;
        println!("deleted: {}", img.config);
    }
    println!();
    Ok(store.collect_garbage()?.bytes)
}

pub fn image_prune(store: &Store, args: &PruneArgs) -> Result<i32> {
    let warning = if args.all {
        "This will remove all images without at least one container associated to them."
    } else {
        "This will remove all dangling images."
    };
    if !args.force && !confirm(warning) {
        return Ok(0);
    }
    let freed = remove_images(store, &unused_images(store, args.all)?)?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn system_prune(store: &Store, args: &PruneArgs) -> Result<i32> {
    let images = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.force
        && !confirm(&format!(
            "This will remove:\n  - all stopped containers\n  - {images}\n  - temporary files of interrupted hako commands"
        ))
    {
        return Ok(0);
    }
    let stopped: Vec<_> = store
        .containers()?
        .into_iter()
        .filter(|c| !c.is_running())
        .collect();
    let mut freed = 0;
    if !stopped.is_empty() {
        println!("Deleted Containers:");
        for c in &stopped {
            freed += disk_usage(&store.container_dir(&c.id));
            super::rm::remove_one(store, &c.id, false, false)?;
            println!("{}", c.id);
        }
        println!();
    }
    // Leases, rules and veths a crashed hako left behind.
    for link in crate::network::cleanup(store)? {
        println!("Deleted stale link: {link}");
    }
    freed += remove_images(store, &unused_images(store, args.all)?)?;
    // Downloads an interrupted pull left for resuming, that no pull holds now.
    freed += store.remove_unheld_partials();
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn system_df(store: &Store) -> Result<i32> {
    let containers = store.containers()?;
    let images = store.images()?;
    let used_images: HashSet<_> = containers.iter().map(|c| c.image.clone()).collect();

    // Every blob and layer is counted once, and is reclaimable unless an image in use (or
    // a container) needs it.
    let mut all_parts = HashSet::new();
    let mut active_parts = HashSet::new();
    for img in &images {
        let (blobs, layers) = store.image_parts(&img.manifest, &img.config);
        let parts: Vec<(bool, crate::digest::Digest)> = [img.manifest.clone(), img.config.clone()]
            .into_iter()
            .chain(blobs)
            .map(|d| (true, d))
            .chain(layers.into_iter().map(|d| (false, d)))
            .collect();
        if used_images.contains(&img.config) {
            active_parts.extend(parts.iter().cloned());
        }
        all_parts.extend(parts);
    }
    for c in &containers {
        active_parts.extend(c.layers.iter().cloned().map(|d| (false, d)));
    }
    let size_of = |(is_blob, d): &(bool, crate::digest::Digest)| {
        if *is_blob {
            store.blob_size(d)
        } else {
            disk_usage(&store.layer_dir(d))
        }
    };
    let image_size: u64 = all_parts.iter().map(size_of).sum();
    let image_reclaimable: u64 = all_parts
        .iter()
        .filter(|p| !active_parts.contains(*p))
        .map(size_of)
        .sum();
    let mut container_size = 0;
    let mut container_reclaimable = 0;
    for c in &containers {
        let size = disk_usage(&store.container_dir(&c.id).join("upper"));
        container_size += size;
        if !c.is_running() {
            container_reclaimable += size;
        }
    }
    let running = containers.iter().filter(|c| c.is_running()).count();
    let (partials, pulling, partial_size, partial_reclaimable) = store.partial_usage();
    let pct = |part: u64, whole: u64| {
        (part * 100)
            .checked_div(whole)
            .map_or(String::new(), |p| format!(" ({p}%)"))
    };
    let rows = vec![
        [
            "Images".to_string(),
            images.len().to_string(),
            images
                .iter()
                .filter(|i| used_images.contains(&i.config))
                .count()
                .to_string(),
            human_size(image_size),
            format!(
                "{}{}",
                human_size(image_reclaimable),
                pct(image_reclaimable, image_size)
            ),
        ],
        [
            "Containers".to_string(),
            containers.len().to_string(),
            running.to_string(),
            human_size(container_size),
            format!(
                "{}{}",
                human_size(container_reclaimable),
                pct(container_reclaimable, container_size)
            ),
        ],
        [
            "Local Volumes".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
        [
            "Build Cache".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
        [
            "Partial Downloads".into(),
            partials.to_string(),
            pulling.to_string(),
            human_size(partial_size),
            format!(
                "{}{}",
                human_size(partial_reclaimable),
                pct(partial_reclaimable, partial_size)
            ),
        ],
    ];
    print_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows);
    Ok(0)
}

/// `hako system check [--repair]`: every problem on its own line; exit 1 while any is
/// left unrepaired.
pub fn system_check(store: &Store, repair: bool) -> Result<i32> {
    let mut report = store.check(repair)?;
    // Containers whose hako was killed: their cgroups and records (see `reap`).
    for c in store.containers()? {
        if let Some(why) = crate::container::reap::verdict(&c) {
            let problem = format!("container {}: {why}", c.short_id());
            report.problems.push(problem.clone());
            if repair {
                let failed = crate::container::reap::reap(store, &c);
                if failed.is_empty() {
                    report.repaired.push(format!("{problem}: cleaned up"));
                } else {
                    report
                        .problems
                        .push(format!("{problem}: repair failed: {}", failed.join("; ")));
                }
            }
        }
    }
    println!(
        "Checked {} blobs, {} layers, {} images, {} containers.",
        report.blobs, report.layers, report.images, report.containers
    );
    let unrepaired = report.problems.len() - report.repaired.len();
    if report.problems.is_empty() {
        println!("No problems found.");
        return Ok(0);
    }
    println!("Problems:");
    for p in &report.problems {
        println!("  - {p}");
    }
    if repair {
        println!("Repaired:");
        for r in &report.repaired {
            println!("  - {r}");
        }
    } else {
        println!("Run `hako system check --repair` to remove what is damaged or partial.");
    }
    Ok(if unrepaired == 0 && repair { 0 } else { 1 })
}
