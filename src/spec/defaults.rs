//! Docker's defaults: capabilities, mounts, masked and read-only paths, devices.
//! (moby's `oci/defaults.go` and `oci/caps/defaults.go` are the reference.)

/// Docker's default capability set (CapEff 00000000a80425fb).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalises `chown`, `CHOWN` and `CAP_CHOWN` to `CAP_CHOWN`.
pub fn cap_name(s: &str) -> String {
    let up = s.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after `--privileged`, `--cap-add` and `--cap-drop` (`ALL` allowed,
/// drops applied after adds, as Docker does).
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Vec<String> {
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut set: Vec<String> = if privileged {
        all.clone()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for a in add {
        if a.eq_ignore_ascii_case("ALL") {
            set = all.clone();
        } else if !set.contains(&cap_name(a)) {
            set.push(cap_name(a));
        }
    }
    for d in drop {
        if d.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.retain(|c| *c != cap_name(d));
        }
    }
    set.sort();
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_dockers() {
        let caps = capabilities(false, &[], &[]);
        let mask: u64 = caps
            .iter()
            .map(|c| 1u64 << c.parse::<caps::Capability>().unwrap().index())
            .sum();
        assert_eq!(format!("{mask:016x}"), "00000000a80425fb");
    }

    #[test]
    fn add_and_drop() {
        let caps = capabilities(false, &["sys_admin".into()], &["NET_RAW".into()]);
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(capabilities(false, &[], &["all".into()]).is_empty());
        assert!(capabilities(true, &[], &[]).len() >= 38);
    }
}
