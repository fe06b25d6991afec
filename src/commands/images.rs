//! `hako images`, `rmi`, `tag`.

use crate::cli::{ImagesArgs, RmiArgs};
use crate::image::Image;
use crate::reference::Reference;
use crate::store::Store;
use crate::timefmt::{human_duration, now_secs, parse_rfc3339};
use crate::units::human_size;
use anyhow::{bail, Context, Result};

/// `--filter dangling=true|false` and `--filter reference=PATTERN`.
struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
}

fn filters(raw: &[String]) -> Result<Filters> {
    let mut f = Filters {
        dangling: None,
        references: vec![],
    };
    for item in raw {
        match item.split_once('=') {
            Some(("dangling", "true" | "1")) => f.dangling = Some(true),
            Some(("dangling", "false" | "0")) => f.dangling = Some(false),
            Some(("reference", pattern)) => f.references.push(pattern.to_string()),
            _ => bail!("--filter {item}: supported are dangling=true|false and reference=PATTERN"),
        }
    }
    Ok(f)
}

/// `*` and `?` as in a shell, for `reference=` filters and `images REPO`.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(
        &pattern.chars().collect::<Vec<_>>(),
        &text.chars().collect::<Vec<_>>(),
    )
}

/// Whether `repo:tag` is what `wanted` (`REPO` or `REPO:TAG`, globs allowed) asks for.
fn reference_matches(wanted: &str, repo: &str, tag: &str) -> bool {
    let (want_repo, want_tag) = match wanted.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (wanted, None),
    };
    let repo_ok = glob(want_repo, repo)
        || repo
            .strip_prefix("docker.io/library/")
            .is_some_and(|r| glob(want_repo, r));
    repo_ok && want_tag.is_none_or(|t| glob(t, tag))
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
];

pub fn images(store: &Store, args: &ImagesArgs) -> Result<i32> {
    let f = filters(&args.filter)?;
    let format = args
        .format
        .as_deref()
        .map(|fmt| crate::format::Format::parse(fmt, HEADERS))
        .transpose()?;
    let records = store.images()?;
    // An image ID with a name somewhere (the same image loaded twice, or pushed and then
    // untagged) is that name's image, never also a <none> row beside it.
    let named_ids: std::collections::HashSet<String> = records
        .iter()
        .filter(|r| !r.names.is_empty())
        .map(|r| r.config.to_string())
        .collect();
    let mut rows = vec![];
    let mut seen = std::collections::HashSet::new();
    for rec in records {
        let dangling = rec.names.is_empty();
        if dangling && named_ids.contains(&rec.config.to_string()) {
            continue;
        }
        if f.dangling.is_some_and(|d| d != dangling) {
            continue;
        }
        let id = if args.no_trunc {
            rec.config.to_string()
        } else {
            rec.config.short().to_string()
        };
        let image = Image::load(store, &rec)?;
        let created_at = image.config.created().clone().unwrap_or_default();
        let created = parse_rfc3339(&created_at)
            .map(|s| format!("{} ago", human_duration(now_secs() - s)))
            .unwrap_or_else(|| "N/A".into());
        let size = human_size(image.size(store));
        let names: Vec<(String, String)> = if dangling {
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
            let wanted = args.reference.iter().chain(&f.references);
            if !wanted.clone().all(|w| reference_matches(w, &repo, &tag)) {
                continue;
            }
            if !seen.insert((repo.clone(), tag.clone(), id.clone())) {
                continue;
            }
            rows.push(serde_json::json!({
                "ID": id,
                "Repository": repo,
                "Tag": tag,
                "Digest": rec.manifest.to_string(),
                "CreatedSince": created,
                "CreatedAt": created_at,
                "Size": size,
            }));
        }
    }
    if args.quiet {
        let mut printed = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("");
            if printed.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let format = match format {
        Some(f) => f,
        None => crate::format::Format::parse(
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
            HEADERS,
        )?,
    };
    print!("{}", format.render_all(&rows)?);
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
            failures.push(crate::exit::describe(&e));
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
