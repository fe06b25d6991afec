//! `hako logs`: what a detached container wrote, stdout to stdout and stderr to stderr,
//! optionally with timestamps, the last N lines, from a time on, or followed.

use crate::cli::LogsArgs;
use crate::container::keeper::LOG_FILE;
use crate::logs::{self, Filter, Stream};
use crate::store::Store;
use crate::timefmt::now_secs;
use anyhow::{bail, Result};
use std::io::Write;
use std::time::Duration;

pub fn logs(store: &Store, args: &LogsArgs) -> Result<i32> {
    let c = store.lookup_container(&args.container)?;
    let path = store.container_dir(&c.id).join(LOG_FILE);
    let tail =
        match args.tail.as_str() {
            "all" | "-1" => None,
            n => Some(n.parse::<usize>().map_err(|_| {
                anyhow::anyhow!("--tail {n}: expected a number of lines or \"all\"")
            })?),
        };
    let since = match &args.since {
        Some(s) => Some(logs::parse_since(s, now_secs()).ok_or_else(|| {
            anyhow::anyhow!("--since {s}: expected RFC 3339 (2026-12-04T10:00:00Z), seconds, or a duration like 10m")
        })?),
        None => None,
    };
    let (entries, mut offset) = logs::read_from(&path, 0)?;
    print(
        logs::select(entries, &Filter { tail, since }),
        args.timestamps,
    )?;
    if !args.follow {
        return Ok(0);
    }
    // Follow until the container stops (and its last lines are written), as Docker does.
    loop {
        let running = store.lookup_container(&c.id).is_ok_and(|c| c.is_running());
        let (entries, next) = logs::read_from(&path, offset)?;
        offset = next;
        let filter = Filter { tail: None, since };
        print(logs::select(entries, &filter), args.timestamps)?;
        if !running {
            // One more read: the keeper flushes after PID 1 exits.
            std::thread::sleep(Duration::from_millis(50));
            let (entries, _) = logs::read_from(&path, offset)?;
            print(logs::select(entries, &filter), args.timestamps)?;
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print(entries: Vec<logs::Entry>, timestamps: bool) -> Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for e in entries {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        let written = if timestamps {
            write!(w, "{} {}", e.time, e.log)
        } else {
            write!(w, "{}", e.log)
        };
        if let Err(e) = written {
            // `hako logs | head` closes the pipe: that ends the command quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            bail!("write the logs: {e}");
        }
    }
    out.flush().ok();
    Ok(())
}
