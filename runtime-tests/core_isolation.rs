use crate::harness::*;

#[test]
fn pid1_own_hostname_and_host_processes_invisible() {
    if !require_root("pid1") {
        return;
    }
    let out = sh(
        &["--hostname", "box"],
        "echo pid=$$; hostname; ls -d /proc/[0-9]* | wc -l; cat /etc/hostname",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "box");
    let procs: usize = lines[2].trim().parse().unwrap();
    assert!(
        procs <= 3,
        "the container sees {procs} processes: host processes leak in"
    );
    assert_eq!(lines[3], "box");
    assert_ne!(nix::unistd::gethostname().unwrap().to_string_lossy(), "box");
}

#[test]
fn network_none_has_only_loopback_up() {
    if !require_root("network") {
        return;
    }
    let out = sh(&["--network", "none"], "ls /sys/class/net; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok");
    assert_eq!(out.lines().next(), Some("lo"), "{out}");
    assert!(out.contains("ping-ok"), "loopback must be up: {out}");
}

#[test]
fn host_mount_table_unchanged_after_exit() {
    if !require_root("mount table") {
        return;
    }
    let root = shared_root();
    let before = mounts_mentioning(root.to_str().unwrap());
    sh(&["-v", "/tmp:/hosttmp"], "mount | wc -l");
    let after = mounts_mentioning(root.to_str().unwrap());
    assert_eq!(before, after, "a container left mounts behind on the host");
    assert!(
        after.is_empty(),
        "overlay mounts must live only in the container's namespace: {after:?}"
    );
}

#[test]
fn docker_default_capabilities_and_masks() {
    if !require_root("caps") {
        return;
    }
    let out = sh(&[], "grep CapEff /proc/self/status; cat /proc/kcore | wc -c; touch /proc/sys/x 2>&1 || echo ro-sys");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("ro-sys"), "{out}");
    assert!(
        sh(&["--cap-drop", "ALL"], "grep CapEff /proc/self/status").contains("0000000000000000")
    );
    assert!(
        sh(&["--cap-add", "NET_ADMIN"], "grep CapEff /proc/self/status")
            .contains("00000000a80435fb")
    );
    assert!(sh(&["--user", "1000"], "grep CapEff /proc/self/status").contains("0000000000000000"));
    let privileged = sh(&["--privileged"], "grep CapEff /proc/self/status");
    assert!(!privileged.contains("a80425fb"), "{privileged}");
}

#[test]
fn env_workdir_user_volumes_readonly() {
    if !require_root("flags") {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from-host\n").unwrap();
    let vol = format!("{}:/data:ro", host.path().display());
    let out = sh(&["-e", "K=V", "-w", "/tmp", "-u", "user", "-v", &vol], "echo $K; pwd; id -u; id -G; cat /data/f; touch /data/x 2>/dev/null || echo data-ro; echo $HOME");
    assert_eq!(
        out,
        "V\n/tmp\n1000\n1000 50\nfrom-host\ndata-ro\n/home/user\n"
    );
    let rw = format!("{}:/data", host.path().display());
    sh(&["-v", &rw], "echo written > /data/new");
    assert_eq!(
        std::fs::read_to_string(host.path().join("new")).unwrap(),
        "written\n"
    );
    let o = hako(
        shared_root(),
        &["run", "--rm", "--read-only", "busybox", "touch", "/x"],
    );
    assert!(!o.status.success(), "--read-only root must refuse writes");
    // A bind target that is a symlink in the image stays inside the rootfs.
    let out = sh(&["-v", &vol], "ls /data");
    assert_eq!(out, "f\nnew\n");
}

#[test]
fn ten_containers_in_parallel() {
    if !require_root("parallel") {
        return;
    }
    let root = shared_root();
    // All ten wait at a barrier (a shared host folder) so they are alive at once; the host
    // then reads each one's cgroup from /proc/PID/cgroup, and each container counts the
    // processes in its own cgroup through the cgroup namespace.
    let sync = tempfile::tempdir().unwrap();
    let volume = format!("{}:/sync", sync.path().display());
    let script = "touch /sync/ready-$(hostname); while [ ! -e /sync/go ]; do sleep 0.05; done; \
                  hostname; cat /sys/fs/cgroup/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/pids/cgroup.procs";
    let children: Vec<_> = (0..10)
        .map(|i| {
            let name = format!("par{i}");
            hako_cmd(
                root,
                &[
                    "run",
                    "--name",
                    &name,
                    "--hostname",
                    &name,
                    "-v",
                    &volume,
                    "busybox",
                    "sh",
                    "-c",
                    script,
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(sync.path()).unwrap().count() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "containers never reached the barrier"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut cgroups = std::collections::BTreeSet::new();
    for i in 0..10 {
        let name = format!("par{i}");
        let id = inspect_field(root, &name, "/Id");
        let pid = inspect_field(root, &name, "/State/Pid").as_u64().unwrap();
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let id = id.as_str().unwrap();
        // v1 lists one line per hierarchy, v2 one "0::" line; the pids one exists on both.
        let line = cgroup
            .lines()
            .find(|l| l.starts_with("0::") || l.contains(":pids:"))
            .unwrap_or_else(|| panic!("no pids cgroup in {cgroup}"));
        assert!(
            line.ends_with(id),
            "{name} is not in its own cgroup: {line}"
        );
        cgroups.insert(line.to_string());
    }
    assert_eq!(
        cgroups.len(),
        10,
        "ten containers, ten cgroups: {cgroups:?}"
    );
    std::fs::write(sync.path().join("go"), "").unwrap();
    let mut names = vec![];
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let mut lines = out.lines();
        names.push(lines.next().unwrap().to_string());
        // sh and cat, or sh alone when cat is exec'd: never another container's processes.
        let procs = lines.count();
        assert!(
            (1..=2).contains(&procs),
            "a container saw {procs} processes in its cgroup: {out}"
        );
    }
    names.sort();
    assert_eq!(
        names,
        (0..10).map(|i| format!("par{i}")).collect::<Vec<_>>()
    );
    for i in 0..10 {
        ok(hako(root, &["rm", &format!("par{i}")]), "rm");
    }
}
