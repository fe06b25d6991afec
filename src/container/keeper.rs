//! Detached containers: `run -d` and `start` hand the container to a keeper of its own,
//! hako re-executed as `hako __supervise ID` in a new session (like Podman's conmon).
//! The keeper starts the container, writes its output to `container.log`, reaps it,
//! records how it ended and applies `--restart` and `--rm`. It is the container's parent,
//! so the container dies with it (a `kill -9` of the keeper leaves nothing running), and
//! nothing of hako stays resident once the container has stopped.

use super::{finish::finish, start};
use crate::exit::ExitCode;
use crate::launcher::supervise::{self, Outputs};
use crate::launcher::StartOptions;
use crate::logs::{self, Stream};
use crate::state::ContainerRecord;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;

/// The marker `stop` leaves so the keeper does not restart what a user stopped.
pub const STOP_MARKER: &str = "stop-requested";
pub const LOG_FILE: &str = "container.log";

/// Starts the keeper for `id` and waits until the container runs (or failed to start:
/// then the error and Docker's exit code come back here).
pub fn spawn_keeper(store: &Store, id: &str) -> Result<()> {
    launch_keeper(store, id)?.wait()
}

/// A keeper started but not yet heard from: several containers start side by side
/// (`compose up`) when their keepers are launched first and waited for after.
pub struct PendingKeeper {
    child: std::process::Child,
    report: std::fs::File,
    id: String,
}

/// Starts the keeper for `id` without waiting for its report.
pub fn launch_keeper(store: &Store, id: &str) -> Result<PendingKeeper> {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("create the keeper's pipe")?;
    let exe = std::env::current_exe().context("find the hako binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(store.root())
        .args(["__supervise", id, "--notify-fd", "3"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let notify = write_end.as_raw_fd();
    // SAFETY: setsid and dup2 are async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            // A session of its own: the terminal's Ctrl-C and hang-up never reach it.
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // dup2 clears close-on-exec on the copy: fd 3 is the keeper's report line.
            nix::unistd::dup2(notify, 3).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd.spawn().context("start the container's keeper")?;
    drop(write_end);
    Ok(PendingKeeper {
        child,
        report: std::fs::File::from(read_end),
        id: id.to_string(),
    })
}

impl PendingKeeper {
    /// Waits for the keeper's report: the container runs, or why it does not.
    pub fn wait(mut self) -> Result<()> {
        let mut report = String::new();
        self.report
            .read_to_string(&mut report)
            .context("read the keeper's report")?;
        let id = &self.id;
        if report.starts_with("ok") {
            // The keeper lives on; it is not ours to wait for (init reaps it once we exit).
            std::mem::forget(self.child);
            return Ok(());
        }
        let _ = self.child.wait();
        match report.strip_prefix("err ").and_then(|r| r.split_once(' ')) {
            Some((code, message)) => {
                let code: i32 = code.parse().unwrap_or(125);
                Err(anyhow::anyhow!("{}", message.trim_end()).context(ExitCode(code)))
            }
            None => bail!("the container's keeper ended before starting it (see hako logs {id})"),
        }
    }
}

/// The keeper itself (`hako __supervise ID`): starts the container, keeps it and restarts
/// it as its policy says. `notify_fd` is the pipe `launch_keeper` waits on.
pub fn keep(store: &Store, container: &str, notify_fd: Option<i32>) -> Result<i32> {
    set_process_name("hako-keeper");
    let mut record = store.lookup_container(container)?;
    let dir = store.container_dir(&record.id);
    // A stop before this start does not count for it.
    let _ = std::fs::remove_file(dir.join(STOP_MARKER));
    let mut notify = notify_fd.map(|fd| {
        // SAFETY: the fd was handed to us by spawn_keeper and is ours alone.
        std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    });
    loop {
        let result = run_once(store, &mut record, &dir, &mut notify);
        let started = notify.is_none();
        let code = match &result {
            Ok(code) => *code,
            Err(e) => crate::exit::exit_code_for(e),
        };
        if let Some(mut n) = notify.take() {
            // It never ran: tell `run -d` why, with the exit code it should give.
            let e = result
                .as_ref()
                .err()
                .map(crate::exit::describe)
                .unwrap_or_default();
            let _ = writeln!(n, "err {code} {e}");
        }
        let stopped_by_user = dir.join(STOP_MARKER).exists();
        let restart = started
            && record.host_config.restart.should_restart(
                code,
                record.state.restart_count,
                stopped_by_user,
            );
        if !restart {
            let _ = std::fs::remove_file(attach_socket(&record.id));
            for p in finish(store, &mut record, &result) {
                eprintln!("hako: cleanup: {p}");
            }
            return Ok(0);
        }
        // Restarting still reports what the cleanup of the last run could not do.
        for p in finish(store, &mut record, &result) {
            eprintln!("hako: cleanup before restart: {p}");
        }
        if !store.container_dir(&record.id).exists() {
            return Ok(0); // removed while it ran (rm -f)
        }
        record.state.restart_count += 1;
        // Docker's back-off is longer; a short pause keeps a crash loop from spinning.
        std::thread::sleep(std::time::Duration::from_millis(
            100 * record.state.restart_count.min(10) as u64,
        ));
    }
}

/// One start of the container, up to its exit: the code it exited with.
fn run_once(
    store: &Store,
    record: &mut ContainerRecord,
    dir: &Path,
    notify: &mut Option<std::fs::File>,
) -> Result<i32> {
    let mut log = logs::Writer::open(&dir.join(LOG_FILE)).context("open the container's log")?;
    let tty = record.config.tty;
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // `-i`: a pipe the container reads and `hako attach` writes into; else /dev/null.
    let (in_r, in_w): (OwnedFd, Option<OwnedFd>) = if record.config.open_stdin && !tty {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        (r, Some(w))
    } else {
        (
            std::fs::File::open("/dev/null")
                .context("open /dev/null")?
                .into(),
            None,
        )
    };
    let listener = attach_listener(&record.id, store.mode())?;
    let options = StartOptions {
        interactive: record.config.open_stdin,
        preserve_fds: 0,
        die_with_parent: true,
        start_fifo: None,
        stdio: Some([in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()]),
    };
    let mut running = start::start(store, record, None, &options)?;
    // Only the container holds the write ends now: its exit closes them.
    drop((out_w, err_w, in_r));
    if let Some(mut n) = notify.take() {
        let _ = n.write_all(b"ok\n");
    }
    let pty = running.started.pty_master.take();
    // With -t, input goes to the pty (a second descriptor of the same master).
    let stdin = match &pty {
        Some(master) => Some(master.try_clone().context("duplicate the pty master")?),
        None => in_w,
    };
    let outputs = if tty {
        Outputs {
            stdout: None,
            stderr: None,
            pty,
        }
    } else {
        Outputs {
            stdout: Some(out_r),
            stderr: Some(err_r),
            pty: None,
        }
    };
    let code = supervise::keep(
        running.started.pid,
        &mut running.signals,
        outputs,
        Some(supervise::AttachPoint { listener, stdin }),
        |is_err, bytes| {
            let stream = if is_err {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let _ = log.write(stream, bytes);
        },
    )
    .context("keep the container")?;
    let _ = log.flush();
    Ok(code)
}

/// Where `hako attach` finds a container's keeper (host-wide, short enough for a socket
/// path whatever the data root).
pub fn attach_socket(id: &str) -> std::path::PathBuf {
    crate::rootless::run_dir()
        .join("attach")
        // 16 hex digits are unique enough and keep the path within a socket's 108 bytes
        // under a user's run directory.
        .join(format!("{}.sock", &id[..16.min(id.len())]))
}

fn attach_listener(
    id: &str,
    mode: crate::rootless::Mode,
) -> Result<std::os::unix::net::UnixListener> {
    let path = attach_socket(id);
    if mode.rootless() {
        // The user's run directory (or its /tmp fallback) must be theirs alone.
        let run = crate::rootless::run_dir();
        crate::rootless::storage::ensure_private_dir(&run)
            .with_context(|| format!("create {}", run.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    // A keeper killed earlier left its socket: this one replaces it.
    let _ = std::fs::remove_file(&path);
    let l = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("listen on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Ok(l)
}

fn set_process_name(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        let _ = nix::sys::prctl::set_name(&c);
    }
}
