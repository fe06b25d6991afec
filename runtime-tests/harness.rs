//! Drives the real `hako` binary as a black box, as root, against real kernel features.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const HAKO: &str = env!("CARGO_BIN_EXE_hako");

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runtime tests need root; without it they say so and pass as skipped, except under
/// `HAKO_REQUIRE_ROOT=1` (CI), where a skipped test is a failed one.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    skip(test, "requires root (real namespaces, mounts and cgroups)");
    false
}

/// Says why a test does not run; fails it instead when `HAKO_REQUIRE_ROOT=1`, so CI never
/// counts a test that did nothing as passed.
pub fn skip(test: &str, why: &str) {
    if std::env::var("HAKO_REQUIRE_ROOT").is_ok_and(|v| v == "1") {
        panic!(
            "{test} would be skipped ({why}), but HAKO_REQUIRE_ROOT=1 makes every skip a failure"
        );
    }
    eprintln!("SKIP {test}: {why}");
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One data root for the whole run, with the busybox image imported once; the tests
/// share it on purpose: parallel hako processes on one store is the normal case.
pub fn shared_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("hako-rt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let tar = root.join("busybox.tar");
        let ok = Command::new(project_dir().join("rootfs-fixtures/busybox.sh"))
            .arg(&tar)
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "building the busybox fixture failed (apt-get install busybox-static)"
        );
        let out = hako(&root, &["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(
            out.status.success(),
            "import busybox: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        root
    })
}

/// `timeout -k 10 120 hako --root ROOT args…`: a hung container fails its test instead of
/// CI. The KILL matters: hako forwards TERM to PID 1, which may ignore it.
pub fn hako(root: &Path, args: &[&str]) -> Output {
    hako_cmd(root, args).output().expect("run hako")
}

pub fn hako_cmd(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "10", "120"])
        .arg(HAKO)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null());
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that a hako command succeeded; returns its stdout.
pub fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs `hako run --rm busybox sh -c SCRIPT` with extra flags; asserts success.
pub fn sh(flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    ok(hako(shared_root(), &args), &format!("hako {args:?}"))
}

/// `hako run --name NAME IMAGE sh -c SCRIPT` (kept for commit/export); asserts success.
pub fn run_named(root: &Path, name: &str, image: &str, script: &str) -> String {
    ok(
        hako(root, &["run", "--name", name, image, "sh", "-c", script]),
        &format!("run {name}"),
    )
}

/// A host shell command; asserts success.
pub fn shell(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    stdout(&o)
}

/// A data root of the test's own, with busybox imported as `name` (for exact counts).
pub fn fresh_root(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tar = shared_root().join("busybox.tar");
    ok(
        hako(dir.path(), &["import", tar.to_str().unwrap(), name]),
        "import busybox",
    );
    dir
}

pub fn inspect_field(root: &Path, name: &str, pointer: &str) -> serde_json::Value {
    let o = hako(root, &["inspect", name]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("inspect {name}: {e}: {}", stderr(&o)));
    v[0].pointer(pointer)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// The Debian bookworm minbase tarball (debootstrap), built once and cached outside the
/// checkout: `$DEBIAN_FIXTURE`, or /var/cache/hako-fixtures/debian-bookworm.tar.gz.
pub fn debian_fixture() -> PathBuf {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let path = std::env::var_os("DEBIAN_FIXTURE").map_or_else(
                || PathBuf::from("/var/cache/hako-fixtures/debian-bookworm.tar.gz"),
                PathBuf::from,
            );
            let o = Command::new(project_dir().join("rootfs-fixtures/debian.sh"))
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "building the Debian fixture failed (make fixture-debian): {}",
                String::from_utf8_lossy(&o.stderr)
            );
            path
        })
        .clone()
}

/// `hako run --rm -it IMAGE ARGS` under `script` (a real pty), with `typed` entered after a
/// second as if from a keyboard; returns what the terminal showed, then `rc=N`.
pub fn type_into_pty(root: &Path, image: &str, args: &str, typed: &str) -> String {
    let cmd = format!(
        "{HAKO} --root {} run --rm -it {image} {args}",
        root.display()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 1; printf '{typed}\\r'; sleep 2) | timeout -k 5 60 script -qec \"{cmd}\" /dev/null; echo rc=$?"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `f` until it holds; fails the test with `what` after 15 s.
pub fn until(what: &str, mut f: impl FnMut() -> bool) {
    let began = std::time::Instant::now();
    while !f() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A daemon a test started (containerd, dockerd): stopped with SIGTERM, then waited
/// for, however the test ends, so a failed assertion leaves no daemon behind.
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let began = std::time::Instant::now();
        while began.elapsed() < std::time::Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host's block devices, by name, with their `major:minor` (throttles need a
/// real device).
pub fn block_devices() -> Vec<(String, u32, u32)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
            let (major, minor) = dev.trim().split_once(':')?;
            Some((n, major.parse().ok()?, minor.parse().ok()?))
        })
        .collect()
}

/// A TCP port no one listens on now (on every address): tests never publish fixed host
/// ports, so two test runs on one machine do not collide.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A /24 under 10.213.0.0/16 that no interface of this host uses now: `(subnet,
/// first three octets)`, e.g. `("10.213.57.0/24", "10.213.57")`. The start depends on
/// the process, so parallel runs rarely even try the same one.
pub fn free_subnet() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let taken = shell("ip -o -4 addr show");
    for _ in 0..250 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let third = (std::process::id() as usize * 7 + n * 13) % 250;
        let net = format!("10.213.{third}");
        if !taken.contains(&format!(" {net}.")) {
            return (format!("{net}.0/24"), net);
        }
    }
    panic!("no free 10.213.x.0/24 subnet on this host");
}
