//! `kill -9` at random moments of `pull`, `load`, `commit` and `rm`, many times over: after
//! each, `hako system check` finds the store consistent, or `--repair` makes it so, and
//! the interrupted command, run again, succeeds.

use crate::harness::*;
use crate::registry::{Auth, Registry};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small deterministic generator: the seed is printed, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Starts `hako --root ROOT args…`, kills it with SIGKILL after `after`, reaps it.
fn kill_midway(root: &Path, args: &[&str], after: Duration) {
    let mut child = Command::new(HAKO)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// The store must check clean, or be repaired to clean; returns what the check said.
fn consistent_after_repair(root: &Path, context: &str) -> String {
    let o = hako(root, &["system", "check"]);
    let said = stdout(&o);
    if o.status.success() {
        return said;
    }
    ok(
        hako(root, &["system", "check", "--repair"]),
        &format!("{context}: repair"),
    );
    let again = hako(root, &["system", "check"]);
    assert!(
        again.status.success(),
        "{context}: still damaged after --repair: {}",
        stdout(&again)
    );
    said
}

#[test]
fn kill_9_at_random_points_never_leaves_a_store_the_next_command_cannot_use() {
    if !require_root("kill_9_at_random_points_never_leaves_a_store_the_next_command_cannot_use") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash-safety seed {seed}");
    let mut rng = Lcg(seed);
    let root = fresh_root("base");
    let r = root.path();
    // An image worth interrupting: three layers, ~24 MB, pushed and saved.
    let name = format!("{}/crash/img:1", reg.addr);
    run_named(r, "src", "base", "head -c 12000000 /dev/urandom > /a");
    ok(hako(r, &["commit", "src", "mid"]), "commit mid");
    run_named(r, "src2", "mid", "head -c 12000000 /dev/urandom > /b");
    ok(hako(r, &["commit", "src2", &name]), "commit img");
    ok(hako(r, &["push", "-q", &name]), "push");
    let archive = r.join("img.tar");
    ok(
        hako(r, &["save", "-o", archive.to_str().unwrap(), &name]),
        "save",
    );
    ok(hako(r, &["rm", "-f", "src", "src2"]), "rm sources");
    ok(hako(r, &["rmi", &name, "mid"]), "rmi");
    let mut damaged = 0;
    for round in 0..16 {
        let after = Duration::from_millis(rng.below(250));
        let context = format!("round {round} (seed {seed}, kill after {after:?})");
        match round % 4 {
            0 | 1 => {
                let verb = if round % 4 == 0 { "pull" } else { "load" };
                let args: Vec<&str> = if verb == "pull" {
                    vec!["pull", "-q", &name]
                } else {
                    vec!["load", "-q", "-i", archive.to_str().unwrap()]
                };
                kill_midway(r, &args, after);
                let said = consistent_after_repair(r, &format!("{verb} {context}"));
                damaged += usize::from(said.contains("Problems"));
                ok(hako(r, &args), &format!("{verb} again, {context}"));
                ok(
                    hako(
                        r,
                        &[
                            "run",
                            "--rm",
                            "--network",
                            "none",
                            &name,
                            "test",
                            "-s",
                            "/b",
                        ],
                    ),
                    &context,
                );
                ok(hako(r, &["rmi", &name]), "rmi");
                ok(hako(r, &["image", "prune", "-f"]), "prune");
            }
            2 => {
                let c = format!("c{round}");
                run_named(r, &c, "base", "head -c 20000000 /dev/urandom > /data");
                kill_midway(r, &["commit", &c, "committed:x"], after);
                consistent_after_repair(r, &format!("commit {context}"));
                ok(
                    hako(r, &["commit", &c, "committed:x"]),
                    &format!("commit again, {context}"),
                );
                ok(
                    hako(
                        r,
                        &[
                            "run",
                            "--rm",
                            "--network",
                            "none",
                            "committed:x",
                            "test",
                            "-s",
                            "/data",
                        ],
                    ),
                    &context,
                );
                ok(hako(r, &["rm", "-f", &c]), "rm");
                ok(hako(r, &["rmi", "committed:x"]), "rmi");
            }
            _ => {
                let c = format!("c{round}");
                run_named(r, &c, "base", "head -c 20000000 /dev/urandom > /data");
                kill_midway(r, &["rm", "-f", &c], after / 4);
                consistent_after_repair(r, &format!("rm {context}"));
                let again = hako(r, &["rm", "-f", &c]);
                // Either it was already gone, or this removes it.
                assert!(
                    again.status.success() || stderr(&again).contains("No such container"),
                    "rm again, {context}: {}",
                    stderr(&again)
                );
                let listed = ok(
                    hako(r, &["ps", "-aq", "--filter", &format!("name={c}")]),
                    "ps",
                );
                assert_eq!(listed.trim(), "", "{context}");
            }
        }
    }
    // The base image is untouched by all of it.
    ok(
        hako(r, &["run", "--rm", "--network", "none", "base", "true"]),
        "base still runs",
    );
    eprintln!("crash-safety: {damaged} interrupted pulls/loads needed a repair");
}
