//! runc mode's namespaces given by path: a pod's sandbox shares its PID, IPC, UTS and
//! network namespaces, and a mount namespace bound to a file is entered, not made.

use crate::harness::*;
use crate::runc_mode::{bundle, read_spec, rt, write_spec};
use std::fs;

/// A pod, as containerd's CRI builds one: a sandbox container owns the namespaces and a
/// second container joins its PID, IPC, UTS and network namespaces by path.
#[test]
fn a_container_joins_another_s_namespaces_by_path() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let sandbox_dir = dir.path().join("sandbox");
    fs::create_dir(&sandbox_dir).unwrap();
    let sb = bundle(&sandbox_dir, &["sleep", "60"]);
    let mut spec: serde_json::Value = read_spec(&sb);
    spec["hostname"] = serde_json::json!("the-pod");
    write_spec(&sb, &spec);
    ok(
        rt(
            "hako",
            &state,
            &["run", "-d", "--bundle", sb.to_str().unwrap(), "sandbox"],
        ),
        "sandbox",
    );
    let o = rt("hako", &state, &["state", "sandbox"]);
    let pid = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    let member_dir = dir.path().join("member");
    fs::create_dir(&member_dir).unwrap();
    let mb = bundle(
        &member_dir,
        &[
            "sh",
            "-c",
            "hostname; ps -o comm | grep -c sleep; readlink /proc/self/ns/ipc",
        ],
    );
    let mut spec: serde_json::Value = read_spec(&mb);
    spec["hostname"] = serde_json::json!("");
    let namespaces: Vec<serde_json::Value> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ns| {
            let t = ns["type"].as_str().unwrap();
            let file = match t {
                "pid" => "pid",
                "ipc" => "ipc",
                "uts" => "uts",
                "network" => "net",
                _ => return ns.clone(),
            };
            serde_json::json!({"type": t, "path": format!("/proc/{pid}/ns/{file}")})
        })
        .collect();
    spec["linux"]["namespaces"] = serde_json::json!(namespaces);
    write_spec(&mb, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", mb.to_str().unwrap(), "member"],
    );
    let out = stdout(&o);
    let sandbox_ipc = fs::read_link(format!("/proc/{pid}/ns/ipc")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"the-pod"), "{out} {}", stderr(&o));
    assert_eq!(
        lines.get(1),
        Some(&"1"),
        "the sandbox's sleep is visible: {out}"
    );
    assert_eq!(
        lines.get(2).copied(),
        Some(sandbox_ipc.to_str().unwrap()),
        "{out}"
    );
    let _ = rt("hako", &state, &["delete", "--force", "sandbox"]);
}

/// A mount namespace kept by a bind mount of its file (`unshare --mount=FILE`, as a
/// pod sandbox or a debugging tool leaves one) is joined: the container's process is
/// in it. runc mode first re-executes itself in a private copy of the host's mounts,
/// which never holds such a file, so the path is resolved from the host's root.
#[test]
fn a_mount_namespace_bound_to_a_file_is_joined() {
    if !require_root("runc mode creates namespaces") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("keep");
    fs::create_dir(&keep).unwrap();
    let k = keep.display();
    // The file must sit on a private mount, or the kernel refuses the bind (a loop).
    shell(&format!(
        "mount --bind {k} {k} && mount --make-private {k} && touch {k}/mnt && unshare --mount={k}/mnt true"
    ));
    let want = shell(&format!("stat -L -c %i {k}/mnt")).trim().to_string();
    let b = bundle(dir.path(), &["readlink", "/proc/self/ns/mnt"]);
    let mut spec = read_spec(&b);
    for ns in spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "mount" {
            ns["path"] = serde_json::json!(format!("{k}/mnt"));
        }
    }
    write_spec(&b, &spec);
    let state = dir.path().join("state");
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "joiner"],
    );
    shell(&format!("umount {k}/mnt; umount {k}"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), format!("mnt:[{want}]"));
}
