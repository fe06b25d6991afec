use crate::harness::*;

/// The trace of a run lists the kernel steps in the order they happen.
#[test]
fn trace_lists_steps_in_order() {
    if !require_root("trace") {
        return;
    }
    let o = hako(
        shared_root(),
        &[
            "--trace", "run", "--rm", "--memory", "64m", "busybox", "true",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // v2: born in its cgroup by clone3; v1: clone, then moved in.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (clone, join) = if v2 {
        ("clone3(CLONE_NEWPID", "|CLONE_INTO_CGROUP)")
    } else {
        ("clone(CLONE_NEWPID", "write cgroup.procs")
    };
    let order = [
        "cgroup",
        "write limits(",
        clone,
        join,
        "unshare(CLONE_NEWCGROUP",
        "ioctl(SIOCSIFFLAGS",
        "\"overlay\"",
        "\"proc\"",
        "mknod(",
        "pivot_root(",
        "sethostname(",
        "close_range(3",
        "setresuid(",
        "prctl(PR_SET_PDEATHSIG",
        "capabilities(CapEff=00000000a80425fb",
        "execve(",
    ];
    // The clone line names only the flags passed to clone: the cgroup namespace comes
    // later, by unshare, once the child is in its cgroup.
    let clone_line = err.lines().find(|l| l.contains(clone)).unwrap();
    assert!(!clone_line.contains("CLONE_NEWCGROUP"), "{clone_line}");
    let mut at = 0;
    for step in order {
        let found = err[at..]
            .find(step)
            .unwrap_or_else(|| panic!("trace is missing {step:?} after position {at}:\n{err}"));
        at += found;
    }
}

#[test]
fn trace_json_parses() {
    if !require_root("trace json") {
        return;
    }
    let o = hako(
        shared_root(),
        &["--trace=json", "run", "--rm", "busybox", "true"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines.len() > 20);
    assert!(lines
        .iter()
        .any(|l| l["call"] == "pivot_root" && l["phase"] == "pivot"));
    assert!(lines
        .iter()
        .all(|l| l["took_ms"].is_number() && l["at_ms"].is_number()));
}
