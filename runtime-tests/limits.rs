use crate::harness::*;

#[test]
fn memory_limit_oom_kills_with_137() {
    if !require_root("oom") {
        return;
    }
    let root = shared_root();
    let o = hako(
        root,
        &[
            "run",
            "--name",
            "oomer",
            "--memory",
            "32m",
            "busybox",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=100M",
            "count=1",
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(
        inspect_field(root, "oomer", "/State/OOMKilled"),
        serde_json::json!(true)
    );
    assert_eq!(
        inspect_field(root, "oomer", "/State/ExitCode"),
        serde_json::json!(137)
    );
    let rm = hako(root, &["rm", "oomer"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !require_root("pids") {
        return;
    }
    // Inside: the limit is visible through the cgroup namespace. A subshell forks 30
    // sleepers and dies at the first refused fork; the processes are counted with a shell
    // glob (no fork needed at the limit), then the sleepers are killed (PID 1 ignores the
    // TERM, having no handler) so grep can run.
    let out = sh(
        &["--pids-limit", "10"],
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; (for i in $(seq 1 30); do sleep 30 & done) 2>/tmp/err; set -- /proc/[0-9]*; n=$#; kill -TERM 0; wait; echo $n; grep -c fork /tmp/err",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "10");
    let running: usize = lines[1].trim().parse().unwrap();
    assert!(running <= 10, "{running} processes ran with pids.max=10");
    assert_eq!(lines[2], "1", "the fork bomb was not stopped: {out}");
}

#[test]
fn cpu_and_memory_limits_visible_and_cgroup_removed() {
    if !require_root("cgroup files") {
        return;
    }
    let root = shared_root();
    let o = hako(root, &["run", "--name", "limited", "--cpus", "0.5", "--memory", "64m", "busybox", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("50000"), "{out}");
    assert!(out.contains(&(64u64 << 20).to_string()), "{out}");
    let id = inspect_field(root, "limited", "/Id");
    let id = id.as_str().unwrap();
    for ctrl in ["memory", "pids", "cpu"] {
        let p = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join("hako")
            .join(id);
        let v2 = std::path::Path::new("/sys/fs/cgroup/hako").join(id);
        assert!(
            !p.exists() && !v2.exists(),
            "cgroup {} left behind after exit",
            p.display()
        );
    }
    assert!(hako(root, &["rm", "limited"]).status.success());
}

#[test]
fn nonsense_flags_are_refused() {
    if !require_root("flags") {
        return;
    }
    // A fresh root: nothing else runs in it, so "nothing changed" is exact.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for args in [
        vec!["run", "--memory", "lots", "busybox", "true"],
        vec!["run", "--memory", "1k", "busybox", "true"],
        vec!["run", "--cpus", "999", "busybox", "true"],
        vec!["run", "--cap-add", "MAGIC", "busybox", "true"],
        vec!["run", "-v", "relative/path:/x", "busybox", "true"],
        vec!["run", "--network", "bridge0", "busybox", "true"],
        vec!["run", "--pull", "never", "nosuchimage", "true"],
        vec!["run", "Bad:Ref!", "true"],
    ] {
        let o = hako(root, &args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "{args:?} should fail with 125: {}",
            stderr(&o)
        );
        let err = stderr(&o);
        assert!(
            err.starts_with("hako: ") && err.lines().count() == 1,
            "one clear line expected: {err}"
        );
        assert_eq!(
            // Refused by the command line itself, the data root is not even opened.
            std::fs::read_dir(root.join("containers")).map_or(0, |d| d.count()),
            0,
            "{args:?} left a container behind"
        );
        assert_eq!(
            std::fs::read_dir(root.join("tmp")).map_or(0, |d| d.count()),
            0,
            "{args:?} left temporary files behind"
        );
    }
}

/// `hako info` reports the host's cgroup layout; the v2 lane sets HAKO_EXPECT_CGROUP=2.
#[test]
fn cgroup_version_reported() {
    if !require_root("cgroup info") {
        return;
    }
    let o = hako(shared_root(), &["info"]);
    let out = stdout(&o);
    let expected = std::env::var("HAKO_EXPECT_CGROUP").unwrap_or_else(|_| {
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "2".into()
        } else {
            "1".into()
        }
    });
    assert!(
        out.contains(&format!("Cgroup version: {expected}")),
        "{out}"
    );
    assert!(
        out.contains("memory") && out.contains("pids"),
        "controllers missing: {out}"
    );
}

#[test]
fn cpus_limit_throttles() {
    if !require_root("cpu throttling") {
        return;
    }
    // A busy loop for one second under --cpus 0.1 must be throttled by the CFS quota.
    let out = sh(&["--cpus", "0.1"], "timeout 1 sh -c 'while :; do :; done'; cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat");
    let throttled: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no nr_throttled in {out}"));
    assert!(throttled > 0, "--cpus 0.1 did not throttle: {out}");
}

/// `hako info` tells a user which cgroup subtree is theirs. As root, the test asks as
/// `nobody`, who has none (v1: never; v2: not delegated). The cgroup v2 lane runs it again
/// as a user whose `user@UID.service` is delegated (HAKO_EXPECT_DELEGATION=1).
#[test]
fn cgroup_delegation_reported_for_users() {
    let info = |o: std::process::Output| {
        let out = stdout(&o);
        assert!(o.status.success(), "{out}{}", stderr(&o));
        out.lines()
            .find_map(|l| l.strip_prefix("Cgroup delegated: "))
            .unwrap_or_else(|| panic!("no delegation line: {out}"))
            .to_string()
    };
    if std::env::var_os("HAKO_EXPECT_DELEGATION").is_some() {
        let root = tempfile::tempdir().unwrap();
        let line = info(hako(root.path(), &["info"]));
        assert!(
            line.contains("user@") && line.contains(".service ("),
            "{line}"
        );
        assert!(line.contains("memory") && line.contains("pids"), "{line}");
        rootless_limits_in_the_delegated_subtree();
        return;
    }
    if !require_root("cgroup delegation as nobody") || !have("setpriv") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    nix::unistd::chown(root.path(), Some(65534.into()), Some(65534.into())).unwrap();
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            HAKO,
            "--root",
        ])
        .arg(root.path())
        .arg("info")
        .output()
        .unwrap();
    let line = info(o);
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let expected = if v2 {
        "none: your cgroup"
    } else {
        "none: cgroup v1"
    };
    assert!(line.starts_with(expected), "{line}");
}

/// A memory hog, a fork bomb, a CPU burner and a disk-filling loop, each in a container
/// with limits, all at once: a neighbour container keeps answering `exec`, the host keeps
/// starting processes, and each hostile container is held to its limit. The latencies
/// are printed (the figures belong to `make bench`); the bounds only catch a host that
/// stopped answering.
#[test]
fn hostile_neighbours_stay_inside_their_limits() {
    if !require_root("hostile_neighbours_stay_inside_their_limits") {
        return;
    }
    let root = shared_root();
    let tag = std::process::id();
    let name = |what: &str| format!("load-{what}-{tag}");
    ok(
        hako(
            root,
            &[
                "run",
                "-d",
                "--name",
                &name("quiet"),
                "--network",
                "none",
                "busybox",
                "sleep",
                "120",
            ],
        ),
        "neighbour",
    );
    let exec_ms = || {
        let began = std::time::Instant::now();
        ok(
            hako(root, &["exec", &name("quiet"), "true"]),
            "exec into the neighbour",
        );
        began.elapsed().as_secs_f64() * 1000.0
    };
    let host_ms = || {
        let began = std::time::Instant::now();
        assert!(std::process::Command::new("true")
            .status()
            .unwrap()
            .success());
        began.elapsed().as_secs_f64() * 1000.0
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let quiet_exec = median((0..10).map(|_| exec_ms()).collect());
    let hostile = [
        (
            "mem",
            vec!["--memory", "48m", "--memory-swap", "48m"],
            "tail /dev/zero",
        ),
        (
            "fork",
            vec!["--pids-limit", "40"],
            "while :; do sleep 5 & done",
        ),
        ("cpu", vec!["--cpus", "0.5"], "while :; do :; done"),
        (
            "disk",
            vec!["--tmpfs", "/fill:size=16m"],
            "while :; do cat /dev/zero > /fill/f$RANDOM 2>/dev/null; done",
        ),
    ];
    for (what, flags, script) in &hostile {
        let mut args = vec!["run", "-d", "--name"];
        let n = name(what);
        args.push(&n);
        args.extend(["--network", "none"]);
        args.extend(flags.iter().copied());
        args.extend(["busybox", "sh", "-c", script]);
        ok(hako(root, &args), &format!("start the {what} hog"));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let loaded_exec = median((0..10).map(|_| exec_ms()).collect());
    let loaded_host = median((0..10).map(|_| host_ms()).collect());
    eprintln!(
        "neighbour exec: {quiet_exec:.1} ms quiet, {loaded_exec:.1} ms beside the hogs; host spawn {loaded_host:.1} ms"
    );
    assert!(
        loaded_exec < 2000.0,
        "the neighbour stopped answering: {loaded_exec} ms"
    );
    assert!(
        loaded_host < 1000.0,
        "the host stopped answering: {loaded_host} ms"
    );
    // Each hog is held: the memory hog was OOM-killed, the fork bomb sits at its limit,
    // the disk filler found its tmpfs full.
    let state = |what: &str, field: &str| {
        let v = inspect_field(root, &name(what), field);
        v.to_string()
    };
    until("the memory hog is OOM-killed", || {
        state("mem", "/State/OOMKilled") == "true"
    });
    ok(
        hako(root, &["exec", &name("quiet"), "true"]),
        "neighbour still answers",
    );
    let df = ok(
        hako(root, &["exec", &name("disk"), "df", "-k", "/fill"]),
        "df in the disk filler",
    );
    assert!(df.contains("16384"), "{df}");
    let used: Vec<&str> = df.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(used[3], "0", "the tmpfs is full: {df}");
    // The fork bomb hit its limit: the shell was refused a process (and gave up), or
    // it still runs with no more than 40.
    let logs = hako(root, &["logs", &name("fork")]);
    let top = hako(root, &["top", &name("fork")]);
    let refused = stderr(&logs).contains("can't fork") || stdout(&logs).contains("can't fork");
    let held = top.status.success() && stdout(&top).lines().count() - 1 <= 40;
    assert!(refused || held, "{} {}", stderr(&logs), stdout(&top));
    for what in ["quiet", "mem", "fork", "cpu", "disk"] {
        let _ = hako(root, &["rm", "-f", &name(what)]);
    }
}

/// On the v2 VM, as the user with a delegated subtree: a rootless container gets its
/// cgroup inside that subtree and its memory limit holds there.
fn rootless_limits_in_the_delegated_subtree() {
    let root = tempfile::tempdir().unwrap();
    let tar = root.path().join("busybox.tar");
    ok(
        std::process::Command::new(project_dir().join("rootfs-fixtures/busybox.sh"))
            .arg(&tar)
            .output()
            .unwrap(),
        "busybox fixture",
    );
    let r = root.path().join("store");
    // The VM's user may have no /etc/subuid range: squash the fixture's other owners.
    ok(
        hako(
            &r,
            &[
                "import",
                "--userns=squash",
                tar.to_str().unwrap(),
                "busybox",
            ],
        ),
        "rootless import",
    );
    let out = ok(
        hako(
            &r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--memory",
                "32m",
                "--pids-limit",
                "20",
                "busybox",
                "sh",
                "-c",
                "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /proc/self/cgroup",
            ],
        ),
        "rootless run with limits",
    );
    assert!(out.contains("33554432") && out.contains("20\n"), "{out}");
}

/// Docker's finer resource flags land in the container's cgroup as Docker writes them:
/// `--cpu-shares`, `--cpuset-cpus`, `--memory-reservation`, `--blkio-weight` (where the
/// host has a weight file) and `--device-read-bps`/`--device-write-iops` on a real disk.
#[test]
fn docker_resource_flags_reach_the_cgroup() {
    if !require_root("docker_resource_flags_reach_the_cgroup") {
        return;
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let disk = block_devices()
        .into_iter()
        .map(|(name, _, _)| name)
        .find(|n| std::path::Path::new("/dev").join(n).exists());
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--memory-reservation",
        "32m",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    if let Some(d) = &disk {
        args.extend([
            "--device-read-bps".into(),
            format!("/dev/{d}:1mb"),
            "--device-write-iops".into(),
            format!("/dev/{d}:100"),
        ]);
    }
    args.extend(["busybox".into(), "sleep".into(), "30".into()]);
    let root = shared_root();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = ok(hako(root, &argv), "run -d with resource flags");
    let id = id.trim();
    let read = |controller: &str, file: &str| {
        let p = if v2 {
            format!("/sys/fs/cgroup/hako/{id}/{file}")
        } else {
            format!("/sys/fs/cgroup/{controller}/hako/{id}/{file}")
        };
        std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{p}: {e}"))
    };
    let shares = read("cpu", if v2 { "cpu.weight" } else { "cpu.shares" });
    let cpus = read("cpuset", "cpuset.cpus");
    let soft = read(
        "memory",
        if v2 {
            "memory.low"
        } else {
            "memory.soft_limit_in_bytes"
        },
    );
    let io = if v2 {
        read("io", "io.max")
    } else {
        read("blkio", "blkio.throttle.read_bps_device")
            + &read("blkio", "blkio.throttle.write_iops_device")
    };
    let _ = hako(root, &["rm", "-f", id]);
    assert_eq!(shares.trim(), if v2 { "20" } else { "512" }, "{shares}");
    assert_eq!(cpus.trim(), "0");
    assert_eq!(soft.trim(), "33554432");
    if disk.is_some() {
        assert!(
            io.contains(" 1048576") || io.contains("rbps=1048576"),
            "{io}"
        );
        assert!(io.contains(" 100") || io.contains("wiops=100"), "{io}");
    }
    // Nonsense is refused before anything is created.
    for (flag, value, says) in [
        ("--cpuset-cpus", "0-4096", "not available"),
        ("--blkio-weight", "5", "from 10 to 1000"),
        ("--device-read-bps", "/dev/null:1mb", "not a block device"),
    ] {
        let o = hako(root, &["run", "--rm", flag, value, "busybox", "true"]);
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert!(stderr(&o).contains(says), "{flag} {value}: {}", stderr(&o));
    }
}

/// `--shm-size`: /dev/shm as big as asked (PyTorch's data loaders need more than Docker's
/// 64 MiB), recorded for inspect; a size of 0 is refused before anything is created.
#[test]
fn shm_size_sets_the_size_of_dev_shm() {
    if !require_root("shm size") {
        return;
    }
    let r = shared_root();
    let df = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(extra);
        args.extend(["busybox", "df", "-k", "/dev/shm"]);
        ok(hako(r, &args), "df /dev/shm")
    };
    let default = df(&[]);
    assert!(default.contains(" 65536 "), "{default}");
    let bigger = df(&["--shm-size", "256m"]);
    assert!(bigger.contains(" 262144 "), "{bigger}");
    let id = ok(
        hako(r, &["create", "--shm-size", "1g", "busybox", "true"]),
        "create",
    );
    let id = id.trim();
    assert_eq!(inspect_field(r, id, "/HostConfig/ShmSize"), 1u64 << 30);
    ok(hako(r, &["rm", id]), "rm");
    let refused = hako(r, &["run", "--rm", "--shm-size", "0", "busybox", "true"]);
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("more than 0"),
        "{}",
        stderr(&refused)
    );
}
