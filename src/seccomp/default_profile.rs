//! The profile every container gets unless it is privileged or asks otherwise: as strict
//! as Docker's and Podman's defaults. It is an allow-list — a call the kernel table has but
//! this file does not allow returns EPERM — built as "every call libseccomp knows for this
//! machine's architecture, minus the ones a container has no business making": kernel and system administration, keyrings, obsolete
//! calls, io_uring. Some of those come back with the capability that governs them
//! (`--cap-add SYS_TIME` brings `settimeofday`), as in Docker, so adding a capability
//! never leaves it useless. Three calls are allowed only with safe arguments.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

/// Calls a container makes only with the capability that governs them. The kernel checks
/// that capability too, but these calls have a history of bugs reachable before the check.
const GATED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "sethostname",
            "setdomainname",
            "quotactl",
            "quotactl_fd",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "name_to_handle_at",
            "lookup_dcookie",
            "fanotify_init",
            "swapon",
            "swapoff",
            "clone3",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
    (
        "CAP_SYS_MODULE",
        &["init_module", "finit_module", "delete_module"],
    ),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "clock_settime", "clock_adjtime"],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_NICE",
        &[
            "mbind",
            "migrate_pages",
            "move_pages",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYS_PTRACE", &["userfaultfd"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
];

/// Never allowed by default: keyrings are not namespaced (a container could read or fill
/// the host's), io_uring bypasses this very filter for the operations it performs, and
/// the rest are obsolete entry points nothing current uses.
const DENIED: &[&str] = &[
    "add_key",
    "keyctl",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "afs_syscall",
    "tuxcall",
    "security",
    "getpmsg",
    "putpmsg",
    "vserver",
    "create_module",
    "get_kernel_syms",
    "query_module",
];

/// Calls allowed only with certain arguments (rules below), so not in the plain list.
const CONDITIONAL: &[&str] = &["personality", "socket", "clone", "clone3"];

/// The namespace flags of clone(2): creating namespaces is for CAP_SYS_ADMIN holders.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// AF_VSOCK: host/guest sockets that lead out of the container's network namespace.
const AF_VSOCK: u64 = 40;
/// personality(2) values that change nothing dangerous: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26, and the query 0xffffffff.
const SAFE_PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The default profile for a container with these capabilities (`CAP_…` names).
pub fn profile(caps: &[String]) -> LinuxSeccomp {
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let admin = has("CAP_SYS_ADMIN");
    let blocked: Vec<&str> = GATED
        .iter()
        .filter(|(cap, _)| !has(cap))
        .flat_map(|(_, calls)| calls.iter().copied())
        .chain(DENIED.iter().copied())
        .chain(CONDITIONAL.iter().copied())
        .collect();
    let allowed: Vec<String> = known_calls()
        .into_iter()
        .filter(|n| !blocked.contains(&n.as_str()))
        .collect();
    let mut rules = vec![json!({"names": allowed, "action": "SCMP_ACT_ALLOW"})];
    for value in SAFE_PERSONALITIES {
        rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]}));
    }
    rules.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]}));
    if admin {
        rules.push(json!({"names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW"}));
    } else {
        rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
        // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes the
        // C library fall back to clone, whose flags the rule above checks.
        rules.push(
            json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}),
        );
    }
    serde_json::from_value(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "syscalls": rules,
    }))
    .expect("the default profile is a valid OCI seccomp profile")
}

/// Every call libseccomp knows for this machine's architecture. Numbers below 1024 hold
/// every architecture's table except MIPS's (numbered from 4000) and 32-bit ARM's private
/// calls, which therefore stay refused there.
fn known_calls() -> Vec<String> {
    let arch = libseccomp::ScmpArch::native();
    (0..1024)
        .filter_map(|nr| {
            libseccomp::ScmpSyscall::from(nr)
                .get_name_by_arch(arch)
                .ok()
        })
        .collect()
}

/// A Docker-format profile file (`--security-opt seccomp=FILE`) made an OCI one: Docker's
/// `includes`/`excludes` conditions are decided for this container (its capabilities, this
/// architecture, this kernel) and entries that do not apply are dropped.
pub fn from_docker_json(
    text: &str,
    caps: &[String],
    kernel: (u32, u32),
) -> Result<LinuxSeccomp, String> {
    let mut v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let applies = |cond: &serde_json::Value, include: bool| -> bool {
        let list = |k: &str| -> Vec<String> {
            cond[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (want_caps, arches) = (list("caps"), list("arches"));
        let arch_match = arches
            .iter()
            .any(|a| a == go_arch() || a == std::env::consts::ARCH);
        if include {
            let min_kernel = cond["minKernel"].as_str().and_then(|k| {
                let mut p = k.split('.').filter_map(|x| x.parse::<u32>().ok());
                Some((p.next()?, p.next().unwrap_or(0)))
            });
            want_caps.iter().all(|c| caps.contains(c))
                && (arches.is_empty() || arch_match)
                && min_kernel.is_none_or(|m| kernel >= m)
        } else {
            !want_caps.iter().any(|c| caps.contains(c)) && !arch_match
        }
    };
    if let Some(rules) = v["syscalls"].as_array_mut() {
        rules.retain(|r| applies(&r["includes"], true) && applies(&r["excludes"], false));
        for r in rules.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                for key in ["includes", "excludes", "comment"] {
                    o.remove(key);
                }
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("archMap");
    }
    serde_json::from_value(v).map_err(|e| format!("not a seccomp profile: {e}"))
}

/// This machine's architecture as Go (and so Docker's profiles) spells it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other, // arm, riscv64, s390x, loongarch64 are spelled alike
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(caps: &[&str]) -> super::super::Program {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        super::super::compile(&profile(&caps)).unwrap()
    }

    fn nr(name: &str) -> u32 {
        super::super::syscall_number(name).unwrap()
    }

    #[test]
    fn everyday_calls_pass_and_administration_gets_eperm() {
        let p = program(&["CAP_CHOWN", "CAP_SETUID"]);
        let eperm = super::super::RET_ERRNO | libc::EPERM as u32;
        let allow = super::super::RET_ALLOW;
        for call in [
            "read",
            "openat",
            "execve",
            "rseq",
            "statx",
            "futex",
            "exit_group",
        ] {
            assert_eq!(
                super::super::run_for_test(&p, nr(call), [0; 6]),
                allow,
                "{call}"
            );
        }
        for call in [
            "mount",
            "unshare",
            "keyctl",
            "kexec_load",
            "open_by_handle_at",
            "reboot",
        ] {
            assert_eq!(
                super::super::run_for_test(&p, nr(call), [0; 6]),
                eperm,
                "{call}"
            );
        }
        // A number above every call libseccomp knows is a call of a newer kernel: ENOSYS,
        // so that the C library falls back to an older one.
        assert_eq!(
            super::super::run_for_test(&p, 999, [0; 6]),
            super::super::RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn arguments_decide_clone_socket_and_personality() {
        let p = program(&[]);
        let allow = super::super::RET_ALLOW;
        let run =
            |call: &str, a0: u64| super::super::run_for_test(&p, nr(call), [a0, 0, 0, 0, 0, 0]);
        assert_eq!(run("clone", 0x11 /* SIGCHLD */), allow);
        assert_ne!(run("clone", 0x1000_0000 /* CLONE_NEWUSER */), allow);
        assert_eq!(run("socket", 2 /* AF_INET */), allow);
        assert_ne!(run("socket", AF_VSOCK), allow);
        assert_eq!(run("personality", 0xffff_ffff), allow);
        assert_ne!(
            run("personality", 0x0040_0000 /* READ_IMPLIES_EXEC */),
            allow
        );
        assert_eq!(
            run("clone3", 0),
            super::super::RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn a_capability_brings_back_its_calls() {
        let p = program(&["CAP_SYS_ADMIN", "CAP_SYS_TIME"]);
        let allow = super::super::RET_ALLOW;
        for call in ["mount", "unshare", "settimeofday", "clone3"] {
            assert_eq!(
                super::super::run_for_test(&p, nr(call), [0; 6]),
                allow,
                "{call}"
            );
        }
        assert_eq!(
            super::super::run_for_test(&p, nr("clone"), [0x1000_0000, 0, 0, 0, 0, 0]),
            allow
        );
    }

    #[test]
    fn docker_profiles_are_decided_for_this_container() {
        let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
          "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["write"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
          ]}"#;
        let names = |p: LinuxSeccomp| -> Vec<String> {
            p.syscalls()
                .clone()
                .unwrap()
                .iter()
                .flat_map(|s| s.names().clone())
                .collect()
        };
        let plain = from_docker_json(text, &[], (6, 1)).unwrap();
        assert_eq!(names(plain), ["read", "write"]);
        let admin = from_docker_json(text, &["CAP_SYS_ADMIN".into()], (6, 1)).unwrap();
        assert_eq!(names(admin), ["read", "mount"]);
        assert!(from_docker_json("{", &[], (6, 1)).is_err());
    }
}
