//! runc's command line: the OCI two-phase lifecycle on a bundle and what its config.json
//! asks for, checked side by side with runc where it is installed.

use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A bundle of the busybox fixture whose process runs `args` (no terminal).
pub fn bundle(dir: &Path, args: &[&str]) -> PathBuf {
    let b = dir.join("bundle");
    fs::create_dir_all(b.join("rootfs")).unwrap();
    shell(&format!(
        "tar -C {r} -xf {} && chmod 755 {r}",
        shared_root().join("busybox.tar").display(),
        r = b.join("rootfs").display(),
    ));
    let o = Command::new(HAKO)
        .args(["runc", "spec", "--bundle"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(o.status.success(), "spec: {}", stderr(&o));
    let path = b.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = serde_json::json!(false);
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    b
}

/// `<runtime> --root STATE args…`: hako's runc mode or runc itself.
/// A bundle's config.json, to edit in a test.
pub fn read_spec(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

pub fn write_spec(bundle: &Path, spec: &serde_json::Value) {
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(spec).unwrap(),
    )
    .unwrap();
}

pub fn rt(runtime: &str, state: &Path, args: &[&str]) -> Output {
    let mut c = if runtime == "hako" {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60", HAKO, "runc"]);
        c
    } else {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60", runtime]);
        c
    };
    c.arg("--root").arg(state).args(args);
    // Files, not pipes: the container inherits the runtime's stdio (as with runc), and a
    // pipe would stay open as long as the container runs.
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    c.stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let status = c.status().unwrap();
    let read = |mut f: fs::File| {
        use std::io::{Read, Seek};
        let mut v = vec![];
        f.rewind().unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

fn status_of(runtime: &str, state: &Path, id: &str) -> String {
    let o = rt(runtime, state, &["state", id]);
    assert!(o.status.success(), "{runtime} state: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["status"].as_str().unwrap().to_string()
}

/// create → created, start → running, kill → stopped, delete → gone: the same statuses
/// and the same refusals from hako and (where installed) runc.
#[test]
fn two_phase_lifecycle_matches_runc() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["sleep", "30"]);
    let mut runtimes = vec!["hako"];
    if have("runc") {
        runtimes.push("runc");
    }
    for runtime in runtimes {
        let state = dir.path().join(format!("state-{runtime}"));
        let id = format!("life-{runtime}-{}", std::process::id());
        let o = rt(
            runtime,
            &state,
            &[
                "create",
                "--bundle",
                b.to_str().unwrap(),
                "--pid-file",
                dir.path().join("pid").to_str().unwrap(),
                &id,
            ],
        );
        assert!(o.status.success(), "{runtime} create: {}", stderr(&o));
        assert_eq!(status_of(runtime, &state, &id), "created", "{runtime}");
        let pid: i32 = fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Created means set up and waiting: the user's program has not started.
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_ne!(comm.trim(), "sleep", "{runtime}: not started yet");
        let dup = rt(
            runtime,
            &state,
            &["create", "--bundle", b.to_str().unwrap(), &id],
        );
        assert!(!dup.status.success(), "{runtime}: a second create of {id}");
        ok(rt(runtime, &state, &["start", &id]), "start");
        until(&format!("{runtime} running"), || {
            status_of(runtime, &state, &id) == "running"
        });
        let listed = ok(rt(runtime, &state, &["list", "-q"]), "list");
        assert_eq!(listed.trim(), id, "{runtime}");
        let busy = rt(runtime, &state, &["delete", &id]);
        assert!(
            !busy.status.success(),
            "{runtime}: delete of a running container"
        );
        let ps = ok(rt(runtime, &state, &["ps", "--format", "json", &id]), "ps");
        let pids: Vec<i32> = serde_json::from_str(ps.trim()).unwrap();
        assert_eq!(pids, vec![pid], "{runtime}");
        let exec = ok(
            rt(runtime, &state, &["exec", &id, "cat", "/proc/1/comm"]),
            "exec",
        );
        assert_eq!(exec.trim(), "sleep", "{runtime}");
        ok(rt(runtime, &state, &["kill", &id, "KILL"]), "kill");
        until(&format!("{runtime} stopped"), || {
            status_of(runtime, &state, &id) == "stopped"
        });
        ok(rt(runtime, &state, &["delete", &id]), "delete");
        let gone = rt(runtime, &state, &["state", &id]);
        assert!(!gone.status.success(), "{runtime}: state after delete");
    }
}

/// `run` waits and returns the process's exit code; `run -d` leaves it running; `exec
/// --process` reads a process.json; errors name the cause and go to --log as JSON.
#[test]
fn run_exec_process_json_and_logged_errors() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sh", "-c", "echo out-of-run; exit 7"]);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "r1"],
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "out-of-run");
    assert!(
        !state.join("r1").exists(),
        "run removes the state when it ends"
    );

    let b2 = bundle(&dir.path().join("two"), &["sleep", "30"]);
    let mut spec: serde_json::Value = read_spec(&b2);
    spec["linux"]["sysctl"] =
        serde_json::json!({"net.ipv4.ip_unprivileged_port_start": "77", "kernel.shmmni": "999"});
    write_spec(&b2, &spec);
    ok(
        rt(
            "hako",
            &state,
            &["run", "-d", "--bundle", b2.to_str().unwrap(), "r2"],
        ),
        "run -d",
    );
    assert_eq!(status_of("hako", &state, "r2"), "running");
    let process = dir.path().join("process.json");
    fs::write(
        &process,
        r#"{"terminal": false, "user": {"uid": 1000, "gid": 1000}, "args": ["sh", "-c", "id -u; echo $GREETING; pwd"], "env": ["PATH=/bin", "GREETING=hi"], "cwd": "/etc"}"#,
    )
    .unwrap();
    let exec = ok(
        rt(
            "hako",
            &state,
            &["exec", "--process", process.to_str().unwrap(), "r2"],
        ),
        "exec --process",
    );
    assert_eq!(exec, "1000\nhi\n/etc\n");
    let sysctls = ok(
        rt(
            "hako",
            &state,
            &[
                "exec",
                "r2",
                "cat",
                "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                "/proc/sys/kernel/shmmni",
            ],
        ),
        "sysctls inside",
    );
    assert_eq!(sysctls, "77\n999\n");
    // update: new limits on the running container, seen in its cgroup's usage report.
    ok(
        rt(
            "hako",
            &state,
            &["update", "--memory", "67108864", "--pids-limit", "40", "r2"],
        ),
        "update",
    );
    let ev = ok(
        rt("hako", &state, &["events", "--stats", "r2"]),
        "events --stats",
    );
    let ev: serde_json::Value = serde_json::from_str(ev.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 67108864u64, "{ev}");
    assert_eq!(ev["data"]["pids"]["current"], 1, "{ev}");
    ok(
        rt("hako", &state, &["delete", "--force", "r2"]),
        "delete --force",
    );

    let mut spec: serde_json::Value = read_spec(&b);
    spec["linux"]["intelRdt"] = serde_json::json!({"closID": "hako-test"});
    write_spec(&b, &spec);
    let log = dir.path().join("log.json");
    let o = rt(
        "hako",
        &state,
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "bad",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("intelRdt"), "{}", stderr(&o));
    let line: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&log).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("intelRdt"));
    assert!(
        !state.join("bad").exists(),
        "a failed create leaves no state"
    );
}

/// A bundle's seccomp profile is enforced: a blocked call fails with the profile's errno,
/// the rest works, and an action hako cannot honour is refused by name.
#[test]
fn seccomp_profile_from_the_bundle() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(
        dir.path(),
        &[
            "sh",
            "-c",
            "grep ^Seccomp: /proc/self/status; mkdir /tmp/blocked 2>&1; echo still-running",
        ],
    );
    let mut spec: serde_json::Value = read_spec(&b);
    spec["root"]["readonly"] = serde_json::json!(false);
    spec["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    });
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "sc1"],
    );
    let out = stdout(&o);
    assert!(out.contains("Seccomp:\t2"), "{out} {}", stderr(&o));
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("still-running"), "{out}");

    spec["linux"]["seccomp"]["syscalls"][0]["action"] = serde_json::json!("SCMP_ACT_NOTIFY");
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "sc2"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("SCMP_ACT_NOTIFY"), "{}", stderr(&o));
}

/// CVE-2019-5736: a created container's process runs hako's binary through a read-only
/// bind mount, so a write through /proc/PID/exe is refused.
#[test]
fn runc_mode_runs_from_a_read_only_view_of_the_binary() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sleep", "30"]);
    ok(
        rt(
            "hako",
            &state,
            &["create", "--bundle", b.to_str().unwrap(), "sealed"],
        ),
        "create",
    );
    let o = rt("hako", &state, &["state", "sealed"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pid = v["pid"].as_i64().unwrap();
    // Busy while it runs (ETXTBSY), and on a read-only mount for when it no longer is.
    let exe = fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    let flags = nix::sys::statvfs::fstatvfs(&exe).unwrap().flags();
    assert!(
        flags.contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the container's view of the hako binary is writable"
    );
    let write = fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(write.is_err(), "the binary opened for writing");
    let _ = rt("hako", &state, &["delete", "--force", "sealed"]);
}

/// `process.oomScoreAdj`, `linux.personality`, `process.scheduler` and
/// `process.ioPriority` from the bundle reach the process (the policy and nice level
/// read back from /proc, the I/O class by busybox's ionice); a scheduler setting the
/// kernel would refuse fails `create` by name.
#[test]
fn process_settings_are_applied() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(
        dir.path(),
        &[
            "sh",
            "-c",
            "cat /proc/self/oom_score_adj; uname -m; grep '^policy' /proc/self/sched | tr -d ' '; cut -d' ' -f19 /proc/self/stat; ionice",
        ],
    );
    let mut spec: serde_json::Value = read_spec(&b);
    spec["process"]["oomScoreAdj"] = serde_json::json!(123);
    spec["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
    spec["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH", "nice": 7});
    spec["process"]["ioPriority"] =
        serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "persona"],
    );
    let out = stdout(&o);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["123", "i686", "policy:3", "7", "idle"],
        "{out} {}",
        stderr(&o)
    );
    let _ = rt("hako", &state, &["delete", "--force", "persona"]);
    spec["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "priority": 5});
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["run", "--bundle", b.to_str().unwrap(), "badsched"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("only SCHED_FIFO and SCHED_RR take a priority"),
        "{}",
        stderr(&o)
    );
    assert!(!state.join("badsched").exists());
}

/// All six hook stages run at their moments with the state on stdin: prestart,
/// createRuntime and createContainer at `create` (the last inside the container's mount
/// namespace), startContainer at `start` inside the container, poststart, poststop; a
/// failing createRuntime or createContainer hook fails `create` and leaves nothing.
#[test]
fn runtime_hooks_run_with_the_state_on_stdin() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = dir.path().join("hooks");
    fs::create_dir(&out).unwrap();
    let b = bundle(dir.path(), &["sleep", "30"]);
    let mut spec: serde_json::Value = read_spec(&b);
    let hook = |stage: &str| {
        serde_json::json!([{"path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{stage}.json; echo $HOOK_ENV >> {}/{stage}.json", out.display(), out.display())],
            "env": ["HOOK_ENV=from-the-spec"], "timeout": 5}])
    };
    spec["hooks"] = serde_json::json!({
        "prestart": hook("prestart"), "createRuntime": hook("createRuntime"),
        "createContainer": hook("createContainer"),
        // In the container (its own /bin/sh): the out directory is bound at /hooks-out.
        "startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "cat > /hooks-out/s.tmp; echo >> /hooks-out/s.tmp; cat /proc/1/comm >> /hooks-out/s.tmp; mv /hooks-out/s.tmp /hooks-out/startContainer.json"]}],
        "poststart": hook("poststart"), "poststop": hook("poststop"),
    });
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "destination": "/hooks-out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
    write_spec(&b, &spec);
    let bundle_arg = b.to_str().unwrap();
    ok(
        rt(
            "hako",
            &state,
            &["create", "--bundle", bundle_arg, "hooked"],
        ),
        "create",
    );
    let read =
        |stage: &str| fs::read_to_string(out.join(format!("{stage}.json"))).unwrap_or_default();
    // The old prestart stage sees "created" (crun's reading, the suite's expectation).
    for (stage, status) in [
        ("prestart", "created"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
    ] {
        let text = read(stage);
        assert!(
            text.contains(&format!("\"status\":\"{status}\""))
                && text.contains("\"id\":\"hooked\""),
            "{stage}: {text}"
        );
        assert!(text.contains("from-the-spec"), "{stage}: {text}");
    }
    // createContainer ran as the container's init (PID 1 of its namespace).
    assert!(
        read("createContainer").contains("\"pid\":1,"),
        "{}",
        read("createContainer")
    );
    assert_eq!(read("startContainer"), "", "startContainer before start");
    assert_eq!(read("poststart"), "", "poststart before start");
    ok(rt("hako", &state, &["start", "hooked"]), "start");
    until("the startContainer hook", || {
        !read("startContainer").is_empty()
    });
    let text = read("startContainer");
    let (doc, comm) = text.split_once('\n').unwrap();
    assert!(doc.contains("\"status\":\"created\""), "{doc}");
    // Inside the container, before the user's program replaced its init.
    assert_ne!(
        comm.trim(),
        "sleep",
        "startContainer ran before the program"
    );
    assert!(
        read("poststart").contains("\"status\":\"running\""),
        "{}",
        read("poststart")
    );
    ok(
        rt("hako", &state, &["delete", "--force", "hooked"]),
        "delete",
    );
    assert!(
        read("poststop").contains("\"status\":\"stopped\""),
        "{}",
        read("poststop")
    );

    spec["hooks"]["createRuntime"] = serde_json::json!([{"path": "/bin/false"}]);
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["create", "--bundle", bundle_arg, "failing"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("createRuntime hook /bin/false"),
        "{}",
        stderr(&o)
    );
    assert!(
        !state.join("failing").exists(),
        "a failed create leaves no state"
    );
    spec["hooks"]["createRuntime"] = hook("createRuntime");
    spec["hooks"]["createContainer"] = serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo no GPU here >&2; exit 3"]}]);
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["create", "--bundle", bundle_arg, "failing2"],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("createContainer hook /bin/sh") && err.contains("no GPU here"),
        "{err}"
    );
    assert!(
        !state.join("failing2").exists(),
        "a failed create leaves no state"
    );
}

/// blockIO throttles (the OCI spelling `…IOPSDevice` included), cpuset, the soft memory
/// limit and, on v2, the `unified` map land in the container's cgroup files as runc
/// writes them; what the host's cgroup version cannot express is refused by name.
#[test]
fn bundle_resources_reach_the_cgroup() {
    if !require_root("runc mode creates cgroups") {
        return;
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), &["sleep", "30"]);
    let device = block_devices()
        .first()
        .map(|(_, major, minor)| (*major, *minor));
    let mut spec = read_spec(&b);
    let mut resources = serde_json::json!({
        "cpu": {"cpus": "0", "shares": 0},
        "memory": {"reservation": 33554432},
        "blockIO": {"weight": 0},
    });
    if let Some((major, minor)) = device {
        resources["blockIO"]["throttleReadBpsDevice"] =
            serde_json::json!([{"major": major, "minor": minor, "rate": 1048576}]);
        resources["blockIO"]["throttleWriteIOPSDevice"] =
            serde_json::json!([{"major": major, "minor": minor, "rate": 100}]);
    }
    if v2 {
        resources["unified"] = serde_json::json!({"memory.high": "67108864", "pids.max": "33"});
    }
    let mut runtimes = vec!["hako"];
    if have("runc") && !v2 {
        runtimes.push("runc");
    }
    let mut seen = vec![];
    for runtime in runtimes {
        let id = format!("res-{runtime}-{}", std::process::id());
        let path = format!("/hakotest-res/{id}");
        spec["linux"]["cgroupsPath"] = serde_json::json!(path);
        spec["linux"]["resources"] = resources.clone();
        write_spec(&b, &spec);
        let state = dir.path().join(format!("state-{runtime}"));
        let o = rt(
            runtime,
            &state,
            &["create", "--bundle", b.to_str().unwrap(), &id],
        );
        assert!(o.status.success(), "{runtime} create: {}", stderr(&o));
        let file = |controller: &str, name: &str| {
            let p = if v2 {
                format!("/sys/fs/cgroup{path}/{name}")
            } else {
                format!("/sys/fs/cgroup/{controller}{path}/{name}")
            };
            fs::read_to_string(&p).unwrap_or_else(|e| panic!("{runtime}: {p}: {e}"))
        };
        let mut got = vec![file("cpuset", "cpuset.cpus").trim().to_string()];
        if v2 {
            got.push(file("memory", "memory.low").trim().into());
            got.push(file("memory", "memory.high").trim().into());
            got.push(file("pids", "pids.max").trim().into());
        } else {
            got.push(file("memory", "memory.soft_limit_in_bytes").trim().into());
        }
        if let Some((major, minor)) = device {
            if v2 {
                let max = file("io", "io.max");
                assert!(
                    max.contains(&format!(
                        "{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100"
                    )),
                    "{max}"
                );
            } else {
                got.push(
                    file("blkio", "blkio.throttle.read_bps_device")
                        .trim()
                        .into(),
                );
                got.push(
                    file("blkio", "blkio.throttle.write_iops_device")
                        .trim()
                        .into(),
                );
            }
        }
        ok(rt(runtime, &state, &["delete", "--force", &id]), "delete");
        seen.push((runtime, got));
    }
    let (_, hako) = &seen[0];
    assert_eq!(hako[0], "0", "cpuset.cpus");
    assert_eq!(hako[1], "33554432", "the soft limit");
    if v2 {
        assert_eq!(&hako[2..4], ["67108864", "33"], "unified");
    } else if let Some((major, minor)) = device {
        assert_eq!(
            &hako[2..4],
            [
                format!("{major}:{minor} 1048576"),
                format!("{major}:{minor} 100")
            ]
        );
    }
    for (runtime, got) in &seen[1..] {
        assert_eq!(got, hako, "{runtime} wrote the same values as hako");
    }
    // What this host's version cannot express is refused, naming it; nothing is left.
    let (field, value, expect) = if v2 {
        (
            "cpu",
            serde_json::json!({"realtimeRuntime": 1000}),
            "cgroup v1",
        )
    } else {
        (
            "unified",
            serde_json::json!({"memory.high": "1"}),
            "cgroup v2",
        )
    };
    spec["linux"]["resources"] = serde_json::json!({ field: value });
    write_spec(&b, &spec);
    let state = dir.path().join("state-refused");
    let o = rt(
        "hako",
        &state,
        &["create", "--bundle", b.to_str().unwrap(), "refused"],
    );
    assert!(!o.status.success(), "an inexpressible setting was accepted");
    assert!(stderr(&o).contains(expect), "{}", stderr(&o));
    let o = rt("hako", &state, &["state", "refused"]);
    assert!(!o.status.success(), "state left behind");
    // An RDMA limit on a host without the controller or the device: refused by name.
    let mut spec = read_spec(&b);
    spec["linux"]["resources"] = serde_json::json!({"rdma": {"mlx5_0": {"hcaHandles": 2}}});
    write_spec(&b, &spec);
    let o = rt(
        "hako",
        &state,
        &["create", "--bundle", b.to_str().unwrap(), "rdma"],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("needs the rdma controller") || err.contains("no RDMA device of that name"),
        "{err}"
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg("rmdir /sys/fs/cgroup/hakotest-res /sys/fs/cgroup/*/hakotest-res 2>/dev/null")
        .status();
}

/// runc's `exec --cap` adds a capability to the exec'd process only, and a paused
/// container refuses exec unless `--ignore-paused` is given.
#[test]
fn exec_cap_and_ignore_paused() {
    if !require_root("runc mode creates namespaces and cgroups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sleep", "30"]);
    let id = format!("execcap-{}", std::process::id());
    ok(
        rt(
            "hako",
            &state,
            &["run", "-d", "--bundle", b.to_str().unwrap(), &id],
        ),
        "run -d",
    );
    let cap_eff = |extra: &[&str]| -> u64 {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&id, "grep", "CapEff", "/proc/self/status"]);
        let out = ok(rt("hako", &state, &args), "exec");
        let hex = out.split_whitespace().last().unwrap().to_string();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    const CAP_SYS_TIME: u64 = 1 << 25;
    assert_eq!(cap_eff(&[]) & CAP_SYS_TIME, 0);
    assert_ne!(cap_eff(&["--cap", "CAP_SYS_TIME"]) & CAP_SYS_TIME, 0);
    assert_eq!(cap_eff(&[]) & CAP_SYS_TIME, 0, "only that process got it");
    let bad = rt(
        "hako",
        &state,
        &["exec", "--cap", "CAP_NO_SUCH", &id, "true"],
    );
    assert!(!bad.status.success() && stderr(&bad).contains("not a capability"));
    ok(rt("hako", &state, &["pause", &id]), "pause");
    let refused = rt("hako", &state, &["exec", &id, "true"]);
    assert!(
        !refused.status.success() && stderr(&refused).contains("--ignore-paused"),
        "{}",
        stderr(&refused)
    );
    // Allowed now: the process joins the frozen container and runs once it is resumed.
    let pids = || ok(rt("hako", &state, &["ps", "--format", "json", &id]), "ps");
    let before = pids();
    let exec = {
        let (state, id) = (state.clone(), id.clone());
        std::thread::spawn(move || {
            rt(
                "hako",
                &state,
                &["exec", "--ignore-paused", &id, "echo", "ran"],
            )
        })
    };
    until("the exec'd process in the paused container", || {
        pids() != before
    });
    ok(rt("hako", &state, &["resume", &id]), "resume");
    let out = ok(exec.join().unwrap(), "exec --ignore-paused");
    assert_eq!(out.trim(), "ran");
    let _ = rt("hako", &state, &["delete", "--force", &id]);
}
