//! `cp`, `diff` and `history`: looking at and moving files of containers and images.

use crate::cli::{CpArgs, HistoryArgs};
use crate::image::Image;
use crate::layer::changes_list;
use crate::rootfs::secure_join;
use crate::state::ContainerRecord;
use crate::store::Store;
use crate::timefmt::{human_duration, now_secs, parse_rfc3339};
use crate::units::human_size;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The container's whole filesystem as a directory: the running container's root, or a
/// stopped one's overlay mounted privately for this process.
fn rootfs(store: &Store, c: &ContainerRecord) -> Result<PathBuf> {
    if c.is_running() {
        return Ok(PathBuf::from(format!("/proc/{}/root", c.state.pid)));
    }
    crate::export::mount_privately(store, c)
}

/// `CONTAINER:PATH` → (container, path); a host path → None.
fn split(arg: &str) -> Option<(&str, &str)> {
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// A running container is frozen while `cp` resolves and copies, as Docker does since
/// CVE-2018-15664: no process of it can swap a symlink between a path's resolution
/// inside the root and its use. (A rootless container without a cgroup cannot be
/// frozen, nor one whose files fuse-overlayfs serves from inside its cgroup; there only
/// user-space resolution protects the copy.)
fn freeze_for_copy(store: &Store, c: &ContainerRecord) -> Result<crate::cgroups::FreezeGuard> {
    Ok(crate::cgroups::FreezeGuard::new(
        &c.cgroup_path,
        c.is_running() && !crate::store::driver::serves_from_the_container(store.driver()),
    )?)
}

/// `PATH` inside `root` with its directories resolved there and its last name kept as it
/// is (`path/.` or `/` resolve the whole path).
fn source_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !path.ends_with("/.") && !path.ends_with('/') => {
            Ok(secure_join(root, parent)?.join(name))
        }
        _ => Ok(secure_join(root, p)?),
    }
}

pub fn cp(store: &Store, args: &CpArgs) -> Result<i32> {
    match (split(&args.source), split(&args.destination)) {
        (Some(_), Some(_)) => {
            bail!("copying between containers is not supported: copy to the host first")
        }
        (None, None) => {
            bail!("one of the paths must be CONTAINER:PATH (e.g. hako cp box:/etc/hosts .)")
        }
        (Some((name, path)), None) => {
            let c = store.lookup_container(name)?;
            let _frozen = freeze_for_copy(store, &c)?;
            let root = rootfs(store, &c)?;
            // Inside the container's root: its symlinks never lead to host files. The last
            // name is not followed: a symlink is copied as the link, as Docker does.
            let src = source_in_root(&root, path)?;
            if std::fs::symlink_metadata(&src).is_err() {
                bail!("Could not find the file {path} in container {name}");
            }
            let dest = crate::copy::destination(&src, Path::new(&args.destination));
            crate::copy::copy_tree(&src, &dest)
                .with_context(|| format!("copy {name}:{path} to {}", dest.display()))?;
        }
        (None, Some((name, path))) => {
            let c = store.lookup_container(name)?;
            let _frozen = freeze_for_copy(store, &c)?;
            let root = rootfs(store, &c)?;
            let src = Path::new(&args.source);
            let target = secure_join(&root, Path::new(path))?;
            let dest = crate::copy::destination(src, &target);
            // The final name is resolved inside the root too (it may be a symlink there).
            let dest = secure_join(&root, dest.strip_prefix(&root).unwrap_or(&dest))?;
            if dest.exists() && !dest.is_dir() {
                std::fs::remove_file(&dest).ok();
            }
            crate::copy::copy_tree(src, &dest)
                .with_context(|| format!("copy {} to {name}:{path}", src.display()))?;
        }
    }
    Ok(0)
}

pub fn diff(store: &Store, container: &str) -> Result<i32> {
    let c = store.lookup_container(container)?;
    let lowers: Vec<PathBuf> = c.layers.iter().rev().map(|l| store.layer_dir(l)).collect();
    let in_lower = |p: &Path| {
        let rel = p.strip_prefix("/").unwrap_or(p);
        lowers
            .iter()
            .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
    };
    let upper = crate::rootfs::container_overlay(store, &c.id, &c.layers)
        .changes()
        .with_context(|| format!("find what container {} changed", c.name))?;
    for (kind, path) in changes_list::list(&upper, &in_lower)? {
        // The empty targets hako made for its /etc bind mounts are not the user's changes
        // (Docker does not list them either).
        let rel = path.strip_prefix("/").unwrap_or(&path);
        let mount_target = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
            .iter()
            .any(|m| rel == Path::new(m))
            && std::fs::metadata(upper.join(rel)).is_ok_and(|m| m.len() == 0);
        if !mount_target {
            println!("{} {}", kind.letter(), path.display());
        }
    }
    Ok(0)
}

pub fn history(store: &Store, args: &HistoryArgs) -> Result<i32> {
    let rec = store.lookup_image(&args.image)?;
    let image = Image::load(store, &rec)?;
    let mut layers = image.diff_ids().into_iter();
    let history = image.config.history().clone();
    let mut rows = vec![];
    for (i, h) in history.iter().enumerate() {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            layers
                .next()
                .and_then(|d| store.layer_size(&d))
                .unwrap_or(0)
        };
        rows.push((i, h, size));
    }
    let last = rows.len().saturating_sub(1);
    let mut table = vec![];
    for (i, h, size) in rows.into_iter().rev() {
        let id = if i == last {
            if args.no_trunc {
                rec.config.to_string()
            } else {
                rec.config.short().to_string()
            }
        } else {
            "<missing>".to_string()
        };
        if args.quiet {
            println!("{id}");
            continue;
        }
        let created = h
            .created()
            .as_deref()
            .and_then(parse_rfc3339)
            .map(|s| format!("{} ago", human_duration(now_secs() - s)))
            .unwrap_or_default();
        let mut by = h.created_by().clone().unwrap_or_default();
        if !args.no_trunc && by.chars().count() > 45 {
            by = format!("{}…", by.chars().take(44).collect::<String>());
        }
        table.push([
            id,
            created,
            by,
            human_size(size),
            h.comment().clone().unwrap_or_default(),
        ]);
    }
    if !args.quiet {
        super::ps::print_table(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &table,
        );
    }
    Ok(0)
}
