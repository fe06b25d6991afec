use crate::harness::*;
use std::time::{Duration, Instant};

#[test]
fn exit_codes_like_docker_run() {
    if !require_root("exit codes") {
        return;
    }
    let root = shared_root();
    let code = |args: &[&str]| hako(root, args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    assert_eq!(
        code(&["run", "--rm", "busybox", "no-such-command"]),
        Some(127)
    );
    assert_eq!(code(&["run", "--rm", "busybox", "/etc/passwd"]), Some(126));
    // Signal death is 128+N. PID 1 itself must die of the signal: a shell that only
    // passes on a child's 139 would pass whatever hako does with signals. Unbounded
    // recursion overflows PID 1's own stack, and the kernel's SIGSEGV for a fault reaches
    // even a namespace's init (which ignores a plain `kill -SEGV 1`).
    let segv = hako(
        root,
        &[
            "run",
            "--name",
            "segv-pid1",
            "busybox",
            "sh",
            "-c",
            "ulimit -s 256; f() { f; }; f",
        ],
    );
    assert_eq!(segv.status.code(), Some(139), "{}", stderr(&segv));
    // The record says the same, and PID 1 was the shell that crashed (no child did).
    assert_eq!(inspect_field(root, "segv-pid1", "/State/ExitCode"), 139);
    ok(hako(root, &["rm", "segv-pid1"]), "rm segv-pid1");
    // A plain kill of PID 1 from inside is ignored by the kernel (no handler): the shell
    // goes on and exits 0 on its own, as under Docker.
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "kill -SEGV 1; echo still here"
        ]),
        Some(0)
    );
}

fn wait_for_pid(root: &std::path::Path, name: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = inspect_field(root, name, "/State/Pid")
            .as_i64()
            .filter(|p| *p > 0)
        {
            return pid as i32;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name} never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signals_reach_pid1_and_kill_gives_137() {
    if !require_root("signals") {
        return;
    }
    let root = shared_root();
    // SIGTERM to hako is forwarded to PID 1, whose trap exits 42.
    let mut child = hako_cmd(
        root,
        &[
            "run",
            "--name",
            "trapper",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' TERM; touch /ready; while :; do sleep 0.1; done",
        ],
    )
    .spawn()
    .unwrap();
    wait_for_pid(root, "trapper");
    // The trap is set once /ready exists: a TERM before that would go unhandled.
    until("the trap", || {
        hako(root, &["exec", "trapper", "test", "-e", "/ready"])
            .status
            .success()
    });
    // `timeout` is the direct child; signal hako itself.
    let hako_pid =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap();
    let hako_pid: i32 = hako_pid.split_whitespace().next().unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hako_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));

    // SIGKILL from the host to the container's init: 137.
    let mut child = hako_cmd(root, &["run", "--name", "victim", "busybox", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = wait_for_pid(root, "victim");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(hako(root, &["rm", "trapper", "victim"]).status.success());
}

#[test]
fn rm_force_kills_a_running_container() {
    if !require_root("rm -f") {
        return;
    }
    let root = shared_root();
    let mut child = hako_cmd(root, &["run", "--name", "doomed", "busybox", "sleep", "60"])
        .spawn()
        .unwrap();
    wait_for_pid(root, "doomed");
    let o = hako(root, &["rm", "doomed"]);
    assert!(
        !o.status.success() && stderr(&o).contains("running"),
        "rm of a running container must need -f"
    );
    let o = hako(root, &["rm", "-f", "doomed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    child.wait().unwrap();
    assert!(!stdout(&hako(root, &["ps", "-a"])).contains("doomed"));
}

#[test]
fn tty_through_a_real_pty() {
    if !require_root("tty") || !have("script") {
        return;
    }
    let root = shared_root();
    let cmd = format!("{HAKO} --root {} run --rm -it busybox sh -c 'tty; test -t 0 && echo stdin-is-tty; stty size'", root.display());
    let o = std::process::Command::new("timeout")
        .args(["-k", "10", "60", "script", "-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("/dev/pts/0"),
        "the pty must come from the container's own devpts: {out:?}"
    );
    assert!(out.contains("stdin-is-tty"), "{out:?}");
    // Typed input reaches the shell through the pty, and its exit code comes back.
    let out = type_into_pty(root, "busybox", "sh", "echo typed-$((6*7)); exit 5");
    assert!(out.contains("typed-42"), "{out:?}");
    assert!(out.contains("rc=5"), "{out:?}");
}

/// A terminal's size reaches the container's pty before its program starts, and a resize
/// reaches it while it runs (SIGWINCH to hako, TIOCSWINSZ on the pty, SIGWINCH inside).
#[test]
fn tty_window_size_and_resizes() {
    if !require_root("tty resize") {
        return;
    }
    let o = std::process::Command::new("timeout")
        .args(["-k", "10", "60", "/usr/bin/python3"])
        .arg(project_dir().join("runtime-tests/resize_pty.py"))
        .arg(HAKO)
        .arg(shared_root())
        .output()
        .unwrap();
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"30 100"),
        "size at start: {out:?} {}",
        stderr(&o)
    );
    assert!(lines.contains(&"50 132"), "size after the resize: {out:?}");
    assert!(
        out.contains("exit=7"),
        "the trap's exit code comes back: {out:?}"
    );
}
