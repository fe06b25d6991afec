//! Detached containers and the verbs that drive them, as a Docker user types them.

use crate::harness::*;
use std::time::Duration;

fn status(root: &std::path::Path, name: &str) -> String {
    inspect_field(root, name, "/State/Status")
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn detached_container_outlives_its_command_and_logs_both_streams() {
    if !require_root("run -d") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let id = ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "ticker",
                "busybox",
                "sh",
                "-c",
                "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done",
            ],
        ),
        "run -d",
    );
    // `run -d` printed the full ID and returned while the container runs on.
    assert_eq!(id.trim().len(), 64, "{id}");
    assert_eq!(status(r, "ticker"), "running");
    until("three lines of output", || {
        stdout(&hako(r, &["logs", "ticker"])).lines().count() >= 3
    });
    let logs = hako(r, &["logs", "ticker"]);
    assert!(
        stdout(&logs).lines().all(|l| l.starts_with("out ")),
        "{}",
        stdout(&logs)
    );
    assert!(
        stderr(&logs).lines().all(|l| l.starts_with("err ")),
        "{}",
        stderr(&logs)
    );
    assert!(stdout(&logs).starts_with("out 0\nout 1\n"));
    let o = hako(r, &["logs", "--tail", "1", "-t", "ticker"]);
    let tail = format!("{}{}", stdout(&o), stderr(&o));
    let line = tail.lines().next().unwrap();
    // RFC 3339 with nanoseconds, then the line, as docker logs -t prints.
    assert!(
        line.len() > 31 && line.as_bytes()[4] == b'-' && line.contains("Z "),
        "{line}"
    );
    assert_eq!(tail.lines().count(), 1);
    assert!(
        stdout(&hako(r, &["logs", "--since", "1h", "ticker"]))
            .lines()
            .count()
            >= 3
    );
    // A --since after every line shows none of them.
    assert_eq!(
        stdout(&hako(
            r,
            &["logs", "--since", "2999-01-01T00:00:00Z", "ticker"]
        )),
        ""
    );
    // -f follows new lines and ends when the container stops.
    let mut follower = hako_cmd(r, &["logs", "-f", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(follower.stdout.take().unwrap());
    let mut followed = String::new();
    // Its first line says it reads; then two lines more are written while it follows.
    std::io::BufRead::read_line(&mut out, &mut followed).unwrap();
    let lines = || stdout(&hako(r, &["logs", "ticker"])).lines().count();
    let at_start = lines();
    until("two more lines", || lines() >= at_start + 2);
    ok(hako(r, &["stop", "-t", "1", "ticker"]), "stop");
    std::io::Read::read_to_string(&mut out, &mut followed).unwrap();
    assert!(follower.wait().unwrap().success());
    assert!(
        followed.lines().count() >= at_start + 2,
        "logs -f saw nothing new: {followed}"
    );
    // The shell ignores TERM as PID 1: stop waited its second, then killed it.
    assert_eq!(inspect_field(r, "ticker", "/State/ExitCode"), 137);
    assert_eq!(status(r, "ticker"), "exited");
}

#[test]
fn exec_joins_the_containers_namespaces_and_cgroup() {
    if !require_root("exec") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "box",
                "--hostname",
                "boxhost",
                "-e",
                "FROM_RUN=1",
                "busybox",
                "sh",
                "-c",
                "touch /made-by-pid1; exec sleep 600",
            ],
        ),
        "run -d",
    );
    let out = ok(
        hako(r, &["exec", "box", "sh", "-c",
                  "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /made-by-pid1; echo $FROM_RUN; cat /proc/self/cgroup | head -1"]),
        "exec",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "boxhost");
    assert_eq!(
        lines[1].trim(),
        "sleep 600",
        "PID 1 of the same PID namespace"
    );
    assert_eq!(lines[2], "/made-by-pid1", "the same mounts");
    assert_eq!(lines[3], "1", "the container's environment");
    // exec -d returns at once; its process sits in the container's cgroup (top lists
    // the cgroup's processes, as the host sees them).
    assert_eq!(
        ok(hako(r, &["exec", "-d", "box", "sleep", "31"]), "exec -d"),
        ""
    );
    let top = ok(hako(r, &["top", "box"]), "top");
    assert!(
        top.contains("sleep 600") && top.contains("sleep 31"),
        "{top}"
    );
    // Exit codes come back; -u and -w apply.
    assert_eq!(
        hako(r, &["exec", "box", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(
        hako(r, &["exec", "box", "no-such-tool"]).status.code(),
        Some(127)
    );
    let who = ok(
        hako(
            r,
            &[
                "exec",
                "-u",
                "1000:1000",
                "-w",
                "/tmp",
                "box",
                "sh",
                "-c",
                "id -u; pwd",
            ],
        ),
        "exec -u -w",
    );
    assert_eq!(who, "1000\n/tmp\n");
    // Default capabilities, not the host's full set; --privileged gives all.
    let caps = ok(
        hako(r, &["exec", "box", "grep", "CapEff", "/proc/self/status"]),
        "caps",
    );
    assert!(caps.contains("00000000a80425fb"), "{caps}");
    ok(hako(r, &["rm", "-f", "box"]), "rm -f");
    let o = hako(r, &["exec", "box", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("No such container"), "{}", stderr(&o));
    // Into a stopped container: a clear error.
    ok(
        hako(r, &["create", "--name", "idle", "busybox", "true"]),
        "create",
    );
    let o = hako(r, &["exec", "idle", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
}

#[test]
fn exec_it_through_a_real_pty() {
    if !require_root("exec -it") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &["run", "-d", "--name", "tty", "busybox", "sleep", "600"],
        ),
        "run -d",
    );
    let cmd = format!("{HAKO} --root {} exec -it tty sh", r.display());
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 1; printf 'tty; echo rows=$(stty size)\\r'; sleep 1; printf 'exit 5\\r'; sleep 1) | timeout -k 5 30 script -qec \"{cmd}\" /dev/null; echo rc=$?"
        ))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("rows="), "{out}");
    assert!(out.contains("rc=5"), "{out}");
    ok(hako(r, &["rm", "-f", "tty"]), "rm -f");
}

#[test]
fn stop_signals_and_start_on_the_same_changes() {
    if !require_root("stop/start") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    // The stop signal reaches a PID 1 that handles it.
    // (The trap must be set before the signal comes: the test waits for "ready".)
    let ready = |name: &str| {
        until("the trap", || {
            stdout(&hako(r, &["logs", name])).contains("ready")
        })
    };
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "polite",
                "busybox",
                "sh",
                "-c",
                "trap 'exit 3' TERM; echo ready; while true; do sleep 0.1; done",
            ],
        ),
        "run -d",
    );
    ready("polite");
    ok(hako(r, &["stop", "polite"]), "stop");
    assert_eq!(inspect_field(r, "polite", "/State/ExitCode"), 3);
    // --stop-signal is used instead of TERM.
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "usr1",
                "--stop-signal",
                "USR1",
                "busybox",
                "sh",
                "-c",
                "trap 'exit 4' USR1; echo ready; while true; do sleep 0.1; done",
            ],
        ),
        "run -d",
    );
    ready("usr1");
    ok(hako(r, &["stop", "usr1"]), "stop");
    assert_eq!(inspect_field(r, "usr1", "/State/ExitCode"), 4);
    // start runs it again on the same upper layer.
    ok(
        hako(
            r,
            &[
                "run",
                "--name",
                "again",
                "busybox",
                "sh",
                "-c",
                "echo run >> /count; wc -l < /count",
            ],
        ),
        "run",
    );
    ok(hako(r, &["start", "again"]), "start");
    ok(hako(r, &["wait", "again"]), "wait");
    let logs = stdout(&hako(r, &["logs", "again"]));
    assert_eq!(
        logs.trim(),
        "2",
        "the second run saw the first one's file: {logs}"
    );
    let attached = ok(hako(r, &["start", "-a", "again"]), "start -a");
    assert_eq!(attached.trim(), "3");
    // wait prints the exit code; kill -s sends the signal.
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "waited",
                "busybox",
                "sh",
                "-c",
                "trap 'exit 9' HUP; echo ready; while true; do sleep 0.1; done",
            ],
        ),
        "run -d",
    );
    ready("waited");
    ok(hako(r, &["kill", "-s", "HUP", "waited"]), "kill -s HUP");
    assert_eq!(ok(hako(r, &["wait", "waited"]), "wait").trim(), "9");
    ok(hako(r, &["rename", "waited", "renamed"]), "rename");
    assert_eq!(inspect_field(r, "renamed", "/Name"), "/renamed");
    let o = hako(r, &["kill", "renamed"]);
    assert!(
        !o.status.success() && stderr(&o).contains("is not running"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn restart_policies() {
    if !require_root("restart policies") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "flaky",
                "--restart",
                "on-failure:2",
                "busybox",
                "sh",
                "-c",
                "exit 1",
            ],
        ),
        "run -d",
    );
    until("two restarts and the end", || {
        status(r, "flaky") == "exited" && inspect_field(r, "flaky", "/RestartCount") == 2
    });
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "loop",
                "--restart",
                "always",
                "busybox",
                "sh",
                "-c",
                "echo up; sleep 0.2",
            ],
        ),
        "run -d",
    );
    until("a restart of an always container", || {
        inspect_field(r, "loop", "/RestartCount")
            .as_u64()
            .unwrap_or(0)
            >= 2
    });
    let id = inspect_field(r, "loop", "/Id")
        .as_str()
        .unwrap()
        .to_string();
    ok(hako(r, &["stop", "-t", "1", "loop"]), "stop");
    // The keeper decides on a restart after the stop; once it has exited, none can come.
    until("the keeper to exit", || !keeper_running(&id));
    assert_eq!(
        status(r, "loop"),
        "exited",
        "a stopped container is not restarted"
    );
    let o = hako(
        r,
        &["run", "--rm", "--restart", "always", "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("conflicting options"));
}

#[test]
fn pause_freezes_every_process() {
    if !require_root("pause") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "counter",
                "busybox",
                "sh",
                "-c",
                "i=0; while true; do i=$((i+1)); echo $i > /n; sleep 0.05; done",
            ],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "counter", "/State/Pid").as_i64().unwrap();
    let n = || {
        std::fs::read_to_string(format!("/proc/{pid}/root/n"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    until("the counter to move", || n() > 2);
    ok(hako(r, &["pause", "counter"]), "pause");
    assert_eq!(status(r, "counter"), "paused");
    assert_eq!(inspect_field(r, "counter", "/State/Paused"), true);
    assert!(ok(hako(r, &["ps"]), "ps").contains("(Paused)"));
    let frozen = n();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(n(), frozen, "the counter moved while paused");
    let o = hako(r, &["exec", "counter", "true"]);
    assert!(stderr(&o).contains("paused"), "{}", stderr(&o));
    ok(hako(r, &["unpause", "counter"]), "unpause");
    until("the counter to move again", || n() > frozen + 2);
    ok(hako(r, &["stop", "-t", "0", "counter"]), "stop");
}

/// `kill -9` of the keeper, of the container, or of a hako command: the next command
/// shows the truth and `rm -f` removes everything.
#[test]
fn crashes_leave_the_truth_behind() {
    if !require_root("crash cases") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    // The container's PID 1 killed from the host: the keeper records 137.
    ok(
        hako(
            r,
            &["run", "-d", "--name", "victim", "busybox", "sleep", "600"],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "victim", "/State/Pid").as_i64().unwrap();
    shell(&format!("kill -9 {pid}"));
    until("the keeper to record the kill", || {
        status(r, "victim") == "exited"
    });
    assert_eq!(inspect_field(r, "victim", "/State/ExitCode"), 137);
    // The keeper killed: the container goes with it, and nothing shows as running.
    ok(
        hako(
            r,
            &["run", "-d", "--name", "orphan", "busybox", "sleep", "600"],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "orphan", "/State/Pid").as_i64().unwrap();
    let keeper = shell(&format!("awk '{{print $4}}' /proc/{pid}/stat"))
        .trim()
        .to_string();
    assert!(shell(&format!("cat /proc/{keeper}/comm")).contains("hako-keeper"));
    shell(&format!("kill -9 {keeper}"));
    until("the container to die with its keeper", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || shell(&format!("cat /proc/{pid}/stat")).contains(") Z ")
    });
    assert!(!ok(hako(r, &["ps"]), "ps").contains("orphan"));
    ok(hako(r, &["rm", "-f", "orphan", "victim"]), "rm -f");
    assert_eq!(ok(hako(r, &["ps", "-aq"]), "ps -aq").trim(), "");
    assert!(mounts_mentioning(r.to_str().unwrap()).is_empty());
    // No keeper stays resident once its container has stopped.
    let keepers = std::process::Command::new("pgrep")
        .args(["-f", &format!("{} __supervise", r.display())])
        .output()
        .unwrap();
    assert_eq!(stdout(&keepers), "");
}

#[test]
fn cp_diff_and_history() {
    if !require_root("cp/diff/history") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &["run", "-d", "--name", "files", "busybox", "sleep", "600"],
        ),
        "run -d",
    );
    ok(
        hako(
            r,
            &[
                "exec",
                "files",
                "sh",
                "-c",
                "mkdir -p /opt/a && echo hi > /opt/a/f && rm /bin/vi && ln -s /etc/shadow /opt/esc",
            ],
        ),
        "exec",
    );
    let diff = ok(hako(r, &["diff", "files"]), "diff");
    for line in [
        "C /bin",
        "D /bin/vi",
        "A /opt",
        "A /opt/a",
        "A /opt/a/f",
        "A /opt/esc",
    ] {
        assert!(
            diff.lines().any(|l| l == line),
            "missing {line:?} in\n{diff}"
        );
    }
    assert!(!diff.contains("/etc/hosts"), "{diff}");
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    // Out of a running container, a directory keeps its name inside an existing one.
    ok(
        hako(r, &["cp", "files:/opt/a", h.to_str().unwrap()]),
        "cp out",
    );
    assert_eq!(std::fs::read_to_string(h.join("a/f")).unwrap(), "hi\n");
    // A symlink in the container never leads to the host's file.
    let o = hako(
        r,
        &["cp", "files:/opt/esc/", h.join("esc").to_str().unwrap()],
    );
    assert!(
        !o.status.success() && !h.join("esc").exists(),
        "{}",
        stderr(&o)
    );
    // Into the container.
    std::fs::write(h.join("in"), "data").unwrap();
    ok(
        hako(r, &["cp", h.join("in").to_str().unwrap(), "files:/opt/"]),
        "cp in",
    );
    assert_eq!(
        ok(hako(r, &["exec", "files", "cat", "/opt/in"]), "cat"),
        "data"
    );
    // Out of a stopped container too (its overlay is mounted privately for the copy).
    ok(hako(r, &["stop", "-t", "0", "files"]), "stop");
    ok(
        hako(
            r,
            &["cp", "files:/opt/in", h.join("again").to_str().unwrap()],
        ),
        "cp stopped",
    );
    assert_eq!(std::fs::read_to_string(h.join("again")).unwrap(), "data");
    assert!(mounts_mentioning(r.to_str().unwrap()).is_empty());
    // history: one row per history entry, newest first, with the image's ID on top.
    ok(
        hako(r, &["commit", "-m", "second", "files", "files:v2"]),
        "commit",
    );
    let hist = ok(hako(r, &["history", "files:v2"]), "history");
    let rows: Vec<&str> = hist.lines().collect();
    assert!(rows[0].starts_with("IMAGE"), "{hist}");
    assert_eq!(rows.len(), 3, "{hist}");
    assert!(
        rows[1].contains("second") && !rows[1].starts_with("<missing>"),
        "{hist}"
    );
    assert!(
        rows[2].starts_with("<missing>") && rows[2].contains("hako import"),
        "{hist}"
    );
}

/// `attach` to a detached container: its output and input, its exit code, and the
/// detach keys that leave it running.
#[test]
fn attach_relays_and_detaches() {
    if !require_root("attach") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &[
                "run",
                "-di",
                "--name",
                "reader",
                "busybox",
                "sh",
                "-c",
                "read l; echo \"got $l\"; echo \"err $l\" >&2; exit 3",
            ],
        ),
        "run -di",
    );
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 0.5; echo hello; sleep 3) | timeout -k 5 20 {HAKO} --root {} attach reader",
            r.display()
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "got hello\n");
    assert_eq!(stderr(&o), "err hello\n");
    // A shell on a pty: type into it, then Ctrl-P Ctrl-Q leaves it running.
    ok(
        hako(r, &["run", "-dit", "--name", "shell", "busybox", "sh"]),
        "run -dit",
    );
    let cmd = format!("{HAKO} --root {} attach shell", r.display());
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 1; printf 'echo fromtty-$((40+2))\\r'; sleep 0.5; printf '\\020\\021'; sleep 1) | timeout -k 5 20 script -qec \"{cmd}\" /dev/null; echo rc=$?"
        ))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("fromtty-42") && out.contains("rc=0"), "{out}");
    assert_eq!(inspect_field(r, "shell", "/State/Status"), "running");
    let o = hako(r, &["attach", "reader"]);
    assert!(
        stderr(&o).contains("cannot attach to a stopped container"),
        "{}",
        stderr(&o)
    );
    ok(hako(r, &["rm", "-f", "shell", "reader"]), "rm");
}

/// Whether a keeper (`hako __supervise ID`) of container `id` is running.
fn keeper_running(id: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.contains(&&b"__supervise"[..]) && args.contains(&id.as_bytes())
        })
    })
}
