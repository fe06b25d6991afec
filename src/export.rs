//! `export`: a container's whole filesystem as one tar, as `docker export` writes it.
//!
//! A stopped container's overlay is mounted in a mount namespace of hako's own (made with
//! `unshare`), so the host's mount table never sees it and it disappears with the process.
//! A running container is frozen and read through `/proc/<pid>/root`; freezing also means
//! nothing inside can swap a directory for a symlink while the walk reads it.

use crate::cgroups::FreezeGuard;
use crate::layer::pack::{self, PackOptions, PackReport, Source};
use crate::layer::tar_writer::TarWriter;
use crate::state::ContainerRecord;
use crate::store::Store;
use crate::sys::LinuxSys;
use anyhow::{Context, Result};

use std::fs::File;
use std::path::PathBuf;

/// Writes the container's filesystem to `out` (a file, or a pipe that big files are
/// spliced into).
pub fn export(store: &Store, c: &ContainerRecord, out: File) -> Result<(File, PackReport)> {
    let opts = PackOptions {
        source: Source::Rootfs,
        clamp_mtime: None,
        leave_out: vec![],
    };
    let tar = TarWriter::for_file(out)?;
    if c.is_running() {
        // fuse-overlayfs's daemon lives in the container's cgroup: frozen, it could not
        // serve the reads below.
        let _frozen = FreezeGuard::new(
            &c.cgroup_path,
            !crate::store::driver::serves_from_the_container(store.driver()),
        )?;
        let root = PathBuf::from(format!("/proc/{}/root", c.state.pid));
        return pack::pack_into(&root, tar, &opts)
            .with_context(|| format!("archive the filesystem of running container {}", c.name));
    }
    let merged = mount_privately(store, c)?;
    pack::pack_into(&merged, tar, &opts)
        .with_context(|| format!("archive the filesystem of container {}", c.name))
}

/// Mounts the container's overlay on its `merged/` directory, visible only to this process
/// (also `cp` and `diff` of a stopped container).
pub fn mount_privately(store: &Store, c: &ContainerRecord) -> Result<PathBuf> {
    let sys = LinuxSys;
    crate::rootfs::enter_private_mount_namespace(&sys)
        .context("enter a private mount namespace (export needs CAP_SYS_ADMIN)")?;
    let merged = store.container_dir(&c.id).join("merged");
    std::fs::create_dir_all(&merged)?;
    crate::rootfs::container_overlay(store, &c.id, &c.layers)
        .mount(&sys, &merged)
        .with_context(|| format!("mount the rootfs of container {}", c.name))?;
    Ok(merged)
}
