//! The container's filesystem, built through the `Sys` seam: everything before
//! `pivot_root` (rootfs, spec mounts, devices) and everything after (masked and
//! read-only paths, a read-only root).

use crate::rootfs::{secure_join, Overlay, RootfsError};
use crate::spec::plan::{CgroupV1Mount, HostCgroupLayout, LaunchPlan, MountKind, MountOp};
use crate::sys::{Sys, SysError};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::stat::makedev;
use std::path::{Path, PathBuf};

/// /dev links every Linux program expects.
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// Before pivot_root: the rootfs mounted and everything mounted into it.
pub fn prepare_rootfs(
    sys: &dyn Sys,
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
) -> Result<(), RootfsError> {
    // Nothing we mount may propagate back to the host unless the spec asks for it: every
    // mount a slave of the host's (it still sees host unmounts, like Docker's default
    // rslave). `rshared` keeps the copies in the host's peer groups, so that a mount made
    // in a shared volume reaches the host (Kubernetes' Bidirectional propagation).
    // (An unbindable "/" could not be bound as the new root: it becomes unbindable only
    // after the pivot.)
    let propagation = plan
        .rootfs_propagation
        .filter(|p| !p.contains(MsFlags::MS_UNBINDABLE))
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    sys.mount(None, Path::new("/"), None, propagation, None)?;
    if propagation.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a new root whose parent mount is shared.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let parent = plan.rootfs.parent().unwrap_or(Path::new("/"));
        let at = mount_point_of(parent, &mountinfo);
        sys.mount(None, &at, None, MsFlags::MS_PRIVATE, None)?;
    }
    match overlay {
        Some(o) => o.mount(sys, &plan.rootfs)?,
        // A prepared rootfs (a bundle) must be a mount point for pivot_root: bind it.
        None => sys.mount(
            Some(&plan.rootfs.display().to_string()),
            &plan.rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?,
    }
    for dir in &plan.volume_dirs {
        sys.mkdir_all(&secure_join(&plan.rootfs, dir)?, 0o755)?;
    }
    // A missing working directory is created, as Docker and runc do (`-w /new/dir`).
    if !plan.readonly_rootfs {
        sys.mkdir_all(&secure_join(&plan.rootfs, &plan.process.cwd)?, 0o755)?;
    }
    for m in &plan.mounts {
        match m.kind {
            MountKind::Plain => mount_one(sys, &plan.rootfs, m)?,
            MountKind::Cgroup => mount_cgroups(sys, plan, m)?,
        }
    }
    create_devices(sys, plan)?;
    Ok(())
}

fn mount_one(sys: &dyn Sys, rootfs: &Path, m: &MountOp) -> Result<(), RootfsError> {
    // Resolve the target inside the rootfs: an image's symlinks must not send a mount
    // onto the host (CVE-2021-30465 was a race on exactly this).
    let target = secure_join(rootfs, &m.target)?;
    if m.is_bind() && !Path::new(&m.source).is_dir() {
        if let Some(parent) = target.parent() {
            sys.mkdir_all(parent, 0o755)?;
        }
        sys.touch(&target)?;
    } else {
        sys.mkdir_all(&target, 0o755)?;
    }
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    // Each mount call goes onto the target as the kernel finds it beneath the rootfs at
    // that moment (openat2 RESOLVE_IN_ROOT), so a symlink another container swaps in
    // through a shared volume cannot send it to the host (CVE-2021-30465). Pinned again
    // before every call: after a mount, the old pin names what is now covered.
    let pin = || sys.pin_beneath(rootfs, &m.target, &target);
    // Errors name the real target, not /proc/self/fd/N.
    let named = |e: SysError| match e {
        SysError::Mount {
            from,
            fstype,
            flags,
            data,
            errno,
            ..
        } => SysError::Mount {
            from,
            target: target.display().to_string(),
            fstype,
            flags,
            data,
            errno,
        },
        other => other,
    };
    if m.is_bind() {
        // A bind mount ignores most flags on the first call; read-only and friends need
        // a remount (mount(2), "Creating a bind mount").
        sys.mount(
            Some(&m.source),
            &pin()?.path,
            None,
            m.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None,
        )
        .map_err(named)?;
        let extra = m.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            sys.mount(
                None,
                &pin()?.path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None,
            )
            .map_err(named)?;
        }
    } else {
        let mounted = sys.mount(
            Some(&m.source),
            &pin()?.path,
            Some(&m.fstype),
            m.flags,
            data,
        );
        match mounted.map_err(named) {
            // A user namespace may mount sysfs only for a network namespace it owns;
            // rootless with the host's network gets the host's /sys, bound read-only.
            Err(SysError::Mount {
                errno: nix::Error::EPERM,
                ..
            }) if m.fstype == "sysfs" => {
                let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
                sys.mount(Some("/sys"), &target, None, rec, None)?;
                let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked;
                sys.mount(None, &target, None, flags, None)?;
            }
            // devpts's gid=5 (tty) is invalid where that group is not mapped (a rootless
            // single-id namespace); the ptys then belong to the user's own group.
            Err(SysError::Mount {
                errno: nix::Error::EINVAL,
                ..
            }) if m.fstype == "devpts" && m.data.contains("gid=") => {
                let data: Vec<&str> = m
                    .data
                    .split(',')
                    .filter(|o| !o.starts_with("gid="))
                    .collect();
                let data = data.join(",");
                sys.mount(
                    Some(&m.source),
                    &target,
                    Some(&m.fstype),
                    m.flags,
                    Some(&data),
                )?;
            }
            other => other?,
        }
    }
    if !m.propagation.is_empty() {
        sys.mount(None, &pin()?.path, None, m.propagation, None)
            .map_err(named)?;
    }
    Ok(())
}

/// `/sys/fs/cgroup` as the container sees it, through its cgroup namespace: cgroup2 on a
/// v2 host; on a v1 (or hybrid) host a tmpfs holding one mount per controller hierarchy.
fn mount_cgroups(sys: &dyn Sys, plan: &LaunchPlan, m: &MountOp) -> Result<(), RootfsError> {
    let target = secure_join(&plan.rootfs, &m.target)?;
    sys.mkdir_all(&target, 0o755)?;
    // A cgroup namespace roots a cgroupfs mount at the container's cgroup; without one a
    // v1 hierarchy would show its root, every other container's cgroups included. So
    // then only the container's own directory of each hierarchy is bound, as runc does.
    let cgroupns = plan.namespaces.contains(CloneFlags::CLONE_NEWCGROUP)
        || plan
            .join
            .iter()
            .any(|(f, _)| *f == CloneFlags::CLONE_NEWCGROUP);
    let own_paths = (!cgroupns).then(|| {
        own_cgroup_paths(&std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default())
    });
    match &plan.cgroup_layout {
        HostCgroupLayout::V2 => {
            sys.mount(Some("cgroup2"), &target, Some("cgroup2"), m.flags, None)?
        }
        HostCgroupLayout::V1(hierarchies) => {
            let base = m.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
            sys.mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                base,
                Some("mode=755"),
            )?;
            for h in hierarchies {
                let dir = target.join(&h.dir);
                sys.mkdir_all(&dir, 0o755)?;
                let own = own_paths.as_ref().and_then(|paths| own_path_in(paths, h));
                match own {
                    Some(path) => {
                        let host = Path::new("/sys/fs/cgroup").join(&h.dir).join(path);
                        let host = host.display().to_string();
                        sys.mount(Some(&host), &dir, None, MsFlags::MS_BIND, None)?;
                        let again = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | m.flags;
                        sys.mount(None, &dir, None, again, None)?;
                    }
                    None => sys.mount(
                        Some("cgroup"),
                        &dir,
                        Some("cgroup"),
                        m.flags,
                        Some(&h.options),
                    )?,
                }
            }
            if m.flags.contains(MsFlags::MS_RDONLY) {
                sys.mount(
                    None,
                    &target,
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
                    Some("mode=755"),
                )?;
            }
        }
    }
    Ok(())
}

/// `/proc/self/cgroup` as (controllers, path relative to the hierarchy's root) pairs,
/// the v1 lines only (v2's has no controllers).
fn own_cgroup_paths(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            (!controllers.is_empty()).then(|| {
                let names = controllers.split(',').map(String::from).collect();
                (names, path.trim_start_matches('/').to_string())
            })
        })
        .collect()
}

/// The container's directory in hierarchy `h`: the line whose controllers all appear in
/// the hierarchy's mount options (`cpu,cpuacct`, `name=systemd`).
fn own_path_in<'a>(paths: &'a [(Vec<String>, String)], h: &CgroupV1Mount) -> Option<&'a str> {
    let options: Vec<&str> = h.options.split(',').collect();
    paths
        .iter()
        .find(|(names, _)| names.iter().all(|n| options.contains(&n.as_str())))
        .map(|(_, path)| path.as_str())
}

fn create_devices(sys: &dyn Sys, plan: &LaunchPlan) -> Result<(), RootfsError> {
    let dev = plan.rootfs.join("dev");
    for d in &plan.devices {
        // Inside the rootfs, never through a symlink the image put there.
        let path = secure_join(&plan.rootfs, &d.path)?;
        // /dev itself is the tmpfs mounted above; only deeper devices need a directory.
        if let Some(parent) = path.parent().filter(|p| *p != dev) {
            sys.mkdir_all(parent, 0o755)?;
        }
        match sys.mknod(&path, d.kind, d.mode, makedev(d.major, d.minor)) {
            Ok(()) => sys.chown(&path, d.uid, d.gid)?,
            // In a user namespace (rootless) no process may create device nodes: the
            // host's node is bound over an empty file instead, as other runtimes do.
            Err(SysError::Path {
                errno: nix::Error::EPERM,
                ..
            }) => {
                sys.touch(&path)?;
                let host = d.path.display().to_string();
                sys.mount(Some(&host), &path, None, MsFlags::MS_BIND, None)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (target, link) in DEV_SYMLINKS {
        sys.symlink(target, &dev.join(link))?;
    }
    Ok(())
}

/// After pivot_root: Docker's masked paths (hidden behind /dev/null or an empty read-only
/// tmpfs) and read-only paths, then the root itself if `--read-only`.
pub fn protect_paths(sys: &dyn Sys, plan: &LaunchPlan) -> Result<(), SysError> {
    if !plan.own_mounts {
        return Ok(()); // the caller's mounts: nothing here is the container's to change
    }
    for p in &plan.masked_paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                sys.mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, None)?
            }
            Ok(_) => sys.mount(Some("/dev/null"), p, None, MsFlags::MS_BIND, None)?,
            Err(_) => {} // absent on this kernel: nothing to hide
        }
    }
    for p in &plan.readonly_paths {
        if p.exists() {
            sys.mount(
                Some(&p.display().to_string()),
                p,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            sys.mount(
                None,
                p,
                None,
                MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC,
                None,
            )?;
        }
    }
    if plan.readonly_rootfs {
        sys.mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

/// The path of the container's console (the pty slave is bind-mounted there).
/// Makes `new_root` the root of the mount namespace with the idiom runc, crun and youki
/// share, one `Sys` call a step (so the fake can assert their order):
///
/// 1. open `/` and the new root as `O_PATH` descriptors (nothing below depends on path
///    lookups while the roots move);
/// 2. `fchdir(new)`, `pivot_root(".", ".")`: the old root is stacked under the new one,
///    so no put_old directory is needed;
/// 3. `fchdir(old)`, then mark it `MS_SLAVE|MS_REC`, so the detach below cannot
///    propagate to the host's mounts through shared peer groups;
/// 4. `umount2(".", MNT_DETACH)`: the host's tree is gone;
/// 5. `chdir("/")`: "/" now means the container's rootfs.
/// 6. with `linux.rootfsPropagation`, give it to the new "/" (runc's last step).
pub fn pivot_into(
    sys: &dyn Sys,
    new_root: &Path,
    propagation: Option<MsFlags>,
) -> Result<(), SysError> {
    use std::os::fd::AsFd;
    let host = Path::new("/");
    let old = sys.open_path(host)?;
    let new = sys.open_path(new_root)?;
    sys.fchdir(new.as_fd(), new_root)?;
    sys.pivot_root_onto_cwd()?;
    sys.fchdir(old.as_fd(), Path::new("/ (the old root)"))?;
    let here = Path::new(".");
    sys.mount(None, here, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)?;
    sys.umount2(here, nix::mount::MntFlags::MNT_DETACH)?;
    sys.chdir(host)?;
    match propagation {
        Some(flags) => sys.mount(None, host, None, flags, None),
        None => Ok(()),
    }
}

/// The mount point holding `path`: the longest mount point in `mountinfo` (the text of
/// /proc/self/mountinfo) that is `path` or one of its parents.
fn mount_point_of(path: &Path, mountinfo: &str) -> PathBuf {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| path.starts_with(p))
        .max_by_key(|p| p.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

pub fn console_path() -> PathBuf {
    PathBuf::from("/dev/console")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::plan::{compile, CgroupV1Mount, HostFacts};
    use crate::spec::{build, Bind, RunConfig};
    use crate::sys::{Call, FakeSys};

    #[test]
    fn the_pivot_is_made_step_by_step_and_the_old_root_detached() {
        let sys = FakeSys::default();
        pivot_into(&sys, Path::new("/c/merged"), None).unwrap();
        let calls = format!("{:?}", sys.calls.borrow());
        assert_eq!(
            sys.kinds(),
            [
                "open_path",
                "open_path",
                "fchdir",
                "pivot_root",
                "fchdir",
                "mount",
                "umount",
                "chdir"
            ],
            "{calls}"
        );
        assert!(calls.contains("MS_REC|MS_SLAVE"), "{calls}");
        // A failed pivot leaves the old root where it was: nothing is detached.
        let sys = FakeSys::failing("pivot_root", 0, nix::Error::EINVAL);
        assert!(pivot_into(&sys, Path::new("/c/merged"), None).is_err());
        assert!(!sys.kinds().contains(&"umount"));
        // linux.rootfsPropagation is given to the new root last.
        let sys = FakeSys::default();
        let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
        pivot_into(&sys, Path::new("/c/merged"), Some(shared)).unwrap();
        let calls = sys.calls.borrow();
        assert!(
            matches!(calls.last(), Some(Call::Mount { target, flags, .. })
                if target == "/" && flags == "MS_REC|MS_SHARED"),
            "{calls:?}"
        );
    }

    #[test]
    fn without_a_cgroup_namespace_only_the_containers_own_v1_directories_are_bound() {
        let paths = own_cgroup_paths(
            "12:cpu,cpuacct:/hako/c1\n1:name=systemd:/system.slice/x\n0::/hako/c1\n",
        );
        let h = |options: &str| CgroupV1Mount {
            dir: "d".into(),
            options: options.into(),
        };
        assert_eq!(own_path_in(&paths, &h("cpu,cpuacct")), Some("hako/c1"));
        assert_eq!(
            own_path_in(&paths, &h("xattr,name=systemd")),
            Some("system.slice/x")
        );
        assert_eq!(own_path_in(&paths, &h("memory")), None);
    }

    #[test]
    fn the_mount_holding_a_path_is_the_longest_prefix() {
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /var/lib rw shared:2 - ext4 /dev/sdb rw\n\
                    31 22 0:6 / /var/lib\\040x rw - tmpfs t rw\n";
        let at = |p: &str| mount_point_of(Path::new(p), info);
        assert_eq!(at("/var/lib/bundles/c"), PathBuf::from("/var/lib"));
        assert_eq!(at("/var/library"), PathBuf::from("/"));
        assert_eq!(at("/var/lib x/c"), PathBuf::from("/var/lib x"));
    }

    fn plan(rootfs: &Path, layout: HostCgroupLayout) -> LaunchPlan {
        let cfg = RunConfig {
            args: vec!["sh".into()],
            cwd: "/".into(),
            binds: vec![Bind {
                volume: None,
                source: "/srv".into(),
                destination: "/data".into(),
                readonly: true,
            }],
            ..Default::default()
        };
        let host = HostFacts {
            cgroup_layout: layout,
            lsm: Default::default,
            seccomp_cache: None,
        };
        compile(&build(&cfg, &rootfs.display().to_string()).unwrap(), &host).unwrap()
    }

    #[test]
    fn mount_sequence_v2() {
        let dir = tempfile::tempdir().unwrap();
        let sys = FakeSys::default();
        let p = plan(dir.path(), HostCgroupLayout::V2);
        prepare_rootfs(&sys, &p, None).unwrap();
        let r = dir.path().display().to_string();
        let want: Vec<String> = [
            "- / MS_REC|MS_SLAVE".to_string(),
            format!("- {r} MS_BIND|MS_REC"),
            format!("proc {r}/proc MS_NOSUID|MS_NODEV|MS_NOEXEC"),
            format!("tmpfs {r}/dev MS_NOSUID|MS_STRICTATIME"),
            format!("devpts {r}/dev/pts MS_NOSUID|MS_NOEXEC"),
            format!("sysfs {r}/sys MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC"),
            format!("cgroup2 {r}/sys/fs/cgroup MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME"),
            format!("mqueue {r}/dev/mqueue MS_NOSUID|MS_NODEV|MS_NOEXEC"),
            format!("tmpfs {r}/dev/shm MS_NOSUID|MS_NODEV|MS_NOEXEC"),
            format!("- {r}/data MS_BIND|MS_REC"),
            format!("- {r}/data MS_RDONLY|MS_REMOUNT|MS_BIND"),
            format!("- {r}/data MS_REC|MS_PRIVATE"),
        ]
        .to_vec();
        assert_eq!(sys.mounts(), want);
        let calls = sys.calls.borrow();
        assert!(calls.contains(&Call::Mknod(format!("{r}/dev/null"), makedev(1, 3))));
        assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), format!("{r}/dev/ptmx"))));
    }

    #[test]
    fn cgroup_v1_gets_one_mount_per_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let sys = FakeSys::default();
        let layout = HostCgroupLayout::V1(vec![
            CgroupV1Mount {
                dir: "memory".into(),
                options: "memory".into(),
            },
            CgroupV1Mount {
                dir: "pids".into(),
                options: "pids".into(),
            },
        ]);
        prepare_rootfs(&sys, &plan(dir.path(), layout), None).unwrap();
        let cg: Vec<String> = sys
            .mounts()
            .into_iter()
            .filter(|m| m.contains("sys/fs/cgroup"))
            .collect();
        assert_eq!(cg.len(), 4, "{cg:?}");
        assert!(
            cg[0].starts_with("tmpfs")
                && cg[1].contains("cgroup/memory")
                && cg[3].contains("MS_REMOUNT")
        );
    }

    #[test]
    fn a_failing_mount_stops_the_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let sys = FakeSys::failing("mount", 2, nix::Error::EPERM);
        let err = prepare_rootfs(&sys, &plan(dir.path(), HostCgroupLayout::V2), None).unwrap_err();
        assert!(
            err.to_string().contains("mount proc proc on") && err.to_string().contains("EPERM"),
            "{err}"
        );
        assert_eq!(sys.mounts().len(), 3);
    }

    #[test]
    fn symlinked_mount_targets_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("data")).unwrap();
        let sys = FakeSys::default();
        prepare_rootfs(&sys, &plan(dir.path(), HostCgroupLayout::V2), None).unwrap();
        let r = dir.path().display().to_string();
        assert!(
            sys.mounts().contains(&format!("- {r}/etc MS_BIND|MS_REC")),
            "{:?}",
            sys.mounts()
        );
    }
}
