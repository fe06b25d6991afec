//! `hako rm [-f]`: teardown collects every failure instead of stopping at the first.

use crate::cli::RmArgs;
use crate::store::Store;
use anyhow::{bail, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub fn rm(store: &Store, args: &RmArgs) -> Result<i32> {
    let mut failures = vec![];
    for name in &args.containers {
        match remove_one(store, name, args.force, args.volumes) {
            Ok(()) => println!("{name}"),
            Err(e) => failures.push(format!("{name}: {}", crate::exit::describe(&e))),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(0)
}

pub fn remove_one(store: &Store, name: &str, force: bool, volumes: bool) -> Result<()> {
    let c = store.lookup_container(name)?;
    if c.is_running() {
        if !force {
            bail!(
                "cannot remove container {}: it is running; stop it first or use rm -f",
                c.short_id()
            );
        }
        // Killing PID 1 of a PID namespace kills every process in it.
        kill(Pid::from_raw(c.state.pid), Signal::SIGKILL)?;
        for _ in 0..500 {
            if !c.is_running() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let mut problems = crate::container::finish::teardown(store, &c);
    if volumes {
        problems.extend(crate::container::finish::remove_anonymous_volumes(
            store, &c,
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}
