//! commit, export/import, save/load, and cleanup, on real containers and real overlays.

use crate::harness::*;
use std::path::Path;

/// Everything below these paths, with type, size and contents of small files: enough to
/// tell two trees apart.
/// /etc/hostname and /etc/hosts are bind mounts of the container's own (its name and
/// address), not image content.
const LISTING: &str =
    "for p in $(find /bin /etc /var /tmp /srv /home -xdev | grep -v -e /etc/hostname -e /etc/hosts | sort); do \
    if [ -L $p ]; then echo \"$p -> $(readlink $p)\"; \
    elif [ -d $p ]; then echo \"$p/\"; elif [ -p $p ]; then echo \"$p fifo\"; \
    else echo \"$p $(stat -c '%s %h %a' $p) $(head -c 40 $p | md5sum | cut -c1-8)\"; fi; done";

#[test]
fn commit_turns_deletions_and_replacements_into_whiteouts_and_opaque_dirs() {
    if !require_root("commit whiteouts") {
        return;
    }
    let root = shared_root();
    let name = format!("commit-wh-{}", std::process::id());
    // A base whose /var/cache and /home have contents of their own.
    let base = format!("committed/base:{}", std::process::id());
    run_named(
        root,
        &format!("{name}-base"),
        "busybox",
        "mkdir -p /var/cache/old /home/u && echo a > /var/cache/a && echo b > /home/u/b",
    );
    ok(
        hako(root, &["commit", &format!("{name}-base"), &base]),
        "base commit",
    );
    let changes = "rm /bin/ls /etc/group && \
        rm -rf /home && echo file-now > /home && \
        rm -rf /var/cache && mkdir -p /var/cache && echo refilled > /var/cache/f && \
        mkdir -p /srv/a/b && echo deep > /srv/a/b/c && ln /srv/a/b/c /srv/hard && \
        ln -s ../srv/a /tmp/link && mkfifo /tmp/fifo";
    let before = run_named(root, &name, &base, &format!("{changes} && {LISTING}"));
    let image = format!("committed/wh:{}", std::process::id());
    let id = ok(hako(root, &["commit", &name, &image]), "commit");
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let after = ok(
        hako(root, &["run", "--rm", &image, "sh", "-c", LISTING]),
        "run the committed image",
    );
    assert_eq!(
        before, after,
        "the committed image shows exactly the changed tree"
    );
    assert!(
        after.contains("/home 9 1"),
        "a directory replaced by a file: {after}"
    );
    assert!(
        after.contains("/srv/hard 5 2"),
        "hardlinks stay hardlinks: {after}"
    );
    assert!(!after.contains("/bin/ls "), "deleted file is gone: {after}");

    // Opaque directory: the old contents of /var/cache are hidden, the new ones are there.
    let var = ok(
        hako(root, &["run", "--rm", &image, "find", "/var/cache"]),
        "find",
    );
    assert_eq!(var, "/var/cache\n/var/cache/f\n");
    ok(hako(root, &["rm", &name, &format!("{name}-base")]), "rm");
    ok(hako(root, &["rmi", &image, &base]), "rmi");
}

#[test]
fn commit_takes_changes_message_author_and_the_container_command() {
    if !require_root("commit config") {
        return;
    }
    let root = shared_root();
    let name = format!("commit-cfg-{}", std::process::id());
    ok(
        hako(
            root,
            &[
                "run",
                "--name",
                &name,
                "-e",
                "GREETING=hi",
                "-w",
                "/tmp",
                "busybox",
                "sh",
                "-c",
                "echo $GREETING from $(pwd) > /out",
            ],
        ),
        "run",
    );
    let image = format!("committed/cfg:{}", std::process::id());
    ok(
        hako(
            root,
            &[
                "commit",
                "-m",
                "first cut",
                "-a",
                "Jane <jane@example.com>",
                "-c",
                "LABEL stage=test",
                "-c",
                "EXPOSE 8080",
                &name,
                &image,
            ],
        ),
        "commit",
    );
    // The container's command and environment became the image's, as in docker commit.
    assert_eq!(
        ok(
            hako(root, &["run", "--rm", &image]),
            "run with the committed command"
        ),
        ""
    );
    assert_eq!(
        ok(
            hako(
                root,
                &[
                    "run",
                    "--rm",
                    &image,
                    "sh",
                    "-c",
                    "cat /out; echo $GREETING; pwd"
                ]
            ),
            "read"
        ),
        "hi from /tmp\nhi\n/tmp\n"
    );
    assert_eq!(
        inspect_field(root, &image, "/Author"),
        "Jane <jane@example.com>"
    );
    assert_eq!(inspect_field(root, &image, "/Comment"), "first cut");
    assert_eq!(inspect_field(root, &image, "/Config/Labels/stage"), "test");
    assert!(inspect_field(root, &image, "/Config/ExposedPorts/8080~1tcp").is_object());
    ok(hako(root, &["rm", &name]), "rm");
    ok(hako(root, &["rmi", &image]), "rmi");
}

#[test]
fn reproducible_commits_of_the_same_changes_are_byte_identical() {
    if !require_root("reproducible commit") {
        return;
    }
    let root = shared_root();
    let pid = std::process::id();
    let mut ids = vec![];
    for i in 0..2 {
        let name = format!("repro-{pid}-{i}");
        run_named(
            root,
            &name,
            "busybox",
            "mkdir -p /app && echo same > /app/f && rm /bin/vi && sleep 1.1",
        );
        ids.push(ok(
            hako(root, &["commit", "--reproducible", &name]),
            "commit",
        ));
        // Without --reproducible the timestamps differ, and so do the images.
        ids.push(ok(hako(root, &["commit", &name]), "plain commit"));
        ok(hako(root, &["rm", &name]), "rm");
    }
    assert_eq!(ids[0], ids[2], "same changes, same image ID");
    assert_ne!(ids[1], ids[3], "plain commits carry their own time");
    for id in ids {
        let _ = hako(root, &["rmi", id.trim()]);
    }
}

#[test]
fn commit_freezes_a_running_container_and_leaves_volume_data_out_with_a_note() {
    if !require_root("commit running") {
        return;
    }
    let root = fresh_root("busybox");
    let root = root.path();
    ok(
        hako(
            root,
            &[
                "import",
                "-c",
                "VOLUME /vol",
                &shared_root().join("busybox.tar").display().to_string(),
                "withvol",
            ],
        ),
        "import with a VOLUME",
    );
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/data", host.path().display());
    let mut child = hako_cmd(
        root,
        &[
            "run",
            "--name",
            "live",
            "-v",
            &bind,
            "withvol",
            "sh",
            "-c",
            "echo kept > /kept; echo lost > /vol/x; echo host > /data/y; touch /ready; sleep 30",
        ],
    )
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !stdout(&hako(root, &["ps", "-q"])).contains(char::is_alphanumeric)
        || !host.path().join("y").exists()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "container never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    until("the container's /ready", || {
        hako(root, &["exec", "live", "test", "-e", "/ready"])
            .status
            .success()
    });
    let o = hako(root, &["--trace", "commit", "live", "snap"]);
    let err = stderr(&o);
    ok(o, "commit a running container");
    assert!(
        err.contains("freeze(") && err.contains("thaw("),
        "frozen for the walk: {err}"
    );
    // The image's VOLUME is an anonymous volume: its data was never in the container's
    // layer, and stays in the volume.
    let vols = ok(hako(root, &["volume", "ls", "-q"]), "volume ls");
    let vol = vols
        .lines()
        .next()
        .expect("an anonymous volume for /vol")
        .to_string();
    let mountpoint = ok(hako(root, &["volume", "inspect", &vol]), "volume inspect");
    let v: serde_json::Value = serde_json::from_str(&mountpoint).unwrap();
    let data = std::path::Path::new(v[0]["Mountpoint"].as_str().unwrap()).join("x");
    assert_eq!(std::fs::read_to_string(data).unwrap(), "lost\n");
    // Still running after the thaw.
    assert!(stdout(&hako(root, &["ps", "-q"])).contains(char::is_alphanumeric));
    let listing = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "snap",
                "sh",
                "-c",
                "cat /kept; ls -A /vol /data",
            ],
        ),
        "run snapshot",
    );
    assert_eq!(listing, "kept\n/data:\n\n/vol:\n");
    ok(hako(root, &["rm", "-f", "live"]), "rm -f");
    let _ = child.wait();
}

#[test]
fn export_import_round_trip_and_export_to_stdout() {
    if !require_root("export") {
        return;
    }
    let root = shared_root();
    let name = format!("export-{}", std::process::id());
    run_named(
        root,
        &name,
        "busybox",
        "echo exported > /marker; rm /bin/sed; head -c 3000000 /dev/urandom > /big",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fs.tar");
    ok(
        hako(root, &["export", "-o", file.to_str().unwrap(), &name]),
        "export -o",
    );
    // Into a pipe, big files are spliced from the page cache: the same bytes.
    let via_pipe = shell(&format!(
        "{HAKO} --root {} export {name} | sha256sum",
        root.display()
    ));
    assert_eq!(via_pipe, shell(&format!("sha256sum < {}", file.display())));
    let names = shell(&format!("tar -tf {}", file.display()));
    assert!(names.contains("marker\n") && !names.contains("bin/sed\n"));
    assert!(
        names.contains("proc/\n"),
        "mount points stay as empty directories"
    );

    let image = format!("flat/{name}");
    ok(
        hako(
            root,
            &[
                "import",
                "-m",
                "flattened",
                "-c",
                "CMD [\"cat\", \"/marker\"]",
                file.to_str().unwrap(),
                &image,
            ],
        ),
        "import",
    );
    assert_eq!(
        ok(hako(root, &["run", "--rm", &image]), "run imported"),
        "exported\n"
    );
    // A terminal is refused; a wrong container is a clear error.
    let o = hako(root, &["export", "no-such-container"]);
    assert!(!o.status.success() && stderr(&o).contains("No such container"));
    ok(hako(root, &["rm", &name]), "rm");
    ok(hako(root, &["rmi", &image]), "rmi");
}

#[test]
fn save_is_read_by_skopeo_and_umoci_and_loads_back() {
    if !require_root("save interop") {
        return;
    }
    if !have("umoci") || !have("skopeo") {
        skip(
            "save interop",
            "requires umoci and skopeo (apt-get install umoci skopeo)",
        );
        return;
    }
    let root = fresh_root("busybox");
    let root = root.path();
    run_named(root, "c", "busybox", "echo saved > /s; rm /bin/tr");
    ok(hako(root, &["commit", "c", "saved/app:v1"]), "commit");
    let id = ok(hako(root, &["images", "-q", "--no-trunc"]), "images");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    ok(
        hako(
            root,
            &[
                "save",
                "-o",
                &format!("{d}/da.tar"),
                "saved/app:v1",
                "busybox",
            ],
        ),
        "save",
    );
    // To a pipe, layers are spliced in: the same bytes as the file.
    assert_eq!(
        shell(&format!(
            "{HAKO} --root {} save saved/app:v1 busybox | sha256sum",
            root.display()
        )),
        shell(&format!("sha256sum < {d}/da.tar"))
    );
    ok(
        hako(
            root,
            &[
                "save",
                "--format",
                "oci-archive",
                "-o",
                &format!("{d}/oci.tar"),
                "saved/app:v1",
            ],
        ),
        "save oci",
    );

    let inspected = shell(&format!(
        "skopeo inspect docker-archive:{d}/da.tar:saved/app:v1"
    ));
    assert!(inspected.contains("\"Layers\""), "{inspected}");
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    shell(&format!("skopeo inspect oci-archive:{d}/oci.tar"));

    // umoci unpacks the OCI archive to the same tree hako's container shows.
    shell(&format!(
        "mkdir {d}/layout && tar -C {d}/layout -xf {d}/oci.tar && umoci unpack --image {d}/layout:v1 {d}/bundle"
    ));
    let umoci_tree = shell(&format!("cd {d}/bundle/rootfs && find . | sort"));
    ok(
        hako(root, &["run", "--name", "fresh", "saved/app:v1", "true"]),
        "fresh container",
    );
    ok(
        hako(root, &["export", "-o", &format!("{d}/fresh.tar"), "fresh"]),
        "export",
    );
    let hako_tree = shell(&format!(
        "mkdir {d}/x && tar -C {d}/x -xf {d}/fresh.tar && cd {d}/x && find . | grep -v -e '^./etc/host' -e '^./etc/resolv.conf' | sort"
    ));
    assert_eq!(umoci_tree, hako_tree);

    // Both archives load back into an empty store with the same image ID, several images
    // per archive.
    for (archive, expect) in [("da.tar", 2), ("oci.tar", 1)] {
        let other = tempfile::tempdir().unwrap();
        let out = ok(
            hako(other.path(), &["load", "-i", &format!("{d}/{archive}")]),
            "load",
        );
        assert_eq!(out.matches("Loaded image").count(), expect, "{out}");
        let ids = ok(
            hako(other.path(), &["images", "-q", "--no-trunc"]),
            "images",
        );
        assert!(id.lines().any(|l| ids.contains(l)), "{ids} vs {id}");
        assert_eq!(
            ok(
                hako(other.path(), &["run", "--rm", "saved/app:v1", "cat", "/s"]),
                "run loaded"
            ),
            "saved\n"
        );
    }
    // Saved to a terminal-less stdout too; a missing image is an error and writes nothing.
    let o = hako(
        root,
        &["save", "-o", &format!("{d}/none.tar"), "no/such:image"],
    );
    assert!(!o.status.success() && !Path::new(&format!("{d}/none.tar")).exists());
}

#[test]
fn removing_the_last_user_frees_layers_and_prune_cleans_up() {
    if !require_root("gc") {
        return;
    }
    let root = fresh_root("busybox");
    let root = root.path();
    // Directories only: `layers/` also holds each layer's `<diff_id>.size`.
    let count = |sub: &str| {
        std::fs::read_dir(root.join(sub))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir() || sub != "layers")
            .count()
    };
    let (layers0, blobs0) = (count("layers"), count("blobs/sha256"));

    run_named(root, "c", "busybox", "head -c 300000 /dev/urandom > /big");
    ok(hako(root, &["commit", "c", "big:1"]), "commit");
    ok(hako(root, &["commit", "c"]), "commit dangling");
    assert_eq!(
        count("layers"),
        layers0,
        "a committed layer is cached on first use"
    );
    ok(
        hako(root, &["run", "--rm", "big:1", "true"]),
        "first run of the commit",
    );
    assert_eq!(count("layers"), layers0 + 1, "both commits share one layer");
    let images = ok(hako(root, &["images"]), "images");
    assert!(
        images.contains("<none>       <none>"),
        "dangling shows as <none> <none>: {images}"
    );
    assert_eq!(
        ok(
            hako(root, &["images", "-q", "--filter", "dangling=true"]),
            "filter"
        )
        .lines()
        .count(),
        1
    );

    let df = ok(hako(root, &["system", "df"]), "df");
    assert!(
        df.starts_with("TYPE") && df.contains("Images") && df.contains("Containers"),
        "{df}"
    );

    // The container's image is protected; -f untags but keeps it for the container.
    let o = hako(root, &["rmi", "busybox"]);
    assert!(
        !o.status.success() && stderr(&o).contains("container"),
        "{}",
        stderr(&o)
    );
    let pruned = ok(hako(root, &["image", "prune", "-f"]), "image prune");
    assert!(
        pruned.contains("deleted: sha256:") && pruned.contains("Total reclaimed space"),
        "{pruned}"
    );
    assert_eq!(count("layers"), layers0 + 1, "big:1 still uses the layer");

    ok(hako(root, &["rmi", "big:1"]), "rmi");
    assert_eq!(
        count("layers"),
        layers0,
        "the last user is gone: so is the layer"
    );
    ok(hako(root, &["system", "prune", "-f", "-a"]), "system prune");
    assert_eq!(ok(hako(root, &["ps", "-aq"]), "ps"), "");
    assert_eq!(
        (count("layers"), count("blobs/sha256")),
        (0, 0),
        "everything unused is gone"
    );
    let _ = blobs0;
    // Without -f and with no answer, nothing happens.
    let o = hako(root, &["image", "prune"]);
    assert!(o.status.success() && !stdout(&o).contains("deleted"));
}
