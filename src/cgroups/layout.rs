//! How the host's cgroups look, so the container's `cgroup` mount can be planned purely.

/// A v1 controller hierarchy to show inside the container (`/sys/fs/cgroup/<dir>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupV1Mount {
    pub dir: String,
    pub options: String,
}

/// What the host's cgroups look like, so the `cgroup` mount can be planned purely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCgroupLayout {
    V2,
    V1(Vec<CgroupV1Mount>),
}

/// What this host has: v2 when cgroup2 is the only hierarchy, else the v1 mounts.
pub fn host_layout() -> HostCgroupLayout {
    if cgroups_rs::hierarchies::is_cgroup2_unified_mode() {
        HostCgroupLayout::V2
    } else {
        HostCgroupLayout::V1(v1_mounts_from_mountinfo(
            &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        ))
    }
}

/// The host's v1 hierarchies, from /proc/self/mountinfo lines.
pub fn v1_mounts_from_mountinfo(mountinfo: &str) -> Vec<CgroupV1Mount> {
    let mut out = vec![];
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let Some(dir) = mount_point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        let options: Vec<&str> = super_opts
            .split(',')
            .filter(|o| *o != "rw" && *o != "ro")
            .collect();
        out.push(CgroupV1Mount {
            dir: dir.to_string(),
            options: options.join(","),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_hierarchies() {
        let mi = "35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory\n\
                  36 25 0:31 / /sys/fs/cgroup/systemd rw shared:15 - cgroup cgroup rw,xattr,name=systemd\n\
                  37 25 0:32 / /sys/fs/cgroup/unified rw shared:16 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            v1_mounts_from_mountinfo(mi),
            vec![
                CgroupV1Mount {
                    dir: "memory".into(),
                    options: "memory".into()
                },
                CgroupV1Mount {
                    dir: "systemd".into(),
                    options: "xattr,name=systemd".into()
                }
            ]
        );
    }
}
