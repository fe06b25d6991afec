//! `hako info`: what hako detected about this host, the facts its error messages cite.

use anyhow::Result;
use std::path::Path;

pub fn info(root: &Path) -> Result<i32> {
    let cg = crate::cgroups::detect();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let fs_type = nix::sys::statfs::statfs(root.parent().unwrap_or(Path::new("/")))
        .map(|s| filesystem_name(s.filesystem_type().0 as u64))
        .unwrap_or_else(|_| "unknown".into());
    println!("Data root: {}", root.display());
    println!("Backing filesystem: {fs_type}");
    println!("Kernel: {kernel}");
    println!("Storage driver: overlay");
    println!(
        "Cgroup version: {}",
        match cg.version {
            crate::cgroups::Version::V1 => "1",
            crate::cgroups::Version::V2 => "2",
        }
    );
    println!("Cgroup mount: {}", cg.mount.display());
    println!("Cgroup controllers: {}", cg.controllers.join(" "));
    if let Some(u) = &cg.hybrid_unified_mount {
        println!("Cgroup layout: hybrid (v1 controllers; an unused cgroup2 tree at {}); hako uses the v1 controllers", u.display());
    }
    let rootless = !nix::unistd::geteuid().is_root();
    if rootless {
        let v2 = cg.version == crate::cgroups::Version::V2;
        println!(
            "Cgroup delegated: {}",
            crate::cgroups::delegation::detect(v2, &cg.mount)
        );
    }
    println!("Rootless: {rootless}");
    Ok(0)
}

/// statfs(2) magic numbers of the filesystems a data root commonly lives on.
fn filesystem_name(magic: u64) -> String {
    match magic {
        0xEF53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x0102_1997 => "9p".into(),
        0x6573_5546 => "fuse".into(),
        other => format!("unknown (magic {other:#x})"),
    }
}
