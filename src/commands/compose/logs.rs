//! Several containers' logs, prefixed with their names; `up` in the foreground waits here
//! until its containers stop, and stops them on Ctrl-C.

use super::*;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Each container's log lines, prefixed with its name as Compose does. With `until_exit`
/// (`up` in the foreground), returns when they have all stopped; Ctrl-C stops them.
pub(super) fn follow_logs(
    ctx: &Ctx,
    containers: &[ContainerRecord],
    follow: bool,
    timestamps: bool,
    until_exit: Option<&[ContainerRecord]>,
) -> Result<i32> {
    let width = containers.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut children = vec![];
    let mut pumps = vec![];
    for c in containers {
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.arg("--root").arg(ctx.root).arg("logs");
        if follow {
            cmd.arg("-f");
        }
        if timestamps {
            cmd.arg("-t");
        }
        cmd.arg(&c.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("follow the logs")?;
        let prefix = format!("{:width$} | ", c.name);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let prefix = prefix.clone();
            pumps.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    println!("{prefix}{line}");
                }
            }));
        }
        children.push(child);
    }
    if let Some(watched) = until_exit {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_interrupt as *const () as libc::sighandler_t,
            );
            libc::signal(
                libc::SIGTERM,
                on_interrupt as *const () as libc::sighandler_t,
            );
        }
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                for c in watched {
                    let _ = crate::commands::start_stop::stop_one(ctx.store, &c.id, None, None);
                }
                break;
            }
            let any_running = watched.iter().any(|c| {
                ctx.store
                    .lookup_container(&c.id)
                    .is_ok_and(|r| r.is_running())
            });
            if !any_running {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let the last lines through before the followers go.
        std::thread::sleep(Duration::from_millis(200));
        for c in &mut children {
            let _ = c.kill();
        }
    }
    for c in &mut children {
        let _ = c.wait();
    }
    for p in pumps {
        let _ = p.join();
    }
    Ok(0)
}
