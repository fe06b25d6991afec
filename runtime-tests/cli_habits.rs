//! What a Docker user types by habit: wrong verbs and flags, relative -v, -w, --format.

use crate::harness::*;

#[test]
fn unknown_verbs_and_flags_are_answered_in_dockers_words() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for (args, says) in [
        (vec!["pause2"], "'pause2' is not a hako command."),
        (vec!["logz", "x"], "'logz' is not a hako command."),
        (vec!["update", "x"], "'update' is not built yet"),
        (
            vec!["run", "--bogus", "busybox"],
            "unknown flag: --bogus\nSee 'hako run --help'.",
        ),
    ] {
        let o = hako(r, &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.starts_with("hako: ") && err.contains(says),
            "{args:?}: {err}"
        );
        // Never a "did you mean" pointing at an unrelated verb (pause → push).
        assert!(
            !err.contains("similar") && !err.contains("tip"),
            "{args:?}: {err}"
        );
    }
    // Nothing was written for a command line that was refused.
    assert_eq!(std::fs::read_dir(r).unwrap().count(), 0);
    assert!(ok(hako(r, &["completion", "bash"]), "completion").contains("_hako()"));
    assert!(ok(hako(r, &["completion", "zsh"]), "completion").contains("#compdef hako"));
    assert!(ok(hako(r, &["__man"]), "man").contains(".TH hako 1"));
    assert!(ok(hako(r, &["version"]), "version").starts_with("hako version "));
}

#[test]
fn relative_volumes_workdirs_and_terminal_warnings() {
    if !require_root("run habits") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let o = hako_cmd(
        shared_root(),
        &[
            "run",
            "--rm",
            "-v",
            "./shared:/x",
            "-w",
            "/made/for/me",
            "busybox",
            "sh",
            "-c",
            "pwd > /x/pwd",
        ],
    )
    .current_dir(work.path())
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // ./shared was resolved against the working directory and created there.
    let pwd = std::fs::read_to_string(work.path().join("shared/pwd")).unwrap();
    assert_eq!(pwd, "/made/for/me\n");
    let o = hako(shared_root(), &["run", "--rm", "-it", "busybox", "true"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("stdin is not one"), "{}", stderr(&o));
}

#[test]
fn format_templates_on_inspect_ps_and_images() {
    if !require_root("--format") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let run = hako(
        r,
        &[
            "run", "--name", "fmt", "-e", "A=1", "busybox", "sh", "-c", "exit 3",
        ],
    );
    assert_eq!(run.status.code(), Some(3));
    let f = |args: &[&str]| ok(hako(r, args), &format!("{args:?}"));
    assert_eq!(
        f(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "fmt"
        ]),
        "exited 3\n"
    );
    assert_eq!(
        f(&["inspect", "-f", "{{json .Config.Cmd}}", "fmt"]),
        "[\"sh\",\"-c\",\"exit 3\"]\n"
    );
    assert_eq!(f(&["inspect", "--format", "{{.Name}}", "fmt"]), "/fmt\n");
    assert_eq!(
        f(&[
            "inspect",
            "-f",
            "{{range .Config.Env}}{{if eq . \"A=1\"}}found{{end}}{{end}}",
            "fmt"
        ]),
        "found\n"
    );
    let table = f(&["ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"]);
    let mut lines = table.lines();
    assert!(
        lines.next().unwrap().starts_with("NAMES   STATUS"),
        "{table}"
    );
    assert!(
        lines.next().unwrap().starts_with("fmt     Exited (3)"),
        "{table}"
    );
    assert_eq!(
        f(&["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"]),
        "fmt\n"
    );
    assert_eq!(f(&["ps", "-a", "--filter", "exited=4", "-q"]), "");
    assert_eq!(
        f(&["ps", "-l", "--format", "{{.Names}} {{.State}}"]),
        "fmt exited\n"
    );
    assert_eq!(
        f(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    ok(hako(r, &["tag", "busybox", "me/tool:v1"]), "tag");
    assert_eq!(
        f(&["images", "me/tool", "--format", "{{.Repository}}:{{.Tag}}"]),
        "me/tool:v1\n"
    );
    assert_eq!(
        f(&[
            "images",
            "--filter",
            "reference=me/*",
            "--format",
            "{{.Tag}}"
        ]),
        "v1\n"
    );
    assert_eq!(f(&["images", "busybox:nope", "-q"]), "");
    let o = hako(r, &["inspect", "-f", "{{.Name", "fmt"]);
    assert!(
        !o.status.success() && stderr(&o).contains("template"),
        "{}",
        stderr(&o)
    );
}

/// `--env-file` as `docker run` reads it (values verbatim, `-e` wins over the file, a bad
/// name refused with its line) and `--cidfile` (the ID written; an existing file refused
/// before anything is created).
#[test]
fn env_file_and_cidfile() {
    if !require_root("env-file and cidfile") {
        return;
    }
    let r = shared_root();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("app.env");
    std::fs::write(&env, "# settings\nFROM_FILE=\"quoted\"\nBOTH=file\n").unwrap();
    let env_arg = env.display().to_string();
    let out = ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--env-file",
                &env_arg,
                "-e",
                "BOTH=flag",
                "busybox",
                "sh",
                "-c",
                "echo $FROM_FILE $BOTH",
            ],
        ),
        "run --env-file",
    );
    assert_eq!(out.trim(), "\"quoted\" flag");
    std::fs::write(&env, "GOOD=1\nbad key=1\n").unwrap();
    let bad = hako(
        r,
        &["run", "--rm", "--env-file", &env_arg, "busybox", "true"],
    );
    assert_eq!(bad.status.code(), Some(125), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("line 2"), "{}", stderr(&bad));

    let cid = dir.path().join("cid");
    let cid_arg = cid.display().to_string();
    let id = ok(
        hako(r, &["create", "--cidfile", &cid_arg, "busybox", "true"]),
        "create --cidfile",
    );
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let again = hako(r, &["create", "--cidfile", &cid_arg, "busybox", "true"]);
    assert_eq!(again.status.code(), Some(125), "{}", stderr(&again));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    ok(hako(r, &["rm", id.trim()]), "rm");
}
