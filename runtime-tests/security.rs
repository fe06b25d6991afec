//! Issue #23's attacks, each as it was carried out: a local user walking the store, a
//! container crafting packets for the host's loopback or another network, hostile
//! archives and a hostile registry, decompression bombs on a small filesystem of the
//! test's own, `kill -9` of the processes that keep containers, and nonsense flags.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `script` as `nobody` (another local user, with no groups of ours).
fn as_nobody(script: &str) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .current_dir("/")
        .output()
        .unwrap()
}

/// Every path under `root` (walked as root), and which of them `nobody` can read,
/// enter or run.
fn reachable_by_nobody(root: &Path) -> (usize, Vec<String>) {
    let list = tempfile::NamedTempFile::new().unwrap();
    let paths = shell(&format!("find {} -xdev", root.display()));
    std::fs::write(list.path(), &paths).unwrap();
    std::fs::set_permissions(
        list.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let o = as_nobody(&format!(
        "while IFS= read -r p; do if [ -r \"$p\" ] || [ -x \"$p\" ]; then echo \"$p\"; fi; done < {}",
        list.path().display()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let found = stdout(&o).lines().map(String::from).collect();
    (paths.lines().count(), found)
}

#[test]
fn another_local_user_finds_nothing_readable_or_runnable_in_the_store() {
    if !require_root("another_local_user_finds_nothing_readable_or_runnable_in_the_store") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    // A container leaves a setuid-root shell in its upper layer, and carries a secret.
    run_named(
        r,
        "planted",
        "busybox",
        "cp /bin/busybox /suid-sh && chmod 4755 /suid-sh && echo secret-in-log",
    );
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "live",
                "-e",
                "API_TOKEN=hunter2-secret",
                "busybox",
                "sleep",
                "300",
            ],
        ),
        "run -d",
    );
    let id = inspect_field(r, "planted", "/Id")
        .as_str()
        .unwrap()
        .to_string();
    let suid = r.join("containers").join(&id).join("upper/suid-sh");
    assert!(
        suid.exists(),
        "the planted file is where the audit found it"
    );
    let (walked, reachable) = reachable_by_nobody(r);
    assert!(walked > 50, "the walk saw the store ({walked} paths)");
    assert!(reachable.is_empty(), "nobody reaches: {reachable:?}");
    let o = as_nobody(&format!("{} -c id", suid.display()));
    assert!(
        !o.status.success(),
        "nobody ran the setuid file: {}",
        stdout(&o)
    );
    // Secrets and logs are the owner's even where a parent directory were open.
    let live = inspect_field(r, "live", "/Id")
        .as_str()
        .unwrap()
        .to_string();
    for f in ["config.json", "container.json", "container.log"] {
        let p = r.join("containers").join(&live).join(f);
        let mode = std::fs::metadata(&p).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{f}"
        );
    }
    // An existing store with open modes (as older hako made them): check names each,
    // --repair closes them, and the walk finds nothing again.
    let cfg = r.join("containers").join(&live).join("config.json");
    shell(&format!(
        "chmod 755 {r} {r}/containers {r}/containers/{live} {r}/layers && chmod 644 {cfg}",
        r = r.display(),
        cfg = cfg.display()
    ));
    let (_, open) = reachable_by_nobody(r);
    assert!(open.iter().any(|p| p.ends_with("config.json")), "{open:?}");
    let check = hako(r, &["system", "check"]);
    assert!(!check.status.success());
    let said = stdout(&check);
    assert!(said.contains("lets other users in"), "{said}");
    assert!(said.contains("config.json"), "{said}");
    ok(hako(r, &["system", "check", "--repair"]), "repair");
    ok(hako(r, &["system", "check"]), "clean after repair");
    let (_, after) = reachable_by_nobody(r);
    assert!(after.is_empty(), "after repair nobody reaches: {after:?}");
    ok(hako(r, &["rm", "-f", "live", "planted"]), "rm");
}

/// The host interface that holds `ip`, and its MAC.
fn interface_with(ip: &str) -> (String, String) {
    let line = shell(&format!("ip -o -4 addr show | grep ' inet {ip}/'"));
    let name = line.split_whitespace().nth(1).unwrap().to_string();
    let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap();
    (name, mac.trim().to_string())
}

/// Starts a server that prints the port it listens on as its first line.
fn server_on_a_free_port(cmd: &mut Command) -> (Daemon, u16) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (Daemon(child), line.trim().parse().unwrap())
}

/// A TCP listener on the host that accepts and keeps connections (python3).
fn host_listener(ip: &str) -> (Daemon, u16) {
    server_on_a_free_port(Command::new("python3").args([
        "-c",
        "import socket,sys\ns=socket.socket()\ns.bind((sys.argv[1],0))\ns.listen(8)\nprint(s.getsockname()[1],flush=True)\nc=[]\nwhile True: c.append(s.accept())",
        ip,
    ]))
}

/// What a crafted SYN from the container's eth0 to `dst:port` got back.
fn probe(pid: i64, dst_mac: &str, src_ip: &str, dst: &str, port: u16) -> String {
    let script = project_dir().join("runtime-tests/localnet_probe.py");
    let o = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "python3"])
        .arg(&script)
        .args(["eth0", dst_mac, src_ip, dst, &port.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "probe: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn a_container_cannot_reach_services_on_the_hosts_loopback() {
    if !require_root("a_container_cannot_reach_services_on_the_hosts_loopback") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(
            r,
            &["run", "-d", "--name", "prober", "busybox", "sleep", "300"],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "prober", "/State/Pid").as_i64().unwrap();
    let ip = inspect_field(r, "prober", "/NetworkSettings/IPAddress");
    let gw = inspect_field(r, "prober", "/NetworkSettings/Gateway");
    let (ip, gw) = (ip.as_str().unwrap(), gw.as_str().unwrap());
    let (bridge, mac) = interface_with(gw);
    // The bridge does route 127.0.0.0/8 (published ports on 127.0.0.1 need it)...
    let localnet =
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
            .unwrap();
    let (_loopback_only, lo_port) = host_listener("127.0.0.1");
    let (_on_bridge, gw_port) = host_listener(gw);
    // The probe works: the same crafted SYN to the host's bridge address is answered.
    assert_eq!(probe(pid, &mac, ip, gw, gw_port), "SYNACK");
    // ...but a crafted packet for the host's loopback gets nothing back.
    assert_eq!(
        probe(pid, &mac, ip, "127.0.0.1", lo_port),
        "NOTHING",
        "route_localnet={}",
        localnet.trim()
    );
    ok(hako(r, &["rm", "-f", "prober"]), "rm");
}

#[test]
fn containers_on_different_networks_cannot_reach_each_other() {
    if !require_root("containers_on_different_networks_cannot_reach_each_other") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let (subnet, _) = free_subnet();
    let net = format!("iso{}", std::process::id() % 100_000);
    ok(
        hako(r, &["network", "create", "--subnet", &subnet, &net]),
        "network create",
    );
    let serve = "while true; do echo reached | nc -l -p 8080; done";
    ok(
        hako(
            r,
            &[
                "run", "-d", "--name", "server", "busybox", "sh", "-c", serve,
            ],
        ),
        "server on the default bridge",
    );
    let server_ip = inspect_field(r, "server", "/NetworkSettings/IPAddress");
    let server_ip = server_ip.as_str().unwrap().to_string();
    let fetch = |network: &str| {
        hako(
            r,
            &[
                "run",
                "--rm",
                "--network",
                network,
                "busybox",
                "nc",
                "-w",
                "3",
                &server_ip,
                "8080",
            ],
        )
    };
    until("the server to listen", || {
        stdout(&fetch("bridge")).contains("reached")
    });
    let other = fetch(&net);
    assert!(
        !other.status.success() && !stdout(&other).contains("reached"),
        "a container on {net} reached the default bridge: {}",
        stdout(&other)
    );
    ok(hako(r, &["rm", "-f", "server"]), "rm");
    ok(hako(r, &["network", "rm", &net]), "network rm");
}

#[test]
fn nonsense_flags_are_refused_up_front_and_create_nothing() {
    if !require_root("nonsense_flags_are_refused_up_front_and_create_nothing") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let long_name = "n".repeat(5000);
    let long_host = "h".repeat(65);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--memory", "99999999999999999999"], "too large"),
        (vec!["-e", "=x"], "invalid environment variable"),
        (vec!["--name", &long_name], "invalid container name"),
        (vec!["--hostname", &long_host], "at most 64"),
        (vec!["-v", "/tmp:/"], "can't be '/'"),
        (
            vec!["--mount", "type=bind,source=/tmp,target=/"],
            "can't be '/'",
        ),
    ];
    for (flags, says) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        let o = hako(r, &args);
        assert_eq!(o.status.code(), Some(125), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{flags:?}: {}", stderr(&o));
    }
    assert_eq!(ok(hako(r, &["ps", "-aq"]), "ps"), "");
    assert_eq!(std::fs::read_dir(r.join("containers")).unwrap().count(), 0);
}

/// Writes a docker-archive whose members are what `members` says (python's tarfile):
/// each `(name, kind, data)` with kind `file`, `symlink` (data = target), `fifo` or
/// `spaces` (data = how many).
fn hostile_archive(dir: &Path, members: &[(&str, &str, &str)]) -> PathBuf {
    let out = dir.join("archive.tar");
    let spec = serde_json::to_string(members).unwrap();
    let script = r#"
import io, json, sys, tarfile
members = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], "w") as t:
    for name, kind, data in members:
        info = tarfile.TarInfo(name)
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, data
            t.addfile(info)
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
            t.addfile(info)
        elif kind == "spaces":
            info.size = int(data)
            t.addfile(info, io.BytesIO(b" " * info.size))
        else:
            body = data.encode()
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .arg(spec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// `hako load` of `archive` fails within 30 s and leaves the store as it was.
fn load_is_refused(r: &Path, archive: &Path, what: &str) -> String {
    let began = Instant::now();
    let o = hako(r, &["load", "-q", "-i", archive.to_str().unwrap()]);
    assert!(!o.status.success(), "{what}: loaded");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{what}: took {:?}",
        began.elapsed()
    );
    assert_eq!(
        std::fs::read_dir(r.join("tmp")).unwrap().count(),
        0,
        "{what}: tmp"
    );
    assert_eq!(
        std::fs::read_dir(r.join("blobs/sha256")).unwrap().count(),
        0,
        "{what}: blobs"
    );
    ok(hako(r, &["system", "check"]), what);
    stderr(&o)
}

#[test]
fn load_reads_archive_members_without_following_them() {
    if !require_root("load_reads_archive_members_without_following_them") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    ok(hako(r, &["images"]), "a fresh store");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let manifest = r#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["layer.tar"]}]"#;
    let config = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
    let shadow_head = std::fs::read_to_string("/etc/shadow")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("root:")
        .to_string();
    let said = load_is_refused(
        r,
        &hostile_archive(w, &[("manifest.json", "symlink", "/etc/shadow")]),
        "manifest linked to /etc/shadow",
    );
    assert!(
        !said.contains(&shadow_head) && !said.contains("root:"),
        "{said}"
    );
    load_is_refused(
        r,
        &hostile_archive(
            w,
            &[
                ("manifest.json", "file", manifest),
                ("config.json", "symlink", "/dev/zero"),
            ],
        ),
        "config linked to /dev/zero",
    );
    load_is_refused(
        r,
        &hostile_archive(
            w,
            &[
                ("manifest.json", "file", manifest),
                ("config.json", "file", config),
                ("layer.tar", "symlink", "/dev/zero"),
            ],
        ),
        "layer linked to /dev/zero",
    );
    let said = load_is_refused(
        r,
        &hostile_archive(w, &[("manifest.json", "fifo", "")]),
        "manifest as a FIFO",
    );
    assert!(said.contains("FIFO") || said.contains("neither"), "{said}");
    let said = load_is_refused(
        r,
        &hostile_archive(
            w,
            &[
                ("manifest.json", "file", manifest),
                ("config.json", "spaces", &(9 << 20).to_string()),
            ],
        ),
        "a 9 MiB config",
    );
    assert!(said.contains("more than"), "{said}");
}

/// A tmpfs of `mb` MiB of the test's own (never the machine's disk), unmounted on drop.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn new(mb: u32) -> SmallFs {
        let dir = tempfile::tempdir().unwrap();
        shell(&format!(
            "mount -t tmpfs -o size={mb}m hako-test-small {}",
            dir.path().display()
        ));
        SmallFs(dir)
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn used_mb(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(self.path()).unwrap();
        ((st.blocks() - st.blocks_free()) * st.fragment_size()) >> 20
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A gzip bomb (one file of `mb` MiB of zeros: a few hundred KB) and a 2 KB-ish tar
/// declaring an 8 GiB sparse file (GNU tar --sparse), both on the machine's disk.
fn bombs(dir: &Path, mb: u64) -> (PathBuf, PathBuf) {
    let gz = dir.join("bomb.tar.gz");
    let script = r#"
import gzip, sys, tarfile
class Zeros:
    def __init__(self, n): self.left = n
    def read(self, k=-1):
        k = self.left if k < 0 else min(k, self.left)
        self.left -= k
        return b"\0" * k
n = int(sys.argv[2]) << 20
with gzip.open(sys.argv[1], "wb", compresslevel=9) as g, tarfile.open(fileobj=g, mode="w") as t:
    info = tarfile.TarInfo("zeros")
    info.size = n
    t.addfile(info, Zeros(n))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&gz)
        .arg(mb.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let sparse = dir.join("sparse.tar");
    shell(&format!(
        "cd {d} && truncate -s 8G hole && tar --sparse -cf sparse.tar hole && rm hole",
        d = dir.display()
    ));
    (gz, sparse)
}

#[test]
fn decompression_bombs_are_refused_before_the_disk_fills() {
    if !require_root("decompression_bombs_are_refused_before_the_disk_fills") {
        return;
    }
    let fs = SmallFs::new(384);
    let r = fs.path().join("root");
    ok(hako(&r, &["images"]), "a fresh store");
    let baseline = fs.used_mb();
    let work = tempfile::tempdir().unwrap();
    let (gz, sparse) = bombs(work.path(), 600);
    assert!(std::fs::metadata(&gz).unwrap().len() < 2 << 20);
    assert!(std::fs::metadata(&sparse).unwrap().len() < 64 << 10);
    for bomb in [&gz, &sparse] {
        let o = hako(&r, &["import", bomb.to_str().unwrap(), "bomb:1"]);
        assert!(!o.status.success(), "{} imported", bomb.display());
        assert!(stderr(&o).contains("expands beyond"), "{}", stderr(&o));
        assert!(fs.used_mb() <= baseline + 2, "{} MiB left", fs.used_mb());
        assert_eq!(std::fs::read_dir(r.join("tmp")).unwrap().count(), 0);
    }
    // Allowed any ratio, the free-space reserve still stops it short of a full disk.
    let o = hako_cmd(&r, &["import", sparse.to_str().unwrap(), "bomb:2"])
        .env("HAKO_MAX_LAYER_RATIO", "100000000")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("bytes free"), "{}", stderr(&o));
    // kill -9 halfway: the next command (any) removes what the unpack had written.
    let mut child = Command::new(HAKO)
        .arg("--root")
        .arg(&r)
        .args(["import", sparse.to_str().unwrap(), "bomb:3"])
        .env("HAKO_MAX_LAYER_RATIO", "100000000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until("the unpack to write 100 MiB", || {
        fs.used_mb() > baseline + 100
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        fs.used_mb() > baseline + 100,
        "the killed import left its work"
    );
    ok(hako(&r, &["images"]), "the next command");
    assert!(
        fs.used_mb() <= baseline + 2,
        "{} MiB left after the next command",
        fs.used_mb()
    );
    ok(hako(&r, &["system", "check"]), "check");
}

/// The test's own misbehaving registry (`hostile_registry.py`) on 127.0.0.1.
fn hostile_registry() -> (Daemon, u16) {
    server_on_a_free_port(
        Command::new("python3").arg(project_dir().join("runtime-tests/hostile_registry.py")),
    )
}

#[test]
fn a_hostile_registry_cannot_fill_the_disk_or_hang_a_pull() {
    if !require_root("a_hostile_registry_cannot_fill_the_disk_or_hang_a_pull") {
        return;
    }
    let (_registry, port) = hostile_registry();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // An endless body is cut at the manifest's size; the digest decides (here: good).
    let began = Instant::now();
    ok(
        hako(
            r,
            &["pull", "-q", &format!("127.0.0.1:{port}/endless/img:1")],
        ),
        "pull from an endless blob",
    );
    assert!(began.elapsed() < Duration::from_secs(30));
    let store_kb: u64 = shell(&format!("du -sk {}", r.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(store_kb < 2048, "the store holds {store_kb} KB");
    // A trickle (a byte every half second) is a stall: given up, its bytes kept.
    let began = Instant::now();
    let o = hako_cmd(
        r,
        &["pull", "-q", &format!("127.0.0.1:{port}/trickle/img:1")],
    )
    .env("HAKO_PULL_STALL_TIMEOUT", "2s")
    .output()
    .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("stalled"), "{}", stderr(&o));
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
    // The partial download is seen, reported, and removed by prune.
    let df = ok(hako(r, &["system", "df"]), "df");
    let row = df
        .lines()
        .find(|l| l.starts_with("Partial Downloads"))
        .unwrap_or("");
    assert!(row.split_whitespace().nth(2) == Some("1"), "{df}");
    let check = hako(r, &["system", "check"]);
    assert!(
        !check.status.success() && stdout(&check).contains("interrupted download"),
        "{}",
        stdout(&check)
    );
    ok(hako(r, &["system", "prune", "-f"]), "prune");
    let df = ok(hako(r, &["system", "df"]), "df");
    let row = df
        .lines()
        .find(|l| l.starts_with("Partial Downloads"))
        .unwrap_or("");
    assert!(row.split_whitespace().nth(2) == Some("0"), "{df}");
    ok(hako(r, &["system", "check"]), "clean after prune");
}

/// The cgroup directory (pids controller on v1, the unified one on v2) of process `pid`.
fn cgroup_dir_of(pid: i64) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = text
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()));
    match v1 {
        Some(p) => PathBuf::from(format!("/sys/fs/cgroup/pids{p}")),
        None => {
            let p = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
            PathBuf::from(format!("/sys/fs/cgroup{p}"))
        }
    }
}

fn record_field(r: &Path, name: &str, pointer: &str) -> serde_json::Value {
    let id = inspect_field(r, name, "/Id");
    let path = r
        .join("containers")
        .join(id.as_str().unwrap())
        .join("container.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v.pointer(pointer).cloned().unwrap_or_default()
}

fn kill_9(pid: i64) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn kill_9_of_a_keeper_a_foreground_run_or_a_build_leaves_nothing_behind() {
    if !require_root("kill_9_of_a_keeper_a_foreground_run_or_a_build_leaves_nothing_behind") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    // A detached container's keeper.
    ok(
        hako(
            r,
            &["run", "-d", "--name", "kept", "busybox", "sleep", "300"],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "kept", "/State/Pid").as_i64().unwrap();
    let cgroup = cgroup_dir_of(pid);
    assert!(cgroup.exists());
    kill_9(
        record_field(r, "kept", "/state/keeper_pid")
            .as_i64()
            .unwrap(),
    );
    until("the container to die with its keeper", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    let check = hako(r, &["system", "check"]);
    assert!(
        stdout(&check).contains("its hako process was killed"),
        "{}",
        stdout(&check)
    );
    ok(hako(r, &["ps", "-a"]), "ps");
    assert!(!cgroup.exists(), "{} left", cgroup.display());
    assert_eq!(inspect_field(r, "kept", "/State/ExitCode"), 137);
    // A foreground run.
    let mut fg = hako_cmd(r, &["run", "--name", "fg", "busybox", "sleep", "300"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    until("the foreground container to run", || {
        inspect_field(r, "fg", "/State/Running") == true
    });
    let cgroup = cgroup_dir_of(inspect_field(r, "fg", "/State/Pid").as_i64().unwrap());
    // `timeout` runs hako as its child: kill hako itself.
    kill_9(record_field(r, "fg", "/state/keeper_pid").as_i64().unwrap());
    let _ = fg.wait();
    until("the record to say exited", || {
        inspect_field(r, "fg", "/State/Status") == "exited"
    });
    assert!(!cgroup.exists(), "{} left", cgroup.display());
    // A build, killed while its RUN step runs.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN sleep 300\n",
    )
    .unwrap();
    let mut build = Command::new(HAKO)
        .arg("--root")
        .arg(r)
        .args(["build", "-q", "-t", "never:1"])
        .arg(ctx.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let step = || {
        stdout(&hako(r, &["ps", "-a", "--format", "{{.Names}}"]))
            .lines()
            .find(|n| n.starts_with("hako-build-"))
            .map(String::from)
    };
    until("the build step's container", || {
        step().is_some_and(|n| inspect_field(r, &n, "/State/Running") == true)
    });
    let cgroup = cgroup_dir_of(
        inspect_field(r, &step().unwrap(), "/State/Pid")
            .as_i64()
            .unwrap(),
    );
    build.kill().unwrap();
    build.wait().unwrap();
    // Its init dies of the parent-death signal; the next command (ps, in `step`) reaps.
    until("the killed build's container to be removed", || {
        step().is_none() && !cgroup.exists()
    });
    ok(hako(r, &["rm", "-f", "kept", "fg"]), "rm");
    ok(hako(r, &["system", "check"]), "check");
}

#[test]
fn cp_copies_a_symlink_as_the_link_even_when_it_dangles() {
    if !require_root("cp_copies_a_symlink_as_the_link_even_when_it_dangles") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    run_named(
        r,
        "links",
        "busybox",
        "ln -s /nowhere /dangling && ln -s /etc/passwd /pw",
    );
    let out = tempfile::tempdir().unwrap();
    for link in ["dangling", "pw"] {
        let dest = out.path().join(link);
        ok(
            hako(
                r,
                &["cp", &format!("links:/{link}"), dest.to_str().unwrap()],
            ),
            &format!("cp {link}"),
        );
        let md = std::fs::symlink_metadata(&dest).unwrap();
        assert!(md.file_type().is_symlink(), "{link} was followed");
    }
    assert_eq!(
        std::fs::read_link(out.path().join("dangling")).unwrap(),
        Path::new("/nowhere")
    );
    ok(hako(r, &["rm", "links"]), "rm");
}
