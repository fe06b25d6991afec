//! AppArmor and SELinux labels from the spec (`process.apparmorProfile`,
//! `process.selinuxLabel`, `linux.mountLabel`). They are applied on exec, as runc does:
//! the init writes the profile or label to its `attr/exec`, so the kernel switches the
//! process at `execve` and hako's own setup keeps running unconfined. A label for an LSM
//! this host does not run is refused by name before anything is created: the bundle
//! asked for a confinement hako could not give.

use crate::sys::{Sys, SysError};
use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").is_dir()
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The labels a spec asks for, checked against the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub mount_label: Option<String>,
}

impl Labels {
    pub fn check(&self, apparmor: bool, selinux: bool) -> Result<(), String> {
        if let (Some(p), false) = (&self.apparmor_profile, apparmor) {
            return Err(format!("process.apparmorProfile {p:?}: AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y); remove the profile from the spec, or run where AppArmor is enabled"));
        }
        for (what, label) in [
            ("process.selinuxLabel", &self.selinux_label),
            ("linux.mountLabel", &self.mount_label),
        ] {
            if let (Some(l), false) = (label, selinux) {
                return Err(format!("{what} {l:?}: SELinux is not enabled on this host (no /sys/fs/selinux); remove the label from the spec, or run where SELinux is enabled"));
            }
        }
        Ok(())
    }

    /// `context=` for the filesystems the runtime mounts itself (tmpfs, devpts, mqueue…).
    pub fn mount_data(&self, data: &str) -> String {
        match &self.mount_label {
            Some(l) if data.is_empty() => format!("context=\"{l}\""),
            Some(l) => format!("{data},context=\"{l}\""),
            None => data.to_string(),
        }
    }
}

/// Arms the exec-time switch; the last step before `execve` that may still write /proc.
pub fn apply_on_exec(sys: &dyn Sys, labels: &Labels) -> Result<(), SysError> {
    if let Some(profile) = &labels.apparmor_profile {
        // The AppArmor-specific file since 5.8 (LSM stacking), the shared one before.
        let own = Path::new("/proc/thread-self/attr/apparmor/exec");
        let file = if own.exists() {
            own
        } else {
            Path::new("/proc/thread-self/attr/exec")
        };
        sys.write_file(file, &format!("exec {profile}"))?;
    }
    if let Some(label) = &labels.selinux_label {
        sys.write_file(Path::new("/proc/thread-self/attr/exec"), label)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_for_a_missing_lsm_is_refused_by_name() {
        let l = Labels {
            apparmor_profile: Some("docker-default".into()),
            ..Default::default()
        };
        assert!(l.check(true, false).is_ok());
        let err = l.check(false, true).unwrap_err();
        assert!(
            err.contains("apparmorProfile") && err.contains("AppArmor is not enabled"),
            "{err}"
        );
        let l = Labels {
            mount_label: Some("system_u:object_r:container_file_t:s0".into()),
            ..Default::default()
        };
        assert!(l
            .check(false, false)
            .unwrap_err()
            .contains("linux.mountLabel"));
        assert_eq!(
            l.mount_data("mode=755"),
            "mode=755,context=\"system_u:object_r:container_file_t:s0\""
        );
    }

    #[test]
    fn profiles_are_armed_for_exec() {
        let sys = crate::sys::FakeSys::default();
        let l = Labels {
            apparmor_profile: Some("hako-default".into()),
            selinux_label: Some("system_u:system_r:container_t:s0".into()),
            mount_label: None,
        };
        apply_on_exec(&sys, &l).unwrap();
        let writes = format!("{:?}", sys.calls.borrow());
        assert!(writes.contains("exec hako-default"), "{writes}");
        assert!(writes.contains("container_t"), "{writes}");
    }
}
