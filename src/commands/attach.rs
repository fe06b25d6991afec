//! `hako attach`: the terminal joins a detached container through its keeper's socket.
//! Ctrl-P Ctrl-Q (Docker's detach keys, or `--detach-keys`) leaves it running.

use crate::cli::AttachArgs;
use crate::container::keeper::attach_socket;
use crate::launcher::tty::RawMode;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Read, Write};

/// `ctrl-p,ctrl-q` → the bytes the terminal sends for them.
fn detach_keys(spec: &str) -> Result<Vec<u8>> {
    spec.split(',')
        .map(|k| match k.trim().strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 && c.as_bytes()[0].is_ascii_lowercase() => {
                Ok(c.as_bytes()[0] - b'a' + 1)
            }
            _ if k.len() == 1 => Ok(k.as_bytes()[0]),
            _ => bail!("--detach-keys {spec}: use a comma-separated list like ctrl-p,ctrl-q"),
        })
        .collect()
}

pub fn attach(store: &Store, args: &AttachArgs) -> Result<i32> {
    let keys = detach_keys(&args.detach_keys)?;
    let c = store.lookup_container(&args.container)?;
    if !c.is_running() {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let mut socket =
        std::os::unix::net::UnixStream::connect(attach_socket(&c.id)).with_context(|| {
            format!(
                "connect to the keeper of {} (was it started with -d?)",
                args.container
            )
        })?;
    let _raw = (c.config.tty && std::io::stdin().is_terminal())
        .then(RawMode::enter)
        .flatten();
    // Input: a thread copies the terminal to the keeper, watching for the detach keys.
    if !args.no_stdin {
        let mut to_keeper = socket.try_clone()?;
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 4096];
            let mut matched = 0;
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for &b in &buf[..n] {
                    matched = if b == keys[matched] {
                        matched + 1
                    } else {
                        usize::from(b == keys[0])
                    };
                    if matched == keys.len() {
                        let _ = to_keeper.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
                if to_keeper.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    // Output: the keeper's frames, stdout and stderr apart.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut header = [0u8; 5];
    let mut detached = false;
    loop {
        if socket.read_exact(&mut header).is_err() {
            detached = store.lookup_container(&c.id).is_ok_and(|c| c.is_running());
            break;
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut data = vec![0u8; len];
        if socket.read_exact(&mut data).is_err() {
            break;
        }
        let w: &mut dyn Write = if header[0] == 2 { &mut err } else { &mut out };
        let _ = w.write_all(&data);
        let _ = w.flush();
    }
    drop(_raw);
    if detached {
        eprintln!("read escape sequence");
        return Ok(0);
    }
    // The container ended: its exit code, once the keeper has recorded it.
    for _ in 0..200 {
        if let Ok(done) = store.lookup_container(&c.id) {
            if !done.is_running() && done.state.status == crate::state::Status::Exited {
                return Ok(done.state.exit_code);
            }
        } else {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn detach_keys() {
        assert_eq!(super::detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(super::detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(super::detach_keys("ctrl-PP").is_err());
    }
}
