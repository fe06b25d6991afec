use crate::harness::*;
use hako::digest::Digest;
use std::path::Path;

/// A layer tar with the given (path, contents) files; `None` contents make a directory.
fn layer(files: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match contents {
            Some(c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, path, c.as_bytes()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Writes a docker-archive (as `docker save` lays it out) of busybox plus `extra` layers.
fn docker_archive(path: &Path, tag: &str, extra: Vec<Vec<u8>>) {
    let base = std::fs::read(shared_root().join("busybox.tar")).unwrap();
    let layers: Vec<Vec<u8>> = std::iter::once(base).chain(extra).collect();
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| Digest::of_bytes(l).to_string())
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", Digest::of_bytes(&config_bytes).hex());
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut names = vec![];
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i:03}/layer.tar");
        add(&name, l);
        names.push(name);
    }
    add(&config_name, &config_bytes);
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}

#[test]
fn whiteouts_and_opaque_dirs_from_layers() {
    if !require_root("whiteouts") {
        return;
    }
    let root = shared_root();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("wh.tar");
    let l1 = layer(&[
        ("d", None),
        ("d/a", Some("a")),
        ("d/b", Some("b")),
        ("gone", Some("x")),
        ("keep", Some("k")),
    ]);
    let l2 = layer(&[
        (".wh.gone", Some("")),
        ("d", None),
        ("d/.wh..wh..opq", Some("")),
        ("d/c", Some("c")),
    ]);
    docker_archive(&archive, "layered:wh", vec![l1, l2]);
    let o = hako(root, &["load", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Loaded image: layered:wh"),
        "{}",
        stdout(&o)
    );
    let o = hako(
        root,
        &[
            "run",
            "--rm",
            "layered:wh",
            "sh",
            "-c",
            "ls /d; test -e /gone || echo gone-hidden; cat /keep",
        ],
    );
    assert_eq!(stdout(&o), "c\ngone-hidden\nk", "{}", stderr(&o));
}

#[test]
fn sixty_layer_image_runs() {
    if !require_root("long chains") {
        return;
    }
    let root = shared_root();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("deep.tar");
    let extra: Vec<Vec<u8>> = (0..64)
        .map(|i| layer(&[("layers", None), (&format!("layers/f{i:02}"), Some("x"))]))
        .collect();
    docker_archive(&archive, "deep:64", extra);
    let o = hako(root, &["load", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = hako(
        root,
        &["run", "--rm", "deep:64", "sh", "-c", "ls /layers | wc -l"],
    );
    assert_eq!(stdout(&o).trim(), "64", "{}", stderr(&o));
}

#[test]
fn hostile_tarballs_refused_store_intact() {
    if !require_root("hostile") {
        return;
    }
    // Its own store, with one good image in it, so every change is this test's.
    let store_dir = tempfile::tempdir().unwrap();
    let root = store_dir.path();
    let o = hako(
        root,
        &[
            "import",
            shared_root().join("busybox.tar").to_str().unwrap(),
            "busybox",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("escaped");
    let ok = std::process::Command::new("python3")
        .arg(project_dir().join("rootfs-fixtures/hostile.py"))
        .arg(dir.path())
        .arg(&probe)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let snapshot = |p: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(p))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let images_before = stdout(&hako(root, &["images", "-q"]));
    for name in [
        "dotdot",
        "absolute",
        "symlink-escape",
        "hardlink-escape",
        "hardlink-via-symlink",
        "truncated",
    ] {
        let (blobs, layers) = (snapshot("blobs/sha256"), snapshot("layers"));
        let tar = dir.path().join(format!("{name}.tar"));
        let o = hako(
            root,
            &["import", tar.to_str().unwrap(), &format!("hostile:{name}")],
        );
        assert_eq!(o.status.code(), Some(1), "{name} must be refused");
        let err = stderr(&o);
        assert!(
            err.contains("hostile") || err.contains("reading layer tar"),
            "{name}: {err}"
        );
        assert_eq!(
            (snapshot("blobs/sha256"), snapshot("layers")),
            (blobs, layers),
            "{name} changed the store"
        );
        assert!(!probe.exists(), "{name} escaped the layer directory");
    }
    assert_eq!(stdout(&hako(root, &["images", "-q"])), images_before);
}

#[test]
fn oci_layout_from_umoci_and_docker_archive_from_skopeo() {
    if !require_root("interop") {
        return;
    }
    if !have("umoci") || !have("skopeo") {
        skip(
            "interop",
            "requires umoci and skopeo (apt-get install umoci skopeo)",
        );
        return;
    }
    let root = shared_root();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let bundle = dir.path().join("bundle");
    let run = |cmd: &str| drop(shell(cmd));
    let l = layout.display();
    run(&format!(
        "umoci init --layout {l} && umoci new --image {l}:v1 && umoci unpack --image {l}:v1 {}",
        bundle.display()
    ));
    run(&format!(
        "tar -C {}/rootfs -xf {}",
        bundle.display(),
        shared_root().join("busybox.tar").display()
    ));
    run(&format!("echo from-umoci > {}/rootfs/marker && umoci repack --image {l}:v1 {} && umoci config --image {l}:v1 --config.cmd 'cat' --config.cmd '/marker'", bundle.display(), bundle.display()));
    run(&format!(
        "skopeo copy oci:{l}:v1 docker-archive:{}/da.tar:umoci/busy:v2",
        dir.path().display()
    ));
    // An OCI layout directory names the image by tag only: it loads dangling, by ID.
    let o = hako(root, &["load", "-i", &layout.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(stdout(&hako(root, &["run", "--rm", &id])), "from-umoci\n");
    let o = hako(
        root,
        &["load", "-i", &format!("{}/da.tar", dir.path().display())],
    );
    assert!(
        stdout(&o).contains("umoci/busy:v2"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(
        stdout(&hako(root, &["run", "--rm", "umoci/busy:v2"])),
        "from-umoci\n"
    );
}

#[test]
fn tag_images_rmi_inspect() {
    if !require_root("image verbs") {
        return;
    }
    let root = shared_root();
    assert!(hako(root, &["tag", "busybox", "mine/box:1"])
        .status
        .success());
    let images = stdout(&hako(root, &["images"]));
    assert!(
        images.lines().next().unwrap().starts_with("REPOSITORY ")
            && images.lines().next().unwrap().contains(" TAG "),
        "{images}"
    );
    assert!(
        images.contains("mine/box") && images.contains("busybox"),
        "{images}"
    );
    let id = inspect_field(root, "mine/box:1", "/Id");
    assert_eq!(id, inspect_field(root, "busybox", "/Id"));
    assert!(hako(root, &["rmi", "mine/box:1"]).status.success());
    assert!(!stdout(&hako(root, &["images"])).contains("mine/box"));
    assert!(hako(root, &["inspect", "busybox"]).status.success());
    let o = hako(root, &["rmi", "no/such:image"]);
    assert!(
        !o.status.success() && stderr(&o).contains("No such image"),
        "{}",
        stderr(&o)
    );
}
