//! AppArmor and SELinux labels from the spec (`process.apparmorProfile`,
//! `process.selinuxLabel`, `linux.mountLabel`). They are applied on exec, as runc does:
//! the init writes the profile or label to its `attr/exec`, so the kernel switches the
//! process at `execve` and hako's own setup keeps running unconfined. A label for an LSM
//! this host does not run is refused by name before anything is created: the bundle
//! asked for a confinement hako could not give.

pub use crate::spec::labels::{Labels, LsmSupport};
use crate::sys::{Sys, SysError};
use std::path::Path;

/// Which of the LSMs a label may name this host runs.
pub fn host_support() -> LsmSupport {
    LsmSupport {
        apparmor: apparmor_enabled(),
        selinux: selinux_enabled(),
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").is_dir()
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
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
