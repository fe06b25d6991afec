//! AppArmor and SELinux labels a spec asks for (`process.apparmorProfile`,
//! `process.selinuxLabel`, `linux.mountLabel`), checked against what the host runs. The
//! launcher applies them (`launcher::lsm`).

/// The LSMs a host runs, probed by the launcher (`launcher::lsm::host_support`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LsmSupport {
    pub apparmor: bool,
    pub selinux: bool,
}

/// The labels a spec asks for, checked against the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub mount_label: Option<String>,
}

impl Labels {
    pub fn check(&self, host: LsmSupport) -> Result<(), String> {
        if let (Some(p), false) = (&self.apparmor_profile, host.apparmor) {
            return Err(format!("process.apparmorProfile {p:?}: AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y); remove the profile from the spec, or run where AppArmor is enabled"));
        }
        for (what, label) in [
            ("process.selinuxLabel", &self.selinux_label),
            ("linux.mountLabel", &self.mount_label),
        ] {
            if let (Some(l), false) = (label, host.selinux) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_for_a_missing_lsm_is_refused_by_name() {
        let l = Labels {
            apparmor_profile: Some("docker-default".into()),
            ..Default::default()
        };
        assert!(l
            .check(LsmSupport {
                apparmor: true,
                selinux: false
            })
            .is_ok());
        let err = l
            .check(LsmSupport {
                apparmor: false,
                selinux: true,
            })
            .unwrap_err();
        assert!(
            err.contains("apparmorProfile") && err.contains("AppArmor is not enabled"),
            "{err}"
        );
        let l = Labels {
            mount_label: Some("system_u:object_r:container_file_t:s0".into()),
            ..Default::default()
        };
        assert!(l
            .check(LsmSupport::default())
            .unwrap_err()
            .contains("linux.mountLabel"));
        assert_eq!(
            l.mount_data("mode=755"),
            "mode=755,context=\"system_u:object_r:container_file_t:s0\""
        );
    }
}
