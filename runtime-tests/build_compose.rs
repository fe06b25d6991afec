//! `build` from Dockerfiles (checked by running the images), the build cache, volumes, and
//! `compose` with the seed's file. Traffic goes only to loopback and to the containers and
//! networks these tests create.

use crate::harness::*;
use std::fs;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn build(root: &Path, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    hako(root, &args)
}

fn run_out(root: &Path, image: &str, cmd: &[&str]) -> String {
    let mut args = vec!["run", "--rm", "--network", "none", image];
    args.extend_from_slice(cmd);
    ok(hako(root, &args), &format!("run {image}"))
}

/// Multi-stage, ARG/ENV substitution, COPY --from, .dockerignore, USER and WORKDIR: the
/// image's behaviour shows each one worked.
#[test]
fn dockerfile_suite_gives_the_images_docker_would() {
    if !require_root("build runs RUN steps in containers") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(c, "app/main.txt", "main\n");
    write(c, "app/notes.log", "left out\n");
    write(c, "secret.key", "never in the image\n");
    write(c, ".dockerignore", "secret.key\n**/*.log\n");
    write(
        c,
        "Dockerfile",
        r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
ENV OUT=/out \
    NAME="two words"
RUN mkdir -p $OUT && echo "$GREETING $NAME" > $OUT/greeting
COPY app/ /src/

FROM busybox AS final
LABEL org.example.purpose="build test"
WORKDIR /srv
WORKDIR app
COPY --from=builder /out/greeting ./
COPY --from=builder /src /srv/app/src
COPY --chown=1000:1000 --chmod=640 app/main.txt owned.txt
EXPOSE 8080/tcp
VOLUME /srv/data
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD test -f /srv/app/greeting
CMD ["sh", "-c", "cat greeting; ls /srv/app/src; id -u; pwd; ls -ln owned.txt | cut -c1-10; cat /secret.key 2>&1 | head -c 40"]
"#,
    );
    let o = build(r, c, &["-t", "suite:1", "--build-arg", "GREETING=hi"]);
    let log = ok(o, "build the suite");
    assert!(log.contains("Step 1/"), "{log}");
    assert!(log.contains("Successfully tagged suite:1"), "{log}");
    let out = run_out(r, "suite:1", &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hi two words", "ARG and ENV substitution: {out}");
    assert_eq!(
        lines[1], "main.txt",
        ".dockerignore kept notes.log out: {out}"
    );
    assert_eq!(lines[2], "1000", "USER: {out}");
    assert_eq!(
        lines[3], "/srv/app",
        "WORKDIR relative to the previous one: {out}"
    );
    assert_eq!(lines[4], "-rw-r-----", "--chmod: {out}");
    assert!(lines[5].contains("can't open"), "no secret: {out}");
    let owner = run_out(r, "suite:1", &["stat", "-c", "%u:%g", "/srv/app/owned.txt"]);
    assert_eq!(owner.trim(), "1000:1000", "--chown");

    let cfg = inspect_field(r, "suite:1", "/Config");
    assert_eq!(cfg["Labels"]["org.example.purpose"], "build test");
    assert!(cfg["ExposedPorts"].get("8080/tcp").is_some(), "{cfg}");
    assert!(cfg["Volumes"].get("/srv/data").is_some(), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["Healthcheck"]["Test"][0], "CMD-SHELL");
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000u64);
    let history = ok(hako(r, &["history", "--no-trunc", "suite:1"]), "history");
    assert!(history.contains("COPY --from=builder"), "{history}");

    // --target stops at the named stage.
    ok(
        build(r, c, &["-t", "suite:builder", "--target", "builder"]),
        "build --target",
    );
    let staged = run_out(r, "suite:builder", &["cat", "/out/greeting"]);
    assert_eq!(staged.trim(), "hello two words", "default ARG value");
}

/// An unchanged rebuild is all cache hits and the same image; a changed source reruns its
/// COPY and what follows; --no-cache reruns everything.
#[test]
fn build_cache_hits_and_misses() {
    if !require_root("build runs RUN steps in containers") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(c, "a.txt", "one\n");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nRUN echo RAN-FIRST-OUTPUT | tr A-Z a-z > /first; cat /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCMD [\"cat\", \"/copy\"]\n",
    );
    let first = ok(build(r, c, &["-t", "cache:1"]), "first build");
    assert!(!first.contains("CACHED"), "{first}");
    let id1 = inspect_field(r, "cache:1", "/Id");
    let again = ok(build(r, c, &["-t", "cache:1"]), "rebuild");
    assert_eq!(again.matches("CACHED").count(), 3, "{again}");
    assert!(
        !again.contains("ran-first"),
        "a cached RUN does not run: {again}"
    );
    assert_eq!(id1, inspect_field(r, "cache:1", "/Id"), "same image");

    write(c, "a.txt", "two\n");
    let changed = ok(build(r, c, &["-t", "cache:1"]), "build after a change");
    assert_eq!(
        changed.matches("CACHED").count(),
        1,
        "only the first RUN: {changed}"
    );
    assert_eq!(run_out(r, "cache:1", &[]).trim(), "two");

    let fresh = ok(build(r, c, &["-t", "cache:1", "--no-cache"]), "--no-cache");
    assert!(
        !fresh.contains("CACHED") && fresh.contains("ran-first"),
        "{fresh}"
    );

    // The cache survives image prune, and goes with builder prune.
    ok(hako(r, &["image", "prune", "-f"]), "image prune");
    let kept = ok(build(r, c, &["-t", "cache:1"]), "after prune");
    assert_eq!(kept.matches("CACHED").count(), 3, "{kept}");
    ok(hako(r, &["builder", "prune", "-f"]), "builder prune");
    let gone = ok(build(r, c, &["-t", "cache:1"]), "after builder prune");
    assert!(!gone.contains("CACHED"), "{gone}");
}

/// A failing RUN names the line, shows its exit code and output, and tags nothing; a
/// Dockerfile mistake names its line; nothing half-built is left.
#[test]
fn build_errors_point_at_the_line_and_tag_nothing() {
    if !require_root("build runs RUN steps in containers") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(
        c,
        "Dockerfile",
        "FROM busybox\nRUN echo about to fail\n\nRUN echo oops >&2; exit 7\nCMD true\n",
    );
    let o = build(r, c, &["-q", "-t", "broken:1"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("returned a non-zero code: 7"), "{err}");
    assert!(err.contains("oops"), "the captured output is shown: {err}");
    let images = ok(hako(r, &["images"]), "images");
    assert!(!images.contains("broken"), "{images}");
    let ps = ok(hako(r, &["ps", "-a", "-q"]), "ps");
    assert!(ps.trim().is_empty(), "no build container left: {ps}");

    write(c, "Dockerfile", "FROM busybox\nRUNN echo typo\n");
    let err = stderr(&build(r, c, &[]));
    assert!(err.contains("line 2") && err.contains("RUNN"), "{err}");
    write(c, "Dockerfile", "FROM busybox\nCOPY missing.txt /\n");
    let err = stderr(&build(r, c, &[]));
    assert!(
        err.contains("missing.txt") && err.contains("line 2"),
        "{err}"
    );
}

/// Named volumes outlive containers; anonymous ones (-v /path, an image VOLUME) start with
/// the image's files and go with `rm -v`; --mount and --tmpfs work; a volume in use is not
/// removed.
#[test]
fn volumes_named_anonymous_and_tmpfs() {
    if !require_root("volumes") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(
        hako(r, &["volume", "create", "--label", "k=v", "data"]),
        "volume create",
    );
    ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                "data:/data",
                "busybox",
                "sh",
                "-c",
                "echo kept > /data/f",
            ],
        ),
        "write to a volume",
    );
    let read = ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--mount",
                "type=volume,source=data,target=/d,readonly",
                "busybox",
                "sh",
                "-c",
                "cat /d/f; touch /d/x 2>&1 || true",
            ],
        ),
        "read it back",
    );
    assert!(
        read.contains("kept") && read.contains("Read-only"),
        "{read}"
    );
    let info = inspect_json(r, &["volume", "inspect", "data"]);
    assert_eq!(info[0]["Labels"]["k"], "v");
    assert!(info[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("data/_data"));

    // Copy-up: /etc in a fresh anonymous volume holds the image's files.
    ok(
        hako(
            r,
            &[
                "run",
                "--name",
                "anon",
                "--network",
                "none",
                "-v",
                "/etc",
                "busybox",
                "sh",
                "-c",
                "test -f /etc/passwd",
            ],
        ),
        "anonymous volume with the image's files",
    );
    let vols = ok(hako(r, &["volume", "ls", "-q"]), "volume ls");
    assert_eq!(vols.lines().count(), 2, "{vols}");
    let busy = hako(r, &["volume", "rm", "data"]);
    assert!(
        busy.status.success(),
        "data is not in use: {}",
        stderr(&busy)
    );
    ok(hako(r, &["volume", "create", "data"]), "again");
    ok(
        hako(
            r,
            &[
                "create", "--name", "user", "-v", "data:/x", "busybox", "true",
            ],
        ),
        "create",
    );
    let refused = hako(r, &["volume", "rm", "data"]);
    assert!(
        !refused.status.success() && stderr(&refused).contains("in use"),
        "{}",
        stderr(&refused)
    );
    ok(hako(r, &["rm", "-v", "anon"]), "rm -v");
    let vols = ok(hako(r, &["volume", "ls", "-q"]), "volume ls");
    assert_eq!(
        vols.trim(),
        "data",
        "the anonymous volume went with rm -v: {vols}"
    );

    let t = ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--tmpfs",
                "/scratch:size=1m",
                "busybox",
                "sh",
                "-c",
                "grep ' /scratch ' /proc/mounts",
            ],
        ),
        "tmpfs",
    );
    assert!(
        t.contains("tmpfs") && t.contains("size=1024k") && t.contains("noexec"),
        "{t}"
    );
    let dup = hako(
        r,
        &[
            "run", "--rm", "-v", "/a:/x", "--tmpfs", "/x", "busybox", "true",
        ],
    );
    assert_eq!(dup.status.code(), Some(125), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("duplicate mount point"));
}

fn inspect_json(root: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(hako(root, args), "inspect")).unwrap()
}

fn compose(root: &Path, dir: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = hako_cmd(root, &[]);
    cmd.arg("compose")
        .args(args)
        .current_dir(dir)
        .env("HOME", home);
    cmd.output().unwrap()
}

/// The seed's compose file: a service built from a Dockerfile, a published port reached
/// from the host, `~/data:/data`, a second service reached by name, depends_on with a
/// healthcheck; `down -v` leaves no container, network or volume behind.
#[test]
fn compose_up_reaches_services_and_down_cleans_up() {
    if !require_root("compose uses bridge networking") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let home = tempfile::tempdir().unwrap();
    fs::create_dir_all(home.path().join("data")).unwrap();
    fs::write(home.path().join("data/from-host.txt"), "host file\n").unwrap();
    let proj = tempfile::tempdir().unwrap();
    let dir = proj.path().join("seedapp");
    write(
        &dir,
        "web/Dockerfile",
        "FROM busybox\nRUN mkdir -p /www && echo 'hello from web' > /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    );
    let web_port = free_port();
    write(&dir, ".env", &format!("WEB_PORT={web_port}\n"));
    write(
        &dir,
        "docker-compose.yml",
        r#"version: "3.8"
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1:${WEB_PORT:-18090}:80"
    volumes:
      - ~/data:/data
      - cache:/cache
    depends_on:
      api:
        condition: service_healthy
  api:
    image: busybox
    command: sh -c "mkdir -p /w && echo api-answer > /w/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /w"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 100ms
      retries: 50
volumes:
  cache:
"#,
    );
    let up = compose(r, &dir, home.path(), &["up", "-d"]);
    assert!(up.status.success(), "up: {}", stderr(&up));
    let err = stderr(&up);
    assert!(err.contains("seedapp-api-1  Healthy"), "{err}");
    let page = std::process::Command::new("curl")
        .args(["-s", "-m", "5", &format!("http://127.0.0.1:{web_port}/")])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&page).trim(),
        "hello from web",
        "published port from .env"
    );
    let by_name = compose(
        r,
        &dir,
        home.path(),
        &["exec", "-T", "web", "wget", "-qO-", "http://api:8080/"],
    );
    assert_eq!(
        stdout(&by_name).trim(),
        "api-answer",
        "{}",
        stderr(&by_name)
    );
    let bind = compose(
        r,
        &dir,
        home.path(),
        &["exec", "-T", "web", "cat", "/data/from-host.txt"],
    );
    assert_eq!(stdout(&bind).trim(), "host file");
    let ps = ok(
        hako(
            r,
            &[
                "ps",
                "--filter",
                "label=com.docker.compose.project=seedapp",
                "--format",
                "{{.Names}}",
            ],
        ),
        "ps by project",
    );
    assert_eq!(ps.lines().count(), 2, "{ps}");
    let one_off = compose(
        r,
        &dir,
        home.path(),
        &["run", "--rm", "-T", "api", "echo", "one-off"],
    );
    assert_eq!(stdout(&one_off).trim(), "one-off", "{}", stderr(&one_off));
    // A second up changes nothing that is running.
    let again = compose(r, &dir, home.path(), &["up", "-d"]);
    assert!(
        stderr(&again).contains("seedapp-web-1  Running"),
        "{}",
        stderr(&again)
    );

    let down = compose(r, &dir, home.path(), &["down", "-v"]);
    assert!(down.status.success(), "down: {}", stderr(&down));
    assert!(ok(hako(r, &["ps", "-a", "-q"]), "ps").trim().is_empty());
    assert!(!ok(hako(r, &["network", "ls"]), "network ls").contains("seedapp"));
    assert!(ok(hako(r, &["volume", "ls", "-q"]), "volume ls")
        .trim()
        .is_empty());
}

/// `up` in the foreground shows each service's output, prefixed, and returns when they end;
/// bad files are refused with the key or service named.
#[test]
fn compose_foreground_and_bad_files() {
    if !require_root("compose uses bridge networking") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let proj = tempfile::tempdir().unwrap();
    let dir = proj.path().join("fg");
    write(
        &dir,
        "compose.yaml",
        "services:\n  one:\n    image: busybox\n    cpuset: \"0\"\n    cpu_shares: 512\n    mem_reservation: 32m\n    command: [\"sh\", \"-c\", \"echo from-one on $(grep Cpus_allowed_list /proc/self/status | cut -f2)\"]\n  two:\n    image: busybox\n    shm_size: 128m\n    command: [\"sh\", \"-c\", \"echo from-two $(df -k /dev/shm | tail -1 | tr -s \' \' | cut -d\' \' -f2)\"]\n",
    );
    let up = compose(r, &dir, proj.path(), &["up"]);
    let out = stdout(&up);
    // cpuset, cpu_shares and mem_reservation reach the container (this machine has 2 CPUs).
    assert!(out.contains("fg-one-1 | from-one on 0\n"), "{out}");
    // shm_size reaches /dev/shm (in 1K blocks).
    assert!(out.contains("fg-two-1 | from-two 131072"), "{out}");
    let config = ok(
        {
            let mut c = hako_cmd(r, &["compose", "config"]);
            c.current_dir(&dir);
            c.output().unwrap()
        },
        "config",
    );
    assert!(
        config.contains("one:") && config.contains("from-one"),
        "{config}"
    );
    ok(
        {
            let mut c = hako_cmd(r, &["compose", "down"]);
            c.current_dir(&dir);
            c.output().unwrap()
        },
        "down",
    );
    write(
        &dir,
        "compose.yaml",
        "services:\n  one:\n    image: busybox\n    comand: oops\n",
    );
    let bad = compose(r, &dir, proj.path(), &["up", "-d"]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("comand"),
        "{}",
        stderr(&bad)
    );
    // A service meets the rules `run` does (one checked request): what the command line
    // refuses, a compose file cannot ask for either, and nothing is created.
    for (key, why) in [
        ("cap_add: [NET_NOPE]", "unknown capability"),
        ("stop_signal: SIGNOPE", "SIGNOPE"),
        ("hostname: \"a b\"", "a b"),
    ] {
        write(
            &dir,
            "compose.yaml",
            &format!("services:\n  one:\n    image: busybox\n    {key}\n"),
        );
        let refused = compose(r, &dir, proj.path(), &["up", "-d"]);
        assert!(
            !refused.status.success() && stderr(&refused).contains(why),
            "{key}: {}",
            stderr(&refused)
        );
        assert_eq!(
            ok(hako(r, &["ps", "-aq"]), "ps"),
            "",
            "{key} created a container"
        );
    }
    let _ = compose(r, &dir, proj.path(), &["down"]);
}

/// The tree a build makes, as independent tools see it: umoci unpacks hako's image to the
/// same files hako exports; where podman is installed, its build of the same Dockerfile
/// gives the same files, modes and owners.
#[test]
fn built_trees_match_umoci_and_podman() {
    if !require_root("build runs RUN steps in containers") {
        return;
    }
    if !have("umoci") {
        skip(
            "built_trees_match_umoci_and_podman",
            "requires umoci (apt-get install umoci)",
        );
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let work = tempfile::tempdir().unwrap();
    let c = work.path().join("ctx");
    write(&c, "files/a.txt", "a\n");
    write(&c, "files/sub/b.txt", "b\n");
    write(&c, "one.txt", "one\n");
    write(
        &c,
        "Dockerfile",
        "FROM busybox\nRUN mkdir -p /data && echo x > /data/x && chmod 600 /data/x\nCOPY files/ /app/\nCOPY --chown=1:2 one.txt /app/one2.txt\nWORKDIR /w\nRUN echo y > y.txt\n",
    );
    ok(
        build(r, &c, &["--network", "none", "-t", "tree:1"]),
        "build",
    );
    let tree_of = |dir: &Path| -> Vec<String> {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("cd \"$1\" && find app data w -printf '%p %m %U:%G %s\\n' | sort")
            .arg("sh")
            .arg(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().map(String::from).collect()
    };
    // hako's own view: export of a container of the image.
    let id = ok(hako(r, &["create", "tree:1", "true"]), "create")
        .trim()
        .to_string();
    let exported = work.path().join("exported");
    fs::create_dir_all(&exported).unwrap();
    shell(&format!(
        "{HAKO} --root {} export {id} | tar -C {} -xf -",
        r.display(),
        exported.display()
    ));
    let ours = tree_of(&exported);
    assert!(
        ours.iter().any(|l| l.starts_with("app/one2.txt 644 1:2")),
        "{ours:?}"
    );
    assert!(
        ours.iter().any(|l| l.starts_with("data/x 600 0:0")),
        "{ours:?}"
    );

    // umoci: the saved OCI archive unpacks to the same tree.
    let oci = work.path().join("oci");
    fs::create_dir_all(&oci).unwrap();
    shell(&format!(
        "{HAKO} --root {} save --format oci-archive tree:1 | tar -C {} -xf - && umoci unpack --image {}:1 {}",
        r.display(),
        oci.display(),
        oci.display(),
        work.path().join("bundle").display()
    ));
    assert_eq!(
        tree_of(&work.path().join("bundle/rootfs")),
        ours,
        "umoci's view"
    );

    if !have("podman") || !have("runc") {
        skip(
            "built_trees_match_umoci_and_podman",
            "requires podman and runc (apt-get install podman runc)",
        );
        return;
    }
    let p = work.path();
    let conf = p.join("containers.conf");
    fs::write(&conf, "[engine]\nruntime = \"runc\"\n").unwrap();
    let podman = format!(
        // A tmpdir of its own too: `system reset` would otherwise wipe another podman's.
        "CONTAINERS_CONF={} podman --root {p}/ps --runroot {p}/pr --tmpdir {p}/pt --storage-driver overlay",
        conf.display(),
        p = p.display(),
    );
    shell(&format!(
        "{HAKO} --root {} save busybox | {podman} load -q",
        r.display()
    ));
    shell(&format!(
        "{podman} build -q --network none -t tree:1 {}",
        c.display()
    ));
    let theirs_dir = p.join("podman-export");
    fs::create_dir_all(&theirs_dir).unwrap();
    shell(&format!(
        "cid=$({podman} create tree:1 true) && {podman} export $cid | tar -C {} -xf - && {podman} rm $cid >/dev/null",
        theirs_dir.display()
    ));
    let theirs = tree_of(&theirs_dir);
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{podman} system reset -f >/dev/null 2>&1"))
        .status();
    assert_eq!(theirs, ours, "podman build of the same Dockerfile");
}
