//! `hako images`, `rmi`, `tag`.

use super::ps::print_table;
use crate::cli::{ImagesArgs, RmiArgs};
use crate::image::Image;
use crate::reference::Reference;
use crate::store::Store;
use crate::timefmt::{human_duration, now_secs, parse_rfc3339};
use crate::units::human_size;
use anyhow::{bail, Context, Result};

/// `--filter dangling=true|false`.
fn dangling_filter(filters: &[String]) -> Result<Option<bool>> {
    let mut want = None;
    for f in filters {
        want = Some(match f.as_str() {
            "dangling=true" | "dangling=1" => true,
            "dangling=false" | "dangling=0" => false,
            other => bail!("--filter {other}: only dangling=true|false is supported"),
        });
    }
    Ok(want)
}

pub fn images(store: &Store, args: &ImagesArgs) -> Result<i32> {
    let dangling = dangling_filter(&args.filter)?;
    let mut rows = vec![];
    for rec in store.images()? {
        if dangling.is_some_and(|d| d != rec.names.is_empty()) {
            continue;
        }
        let id = if args.no_trunc {
            rec.config.to_string()
        } else {
            rec.config.short().to_string()
        };
        if args.quiet {
            println!("{id}");
            continue;
        }
        let image = Image::load(store, &rec)?;
        let created = image
            .config
            .created()
            .as_deref()
            .and_then(parse_rfc3339)
            .map(|s| format!("{} ago", human_duration(now_secs() - s)))
            .unwrap_or_else(|| "N/A".into());
        let size = human_size(image.size(store));
        let names: Vec<(String, String)> = if rec.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            rec.names
                .iter()
                .filter_map(|n| n.parse::<Reference>().ok())
                .map(|r| {
                    (
                        r.familiar_repository(),
                        r.tag.clone().unwrap_or_else(|| "<none>".into()),
                    )
                })
                .collect()
        };
        for (repo, tag) in names {
            rows.push([repo, tag, id.clone(), created.clone(), size.clone()]);
        }
    }
    if !args.quiet {
        print_table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    }
    Ok(0)
}

pub fn tag(store: &Store, source: &str, target: &str) -> Result<i32> {
    let rec = store.lookup_image(source)?;
    let target: Reference = target.parse()?;
    if target.digest.is_some() {
        bail!("refusing to create a tag with a digest reference: {target}");
    }
    store.add_image(&rec.manifest, rec.manifest_size, &rec.config, Some(&target))?;
    Ok(0)
}

pub fn rmi(store: &Store, args: &RmiArgs) -> Result<i32> {
    let mut failures = vec![];
    for what in &args.images {
        if let Err(e) = remove_image(store, what, args.force) {
            failures.push(super::describe(&e));
        }
    }
    // Layers and blobs the removed images were the last users of.
    store.collect_garbage()?;
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(0)
}

fn remove_image(store: &Store, what: &str, force: bool) -> Result<()> {
    let rec = store.lookup_image(what)?;
    let by_name = what
        .parse::<Reference>()
        .ok()
        .filter(|r| rec.names.contains(&r.canonical()));
    // Removing one of several names of an image ID only untags, as in Docker (a pushed
    // image keeps its ID under a second, compressed manifest).
    let names_of_id: usize = store
        .images()?
        .iter()
        .filter(|i| i.config == rec.config)
        .map(|i| i.names.len())
        .sum();
    if let (Some(name), false) = (&by_name, names_of_id <= 1) {
        store.untag(name, false)?;
        println!("Untagged: {}", name.familiar());
        return Ok(());
    }
    if rec.names.len() > 1 && !force {
        bail!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", rec.config.short());
    }
    let users: Vec<String> = store
        .containers()?
        .into_iter()
        .filter(|c| c.image == rec.config)
        .map(|c| c.short_id().to_string())
        .collect();
    if !users.is_empty() && !force {
        bail!("conflict: unable to remove image {} - container {} is using it; remove the container first (hako rm) or use rmi -f", what, users.join(", "));
    }
    if !users.is_empty() {
        // Forced while containers use it: the names go, the image stays as <none> for them
        // (as in Docker), and leaves with the last of them at the next prune.
        for n in &rec.names {
            if let Ok(r) = n.parse::<Reference>() {
                store.untag(&r, true)?;
                println!("Untagged: {}", r.familiar());
            }
        }
        return Ok(());
    }
    for n in &rec.names {
        if let Ok(r) = n.parse::<Reference>() {
            println!("Untagged: {}", r.familiar());
        }
    }
    store
        .remove_image(&rec.manifest)
        .with_context(|| format!("remove image {what}"))?;
    println!("Deleted: {}", rec.config);
    Ok(())
}
