//! The device nodes made in the container's /dev: the OCI defaults, then
//! `linux.devices`.

use super::{DeviceNode, PlanError};
use std::path::PathBuf;

/// The devices every container has (OCI runtime spec, "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: nix::sys::stat::SFlag::S_IFCHR,
        major: *major,
        minor: *minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn compile(linux: &oci_spec::runtime::Linux) -> Result<Vec<DeviceNode>, PlanError> {
    use nix::sys::stat::SFlag;
    use oci_spec::runtime::LinuxDeviceType;
    let mut out = default_devices();
    for d in linux.devices().as_deref().unwrap_or_default() {
        let path = d.path().clone();
        let bad = |why| PlanError::BadDevice {
            path: path.display().to_string(),
            why,
        };
        if !path.is_absolute() || !path.starts_with("/dev") {
            return Err(bad("devices must live under /dev"));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => return Err(bad("type \"a\" is for cgroup rules, not nodes")),
        };
        out.retain(|o| o.path != path);
        out.push(DeviceNode {
            path,
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}
