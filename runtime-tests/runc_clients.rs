//! Real clients driving hako as their OCI runtime through runc's command line, each case
//! run with runc too: Podman, containerd (its io.containerd.runc.v2 shim) and dockerd.

use crate::harness::*;
use std::fs;
use std::process::{Command, Output};

/// Podman with `--runtime hako-runc`: run, run -d, exec, logs, stop, rm and exit codes, as
/// with runc.
#[test]
fn podman_drives_hako_as_its_runtime() {
    if !require_root("podman as root") {
        return;
    }
    if !have("podman") || !have("conmon") {
        skip(
            "podman_drives_hako_as_its_runtime",
            "requires podman and conmon (apt-get install podman conmon)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let runtime = d.join("hako-runc");
    std::os::unix::fs::symlink(HAKO, &runtime).unwrap();
    let conf = d.join("containers.conf");
    fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    let podman = |args: &[&str]| -> Output {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60", "podman", "--root"])
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            // Its own tmpdir (exit files, locks): not /run/libpod, shared with others.
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "overlay", "--runtime"])
            .arg(&runtime)
            .args(args)
            .env("CONTAINERS_CONF", &conf);
        c.output().unwrap()
    };
    shell(&format!(
        "{HAKO} --root {} save busybox | CONTAINERS_CONF={} podman --root {} --runroot {} --tmpdir {} --storage-driver overlay load -q",
        shared_root().display(),
        conf.display(),
        d.join("storage").display(),
        d.join("run").display(),
        d.join("tmp").display()
    ));
    // Podman's own default seccomp profile, compiled and installed by hako.
    let sec = ["--network", "none"];
    let mut args = vec!["run", "--rm"];
    args.extend(sec);
    args.extend(["busybox", "echo", "hello-from-podman"]);
    let o = podman(&args);
    assert_eq!(stdout(&o).trim(), "hello-from-podman", "{}", stderr(&o));
    let mut args = vec!["run", "--rm"];
    args.extend(sec);
    args.extend(["busybox", "sh", "-c", "exit 3"]);
    assert_eq!(podman(&args).status.code(), Some(3));
    let mut args = vec!["run", "-d", "--name", "pd"];
    args.extend(sec);
    args.extend(["busybox", "sh", "-c", "echo started; exec sleep 60"]);
    let o = podman(&args);
    assert!(o.status.success(), "run -d: {}", stderr(&o));
    let e = podman(&["exec", "pd", "cat", "/proc/1/comm"]);
    assert_eq!(stdout(&e).trim(), "sleep", "{}", stderr(&e));
    let e = podman(&["exec", "pd", "grep", "^Seccomp:", "/proc/1/status"]);
    assert_eq!(
        stdout(&e).split_whitespace().last(),
        Some("2"),
        "filter mode: {}",
        stdout(&e)
    );
    until("podman logs", || {
        stdout(&podman(&["logs", "pd"])).contains("started")
    });
    let o = podman(&["stop", "-t", "5", "pd"]);
    assert!(o.status.success(), "stop: {}", stderr(&o));
    let ps = stdout(&podman(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.contains("pd Exited"), "{ps}");
    let o = podman(&["rm", "pd"]);
    assert!(o.status.success(), "rm: {}", stderr(&o));
    let _ = podman(&["system", "reset", "-f"]);
}

/// containerd (Debian's package, through its io.containerd.runc.v2 shim) runs busybox with
/// hako as the runtime binary, exactly as with runc: run, run -d, exec, kill, delete.
#[test]
fn containerd_drives_hako_as_its_runtime() {
    if !require_root("containerd as root") {
        return;
    }
    if !have("containerd") || !have("ctr") {
        skip(
            "containerd_drives_hako_as_its_runtime",
            "containerd is not installed (apt-get install containerd)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sock = d.join("containerd.sock");
    fs::write(
        d.join("config.toml"),
        format!(
            "version = 2\nroot = \"{r}/root\"\nstate = \"{r}/state\"\n[grpc]\n  address = \"{s}\"\n",
            r = d.display(),
            s = sock.display()
        ),
    )
    .unwrap();
    let _daemon = Daemon(
        Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(d.join("containerd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    until("containerd listens", || sock.exists());
    let ctr = |args: &[&str]| {
        Command::new("timeout")
            .args([
                "-k",
                "5",
                "60",
                "ctr",
                "-a",
                sock.to_str().unwrap(),
                "-n",
                "hakotest",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let archive = d.join("busybox.tar");
    ok(
        hako(
            shared_root(),
            &["save", "-o", archive.to_str().unwrap(), "busybox"],
        ),
        "save busybox",
    );
    ok(
        ctr(&["image", "import", archive.to_str().unwrap()]),
        "ctr image import",
    );
    let image = "docker.io/library/busybox:latest";
    let hako_runc = d.join("hako-runc");
    std::os::unix::fs::symlink(HAKO, &hako_runc).unwrap();
    let mut runtimes = vec![hako_runc.display().to_string()];
    if have("runc") {
        runtimes.push("runc".into());
    }
    for (i, runtime) in runtimes.iter().enumerate() {
        let out = ok(
            ctr(&[
                "run",
                "--rm",
                "--runc-binary",
                runtime,
                image,
                &format!("fg{i}"),
                "sh",
                "-c",
                "echo from-$0; id -u",
                "ctr",
            ]),
            &format!("ctr run with {runtime}"),
        );
        assert_eq!(out, "from-ctr\n0\n", "{runtime}");
        let id = format!("bg{i}");
        ok(
            ctr(&[
                "run",
                "-d",
                "--runc-binary",
                runtime,
                image,
                &id,
                "sleep",
                "300",
            ]),
            "run -d",
        );
        let exec = ok(
            ctr(&[
                "task",
                "exec",
                "--exec-id",
                "e1",
                &id,
                "sh",
                "-c",
                "echo exec-$((6*7))",
            ]),
            "task exec",
        );
        assert_eq!(exec, "exec-42\n", "{runtime}");
        let listed = ok(ctr(&["task", "ls"]), "task ls");
        assert!(
            listed.contains(&id) && listed.contains("RUNNING"),
            "{runtime}: {listed}"
        );
        ok(ctr(&["task", "kill", "-s", "SIGKILL", &id]), "task kill");
        until("the task stops", || {
            stdout(&ctr(&["task", "ls"])).contains("STOPPED")
        });
        ok(ctr(&["task", "delete", &id]), "task delete");
        ok(ctr(&["container", "delete", &id]), "container delete");
    }
}

/// A private dockerd (Debian's docker.io: no bridge, no iptables, its own containerd)
/// with hako added as a runtime: `docker run --runtime hako` for run, exit codes, stdin,
/// run -d, exec, logs, stop, kill, rm, and the same steps with runc in the same test.
#[test]
fn dockerd_drives_hako_as_its_runtime() {
    if !require_root("dockerd as root") {
        return;
    }
    let docker_cli = std::path::Path::new("/usr/bin/docker");
    if !have("dockerd") || !docker_cli.exists() {
        skip(
            "dockerd_drives_hako_as_its_runtime",
            "dockerd is not installed (apt-get install docker.io)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sock = d.join("docker.sock");
    let hako_runc = d.join("hako-runc");
    std::os::unix::fs::symlink(HAKO, &hako_runc).unwrap();
    let _daemon = Daemon(
        Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            // No docker0, no iptables rules, nothing outside this test changes.
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--storage-driver=overlay2",
            ])
            .arg(format!("--add-runtime=hako={}", hako_runc.display()))
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(d.join("dockerd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let docker = |args: &[&str], stdin: Option<&str>| -> Output {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60"])
            .arg(docker_cli)
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args(args);
        match stdin {
            Some(text) => {
                use std::io::Write;
                c.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = c.spawn().unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
            None => c.stdin(std::process::Stdio::null()).output().unwrap(),
        }
    };
    until("dockerd answers", || {
        docker(&["version"], None).status.success()
    });
    let load = shell(&format!(
        "{HAKO} --root {} save busybox | /usr/bin/docker --host unix://{} load",
        shared_root().display(),
        sock.display()
    ));
    assert!(load.contains("busybox:latest"), "{load}");
    let mut runtimes = vec!["hako"];
    if have("runc") {
        runtimes.push("runc");
    }
    for runtime in runtimes {
        // Never a pull: the image is the one just loaded, and nothing leaves loopback.
        let run = |extra: &[&str], cmd: &[&str], stdin: Option<&str>| {
            let mut args = vec![
                "run",
                "--pull",
                "never",
                "--runtime",
                runtime,
                "--network",
                "none",
            ];
            args.extend(extra);
            args.push("busybox");
            args.extend(cmd);
            docker(&args, stdin)
        };
        let o = run(
            &["--rm"],
            &[
                "sh",
                "-c",
                "echo hello-$(id -u); grep ^Seccomp: /proc/self/status",
            ],
            None,
        );
        let out = stdout(&o);
        assert!(
            out.starts_with("hello-0\n") && out.trim_end().ends_with('2'),
            "{runtime}: {out}{}",
            stderr(&o)
        );
        assert_eq!(
            run(&["--rm"], &["sh", "-c", "exit 3"], None).status.code(),
            Some(3),
            "{runtime}"
        );
        let o = run(
            &["--rm", "-i"],
            &["tr", "a-z", "A-Z"],
            Some("through stdin\n"),
        );
        assert_eq!(stdout(&o), "THROUGH STDIN\n", "{runtime}: {}", stderr(&o));
        let name = format!("dk-{runtime}");
        let o = run(
            &["-d", "--name", &name],
            &[
                "sh",
                "-c",
                "echo started; trap 'echo got-term; exit 7' TERM; while true; do sleep 0.1; done",
            ],
            None,
        );
        assert!(o.status.success(), "{runtime} run -d: {}", stderr(&o));
        let e = docker(
            &[
                "exec",
                &name,
                "sh",
                "-c",
                "echo exec-$((6*7)) $(cat /proc/1/comm)",
            ],
            None,
        );
        assert_eq!(stdout(&e), "exec-42 sh\n", "{runtime}: {}", stderr(&e));
        until("docker logs", || {
            stdout(&docker(&["logs", &name], None)).contains("started")
        });
        ok(docker(&["stop", "-t", "10", &name], None), "docker stop");
        let code = ok(
            docker(&["inspect", "-f", "{{.State.ExitCode}}", &name], None),
            "inspect",
        );
        assert_eq!(code.trim(), "7", "{runtime}: the TERM trap ran");
        assert!(stdout(&docker(&["logs", &name], None)).contains("got-term"));
        ok(docker(&["rm", &name], None), "docker rm");
        let o = run(&["-d", "--name", &name], &["sleep", "300"], None);
        assert!(o.status.success(), "{runtime} run -d: {}", stderr(&o));
        ok(docker(&["kill", &name], None), "docker kill");
        let code = ok(
            docker(&["inspect", "-f", "{{.State.ExitCode}}", &name], None),
            "inspect",
        );
        assert_eq!(code.trim(), "137", "{runtime}: SIGKILL");
        ok(docker(&["rm", &name], None), "docker rm");
    }
    let ps = ok(docker(&["ps", "-aq"], None), "docker ps");
    assert_eq!(ps, "", "every container removed");
}
