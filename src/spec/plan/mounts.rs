//! `mounts`: each OCI mount as a `MountOp`, its options split into flags, propagation
//! and the data string.

use super::{MountKind, MountOp, PlanError};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

pub fn compile(spec: &Spec) -> Result<Vec<MountOp>, PlanError> {
    let mut mounts = vec![];
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let target = m.destination().clone();
        if !target.is_absolute() {
            return Err(PlanError::NotAbsolute {
                what: "a mount destination",
                path: target.display().to_string(),
            });
        }
        let fstype = m.typ().clone().unwrap_or_default();
        let (mut flags, propagation, data) =
            parse_mount_options(m.options().as_deref().unwrap_or_default());
        if fstype == "bind" {
            flags |= MsFlags::MS_BIND;
        }
        mounts.push(MountOp {
            kind: if fstype == "cgroup" {
                MountKind::Cgroup
            } else {
                MountKind::Plain
            },
            source: m
                .source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| fstype.clone()),
            target,
            fstype: if fstype == "bind" {
                String::new()
            } else {
                fstype
            },
            flags,
            data,
            propagation,
        });
    }
    Ok(mounts)
}

/// One table for mount options: name → (flag, whether the option clears it).
const MOUNT_FLAGS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, false),
    ("rw", MsFlags::MS_RDONLY, true),
    ("nosuid", MsFlags::MS_NOSUID, false),
    ("suid", MsFlags::MS_NOSUID, true),
    ("nodev", MsFlags::MS_NODEV, false),
    ("dev", MsFlags::MS_NODEV, true),
    ("noexec", MsFlags::MS_NOEXEC, false),
    ("exec", MsFlags::MS_NOEXEC, true),
    ("sync", MsFlags::MS_SYNCHRONOUS, false),
    ("async", MsFlags::MS_SYNCHRONOUS, true),
    ("dirsync", MsFlags::MS_DIRSYNC, false),
    ("remount", MsFlags::MS_REMOUNT, false),
    ("mand", MsFlags::MS_MANDLOCK, false),
    ("nomand", MsFlags::MS_MANDLOCK, true),
    ("atime", MsFlags::MS_NOATIME, true),
    ("noatime", MsFlags::MS_NOATIME, false),
    ("diratime", MsFlags::MS_NODIRATIME, true),
    ("nodiratime", MsFlags::MS_NODIRATIME, false),
    ("bind", MsFlags::MS_BIND, false),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), false),
    ("relatime", MsFlags::MS_RELATIME, false),
    ("norelatime", MsFlags::MS_RELATIME, true),
    ("strictatime", MsFlags::MS_STRICTATIME, false),
    ("nostrictatime", MsFlags::MS_STRICTATIME, true),
];

const PROPAGATION_FLAGS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// A propagation name (`rshared`, `slave`…) as mount(2) flags.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    PROPAGATION_FLAGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

/// Splits OCI mount options into flags, propagation and the data string.
pub fn parse_mount_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let (mut flags, mut propagation, mut data) = (MsFlags::empty(), MsFlags::empty(), vec![]);
    for o in options {
        if let Some((_, f, clear)) = MOUNT_FLAGS.iter().find(|(n, _, _)| n == o) {
            if *clear {
                flags.remove(*f)
            } else {
                flags.insert(*f)
            }
        } else if let Some((_, p)) = PROPAGATION_FLAGS.iter().find(|(n, _)| n == o) {
            propagation |= *p;
        } else {
            data.push(o.as_str());
        }
    }
    (flags, propagation, data.join(","))
}
