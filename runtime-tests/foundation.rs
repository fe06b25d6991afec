//! The defects the foundation issue fixed, each tried the way a user would hit it.

use crate::harness::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn pid_alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// `kill -9` of `hako run --user 1000` must take the container with it: the uid switch
/// clears PR_SET_PDEATHSIG, so hako sets it again after the switch.
#[test]
fn container_dies_with_hako_under_user() {
    if !require_root("pdeathsig under --user") {
        return;
    }
    let root = shared_root();
    for user in ["1000", "0"] {
        let name = format!("orphan-{user}");
        let mut child = hako_cmd(
            root,
            &[
                "run", "--name", &name, "--user", user, "busybox", "sleep", "300",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let start = Instant::now();
        let pid = loop {
            if let Some(p) = inspect_field(root, &name, "/State/Pid")
                .as_i64()
                .filter(|p| *p > 0)
            {
                break p as i32;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name} never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // `timeout` runs hako as its child: kill hako itself, not the wrapper.
        let hako_pid = shell(&format!("pgrep -P {} -x hako", child.id()))
            .trim()
            .to_string();
        shell(&format!("kill -9 {hako_pid}"));
        let _ = child.wait();
        let gone = Instant::now();
        while pid_alive(pid) && gone.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !pid_alive(pid),
            "--user {user}: container pid {pid} outlived hako"
        );
        // The next command sees the truth and cleans up.
        let ps = ok(hako(root, &["ps", "-a", "--no-trunc"]), "ps -a");
        let line = ps.lines().find(|l| l.contains(&name)).unwrap().to_string();
        assert!(!line.contains(" Up "), "{line}");
        ok(hako(root, &["rm", "-f", &name]), "rm -f");
    }
}

/// The caller's descriptors never reach the container (runc CVE-2024-21626 class), except
/// the ones `--preserve-fds` passes on purpose.
#[test]
fn host_descriptors_do_not_leak() {
    if !require_root("fd leak") {
        return;
    }
    let root = shared_root();
    let script = "ls /proc/self/fd; readlink /proc/self/fd/5 /proc/self/fd/3 || true";
    let o = hako_cmd(root, &["run", "--rm", "busybox", "sh", "-c", script])
        .arg0_fd_redirect()
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.contains("hostname"), "a host file leaked in:\n{out}");
    assert!(!out.lines().any(|l| l.trim() == "5"), "fd 5 leaked:\n{out}");
    // --preserve-fds 1 passes fd 3 (here: the host's /etc/hostname) and nothing above it.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3</etc/hostname 5</etc/hostname; timeout -k 10 60 {HAKO} --root {} run --rm --preserve-fds 1 busybox sh -c 'cat /proc/self/fd/3; ls /proc/self/fd'",
            root.display()
        ))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let host = std::fs::read_to_string("/etc/hostname").unwrap();
    assert!(out.starts_with(host.trim()), "fd 3 not passed:\n{out}");
    assert!(!out.lines().any(|l| l.trim() == "5"), "fd 5 leaked:\n{out}");
    // A count that names a closed descriptor is refused before anything runs.
    let o = hako(
        root,
        &["run", "--rm", "--preserve-fds", "40", "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("descriptor"), "{}", stderr(&o));
}

trait FdRedirect {
    fn arg0_fd_redirect(&mut self) -> &mut Self;
}

impl FdRedirect for std::process::Command {
    /// Opens the host's /etc/hostname as fd 5 of the hako process (`5</etc/hostname`).
    fn arg0_fd_redirect(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        let file = std::fs::File::open("/etc/hostname").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(file);
        // SAFETY: dup2 between fork and exec is async-signal-safe.
        unsafe {
            self.pre_exec(move || {
                if libc::dup2(fd, 5) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
}

/// A refused command writes nothing: not the -v source directory, not a container.
#[test]
fn refused_commands_write_nothing() {
    if !require_root("refused commands") {
        return;
    }
    let root = fresh_root("busybox");
    let src = tempfile::tempdir().unwrap();
    let wanted = src.path().join("made-by-v");
    let vol = format!("{}:/data", wanted.display());
    for (args, why) in [
        (
            vec!["run", "-v", &vol, "--memory", "1k", "busybox", "true"],
            "minimum memory",
        ),
        (
            vec!["run", "-v", &vol, "--ulimit", "bogus=1", "busybox", "true"],
            "unknown limit",
        ),
        (
            vec!["run", "-v", &vol, "--network", "nowhere", "busybox", "true"],
            "network nowhere not found",
        ),
        (
            vec!["run", "-v", &vol, "no-such-image:1", "true"],
            "Unable to find image",
        ),
        (
            vec!["run", "-v", &vol, "-w", "rel", "busybox", "true"],
            "must be an absolute path",
        ),
    ] {
        let o = hako(root.path(), &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
        assert!(!wanted.exists(), "{args:?} created {}", wanted.display());
    }
    let ps = ok(hako(root.path(), &["ps", "-aq"]), "ps");
    assert_eq!(ps.trim(), "", "a refused run left a container");
    // Accepted, the same -v creates the missing directory, as Docker does.
    ok(
        hako(root.path(), &["run", "--rm", "-v", &vol, "busybox", "true"]),
        "run -v",
    );
    assert!(wanted.is_dir());
}

/// The container directory is an OCI bundle: its config.json is what runs.
#[test]
fn the_bundle_is_the_contract() {
    if !require_root("bundle") {
        return;
    }
    let root = fresh_root("busybox");
    ok(
        hako(
            root.path(),
            &[
                "run",
                "--name",
                "b",
                "--memory",
                "64m",
                "--pids-limit",
                "33",
                "-e",
                "K=V",
                "busybox",
                "true",
            ],
        ),
        "run",
    );
    let id = inspect_field(root.path(), "b", "/Id");
    let bundle = root.path().join("containers").join(id.as_str().unwrap());
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "merged");
    assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 33);
    assert!(spec["process"]["env"]
        .as_array()
        .unwrap()
        .contains(&"K=V".into()));
    // runc reads the same bundle (its rootfs is the overlay hako mounts while running,
    // so here an independent runtime only checks the spec): `runc spec`'s own schema.
    if have("runc") {
        let tmp = tempfile::tempdir().unwrap();
        let o = std::process::Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success());
    }
}
