//! Confinement a bundle asks for beyond namespaces: `SCMP_ACT_NOTIFY` (a bundle's
//! notified calls are answered by a seccomp agent — an independent Python one,
//! `seccomp_agent.py` — that receives the listener at `listenerPath`, as with runc) and
//! AppArmor/SELinux labels (applied where the host runs the LSM, refused where it does not).

use crate::harness::*;
use crate::runc_mode::{bundle, read_spec, rt, write_spec};
use std::process::Command;

#[test]
fn notified_calls_are_answered_by_the_agent() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = bundle(
        d,
        &[
            "sh",
            "-c",
            "mkdir /made-up && echo made; [ -d /made-up ] && echo exists || echo absent; echo done",
        ],
    );
    let sock = d.join("agent.sock");
    let out = d.join("agent");
    let mut spec = read_spec(&b);
    spec["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": sock,
        "listenerMetadata": "hako-test",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    });
    write_spec(&b, &spec);
    let agent = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/runtime-tests/seccomp_agent.py"
        ))
        .arg(&sock)
        .arg(&out)
        .spawn()
        .unwrap();
    let _agent = Daemon(agent);
    until("the agent listens", || sock.exists());
    let state = d.join("state");
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "notified"],
    );
    assert!(o.status.success(), "run: {}", stderr(&o));
    // The agent answered mkdir with success without making anything.
    assert_eq!(stdout(&o), "made\nabsent\ndone\n", "{}", stderr(&o));
    let calls = std::fs::read_to_string(out.with_extension("calls")).unwrap();
    assert_eq!(
        calls.trim(),
        "83",
        "mkdir (x86_64 number 83) was notified: {calls}"
    );
    let sent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("state")).unwrap())
            .unwrap();
    assert_eq!(sent["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(sent["metadata"], "hako-test");
    assert_eq!(sent["state"]["id"], "notified");
    assert!(
        sent["pid"].as_u64().unwrap_or(0) > 1,
        "the host's pid: {sent}"
    );
    // Without a listenerPath the action is refused by name before anything starts.
    spec["linux"]["seccomp"]
        .as_object_mut()
        .unwrap()
        .remove("listenerPath");
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "unheard"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("listenerPath"), "{}", stderr(&o));
}

/// A profile or label for an LSM the host does not run is refused by name and leaves
/// nothing; where the host runs AppArmor, the process runs under the profile.
#[test]
fn lsm_labels_are_applied_or_refused_by_name() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["cat", "/proc/self/attr/current"]);
    let state = dir.path().join("state");
    let base = read_spec(&b);
    let cases = [
        (
            "/process/apparmorProfile",
            "unconfined",
            apparmor,
            "AppArmor",
        ),
        (
            "/process/selinuxLabel",
            "system_u:system_r:container_t:s0",
            selinux,
            "SELinux",
        ),
        (
            "/linux/mountLabel",
            "system_u:object_r:container_file_t:s0",
            selinux,
            "SELinux",
        ),
    ];
    for (i, (pointer, value, host_has_it, lsm)) in cases.into_iter().enumerate() {
        let mut spec = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        spec.pointer_mut(parent).unwrap()[key] = serde_json::json!(value);
        write_spec(&b, &spec);
        let id = format!("lsm{i}");
        let o = rt(
            "hako",
            &state,
            &["run", "--bundle", b.to_str().unwrap(), &id],
        );
        if host_has_it {
            assert!(o.status.success(), "{pointer}: {}", stderr(&o));
            if lsm == "AppArmor" {
                assert!(stdout(&o).contains(value), "{}", stdout(&o));
            }
        } else {
            assert!(!o.status.success(), "{pointer} accepted without {lsm}");
            let err = stderr(&o);
            assert!(
                err.contains(&pointer[pointer.rfind('/').unwrap() + 1..])
                    && err.contains(&format!("{lsm} is not enabled on this host")),
                "{err}"
            );
            assert!(
                !state.join(&id).exists(),
                "a refused bundle leaves no state"
            );
        }
    }
}
