//! pull, push and login against Debian's docker-registry (the reference registry server),
//! started on 127.0.0.1 by each test, with images put there by skopeo (an independent
//! client): plain, with htpasswd Basic auth, and with token auth from a small test issuer.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub enum Auth {
    None,
    Basic,
    Token,
}

const USER: &str = "tester";
const PASSWORD: &str = "s3cret-pass";

pub struct Registry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    children: Vec<Child>,
}

fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

fn free_port_on(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Registry {
    /// Starts `docker-registry` on 127.0.0.1 with storage in a temporary directory.
    pub fn start(auth: Auth) -> Option<Registry> {
        Self::listen(auth, "127.0.0.1", None)
    }

    /// Starts it on `ip` (an address of this machine), speaking TLS with `cert` and `key`,
    /// and demanding a client certificate signed by `client_ca` when given.
    pub fn start_tls(
        ip: &str,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Option<Registry> {
        Self::listen(Auth::None, ip, Some((cert, key, client_ca)))
    }

    fn listen(
        auth: Auth,
        ip: &str,
        tls: Option<(&Path, &Path, Option<&Path>)>,
    ) -> Option<Registry> {
        if !have("docker-registry") || !have("skopeo") {
            skip(
                "registry tests",
                "requires docker-registry and skopeo (apt-get install docker-registry skopeo)",
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_on(ip);
        let mut children = vec![];
        let auth_section = match auth {
            Auth::None => String::new(),
            Auth::Basic => {
                let htpasswd = dir.path().join("htpasswd");
                let o = Command::new("htpasswd")
                    .args(["-Bbc", htpasswd.to_str().unwrap(), USER, PASSWORD])
                    .output()
                    .expect("htpasswd (apt-get install apache2-utils)");
                assert!(o.status.success());
                format!(
                    "auth:\n  htpasswd:\n    realm: hako-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            Auth::Token => {
                let token_port = free_port();
                let cert = dir.path().join("issuer.pem");
                let issuer = Command::new("/usr/bin/python3")
                    .arg(project_dir().join("runtime-tests/token_issuer.py"))
                    .args([
                        &token_port.to_string(),
                        cert.to_str().unwrap(),
                        USER,
                        PASSWORD,
                    ])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                children.push(issuer);
                wait_for("the token issuer", || cert.exists());
                format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: hako-test\n    issuer: hako-test-issuer\n    rootcertbundle: {}\n",
                    cert.display()
                )
            }
        };
        let tls_section = tls.map_or(String::new(), |(cert, key, client_ca)| {
            let client = client_ca.map_or(String::new(), |ca| {
                format!("    clientcas:\n      - {}\n", ca.display())
            });
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n{client}",
                cert.display(),
                key.display()
            )
        });
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n{tls_section}{auth_section}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let registry = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        children.push(registry);
        let addr = format!("{ip}:{port}");
        wait_for("docker-registry", || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        Some(Registry {
            addr,
            dir,
            children,
        })
    }

    /// skopeo copy SRC docker://ADDR/DEST, with the test credentials when asked.
    pub fn seed(&self, src: &str, dest: &str, creds: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--dest-tls-verify=false"]);
        if creds {
            cmd.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        let o = cmd
            .arg(src)
            .arg(format!("docker://{}/{dest}", self.addr))
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo copy {src}: {}", stderr(&o));
    }

    /// Started with `auth` and holding busybox as `private/busybox:1` (pushed with the test
    /// credentials); returns it with that image's full name.
    pub fn start_with_private_busybox(auth: Auth) -> Option<(Registry, String)> {
        let reg = Registry::start(auth)?;
        let work = tempfile::tempdir().unwrap();
        reg.seed(&oci_layout(work.path(), "bb"), "private/busybox:1", true);
        let image = format!("{}/private/busybox:1", reg.addr);
        Some((reg, image))
    }

    /// The file holding a blob in the registry's storage.
    pub fn blob_file(&self, digest_hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&digest_hex[..2])
            .join(digest_hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// busybox (and optional extra files as a second layer) as an OCI layout, via hako save.
fn oci_layout(dir: &Path, name: &str) -> String {
    let archive = dir.join(format!("{name}.tar"));
    let o = hako(
        shared_root(),
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            "busybox",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    format!("oci-archive:{}", archive.display())
}

/// PATH with runtime-tests/ first, where the test credential helper lives.
fn path_with_test_helper() -> String {
    format!(
        "{}:{}",
        project_dir().join("runtime-tests").display(),
        std::env::var("PATH").unwrap()
    )
}

fn store_snapshot(root: &Path) -> (String, usize, usize) {
    let count = |sub: &str| std::fs::read_dir(root.join(sub)).map_or(0, |d| d.count());
    (
        std::fs::read_to_string(root.join("index.json")).unwrap_or_default(),
        count("blobs/sha256"),
        count("layers"),
    )
}

#[test]
fn pull_single_and_multi_layer_gzip_and_zstd_then_run() {
    if !require_root("registry pull") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = oci_layout(work.path(), "bb");
    reg.seed(&src, "library/busybox:gz", false);
    let zstd = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-compress-format=zstd",
            &src,
        ])
        .arg(format!("docker://{}/zstd/busybox:1", reg.addr))
        .output()
        .unwrap();
    assert!(zstd.status.success(), "{}", stderr(&zstd));
    // A multi-layer image: commit a change on top and push it with skopeo from hako save.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    ok(
        hako(r, &["pull", &format!("{}/library/busybox:gz", reg.addr)]),
        "pull gzip",
    );
    ok(
        hako(
            r,
            &[
                "run",
                "--name",
                "c",
                &format!("{}/library/busybox:gz", reg.addr),
                "sh",
                "-c",
                "echo layered > /two",
            ],
        ),
        "run",
    );
    ok(hako(r, &["commit", "c", "multi:1"]), "commit");
    let multi = work.path().join("multi.tar");
    ok(
        hako(r, &["save", "-o", multi.to_str().unwrap(), "multi:1"]),
        "save",
    );
    reg.seed(
        &format!("docker-archive:{}", multi.display()),
        "multi/layer:2",
        false,
    );

    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path();
    let out = ok(
        hako(f, &["pull", &format!("{}/zstd/busybox:1", reg.addr)]),
        "pull zstd",
    );
    assert!(
        out.contains("Pull complete") && out.contains("Digest: sha256:"),
        "{out}"
    );
    let out = ok(
        hako(f, &["pull", &format!("{}/multi/layer:2", reg.addr)]),
        "pull multi",
    );
    assert!(
        out.contains("Already exists"),
        "the shared base layer is not fetched again: {out}"
    );
    assert_eq!(
        ok(
            hako(
                f,
                &[
                    "run",
                    "--rm",
                    &format!("{}/multi/layer:2", reg.addr),
                    "cat",
                    "/two"
                ]
            ),
            "run multi"
        ),
        "layered\n"
    );
    assert_eq!(
        ok(
            hako(
                f,
                &[
                    "run",
                    "--rm",
                    &format!("{}/zstd/busybox:1", reg.addr),
                    "echo",
                    "zstd"
                ]
            ),
            "run zstd"
        ),
        "zstd\n"
    );
    let again = ok(
        hako(f, &["pull", &format!("{}/multi/layer:2", reg.addr)]),
        "pull again",
    );
    assert!(again.contains("Image is up to date"), "{again}");
    // By digest, with -q: only the name.
    let digest = again
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let q = ok(
        hako(
            f,
            &["pull", "-q", &format!("{}/multi/layer@{digest}", reg.addr)],
        ),
        "pull by digest",
    );
    assert_eq!(q.lines().count(), 1, "{q}");
}

#[test]
fn run_pulls_a_missing_image_and_platforms_are_chosen_from_an_index() {
    if !require_root("registry index") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // An OCI index: amd64 (this busybox), arm64 (the same bytes, labelled so) and an
    // attestation entry, written as a layout and copied with skopeo --all.
    let layout = work.path().join("index");
    let src = oci_layout(work.path(), "bb");
    let o = Command::new("skopeo")
        .args(["copy", &src, &format!("oci:{}:amd", layout.display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let index_path = layout.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifest = index["manifests"][0].clone();
    let mut amd = manifest.clone();
    amd["platform"] = serde_json::json!({"os": "linux", "architecture": hako::image::host_arch()});
    amd["annotations"] = serde_json::json!({});
    let mut other = manifest.clone();
    other["platform"] = serde_json::json!({"os": "linux", "architecture": "s390x"});
    other["annotations"] = serde_json::json!({});
    let mut attest = manifest.clone();
    attest["platform"] = serde_json::json!({"os": "unknown", "architecture": "unknown"});
    attest["annotations"] = serde_json::json!({});
    let inner = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [other, amd, attest]});
    let inner_bytes = serde_json::to_vec(&inner).unwrap();
    let inner_digest = hako::digest::Digest::of_bytes(&inner_bytes);
    std::fs::write(
        layout.join("blobs/sha256").join(inner_digest.hex()),
        &inner_bytes,
    )
    .unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": inner_digest.to_string(), "size": inner_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    let o = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--dest-tls-verify=false",
            &format!("oci:{}:multi", layout.display()),
        ])
        .arg(format!("docker://{}/multi/arch:1", reg.addr))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let image = format!("{}/multi/arch:1", reg.addr);
    let o = hako(r, &["run", "--rm", &image, "echo", "picked"]);
    assert_eq!(ok(o, "run pulls"), "picked\n");
    let o = hako(r, &["pull", "--platform", "linux/arm64", &image]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("linux/s390x")
            && err.contains(&format!("linux/{}", hako::image::host_arch()))
            && !err.contains("unknown/unknown"),
        "{err}"
    );
    let o = hako(
        r,
        &[
            "run",
            "--rm",
            "--pull",
            "never",
            &format!("{}/never/pulled:1", reg.addr),
            "true",
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );
    let o = hako(r, &["pull", &format!("{}/no/such:image", reg.addr)]);
    assert!(
        !o.status.success() && stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn push_is_read_back_by_skopeo_with_mounts_and_chunks() {
    if !require_root("registry push") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let root = fresh_root("base");
    let r = root.path();
    // 20 MB of random data: bigger than one upload chunk.
    run_named(
        r,
        "c",
        "base",
        "head -c 20000000 /dev/urandom > /big; echo pushed > /mark",
    );
    let name = format!("{}/me/app:v1", reg.addr);
    ok(hako(r, &["commit", "c", &name]), "commit");
    let out = ok(hako(r, &["push", &name]), "push");
    assert!(
        out.contains("Pushed") && out.contains("v1: digest: sha256:"),
        "{out}"
    );
    let again = ok(hako(r, &["push", &name]), "push again");
    assert!(
        again.contains("Layer already exists") && !again.contains("Pushed"),
        "{again}"
    );
    let other = format!("{}/other/app:v2", reg.addr);
    ok(hako(r, &["tag", &name, &other]), "tag");
    let mounted = ok(hako(r, &["push", &other]), "push to another repository");
    assert!(mounted.contains("Mounted from me/app"), "{mounted}");
    // The pushed image keeps its ID under its compressed manifest: never a <none> row
    // beside its names, and prune never reports deleting an image that has a name.
    let images = ok(hako(r, &["images"]), "images");
    assert!(!images.contains("<none>"), "{images}");
    let pruned = ok(hako(r, &["image", "prune", "-f"]), "image prune");
    assert!(!pruned.contains("deleted:"), "{pruned}");
    ok(
        hako(r, &["run", "--rm", &name, "cat", "/mark"]),
        "run after prune",
    );

    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{other}"),
        ])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    let work = tempfile::tempdir().unwrap();
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{name}"),
            &format!("oci:{}/l:v1", work.path().display()),
        ])
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", stderr(&copy));
    // And back into a fresh store, to run.
    let fresh = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(
            hako(fresh.path(), &["run", "--rm", &other, "cat", "/mark"]),
            "run pushed"
        ),
        "pushed\n"
    );
}

#[test]
fn basic_and_token_auth_with_login_and_logout() {
    if !require_root("registry auth") {
        return;
    }
    for auth in [Auth::Basic, Auth::Token] {
        let Some((reg, image)) = Registry::start_with_private_busybox(auth) else {
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let config = tempfile::tempdir().unwrap();
        let with_config = |args: &[&str], stdin: Option<&str>| {
            let mut c = hako_cmd(r, args);
            c.env("DOCKER_CONFIG", config.path());
            if let Some(input) = stdin {
                c.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = c.spawn().unwrap();
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                return child.wait_with_output().unwrap();
            }
            c.output().unwrap()
        };
        let o = with_config(&["pull", &image], None);
        assert!(
            !o.status.success() && stderr(&o).contains("hako login"),
            "anonymous is refused: {}",
            stderr(&o)
        );
        let o = with_config(
            &["login", "-u", USER, "--password-stdin", &reg.addr],
            Some("wrong\n"),
        );
        assert!(
            !o.status.success(),
            "a wrong password fails: {}",
            stdout(&o)
        );
        let o = with_config(
            &["login", "-u", USER, "--password-stdin", &reg.addr],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(
            stdout(&o).contains("Login Succeeded"),
            "{}{}",
            stdout(&o),
            stderr(&o)
        );
        let saved = std::fs::read_to_string(config.path().join("config.json")).unwrap();
        assert!(
            saved.contains(&reg.addr) && saved.contains("\"auth\""),
            "{saved}"
        );
        let o = with_config(&["pull", &image], None);
        assert!(o.status.success(), "{}", stderr(&o));
        let pushed = format!("{}/private/copy:2", reg.addr);
        ok(with_config(&["tag", &image, &pushed], None), "tag");
        ok(
            with_config(&["push", &pushed], None),
            "push with credentials",
        );
        let o = with_config(&["logout", &reg.addr], None);
        assert!(
            stdout(&o).contains("Removing login credentials"),
            "{}",
            stdout(&o)
        );
        let o = with_config(&["pull", &pushed], None);
        assert!(!o.status.success(), "logged out again");
    }
}

#[test]
fn a_corrupt_blob_is_refused_and_the_store_is_unchanged() {
    if !require_root("registry corrupt blob") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    reg.seed(&oci_layout(work.path(), "bb"), "bad/busybox:1", false);
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{}/bad/busybox:1", reg.addr),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let layer = v["Layers"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let file = reg.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let root = fresh_root("other");
    let r = root.path();
    let before = store_snapshot(r);
    let o = hako(r, &["pull", &format!("{}/bad/busybox:1", reg.addr)]);
    assert!(!o.status.success(), "a corrupt layer must fail the pull");
    assert_eq!(store_snapshot(r).0, before.0, "index unchanged");
    assert_eq!(store_snapshot(r).2, before.2, "no layer added");
    // The config blob is verified and may stay; no layer blob does.
    assert!(!r.join("blobs/sha256").join(&layer).exists());
    assert!(!std::fs::read_dir(r.join("tmp"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".partial")));
}

#[test]
fn an_interrupted_pull_resumes_where_it_stopped() {
    if !require_root("registry resume") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let src_root = fresh_root("base");
    let s = src_root.path();
    run_named(s, "c", "base", "head -c 120000000 /dev/urandom > /big");
    let name = format!("{}/big/one:1", reg.addr);
    ok(hako(s, &["commit", "c", &name]), "commit");
    ok(hako(s, &["push", "-q", &name]), "push");

    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // hako itself, not under `timeout`: the kill must reach the pulling process.
    let mut child = Command::new(HAKO)
        .args(["--root", r.to_str().unwrap(), "pull", &name])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a good part of the big layer is on disk.
    let partial_size = || -> u64 {
        std::fs::read_dir(r.join("tmp"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
                    .map(|e| e.metadata().map_or(0, |m| m.len()))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while partial_size() < 20_000_000 {
        assert!(Instant::now() < deadline, "the pull never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    let kept = partial_size();
    assert!(kept >= 20_000_000, "the partial download stays: {kept}");
    let o = hako(r, &["--trace", "pull", &name]);
    let err = stderr(&o);
    ok(o, "pull again");
    assert!(
        err.contains("resume"),
        "it continued from byte {kept}: {err}"
    );
    let size = ok(
        hako(r, &["run", "--rm", &name, "stat", "-c", "%s", "/big"]),
        "run",
    );
    assert_eq!(size, "120000000\n");
}

/// A bridge with one address, created by the test so that a registry can listen on an
/// address that is neither loopback (which hako, like Docker, treats as insecure) nor
/// anyone else's. Traffic to it never leaves this machine.
struct TestBridge(String);

impl TestBridge {
    fn create(ip: &str) -> TestBridge {
        let name = format!("hktls{}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        let bridge = TestBridge(name);
        for args in [
            vec!["link", "add", &bridge.0, "type", "bridge"],
            vec!["addr", "add", &format!("{ip}/32"), "dev", &bridge.0],
            vec!["link", "set", &bridge.0, "up"],
        ] {
            let o = Command::new("ip").args(&args).output().unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        }
        bridge
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// A test CA, a server certificate it signed for `ip` and a client certificate, made with
/// openssl (`client.cert` and `client.key`, named as certs.d wants them).
fn test_certificates(dir: &Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    let script = format!(
        "set -e; cd {dir}
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout ca.key -out ca.crt -days 2 -subj /CN=hako-test-ca
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout server.key -out server.csr -subj /CN={ip}
         printf 'subjectAltName=IP:{ip}\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
             -out server.crt -days 2 -extfile ext
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout client.key -out client.csr -subj /CN=hako-test-client
         printf 'extendedKeyUsage=clientAuth\n' > client-ext
         openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
             -out client.cert -days 2 -extfile client-ext",
        dir = dir.display()
    );
    ok(
        Command::new("sh").args(["-c", &script]).output().unwrap(),
        "openssl",
    );
    (ca, cert, key)
}

#[test]
fn tls_registry_is_verified_against_certs_d_and_the_system_store() {
    if !require_root("registry tls") || !have("openssl") || !have("ip") {
        return;
    }
    let ip = "198.18.77.1";
    let _bridge = TestBridge::create(ip);
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(certs.path(), ip);
    let Some(reg) = Registry::start_tls(ip, &cert, &key, None) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    reg.seed(&oci_layout(work.path(), "bb"), "tls/busybox:1", false);
    let name = format!("{}/tls/busybox:1", reg.addr);

    // hako's config folder is a temporary one: certs.d/<registry>/ca.crt lives beside it.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("config.json");
    let with_config = |root: &Path, args: &[&str]| {
        hako_cmd(root, args)
            .env("HAKO_CONFIG", &config)
            .output()
            .unwrap()
    };

    // Unknown CA: refused with the cause and the fix, and nothing stored.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let before = store_snapshot(r);
    let o = with_config(r, &["pull", &name]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let ca_path = config_dir
        .path()
        .join("certs.d")
        .join(&reg.addr)
        .join("ca.crt");
    assert!(
        err.contains("not trusted")
            && err.contains("signed by an unknown authority: UnknownIssuer")
            && err.contains(&ca_path.display().to_string()),
        "{err}"
    );
    assert_eq!(store_snapshot(r), before, "a refused pull changes nothing");

    // --insecure-registry: the registry's certificate is not checked (Docker's meaning).
    ok(
        with_config(r, &["--insecure-registry", &reg.addr, "pull", "-q", &name]),
        "insecure pull",
    );
    ok(with_config(r, &["rmi", &name]), "rmi");

    // The CA in certs.d: verified pull, run and push.
    std::fs::create_dir_all(ca_path.parent().unwrap()).unwrap();
    std::fs::copy(&ca, &ca_path).unwrap();
    let o = with_config(r, &["--trace", "pull", "-q", &name]);
    let trace = stderr(&o);
    ok(o, "pull with certs.d");
    assert!(
        trace.contains("checked against") && trace.contains(&ca_path.display().to_string()),
        "--trace says whom it trusts: {trace}"
    );
    assert_eq!(
        ok(
            with_config(r, &["run", "--rm", &name, "echo", "over-tls"]),
            "run"
        ),
        "over-tls\n"
    );
    let pushed = format!("{}/tls/pushed:1", reg.addr);
    ok(with_config(r, &["tag", &name, &pushed]), "tag");
    ok(with_config(r, &["push", "-q", &pushed]), "push over TLS");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(ca_path.parent().unwrap())
        .arg(format!("docker://{pushed}"))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "skopeo, verifying: {}",
        stderr(&inspect)
    );

    // The system store: SSL_CERT_FILE, as for every OpenSSL-minded tool.
    std::fs::remove_dir_all(config_dir.path().join("certs.d")).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let o = hako_cmd(fresh.path(), &["pull", "-q", &pushed])
        .env("HAKO_CONFIG", &config)
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    ok(o, "pull trusting SSL_CERT_FILE");
}

#[test]
fn credential_helpers_named_in_the_docker_config_keep_the_login() {
    if !require_root("registry credential helper") {
        return;
    }
    let Some((reg, image)) = Registry::start_with_private_busybox(Auth::Basic) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let docker_config = format!(r#"{{"credHelpers": {{"{}": "hakotest"}}}}"#, reg.addr);
    std::fs::write(config.path().join("config.json"), &docker_config).unwrap();
    let secrets = config.path().join("helper-secrets.json");
    let path = path_with_test_helper();
    let hako_with_helper = |args: &[&str], stdin: &str| {
        let mut child = hako_cmd(root.path(), args)
            .env("DOCKER_CONFIG", config.path())
            .env("HAKOTEST_CREDS", &secrets)
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let login = ["login", "-u", USER, "--password-stdin", &reg.addr];
    ok(hako_with_helper(&login, &format!("{PASSWORD}\n")), "login");
    let kept = std::fs::read_to_string(&secrets).unwrap();
    assert!(
        kept.contains(&reg.addr) && kept.contains(PASSWORD),
        "the helper keeps it: {kept}"
    );
    assert_eq!(
        std::fs::read_to_string(config.path().join("config.json")).unwrap(),
        docker_config,
        "no password in config.json"
    );
    ok(
        hako_with_helper(&["pull", "-q", &image], ""),
        "pull with the helper's credentials",
    );
    let out = ok(hako_with_helper(&["logout", &reg.addr], ""), "logout");
    assert!(out.contains("Removing login credentials"), "{out}");
    assert!(!std::fs::read_to_string(&secrets)
        .unwrap()
        .contains(PASSWORD));
    let o = hako_with_helper(&["pull", "-q", &image], "");
    assert!(
        !o.status.success() && stderr(&o).contains("hako login"),
        "{}",
        stderr(&o)
    );

    // A helper that is not installed: the error names it and the file that asks for it.
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credsStore": "nosuch"}"#,
    )
    .unwrap();
    let o = hako_with_helper(&["pull", "-q", &image], "");
    let err = stderr(&o);
    assert!(
        !o.status.success()
            && err.contains("docker-credential-nosuch")
            && err.contains("config.json"),
        "{err}"
    );
}

/// Docker's identity tokens (OAuth2 refresh tokens, as `az acr login` leaves them), from
/// `auths.<registry>.identitytoken` or from a credential helper's `<token>` user, are traded
/// at the token server for access tokens.
#[test]
fn identity_tokens_are_traded_for_access_tokens() {
    if !require_root("registry identity tokens") {
        return;
    }
    let Some((reg, image)) = Registry::start_with_private_busybox(Auth::Token) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let secrets = config.path().join("helper-secrets.json");
    let path = path_with_test_helper();
    let pull_with = |docker_config: String| {
        std::fs::write(config.path().join("config.json"), docker_config).unwrap();
        let root = tempfile::tempdir().unwrap();
        hako_cmd(root.path(), &["pull", "-q", &image])
            .env("DOCKER_CONFIG", config.path())
            .env("HAKOTEST_CREDS", &secrets)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let refresh = format!("{PASSWORD}-refresh");
    let in_auths = |token: &str| {
        format!(
            r#"{{"auths": {{"{}": {{"identitytoken": "{token}"}}}}}}"#,
            reg.addr
        )
    };
    ok(pull_with(in_auths(&refresh)), "pull with an identity token");
    let o = pull_with(in_auths("stolen"));
    assert!(
        !o.status.success() && stderr(&o).contains("unauthorized"),
        "a wrong identity token is refused: {}",
        stderr(&o)
    );
    std::fs::write(
        &secrets,
        format!(
            r#"{{"{}": {{"Username": "<token>", "Secret": "{refresh}"}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    ok(
        pull_with(format!(
            r#"{{"credHelpers": {{"{}": "hakotest"}}}}"#,
            reg.addr
        )),
        "pull with a helper's identity token",
    );
}
