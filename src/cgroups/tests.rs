use super::*;
use std::fs;

#[test]
fn shares_become_weights_as_runc_converts_them() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(0), 1, "clamped");
}

fn limits() -> Limits {
    Limits {
        memory: Some(256 << 20),
        memory_swap: None,
        cpu_quota: Some(Limits::cpus_to_quota(1.5)),
        cpu_period: None,
        pids: Some(100),
        cpu_shares: Some(512),
        devices: vec![],
        spec: SpecResources::default(),
    }
}

/// Seeds the files the kernel would create, then checks that what cgroups-rs wrote is
/// exactly what `limit_files` (and so `--trace`) reports.
fn check(v2: bool) {
    let dir = tempfile::tempdir().unwrap();
    let version = if v2 { Version::V2 } else { Version::V1 };
    let cg_dir = |ctrl: &str| {
        if v2 {
            dir.path().join("hako/c1")
        } else {
            dir.path().join(ctrl).join("hako/c1")
        }
    };
    for ctrl in ["memory", "pids", "cpu"] {
        fs::create_dir_all(cg_dir(ctrl)).unwrap();
    }
    if v2 {
        fs::write(cg_dir("cpu").join("cpu.max"), "max 100000").unwrap();
    } else {
        fs::write(cg_dir("cpu").join("cpu.cfs_period_us"), "100000").unwrap();
        fs::write(cg_dir("cpu").join("cpu.cfs_quota_us"), "-1").unwrap();
    }
    let hier = Box::new(FakeHierarchy {
        root: dir.path().to_path_buf(),
        v2,
    });
    let cg =
        ContainerCgroup::create(hier, "hako/c1", &limits(), crate::rootless::Mode::Root).unwrap();
    assert_eq!(cg.version(), version);
    let expected = limit_files(&limits(), version);
    assert!(!expected.is_empty());
    for (file, value) in expected {
        let ctrl = file.split('.').next().unwrap();
        let got =
            fs::read_to_string(cg_dir(ctrl).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(got.trim(), value, "{file}");
    }
}

#[test]
fn v1_limits_written() {
    check(false);
}

#[test]
fn v2_limits_written() {
    check(true);
}

#[test]
fn docker_defaults() {
    assert_eq!(Limits::cpus_to_quota(1.5), 150_000);
    let l = Limits {
        memory: Some(100),
        ..Default::default()
    };
    assert_eq!(
        limit_files(&l, Version::V1),
        vec![
            ("memory.limit_in_bytes", "100".into()),
            ("memory.memsw.limit_in_bytes", "200".into())
        ]
    );
    assert_eq!(
        limit_files(&l, Version::V2),
        vec![
            ("memory.max", "100".into()),
            ("memory.swap.max", "100".into())
        ]
    );
    let l = Limits {
        pids: Some(-1),
        ..Default::default()
    };
    assert_eq!(
        limit_files(&l, Version::V2),
        vec![("pids.max", "max".into())]
    );
}

#[test]
fn a_bundles_cpu_period_is_kept() {
    // runc writes what the spec says: 50 ms of CPU in every 250 ms, not rescaled.
    let spec: oci_spec::runtime::LinuxResources =
        serde_json::from_value(serde_json::json!({"cpu": {"quota": 50000, "period": 250000}}))
            .unwrap();
    let l = Limits::from_resources(&spec);
    assert_eq!(
        limit_files(&l, Version::V1),
        vec![
            ("cpu.cfs_period_us", "250000".into()),
            ("cpu.cfs_quota_us", "50000".into())
        ]
    );
    assert_eq!(
        limit_files(&l, Version::V2),
        vec![("cpu.max", "50000 250000".into())]
    );
    let period_only: oci_spec::runtime::LinuxResources =
        serde_json::from_value(serde_json::json!({"cpu": {"period": 200000}})).unwrap();
    assert_eq!(
        limit_files(&Limits::from_resources(&period_only), Version::V2),
        vec![("cpu.max", "max 200000".into())]
    );
}
