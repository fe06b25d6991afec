//! The defects the OCI suite found in runc mode, each tried as a client would: a bundle
//! that breaks with the old behaviour and works as it does with runc and crun.

use crate::harness::*;
use crate::runc_mode::{bundle, read_spec, rt, write_spec};
use std::path::Path;

/// Drops one namespace type from a spec: the container shares the caller's.
fn without_namespace(spec: &mut serde_json::Value, kind: &str) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != kind);
}

fn run_bundle(dir: &Path, edit: impl FnOnce(&mut serde_json::Value), args: &[&str]) -> String {
    let b = bundle(dir, args);
    let mut spec = read_spec(&b);
    edit(&mut spec);
    write_spec(&b, &spec);
    let state = dir.join("state");
    let id = format!("conf-{}", std::process::id());
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), &id],
    );
    let _ = rt("hako", &state, &["delete", "--force", &id]);
    ok(o, "run")
}

#[test]
fn a_profile_without_close_range_still_starts_the_container() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    // Installed early (no noNewPrivileges), the filter used to refuse hako's own
    // close_range with EPERM, and every such container died before exec.
    let dir = tempfile::tempdir().unwrap();
    let out = run_bundle(
        dir.path(),
        |s| {
            s["process"]["noNewPrivileges"] = false.into();
            s["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]});
        },
        &["echo", "started"],
    );
    assert_eq!(out.trim(), "started");
}

#[test]
fn a_user_namespace_without_host_root_in_its_map() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_bundle(
        dir.path(),
        |s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            s["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 2000}]);
            s["linux"]["gidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 2000}]);
        },
        &["sh", "-c", "id -u; cat /proc/self/uid_map"],
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "1000", "2000"], "{out}");
    // Two-phase, with the state under a private (0700) root as containerd keeps it: the
    // init opens its start FIFO while it is still host root, before taking the map's.
    let b = dir.path().join("bundle");
    let state = dir.path().join("private-state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let id = format!("userns2-{}", std::process::id());
    ok(
        rt(
            "hako",
            &state,
            &["create", "--bundle", b.to_str().unwrap(), &id],
        ),
        "create",
    );
    ok(rt("hako", &state, &["start", &id]), "start");
    let _ = rt("hako", &state, &["delete", "--force", &id]);
}

#[test]
fn a_non_root_user_gets_the_capabilities_the_spec_gives() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_bundle(
        dir.path(),
        |s| {
            s["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
            let set = serde_json::json!(["CAP_NET_BIND_SERVICE"]);
            s["process"]["capabilities"] = serde_json::json!({"bounding": set,
                "effective": set, "permitted": set, "inheritable": set, "ambient": set});
        },
        &["grep", "-E", "^Cap(Eff|Amb):", "/proc/self/status"],
    );
    // CAP_NET_BIND_SERVICE is bit 10: 0x400.
    assert!(out.contains("CapEff:\t0000000000000400"), "{out}");
    assert!(out.contains("CapAmb:\t0000000000000400"), "{out}");
}

#[test]
fn rootfs_propagation_is_applied_to_the_new_root() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_bundle(
        dir.path(),
        |s| s["linux"]["rootfsPropagation"] = "rshared".into(),
        // The line whose mount point (field 5) is "/".
        &["awk", "$5 == \"/\"", "/proc/self/mountinfo"],
    );
    assert!(out.contains("shared:"), "{out}");
}

#[test]
fn without_a_mount_namespace_the_container_shares_the_callers() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["sleep", "30"]);
    let mut spec = read_spec(&b);
    without_namespace(&mut spec, "mount");
    spec["linux"]["maskedPaths"] = serde_json::json!([]);
    spec["linux"]["readonlyPaths"] = serde_json::json!([]);
    spec["root"]["readonly"] = false.into();
    write_spec(&b, &spec);
    let state = dir.path().join("state");
    let id = format!("sharedmnt-{}", std::process::id());
    ok(
        rt(
            "hako",
            &state,
            &["create", "--bundle", b.to_str().unwrap(), &id],
        ),
        "create",
    );
    let st: serde_json::Value =
        serde_json::from_slice(&rt("hako", &state, &["state", &id]).stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    assert_eq!(ns(&pid.to_string()), ns("self"));
    ok(rt("hako", &state, &["start", &id]), "start");
    let _ = rt("hako", &state, &["delete", "--force", &id]);
    // Nothing was mounted into the caller's namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
}

#[test]
fn a_refused_oom_score_adj_fails_create_and_leaves_nothing() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["sleep", "30"]);
    let mut spec = read_spec(&b);
    spec["process"]["oomScoreAdj"] = 1001.into(); // the kernel's range ends at 1000
    write_spec(&b, &spec);
    let state = dir.path().join("state");
    let id = format!("oom-{}", std::process::id());
    let o = rt(
        "hako",
        &state,
        &["create", "--bundle", b.to_str().unwrap(), &id],
    );
    assert!(!o.status.success(), "create accepted oomScoreAdj 1001");
    assert!(stderr(&o).contains("oomScoreAdj"), "{}", stderr(&o));
    // No state, no cgroup, no process: as if create had never run.
    assert!(!state.join(&id).exists());
    let cgroups = std::process::Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "4", "-name", &id])
        .output()
        .unwrap();
    assert!(stdout(&cgroups).trim().is_empty(), "{}", stdout(&cgroups));
    let left = std::process::Command::new("pgrep")
        .args(["-f", b.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(stdout(&left).trim().is_empty(), "{}", stdout(&left));
}

#[test]
fn kill_all_reaches_what_outlives_the_init() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    // Without a PID namespace of its own (a pod's shared one, say) a child outlives the
    // container's init: `kill --all` must still reach it, as with runc.
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["sh", "-c", "sleep 300 & exit 0"]);
    let mut spec = read_spec(&b);
    without_namespace(&mut spec, "pid");
    write_spec(&b, &spec);
    let state = dir.path().join("state");
    let id = format!("killall-{}", std::process::id());
    ok(
        rt(
            "hako",
            &state,
            &["run", "-d", "--bundle", b.to_str().unwrap(), &id],
        ),
        "run -d",
    );
    let pids = || -> Vec<i64> {
        let o = rt("hako", &state, &["ps", "--format", "json", &id]);
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    // The init has exited; its sleep is what remains.
    until("only the init's child left", || pids().len() == 1);
    ok(
        rt("hako", &state, &["kill", "--all", &id, "KILL"]),
        "kill --all",
    );
    until("the container's processes gone", || pids().is_empty());
    let _ = rt("hako", &state, &["delete", "--force", &id]);
}
