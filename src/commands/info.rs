//! `hako info`: what hako detected about this host, the facts its error messages cite.
//! For a rootless user it is also the preflight: every problem gets one line naming the
//! cause and the one command or setting that fixes it.

use crate::rootless::{self, storage};
use crate::store::driver::{self, Driver};
use anyhow::Result;
use std::path::Path;

pub fn info(root: &Path, requested: Option<Driver>) -> Result<i32> {
    let cg = crate::cgroups::detect();
    let kernel = crate::sys::kernel_release();
    let magic = storage::filesystem_magic(root);
    let user = rootless::host_user();
    let mut problems: Vec<String> = vec![];
    println!("Data root: {}", root.display());
    println!("Backing filesystem: {}", storage::filesystem_name(magic));
    println!("Kernel: {kernel}");
    // What the data root records, or what a new one would get (info creates nothing).
    let recorded = driver::recorded(root).ok().flatten();
    let fuse = driver::fuse_installed();
    let kernel_version = crate::sys::kernel_version(&kernel);
    let chosen = recorded
        .or(requested)
        .unwrap_or_else(|| driver::automatic(user.is_some(), kernel_version, fuse));
    println!(
        "Storage driver: {chosen}{}",
        match chosen {
            Driver::Overlay if user.is_some() => " (kernel overlayfs, userxattr)",
            Driver::Overlay => " (kernel overlayfs)",
            Driver::FuseOverlayfs => " (FUSE)",
            Driver::Vfs => " (a full copy of the image for every container)",
        }
    );
    if chosen == Driver::Vfs && user.is_some() && kernel_version < (5, 11) {
        problems.push(format!("kernel {kernel} cannot mount overlay in a user namespace, so every container is a full copy of its image (the vfs driver: slow to create, as large as the image): apt-get install fuse-overlayfs, then give hako a new data root (--root DIR), which will use it"));
    }
    if chosen == Driver::FuseOverlayfs {
        if !fuse {
            problems.push("the fuse-overlayfs storage driver needs fuse-overlayfs: apt-get install fuse-overlayfs".into());
        }
        if nix::unistd::access(
            "/dev/fuse",
            nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
        )
        .is_err()
        {
            problems.push("/dev/fuse is not readable and writable for you, so fuse-overlayfs cannot mount: `chmod 0666 /dev/fuse` (the distribution's default) fixes it".into());
        }
    }
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
    println!("Rootless: {}", user.is_some());
    if let Some(user) = user {
        let v2 = cg.version == crate::cgroups::Version::V2;
        let delegation =
            crate::cgroups::delegation::detect(crate::rootless::Mode::Rootless, v2, &cg.mount);
        println!("Cgroup delegated: {delegation}");
        if !matches!(
            delegation,
            crate::cgroups::delegation::Delegation::Subtree { .. }
        ) {
            problems.push(format!(
                "--memory, --cpus and --pids-limit are refused: {delegation}"
            ));
        }
        let (mapping, warning) = rootless::mapping_for(user.uid, user.gid);
        println!("User namespace: {mapping} ({} ids)", mapping.size());
        problems.extend(warning);
        if kernel_version < (5, 11) && chosen == Driver::Overlay {
            problems.push(format!("kernel {kernel} is older than 5.11, so overlay cannot be mounted in a user namespace: install fuse-overlayfs (apt-get install fuse-overlayfs; new data roots then use it) or use a 5.11 or newer kernel"));
        }
        if let Some(fs) = storage::network_filesystem(magic) {
            problems.push(format!("the data root is on {fs}, where overlay and extended attributes do not work: pass --root (or HAKO_ROOT) naming a local directory such as {}", storage::local_fallback(user.uid).display()));
        }
        let helper = crate::network::usermode::choose(None);
        match helper.and_then(|h| crate::network::usermode::check_prerequisites(h).map(|()| h)) {
            Ok(h) => println!(
                "Network helper: {} (user-mode network; -p publishes on the host)",
                h.name()
            ),
            Err(e) => {
                println!("Network helper: none");
                problems.push(e.to_string());
            }
        }
        println!("Run directory: {}", rootless::run_dir().display());
        let name = nix::unistd::User::from_uid(user.uid.into())
            .ok()
            .flatten()
            .map_or_else(|| user.uid.to_string(), |u| u.name);
        let lingering = Path::new("/var/lib/systemd/linger").join(&name).exists();
        println!("Lingering: {lingering}");
        if !lingering && Path::new("/run/systemd/system").exists() {
            problems.push(format!("systemd ends your processes when you log out, detached containers included: `loginctl enable-linger {name}` keeps them"));
        }
    }
    if problems.is_empty() {
        println!("Problems: none");
    } else {
        println!("Problems:");
        for p in &problems {
            println!(" - {p}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::sys::kernel_version;

    #[test]
    fn kernel_versions_compare_by_major_then_minor() {
        assert!(kernel_version("6.1.0-13-amd64") >= (5, 11));
        assert!(kernel_version("5.11.0") >= (5, 11));
        assert!(kernel_version("5.10.197") < (5, 11));
        assert!(kernel_version("4.19.0") < (5, 11));
    }
}
