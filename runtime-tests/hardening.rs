//! Attacks on the boundary, each tried for real from inside a default container: the
//! seccomp profile, masked kernel interfaces, the runc CVE classes (host binary through
//! /proc/self/exe, leaked descriptors as the working directory, symlinked mount targets).

use crate::harness::*;
use std::path::Path;

/// Raw system calls from perl (the Debian image has it): name=errno, or name=ok.
const SYSCALL_PROBE: &str = r#"
for my $c ([250, "keyctl", 0], [246, "kexec_load", 0], [304, "open_by_handle_at", 0],
           [165, "mount", 0], [272, "unshare", 0x10000000], [249, "request_key", 0],
           [452, "fchmodat2", -100]) {
    my $r = syscall($c->[0], $c->[2], 0, 0, 0, 0);
    print "$c->[1]=", ($r == -1 ? $!+0 : "ok"), "\n";
}
"#;

#[test]
fn default_profile_refuses_administration_calls_with_eperm() {
    if !require_root("default_profile_refuses_administration_calls_with_eperm") {
        return;
    }
    let root = crate::debian::debian_root();
    let probe = |flags: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["debian:bookworm", "perl", "-e", SYSCALL_PROBE]);
        ok(hako(root, &args), "the syscall probe")
    };
    let confined = probe(&[]);
    for call in [
        "keyctl",
        "kexec_load",
        "open_by_handle_at",
        "mount",
        "unshare",
        "request_key",
    ] {
        assert!(
            confined.contains(&format!("{call}=1\n")),
            "{call} not EPERM: {confined}"
        );
    }
    // fchmodat2 (Linux 6.6) is newer than the profile, or allowed by it: ENOSYS or the
    // kernel's EFAULT for the null path, never EPERM, so the C library can fall back.
    assert!(
        confined.contains("fchmodat2=38\n") || confined.contains("fchmodat2=14\n"),
        "{confined}"
    );
    // The compiled filter is kept, private to the data root's owner, for the next run.
    let cache = root.join("cache/seccomp");
    let mode = std::fs::metadata(&cache)
        .expect("the seccomp cache")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    assert!(std::fs::read_dir(&cache).unwrap().count() >= 1);
    // The filter, not only the missing capability: unconfined, keyctl reaches the kernel.
    let unconfined = probe(&["--security-opt", "seccomp=unconfined"]);
    assert!(!unconfined.contains("keyctl=1\n"), "{unconfined}");
    // The process is filtered (Seccomp: 2) and holds no CAP_SYS_ADMIN (bit 21).
    let status = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "debian:bookworm",
                "grep",
                "-E",
                "^(Seccomp|CapEff):",
                "/proc/self/status",
            ],
        ),
        "status",
    );
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(cap_eff & (1 << 21), 0, "CAP_SYS_ADMIN in {status}");
    // --privileged is unconfined; --cap-add SYS_ADMIN brings mount and unshare back.
    let privileged = probe(&["--privileged"]);
    assert!(!privileged.contains("unshare=1\n"), "{privileged}");
    let admin = probe(&["--cap-add", "SYS_ADMIN"]);
    assert!(admin.contains("unshare=ok"), "{admin}");
    assert!(
        admin.contains("keyctl=1\n"),
        "keyrings stay closed: {admin}"
    );
}

#[test]
fn a_custom_profile_in_docker_format_is_applied() {
    if !require_root("a_custom_profile_in_docker_format_is_applied") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "comment": "a Docker-style entry", "includes": {}}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = sh(&["--security-opt", &opt], "mkdir /tmp/x 2>&1; echo rc=$?");
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    // A broken profile is refused before anything is created.
    std::fs::write(&profile, "{not json").unwrap();
    let o = hako(
        shared_root(),
        &["run", "--rm", "--security-opt", &opt, "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("not JSON"), "{}", stderr(&o));
}

#[test]
fn kernel_interfaces_are_masked_or_read_only() {
    if !require_root("kernel_interfaces_are_masked_or_read_only") {
        return;
    }
    let out = sh(
        &["--network", "none"],
        r#"echo "kcore=$(cat /proc/kcore 2>/dev/null | wc -c)"
           echo h > /proc/sysrq-trigger 2>/dev/null; echo "sysrq=$?"
           echo "firmware=$(ls /sys/firmware | wc -l)"
           echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; echo "procsys=$?"
           mkdir /sys/fs/cgroup/escape 2>/dev/null || mkdir /sys/fs/cgroup/memory/escape 2>/dev/null; echo "cgroup=$?"
           echo x > /sys/kernel/notes 2>/dev/null; echo "sys=$?""#,
    );
    for want in ["kcore=0", "firmware=0"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    for refused in ["sysrq", "procsys", "cgroup", "sys"] {
        assert!(
            !out.contains(&format!("{refused}=0")),
            "{refused} was writable: {out}"
        );
    }
    assert!(!Path::new("/sys/fs/cgroup/escape").exists());
}

/// CVE-2019-5736: a container makes `hako exec` run the hako binary inside it (a
/// `#!/proc/self/exe` script) and reopens that binary for writing through /proc. The
/// binary stays busy (ETXTBSY) while any hako process of the container runs, and the
/// container cannot outlive them, so the write never lands.
#[test]
fn the_hako_binary_cannot_be_overwritten_from_a_container() {
    if !require_root("the_hako_binary_cannot_be_overwritten_from_a_container") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A copy, so a failure of this test cannot damage the binary the other tests run.
    let exe = dir.path().join("hako");
    std::fs::copy(HAKO, &exe).unwrap();
    let before = std::fs::read(&exe).unwrap();
    let root = dir.path().join("root");
    let tar = shared_root().join("busybox.tar");
    let h = |args: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} --root {} {args}",
                exe.display(),
                root.display()
            ))
            .output()
            .unwrap()
    };
    ok(h(&format!("import {} busybox", tar.display())), "import");
    ok(
        h("run -d --name victim --network none busybox sleep 300"),
        "run -d",
    );
    ok(
        h(r##"exec victim sh -c 'printf "#!/proc/self/exe\n" > /x && chmod +x /x'"##),
        "plant the script",
    );
    // The attacker: grab every process's exe, wait for it to exit, write through the fd.
    ok(
        h(
            r#"exec -d victim sh -c 'for round in $(seq 300); do for p in /proc/[0-9]*; do ( exec 3<"$p/exe" && sleep 0.02 && echo pwned >> /proc/self/fd/3 ) 2>/dev/null & done; wait; done'"#,
        ),
        "start the attacker",
    );
    for _ in 0..20 {
        // Runs the hako binary inside the container (it prints its usage and exits).
        let _ = h("exec victim /x");
        let _ = h("exec victim /proc/self/exe --version");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(h("rm -f victim"), "rm");
    assert!(
        std::fs::read(&exe).unwrap() == before,
        "the hako binary was modified from inside the container"
    );
}

/// CVE-2024-21626: a descriptor of hako's own, leaked into the container, used as the
/// working directory, would put the process in the host's filesystem.
#[test]
fn leaked_descriptors_cannot_be_the_working_directory() {
    if !require_root("leaked_descriptors_cannot_be_the_working_directory") {
        return;
    }
    for fd in 3..12 {
        let wd = format!("/proc/self/fd/{fd}");
        let o = hako(
            shared_root(),
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-w",
                &wd,
                "busybox",
                "sh",
                "-c",
                "ls -a . .. 2>&1",
            ],
        );
        let seen = stdout(&o);
        for host_only in ["containers", "layers", "blobs"] {
            assert!(
                !seen.contains(host_only),
                "-w {wd} reached hako's data root: {seen}"
            );
        }
    }
}

/// CVE-2021-30465 class: an image's symlink must not aim a bind mount, `cp` or `-w` at the
/// host; every target is resolved inside the container's root.
#[test]
fn symlinks_in_the_image_cannot_aim_mounts_or_copies_at_the_host() {
    if !require_root("symlinks_in_the_image_cannot_aim_mounts_or_copies_at_the_host") {
        return;
    }
    let root = shared_root();
    let host_target = std::env::temp_dir().join(format!("hako-escape-{}", std::process::id()));
    std::fs::create_dir_all(&host_target).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("payload"), "x").unwrap();
    let link_to = format!("../../../../../../..{}", host_target.display());
    let name = format!("symlinked-{}", std::process::id());
    // The same path exists inside, so the copy below has somewhere (inside) to land.
    run_named(
        root,
        &name,
        "busybox",
        &format!(
            "mkdir -p {} && ln -s {link_to} /link && ln -s / /rootlink",
            host_target.display()
        ),
    );
    ok(
        hako(root, &["commit", &name, &format!("{name}:img")]),
        "commit",
    );
    let bind = format!("{}:/link/mounted", src.path().display());
    let out = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                &bind,
                "-w",
                "/rootlink/link",
                &format!("{name}:img"),
                "sh",
                "-c",
                "ls /link/mounted; pwd",
            ],
        ),
        "run with a bind through the symlink",
    );
    assert!(out.contains("payload"), "{out}");
    // The copy lands inside the container too.
    ok(
        hako(
            root,
            &[
                "cp",
                &src.path().join("payload").display().to_string(),
                &format!("{name}:/link/copied"),
            ],
        ),
        "cp through the symlink",
    );
    let inside = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &format!("{name}:img"),
                "ls",
                "/link",
            ],
        ),
        "list inside",
    );
    assert_eq!(
        inside.trim(),
        "",
        "the committed image had an empty directory there"
    );
    let left: Vec<_> = std::fs::read_dir(&host_target).unwrap().collect();
    assert!(left.is_empty(), "something landed on the host: {left:?}");
    let _ = hako(root, &["rm", "-f", &name]);
    let _ = hako(root, &["rmi", &format!("{name}:img")]);
    let _ = std::fs::remove_dir_all(&host_target);
}

/// CVE-2018-15664: `cp` works on a frozen container, so nothing in it can swap a symlink
/// between resolution and use; a paused container stays paused, and `rm -f` still
/// removes a paused one.
#[test]
fn cp_freezes_the_container_and_leaves_a_paused_one_paused() {
    if !require_root("cp_freezes_the_container_and_leaves_a_paused_one_paused") {
        return;
    }
    let root = shared_root();
    let name = format!("cp-freeze-{}", std::process::id());
    ok(
        hako(
            root,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "busybox",
                "sleep",
                "60",
            ],
        ),
        "run",
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "copied").unwrap();
    let src = file.path().display().to_string();
    // With --trace, the freeze and thaw around the copy are visible.
    let o = hako(root, &["--trace", "cp", &src, &format!("{name}:/tmp/f")]);
    let trace = stderr(&o);
    ok(o, "cp");
    let freeze = trace.find("freeze").expect("cp froze the container");
    assert!(trace[freeze..].contains("thaw"), "{trace}");
    ok(hako(root, &["pause", &name]), "pause");
    ok(
        hako(
            root,
            &["cp", &format!("{name}:/tmp/f"), &format!("{src}.back")],
        ),
        "cp out",
    );
    assert_eq!(
        std::fs::read_to_string(format!("{src}.back")).unwrap(),
        "copied"
    );
    let status = inspect_field(root, &name, "/State/Status");
    assert_eq!(status, "paused");
    ok(hako(root, &["rm", "-f", &name]), "rm -f a paused container");
    let _ = std::fs::remove_file(format!("{src}.back"));
}

/// The device cgroup: a container may create device nodes but open only the default
/// devices, the ptys and tun, as with Docker; `--privileged` may open all. v1 shows the
/// rules in devices.list; v2 enforces them with a BPF program (the cgroup v2 VM lane).
#[test]
fn the_device_cgroup_allows_only_the_default_devices() {
    if !require_root("the_device_cgroup_allows_only_the_default_devices") {
        return;
    }
    let devices = Path::new("/sys/fs/cgroup/devices");
    if devices.is_dir() {
        let root = shared_root();
        let id = ok(
            hako(
                root,
                &["run", "-d", "--network", "none", "busybox", "sleep", "30"],
            ),
            "run -d",
        );
        let list =
            std::fs::read_to_string(devices.join("hako").join(id.trim()).join("devices.list"))
                .unwrap();
        let _ = hako(root, &["rm", "-f", id.trim()]);
        assert!(!list.contains("a *:* rwm"), "{list}");
        for allowed in ["c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"] {
            assert!(list.contains(allowed), "{allowed}: {list}");
        }
        assert!(
            !list
                .lines()
                .any(|l| l.starts_with("b ") && l.ends_with("rwm")),
            "{list}"
        );
    }
    let out = sh(
        &["--network", "none"],
        "mknod /tmp/zero2 c 1 5 && head -c 1 /tmp/zero2 | wc -c; mknod /tmp/kmem c 1 2; head -c 1 /tmp/kmem 2>&1; true",
    );
    assert!(out.starts_with("1\n"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let out = sh(
        &["--network", "none", "--privileged"],
        // Past the device cgroup, the kernel itself answers (no such device since 5.13).
        "mknod /tmp/kmem c 1 2; head -c 1 /tmp/kmem 2>&1 >/dev/null; true",
    );
    assert!(
        !out.contains("Operation not permitted"),
        "--privileged: {out}"
    );
}
