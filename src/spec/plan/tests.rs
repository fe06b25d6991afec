use super::*;
use crate::spec::{build, RunConfig};

/// A cgroup v2 host running no LSM.
fn v2_host() -> HostFacts {
    HostFacts {
        cgroup_layout: HostCgroupLayout::V2,
        lsm: Default::default,
        seccomp_cache: None,
    }
}

fn config() -> RunConfig {
    RunConfig {
        args: vec!["sh".into()],
        cwd: "/".into(),
        hostname: "box".into(),
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    }
}

#[test]
fn docker_run_compiles() {
    let spec = build(&config(), "/rootfs").unwrap();
    let plan = compile(&spec, &v2_host()).unwrap();
    let want = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    assert_eq!(plan.namespaces, want);
    assert_eq!(plan.hostname.as_deref(), Some("box"));
    assert_eq!(plan.process.caps.bounding.len(), 14);
    let targets: Vec<_> = plan
        .mounts
        .iter()
        .map(|m| m.target.display().to_string())
        .collect();
    assert_eq!(
        targets,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    let sys = &plan.mounts[3];
    assert!(sys.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
    assert_eq!(plan.mounts[1].data, "mode=755,size=65536k");
    assert_eq!(plan.masked_paths.len(), 11);
}

#[test]
fn binds_host_network_and_errors() {
    let mut c = config();
    c.binds.push(crate::spec::Bind {
        volume: None,
        source: "/srv".into(),
        destination: "/data".into(),
        readonly: true,
    });
    c.network = crate::spec::NetworkMode::Host;
    c.rlimits.push(("RLIMIT_NOFILE".into(), 100, 200));
    let plan = compile(&build(&c, "/r").unwrap(), &v2_host()).unwrap();
    assert!(!plan.namespaces.contains(CloneFlags::CLONE_NEWNET));
    let bind = plan.mounts.last().unwrap();
    assert!(bind.is_bind() && bind.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REC));
    assert_eq!(bind.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    assert_eq!(
        plan.process.rlimits,
        vec![Rlimit {
            resource: Resource::RLIMIT_NOFILE,
            soft: 100,
            hard: 200
        }]
    );

    c.args.clear();
    assert_eq!(
        compile(&build(&c, "/r").unwrap(), &v2_host()).unwrap_err(),
        PlanError::NoCommand
    );
    let mut c = config();
    c.cwd = "relative".into();
    assert!(matches!(
        compile(&build(&c, "/r").unwrap(), &v2_host()),
        Err(PlanError::NotAbsolute { .. })
    ));
}

/// `runc spec` and `crun spec` write the bundles containerd and users start from.
#[test]
fn compiles_the_specs_runc_and_crun_write() {
    for (name, json) in [
        ("runc", include_str!("../fixtures/runc-spec.json")),
        ("crun", include_str!("../fixtures/crun-spec.json")),
    ] {
        let spec: Spec = serde_json::from_str(json).unwrap();
        let plan = compile(&spec, &v2_host()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.hostname.as_deref(), Some(name));
        assert_eq!(plan.process.args, ["sh"]);
        assert!(plan.process.terminal);
        assert!(plan.process.no_new_privs);
        assert!(plan.readonly_rootfs);
        assert_eq!(plan.rootfs, PathBuf::from("rootfs"));
        // runc's default: the three capabilities of its example spec.
        assert_eq!(plan.process.caps.bounding.len(), 3, "{name}");
        assert!(plan
            .namespaces
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
        assert_eq!(plan.devices.len(), 6, "{name}: the default devices");
        assert_eq!(
            plan.process.rlimits,
            vec![Rlimit {
                resource: Resource::RLIMIT_NOFILE,
                soft: 1024,
                hard: 1024
            }]
        );
    }
}

/// A field hako does not implement is an error naming it, never silently dropped.
#[test]
fn sysctls_only_in_the_containers_own_namespaces() {
    let mut c = config();
    c.sysctls = vec![
        ("net.ipv4.ip_forward".into(), "1".into()),
        ("kernel.shmmni".into(), "100".into()),
    ];
    c.network = crate::spec::NetworkMode::None;
    let plan = compile(&build(&c, "/r").unwrap(), &v2_host()).unwrap();
    assert_eq!(plan.sysctls.len(), 2);
    c.network = crate::spec::NetworkMode::Host;
    let err = compile(&build(&c, "/r").unwrap(), &v2_host()).unwrap_err();
    assert!(err.to_string().contains("no network namespace"), "{err}");
    c.sysctls = vec![("vm.swappiness".into(), "1".into())];
    let err = compile(&build(&c, "/r").unwrap(), &v2_host()).unwrap_err();
    assert!(err.to_string().contains("not a namespaced sysctl"), "{err}");
}

#[test]
fn id_maps_come_with_a_user_namespace_only() {
    let base: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/runc-spec.json")).unwrap();
    let maps = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let compile_with = |userns: bool, mapped: bool| {
        let mut v = base.clone();
        if userns {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
        }
        if mapped {
            v["linux"]["uidMappings"] = maps.clone();
            v["linux"]["gidMappings"] = maps.clone();
        }
        compile(&serde_json::from_value(v).unwrap(), &v2_host())
    };
    let plan = compile_with(true, true).unwrap();
    assert!(plan.namespaces.contains(CloneFlags::CLONE_NEWUSER));
    let range = IdRange {
        inside: 0,
        outside: 100000,
        count: 65536,
    };
    assert_eq!(
        plan.id_maps,
        Some(IdMaps {
            uids: vec![range],
            gids: vec![range]
        })
    );
    assert!(matches!(
        compile_with(false, true),
        Err(PlanError::Invalid(_))
    ));
    assert!(matches!(
        compile_with(true, false),
        Err(PlanError::Invalid(_))
    ));
    assert_eq!(compile_with(false, false).unwrap().id_maps, None);
}

#[test]
fn unsupported_fields_are_named() {
    let base: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/runc-spec.json")).unwrap();
    let cases = [(
        "/linux/personality",
        serde_json::json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}),
        "personality.flags",
    )];
    for (pointer, value, named) in cases {
        let mut v = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut v
        } else {
            v.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        let spec: Spec = serde_json::from_value(v).unwrap();
        let err = compile(&spec, &v2_host()).unwrap_err();
        assert!(
            matches!(err, PlanError::Unsupported(f) if f.contains(named)),
            "{pointer}: {err}"
        );
    }
    // Joining a user namespace by path, too.
    let mut v = base.clone();
    v["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user", "path": "/proc/1/ns/user"}));
    let spec: Spec = serde_json::from_value(v).unwrap();
    assert!(matches!(
        compile(&spec, &v2_host()),
        Err(PlanError::Unsupported(f)) if f.contains("user")
    ));
}

#[test]
fn namespaces_given_by_path_are_joined_not_made() {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/runc-spec.json")).unwrap();
    v["linux"]["namespaces"][0]["path"] = "/proc/10/ns/pid".into();
    v["linux"]["namespaces"][2]["path"] = "/proc/10/ns/ipc".into();
    v["hostname"] = "".into();
    let plan = compile(&serde_json::from_value(v.clone()).unwrap(), &v2_host()).unwrap();
    assert!(!plan.namespaces.contains(CloneFlags::CLONE_NEWPID));
    assert!(!plan.namespaces.contains(CloneFlags::CLONE_NEWIPC));
    assert_eq!(
        plan.join,
        vec![
            (CloneFlags::CLONE_NEWPID, PathBuf::from("/proc/10/ns/pid")),
            (CloneFlags::CLONE_NEWIPC, PathBuf::from("/proc/10/ns/ipc"))
        ]
    );
    assert!(plan
        .entered_namespaces()
        .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC));
    // A mount namespace is joined too, and last, whatever the spec's order.
    let mut m = v.clone();
    m["linux"]["namespaces"][4]["path"] = "/run/pod/mnt".into();
    m["linux"]["namespaces"][3]["path"] = "/proc/10/ns/uts".into();
    let plan = compile(&serde_json::from_value(m).unwrap(), &v2_host()).unwrap();
    assert!(!plan.namespaces.contains(CloneFlags::CLONE_NEWNS));
    assert_eq!(
        plan.join.last(),
        Some(&(CloneFlags::CLONE_NEWNS, PathBuf::from("/run/pod/mnt")))
    );
    // A hostname goes into a joined UTS namespace (a pod's), as runc and crun do...
    let mut joined = v.clone();
    joined["linux"]["namespaces"][3]["path"] = "/proc/10/ns/uts".into();
    joined["hostname"] = "box".into();
    let plan = compile(&serde_json::from_value(joined).unwrap(), &v2_host()).unwrap();
    assert_eq!(plan.hostname.as_deref(), Some("box"));
    // ...but never into the host's: without any UTS namespace it is refused.
    let mut host_uts = v.clone();
    host_uts["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "uts");
    host_uts["hostname"] = "box".into();
    let err = compile(&serde_json::from_value(host_uts).unwrap(), &v2_host()).unwrap_err();
    assert!(matches!(err, PlanError::Invalid(_)), "{err}");
    // Without a mount namespace nothing can be hidden, and nothing is mounted.
    let mut shared_mounts = v.clone();
    shared_mounts["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "mount");
    let err = compile(
        &serde_json::from_value(shared_mounts.clone()).unwrap(),
        &v2_host(),
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::Invalid(_)), "{err}");
    shared_mounts["linux"]["maskedPaths"] = serde_json::json!([]);
    shared_mounts["linux"]["readonlyPaths"] = serde_json::json!([]);
    shared_mounts["root"]["readonly"] = false.into();
    let plan = compile(&serde_json::from_value(shared_mounts).unwrap(), &v2_host()).unwrap();
    assert!(!plan.own_mounts);
    // rootfsPropagation is read by name; a wrong name is refused.
    v["linux"]["rootfsPropagation"] = "rshared".into();
    let plan = compile(&serde_json::from_value(v.clone()).unwrap(), &v2_host()).unwrap();
    assert_eq!(
        plan.rootfs_propagation,
        Some(nix::mount::MsFlags::MS_SHARED | nix::mount::MsFlags::MS_REC)
    );
    v["linux"]["rootfsPropagation"] = "sideways".into();
    assert!(compile(&serde_json::from_value(v).unwrap(), &v2_host()).is_err());
}

#[test]
fn spec_devices_join_the_defaults() {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/runc-spec.json")).unwrap();
    v["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "uid": 5}
    ]);
    let plan = compile(&serde_json::from_value(v.clone()).unwrap(), &v2_host()).unwrap();
    assert_eq!(plan.devices.len(), 7);
    let null = plan
        .devices
        .iter()
        .find(|d| d.path == std::path::Path::new("/dev/null"))
        .unwrap();
    assert_eq!(null.uid, 5);
    v["linux"]["devices"] =
        serde_json::json!([{"path": "/etc/shadow", "type": "c", "major": 1, "minor": 3}]);
    assert!(matches!(
        compile(&serde_json::from_value(v).unwrap(), &v2_host()),
        Err(PlanError::BadDevice { .. })
    ));
}
