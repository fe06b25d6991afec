//! The container service: everything that happens to a container between a front end
//! deciding what it wants and the launcher cloning its init. Every front end — the verbs
//! (`run`, `create`, `start`, `rm`…), `build`'s RUN steps, compose services, the Docker
//! API — goes through here, so a container is checked, created, started, kept and removed
//! the same way whoever asked for it.
//!
//! - `request`: what a new container asks for, and the one `check` of it;
//! - `create`: the checked request and an image → volumes, spec, bundle and record;
//! - `start`: the bundle → cgroup, launcher, network → a running container;
//! - `keeper`: a detached container's parent process (`run -d`, `start`, restarts);
//! - `finish`: how it ended, recorded; `teardown`: the container removed;
//! - `hosts`: /etc/hosts, hostname and resolv.conf, and peers kept in step;
//! - `reap`: what a killed hako left behind, finished by the next command.

pub mod create;
pub mod finish;
pub mod hosts;
pub mod keeper;
pub mod reap;
pub mod request;
pub mod start;
