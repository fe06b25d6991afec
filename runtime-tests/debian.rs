//! A real distribution: Debian bookworm minbase from debootstrap (rootfs-fixtures/debian.sh),
//! imported as an image. bash, dpkg, users from /etc/passwd, a pty, commit and export.

use crate::harness::*;

/// One data root with the fixture imported as `debian:bookworm`, for this file's tests.
pub(crate) fn debian_root() -> &'static std::path::Path {
    static ROOT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = debian_fixture();
        ok(
            hako(
                dir.path(),
                &["import", fixture.to_str().unwrap(), "debian:bookworm"],
            ),
            "import the Debian fixture",
        );
        dir
    })
    .path()
}

#[test]
fn debian_runs_bash_dpkg_and_a_shell_on_a_pty() {
    if !require_root("debian") {
        return;
    }
    let root = debian_root();
    // Size, as in `docker images`: the unpacked layer, not the gzip file it came in.
    let tar_size = shell(&format!("gzip -dc {} | wc -c", debian_fixture().display()));
    assert_eq!(
        inspect_field(root, "debian:bookworm", "/Size"),
        serde_json::json!(tar_size.trim().parse::<u64>().unwrap())
    );
    let out = ok(
        hako(
            root,
            &[
                "run", "--rm", "debian:bookworm", "bash", "-c",
                "cat /etc/debian_version; dpkg-query -W -f='${Package}\\n' | wc -l; id -un; echo $HOME",
            ],
        ),
        "run bash",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("12."), "bookworm: {out}");
    let packages: usize = lines[1].trim().parse().unwrap();
    assert!(packages > 50, "a minbase has its packages installed: {out}");
    assert_eq!(&lines[2..], ["root", "/root"]);
    if !have("script") {
        return;
    }
    // An interactive bash: input typed on a pty, its exit code back.
    let out = type_into_pty(
        root,
        "debian:bookworm",
        "bash --norc",
        "echo bash-$((6*7)) $BASH_VERSINFO; exit 4",
    );
    assert!(out.contains("bash-42 5"), "{out:?}");
    assert!(out.contains("rc=4"), "{out:?}");
}

#[test]
fn debian_users_from_passwd_survive_a_commit() {
    if !require_root("debian users") {
        return;
    }
    let root = debian_root();
    // useradd writes passwd, shadow and group, and makes the home directory.
    run_named(
        root,
        "adduser",
        "debian:bookworm",
        "useradd -m -s /bin/bash alice && echo hi > /home/alice/note && chown alice: /home/alice/note",
    );
    ok(hako(root, &["commit", "adduser", "debian:alice"]), "commit");
    let out = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "--user",
                "alice",
                "-w",
                "/home/alice",
                "debian:alice",
                "bash",
                "-c",
                "id -un; echo $HOME; cat note; touch /etc/x 2>&1 || echo denied",
            ],
        ),
        "run as alice",
    );
    assert_eq!(
        out.lines().take(3).collect::<Vec<_>>(),
        ["alice", "/home/alice", "hi"]
    );
    assert!(
        out.contains("Permission denied") && out.contains("denied"),
        "{out}"
    );
    // export → import → run: the tree survives the round trip, owners included.
    let tar = root.join("alice.tar");
    ok(
        hako(root, &["export", "adduser", "-o", tar.to_str().unwrap()]),
        "export",
    );
    ok(
        hako(root, &["import", tar.to_str().unwrap(), "debian:flat"]),
        "import",
    );
    let owner = ok(
        hako(
            root,
            &[
                "run",
                "--rm",
                "debian:flat",
                "stat",
                "-c",
                "%U %a",
                "/home/alice/note",
            ],
        ),
        "run the imported export",
    );
    assert_eq!(owner, "alice 644\n");
    ok(hako(root, &["rm", "adduser"]), "rm");
}
