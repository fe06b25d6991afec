//! Rootless hako: the harness (root) creates unprivileged users and runs hako as them.
//! `hakorl` has a 65536-id range in /etc/subuid and /etc/subgid (mapped by newuidmap);
//! `hakorl1` has none (a single-id map, as for LDAP users nobody registered).

use crate::harness::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// hakorl's subordinate range: 65536 ids from here.
const SUB_START: u32 = 300_000;

struct TestUser {
    name: &'static str,
    uid: u32,
    /// Private to the user: data root (XDG_DATA_HOME), run dir, scratch files.
    home: PathBuf,
}

/// The user, created once (with or without a range), and everything it needs: a copy of
/// the hako binary it can execute and its own directories.
fn user(name: &'static str, with_range: bool) -> &'static TestUser {
    static RANGED: OnceLock<TestUser> = OnceLock::new();
    static SINGLE: OnceLock<TestUser> = OnceLock::new();
    let cell = if with_range { &RANGED } else { &SINGLE };
    cell.get_or_init(|| {
        if Command::new("id").arg(name).output().unwrap().status.code() != Some(0) {
            shell(&format!("useradd --no-create-home --shell /bin/sh {name}"));
        }
        // Exactly the range the test expects (useradd may have added one of its own).
        shell(&format!("sed -i '/^{name}:/d' /etc/subuid /etc/subgid"));
        if with_range {
            let end = SUB_START + 65535;
            shell(&format!(
                "usermod --add-subuids {SUB_START}-{end} --add-subgids {SUB_START}-{end} {name}"
            ));
        }
        // Distributions ship /dev/net/tun 0666 (udev); minimal VMs may leave it 0600,
        // which keeps slirp4netns from making the container's tap device.
        shell("chmod 0666 /dev/net/tun");
        let uid: u32 = shell(&format!("id -u {name}")).trim().parse().unwrap();
        let home = std::env::temp_dir().join(format!("hako-rl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join("run")).unwrap();
        std::fs::copy(HAKO, home.join("hako")).unwrap();
        std::fs::copy(shared_root().join("busybox.tar"), home.join("busybox.tar")).unwrap();
        shell(&format!(
            "chown -R {name}: {h} && chmod 700 {h} {h}/run && chmod 755 {h}/hako",
            h = home.display()
        ));
        TestUser { name, uid, home }
    })
}

fn ranged() -> &'static TestUser {
    user("hakorl", true)
}

fn single() -> &'static TestUser {
    user("hakorl1", false)
}

/// `sh -c SCRIPT` as the user, with a clean environment: `$H` is hako, the data root is
/// the default one under XDG_DATA_HOME, run state under XDG_RUNTIME_DIR.
fn as_user(u: &TestUser, script: &str) -> Output {
    let h = u.home.display();
    Command::new("timeout")
        .args(["-k", "10", "300", "runuser", "-u", u.name, "--"])
        .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        .arg(format!("HOME={h}"))
        .arg(format!("XDG_DATA_HOME={h}/data"))
        .arg(format!("XDG_RUNTIME_DIR={h}/run"))
        .arg(format!("H={h}/hako"))
        .args(["sh", "-c", script])
        .current_dir(&u.home)
        .output()
        .unwrap()
}

fn user_ok(u: &TestUser, script: &str) -> String {
    ok(as_user(u, script), &format!("as {}: {script}", u.name))
}

/// The ranged user with busybox imported once.
fn ranged_with_busybox() -> &'static TestUser {
    static DONE: OnceLock<()> = OnceLock::new();
    let u = ranged();
    DONE.get_or_init(|| {
        user_ok(u, "$H import busybox.tar busybox:latest");
    });
    u
}

fn data_root(u: &TestUser) -> PathBuf {
    u.home.join("data/hako")
}

#[test]
fn rootless_run_maps_root_to_the_user_and_ids_to_the_range() {
    if !require_root("rootless_run_maps_root_to_the_user_and_ids_to_the_range") {
        return;
    }
    let u = ranged_with_busybox();
    let out = user_ok(
        u,
        "$H run --rm --network none busybox sh -c 'id -u; cat /proc/self/uid_map'",
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0", &u.uid.to_string(), "1"], "{out}");
    assert_eq!(lines[2], ["1", &SUB_START.to_string(), "65536"], "{out}");
    // run -it: a pty from the container's own devpts, as for root.
    let tty = user_ok(
        u,
        "script -qec \"$H run --rm -it --network none busybox sh -c 'tty; echo in-a-tty'\" /dev/null < /dev/null",
    );
    assert!(
        tty.contains("/dev/pts/0") && tty.contains("in-a-tty"),
        "{tty}"
    );
    // Its store is under XDG_DATA_HOME, and `info` says rootless.
    assert!(data_root(u).join("layers").is_dir());
    let info = user_ok(u, "$H info");
    assert!(info.contains("Rootless: true"), "{info}");
    assert!(
        info.contains("Storage driver: overlay (kernel overlayfs, userxattr)"),
        "{info}"
    );
}

#[test]
fn rootless_debian_keeps_its_owners_inside_and_shifts_them_on_disk() {
    if !require_root("rootless_debian_keeps_its_owners_inside_and_shifts_them_on_disk") {
        return;
    }
    let u = ranged();
    let fixture = debian_fixture();
    let copy = u.home.join("debian.tar.gz");
    std::fs::copy(&fixture, &copy).unwrap();
    shell(&format!("chown {} {}", u.name, copy.display()));
    user_ok(u, "$H import debian.tar.gz debian:rootless");
    let out = user_ok(
        u,
        "$H run --rm --network none debian:rootless sh -c 'stat -c \"%u %g %n\" /etc/shadow /var/mail; id _apt'",
    );
    assert!(out.contains("0 42 /etc/shadow"), "{out}");
    assert!(out.contains("0 8 /var/mail"), "{out}");
    assert!(out.contains("uid=42(_apt)"), "{out}");
    // On the host the same file belongs to the user (root inside) and gid 42 → range + 41.
    let shadow = std::fs::read_dir(data_root(u).join("layers"))
        .unwrap()
        .map(|e| e.unwrap().path().join("etc/shadow"))
        .find(|p| p.exists())
        .expect("an unpacked layer with /etc/shadow");
    let meta = std::fs::metadata(&shadow).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (u.uid, SUB_START + 41));
    // Every file in the store belongs to the user or to the user's range.
    let strays = shell(&format!(
        "find {} \\( -not -uid {} -a \\( -uid -{SUB_START} -o -uid +{} \\) \\) -print | head -5",
        data_root(u).display(),
        u.uid,
        SUB_START + 65535
    ));
    assert_eq!(
        strays.trim(),
        "",
        "files owned by ids the user does not own"
    );
}

#[test]
fn rootless_exec_commit_and_export_give_standard_layers() {
    if !require_root("rootless_exec_commit_and_export_give_standard_layers") {
        return;
    }
    let u = ranged_with_busybox();
    let script = r#"set -e
$H rm -f work >/dev/null 2>&1 || true
$H run -d --name work --network none busybox sleep 60 >/dev/null
$H exec work sh -c 'mkdir -p /data && echo kept > /data/f && chown 33:33 /data/f && rm /bin/vi'
echo "exec: $($H exec work id -u)"
$H commit work rootless/committed:v1 >/dev/null
$H rm -f work >/dev/null
$H save --format oci-archive -o oci.tar rootless/committed:v1
$H export $($H create rootless/committed:v1 true) > export.tar
"#;
    let out = user_ok(u, script);
    assert!(out.contains("exec: 0"), "{out}");
    let d = u.home.display();
    // umoci (not ours) reads the committed image: owner 33 inside, the whiteout applied.
    shell(&format!(
        "rm -rf {d}/layout {d}/bundle && mkdir {d}/layout && tar -C {d}/layout -xf {d}/oci.tar && umoci unpack --image {d}/layout:v1 {d}/bundle"
    ));
    let meta = std::fs::metadata(format!("{d}/bundle/rootfs/data/f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (33, 33));
    assert!(!Path::new(&format!("{d}/bundle/rootfs/bin/vi")).exists());
    // The committed layer is a plain OCI layer: in-container ids, an OCI whiteout.
    let layer = shell(&format!(
        "cd {d}/layout && for b in blobs/sha256/*; do tar -tvf $b 2>/dev/null | grep -E 'data/f|\\.wh\\.vi' ; done; true"
    ));
    assert!(layer.contains("33/33"), "{layer}");
    assert!(layer.contains("bin/.wh.vi"), "{layer}");
    // export: the container's filesystem, in-container owners.
    let listing = shell(&format!("tar -tvf {d}/export.tar data/f bin/busybox"));
    assert!(listing.contains("33/33"), "{listing}");
    assert!(listing.contains("0/0"), "{listing}");
}

#[test]
fn rootless_keep_id_writes_host_files_as_the_user() {
    if !require_root("rootless_keep_id_writes_host_files_as_the_user") {
        return;
    }
    let u = ranged_with_busybox();
    let out = user_ok(
        u,
        "mkdir -p shared && echo host > shared/h && $H run --rm --network none --userns=keep-id -v $HOME/shared:/w busybox sh -c 'id -u; stat -c %u /w/h; echo made > /w/new'",
    );
    let uid = u.uid.to_string();
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        [&uid, &uid],
        "{out}"
    );
    let meta = std::fs::metadata(u.home.join("shared/new")).unwrap();
    assert_eq!(meta.uid(), u.uid);
    // Root has no keep-id: the flag is refused with the reason.
    let o = hako(
        shared_root(),
        &["run", "--rm", "--userns=keep-id", "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("rootless"), "{}", stderr(&o));
}

#[test]
fn rootless_user_mode_network_publishes_on_the_host_loopback() {
    if !require_root("rootless_user_mode_network_publishes_on_the_host_loopback") {
        return;
    }
    user_mode_network_publishes("slirp4netns", "web", "tap0");
}

/// The same with pasta (what Podman 5 uses), asked for by name here since slirp4netns
/// comes first where both are installed.
#[test]
fn rootless_pasta_network_publishes_on_the_host_loopback() {
    if !require_root("rootless_pasta_network_publishes_on_the_host_loopback") {
        return;
    }
    if !have("pasta") {
        skip(
            "rootless_pasta_network_publishes_on_the_host_loopback",
            "pasta is not installed (apt-get install passt)",
        );
        return;
    }
    user_mode_network_publishes("pasta", "pweb", "eth0");
}

/// A web server in a rootless container on `helper`'s network, published on the host's
/// loopback: the port answers from the host, the container has 10.0.2.100/24 on
/// `interface`, inspect names the helper, and the port is free again after `rm`.
fn user_mode_network_publishes(helper: &str, name: &str, interface: &str) {
    let u = ranged_with_busybox();
    let port = free_port();
    let script = format!(
        "$H rm -f {name} >/dev/null 2>&1; $H run -d --name {name} --network {helper} -p 127.0.0.1:{port}:8080 busybox sh -c 'echo rootless-web > /index.html; exec httpd -f -p 8080 -h /' >/dev/null && $H port {name} && $H inspect -f 'mode={{{{.HostConfig.NetworkMode}}}}' {name} && $H exec {name} sh -c 'ip -4 addr show {interface}' | grep -o 'inet [0-9./]*'"
    );
    let out = user_ok(u, &script);
    assert!(
        out.contains(&format!("8080/tcp -> 127.0.0.1:{port}")),
        "{out}"
    );
    assert!(out.contains(&format!("mode={helper}")), "{out}");
    assert!(out.contains("inet 10.0.2.100/24"), "{out}");
    let mut body = String::new();
    until("the published port answers", || {
        body = http_get(port);
        body.contains("rootless-web")
    });
    user_ok(u, &format!("$H rm -f {name}"));
    // The port is released with the container, and the helper has gone.
    until("the port is free again", || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
    // pasta runs as `passt` (it re-executes passt's build for the CPU).
    let process = if helper == "pasta" { "passt" } else { helper };
    until(&format!("{helper} ends with its container"), || {
        !shell("ps -eo user:32,comm")
            .lines()
            .any(|l| l.starts_with("hakorl ") && l.contains(process))
    });
}

#[test]
fn rootless_limits_are_refused_clearly_where_no_cgroup_is_delegated() {
    if !require_root("rootless_limits_are_refused_clearly_where_no_cgroup_is_delegated") {
        return;
    }
    let u = ranged_with_busybox();
    let o = as_user(u, "$H run --rm --network none --memory 32m busybox true");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    // This host is hybrid (v1 controllers); a v2 host without delegation names that.
    assert!(
        err.contains("--memory") && (err.contains("cgroup v1") || err.contains("not yours")),
        "{err}"
    );
    // Without limits the same container runs.
    user_ok(u, "$H run --rm --network none busybox true");
}

#[test]
fn rootless_without_a_range_maps_one_id_and_names_foreign_owners() {
    if !require_root("rootless_without_a_range_maps_one_id_and_names_foreign_owners") {
        return;
    }
    let u = single();
    // busybox's /home/user belongs to uid 1000: refused, naming the file and the id.
    let o = as_user(u, "$H import busybox.tar busybox:latest");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("no range for hakorl1"), "{err}");
    assert!(
        err.contains("/home/user") && err.contains("uid 1000"),
        "{err}"
    );
    assert!(err.contains("--userns=squash"), "{err}");
    let stores = shell(&format!("ls {}/layers", data_root(u).display()));
    assert_eq!(stores.trim(), "", "a refused layer leaves nothing behind");
    // With squash those files become the user's, and the container runs.
    user_ok(u, "$H import --userns=squash busybox.tar busybox:latest");
    let out = user_ok(
        u,
        "$H run --rm --network none busybox sh -c 'stat -c %u /home/user; cat /proc/self/uid_map'",
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "0", &u.uid.to_string(), "1"], "{out}");
    let info = user_ok(u, "$H info");
    assert!(
        info.contains("(1 ids)") && info.contains("usermod --add-subuids"),
        "{info}"
    );
}

#[test]
fn rootless_build_runs_its_steps_in_the_users_namespace() {
    if !require_root("rootless_build_runs_its_steps_in_the_users_namespace") {
        return;
    }
    let u = ranged_with_busybox();
    let out = user_ok(
        u,
        "mkdir -p ctx && printf 'FROM busybox\\nRUN mkdir -p /home/app && chown 2000:2000 /home/app\\nUSER 2000\\n' > ctx/Dockerfile && $H build -q -t rootless/built ctx >/dev/null && $H run --rm --network none rootless/built sh -c 'id -u; stat -c %u /home/app'",
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["2000", "2000"]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// The fuse-overlayfs storage driver (what a rootless user on a kernel older than 5.11
/// gets automatically; asked for here with --storage-driver): run with the rootfs on
/// FUSE, then the shared driver workflow.
#[test]
fn rootless_fuse_overlayfs_driver_keeps_the_workflow() {
    if !require_root("rootless_fuse_overlayfs_driver_keeps_the_workflow") {
        return;
    }
    if !have("fuse-overlayfs") {
        skip(
            "rootless_fuse_overlayfs_driver_keeps_the_workflow",
            "fuse-overlayfs is not installed (apt-get install fuse-overlayfs)",
        );
        return;
    }
    // Distributions ship /dev/fuse 0666; minimal VMs may leave it 0600.
    shell("chmod 0666 /dev/fuse");
    let out = driver_workflow("fuse-overlayfs");
    assert!(out.contains("fs: fuse.fuse-overlayfs"), "{out}");
    // No daemon outlives its containers.
    until("fuse-overlayfs daemons end", || {
        !shell("ps -eo user,comm").contains("fuse-overlayfs")
    });
}

/// The vfs storage driver (what a rootless user on a kernel older than 5.11 gets when
/// fuse-overlayfs is not installed): every container a copy of its image, bind-mounted,
/// its changes found by comparison; the same workflow gives the same layers.
#[test]
fn rootless_vfs_driver_keeps_the_workflow() {
    if !require_root("rootless_vfs_driver_keeps_the_workflow") {
        return;
    }
    let out = driver_workflow("vfs");
    assert!(
        !out.contains("fs: overlay") && !out.contains("fs: fuse"),
        "the vfs root is a plain bind mount: {out}"
    );
    assert!(
        out.contains("copy left: 0"),
        "rm left a container copy: {out}"
    );
}

/// As the ranged test user with a data root of the driver's own: run (a new file, a
/// deleted one, a new directory, a file given to uid 33), diff, commit, a run of the
/// committed image, exec and export of a running container, then the layer read by
/// umoci (owner 33 kept, whiteout applied) and a data root that keeps its driver.
fn driver_workflow(driver: &str) -> String {
    let u = ranged();
    let script = r#"set -e
export HAKO_ROOT=$HOME/DRIVER-root
rm -rf $HAKO_ROOT
$H --storage-driver DRIVER import busybox.tar busybox:latest >/dev/null
$H info | grep '^Storage driver'
$H run --name f1 --network none busybox sh -c 'echo new > /new.txt; rm /bin/vi; mkdir -p /etc/d /data; touch /etc/d/x; echo kept > /data/f; chown 33:33 /data/f; echo "fs: $(grep " / " /proc/mounts | cut -d" " -f3)"'
$H diff f1 | tr '\n' ' '; echo
$H commit f1 driven:v1 >/dev/null
$H run --rm --network none driven:v1 sh -c 'cat /new.txt; ls /bin/vi 2>&1; ls /etc/d'
$H run -d --name f2 --network none driven:v1 sleep 60 >/dev/null
echo "exec: $($H exec f2 cat /data/f)"
$H export f2 | tar -t | grep -c '^new.txt$'
$H rm -f f1 f2 >/dev/null
echo "copy left: $(ls $HAKO_ROOT/containers | wc -l)"
rm -f DRIVER.tar
$H save --format oci-archive -o DRIVER.tar driven:v1
$H --storage-driver overlay images 2>&1 || true
"#
    .replace("DRIVER", driver);
    let out = user_ok(u, &script);
    assert!(out.contains(&format!("Storage driver: {driver}")), "{out}");
    for change in ["A /new.txt", "D /bin/vi", "A /etc/d/x", "A /data/f"] {
        assert!(out.contains(change), "diff lacks {change}: {out}");
    }
    assert!(!out.contains(".wh."), "whiteout markers leaked: {out}");
    assert!(
        out.contains("new\nls: /bin/vi: No such file or directory\nx\n"),
        "{out}"
    );
    assert!(out.contains("exec: kept"), "{out}");
    assert!(out.contains("cannot switch to overlay"), "{out}");
    let d = u.home.display();
    shell(&format!(
        "rm -rf {d}/{driver}-layout {d}/{driver}-bundle && mkdir {d}/{driver}-layout && tar -C {d}/{driver}-layout -xf {d}/{driver}.tar && umoci unpack --image {d}/{driver}-layout:v1 {d}/{driver}-bundle"
    ));
    let bundle = format!("{d}/{driver}-bundle/rootfs");
    let meta = std::fs::metadata(format!("{bundle}/data/f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (33, 33));
    assert!(!Path::new(&format!("{bundle}/bin/vi")).exists());
    assert!(Path::new(&format!("{bundle}/etc/d/x")).exists());
    out
}

/// Rootless runc mode: `hako runc spec --rootless` and the OCI lifecycle as an ordinary
/// user (run; create → start → exec → ps → kill → delete), with no cgroup on this host,
/// and a bundle that asks for limits refused with the reason.
#[test]
fn rootless_runc_mode_runs_a_bundle_as_the_user() {
    if !require_root("rootless_runc_mode_runs_a_bundle_as_the_user") {
        return;
    }
    let u = ranged();
    let script = r#"set -e
rm -rf runc-bundle && mkdir -p runc-bundle/rootfs && tar -C runc-bundle/rootfs -xf busybox.tar
cd runc-bundle
$H runc spec --rootless
sed -i 's/"terminal": true/"terminal": false/' config.json
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["sh", "-c", "echo uid=$(id -u) map=$(cat /proc/self/uid_map | tr -s ' ' | xargs)"]
json.dump(c, open("config.json", "w"))
c["process"]["args"] = ["sleep", "60"]
json.dump(c, open("sleep.json", "w"))
c["linux"]["resources"] = {"memory": {"limit": 67108864}}
json.dump(c, open("limited.json", "w"))
PY
$H runc run r1 </dev/null
cp sleep.json config.json
$H runc create r2 </dev/null >/dev/null 2>&1
echo "state: $($H runc state r2 | grep -o '"status": "[a-z]*"')"
$H runc start r2
echo "exec: $($H runc exec r2 cat /proc/1/comm)"
echo "ps: $($H runc ps --format json r2)"
$H runc list | grep -c "^r2 .*running .*hakorl$"
$H runc kill r2 KILL
sleep 0.5
$H runc delete r2
cp limited.json config.json
$H runc run r3 </dev/null 2>&1 || echo "refused: $?"
"#;
    let out = user_ok(u, script);
    assert!(
        out.contains(&format!("uid=0 map=0 {} 1", u.uid)),
        "root inside is the user, the map a single id: {out}"
    );
    assert!(out.contains("state: \"status\": \"created\""), "{out}");
    assert!(out.contains("exec: sleep"), "{out}");
    let ps = out
        .lines()
        .find(|l| l.starts_with("ps: "))
        .unwrap_or_default();
    assert!(
        ps.starts_with("ps: [") && ps.len() > "ps: []".len(),
        "{out}"
    );
    assert!(out.contains("\n1\n"), "list shows the owner: {out}");
    assert!(out.contains("refused: "), "{out}");
    assert!(
        out.contains("cgroup"),
        "the refusal names the cgroup: {out}"
    );
    assert!(
        !u.home.join("run/hako-runc/r3").exists(),
        "a refused create leaves no state"
    );
}

/// Without XDG_RUNTIME_DIR a user's run state goes to /tmp/hako-run-UID, which another
/// user can make first: refused, naming the squatter, before any record exists.
#[test]
fn a_squatted_run_directory_is_refused_before_anything_is_recorded() {
    if !require_root("a_squatted_run_directory_is_refused_before_anything_is_recorded") {
        return;
    }
    let u = ranged_with_busybox();
    let squat = PathBuf::from(format!("/tmp/hako-run-{}", u.uid));
    let _ = std::fs::remove_dir_all(&squat);
    let _ = std::fs::remove_file(&squat);
    let nobody = |cmd: &str| {
        shell(&format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {cmd} {}",
            squat.display()
        ))
    };
    for (make, says) in [
        ("mkdir -m 777", "belongs to uid 65534"),
        ("ln -s /root", "symbolic link made by uid 65534"),
    ] {
        nobody(make);
        let o = as_user(
            u,
            "unset XDG_RUNTIME_DIR; $H run -d --name squatted --network none busybox true",
        );
        assert!(!o.status.success(), "{make}: ran");
        assert!(stderr(&o).contains(says), "{make}: {}", stderr(&o));
        assert!(
            !as_user(u, "$H inspect squatted").status.success(),
            "{make}: a record was left"
        );
        let _ = std::fs::remove_dir_all(&squat);
        let _ = std::fs::remove_file(&squat);
    }
}
