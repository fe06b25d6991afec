use super::*;

fn resources(json: serde_json::Value) -> SpecResources {
    SpecResources::from_resources(&crate::cgroups::resources_json::parse_resources(json).unwrap())
}

fn files(s: &SpecResources, version: Version, bfq: bool) -> Result<Vec<(String, String)>, String> {
    let exists = move |_: &'static str, f: &str| bfq && f.contains("bfq");
    Ok(s.writes(version, &exists)?
        .into_iter()
        .map(|w| (w.file, w.value))
        .collect())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn docker_s_zero_weight_means_unset() {
    let s = resources(
        serde_json::json!({"blockIO": {"weight": 0}, "memory": {"disableOOMKiller": false}}),
    );
    assert!(s.is_empty());
    assert_eq!(files(&s, Version::V1, false).unwrap(), vec![]);
}

#[test]
fn block_io_on_v1_and_v2() {
    let s = resources(serde_json::json!({"blockIO": {
        "weight": 500,
        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}],
    }}));
    assert_eq!(
        files(&s, Version::V1, false).unwrap(),
        pairs(&[
            ("blkio.weight", "500"),
            ("blkio.throttle.read_bps_device", "254:0 1048576"),
            ("blkio.throttle.write_iops_device", "254:0 100"),
        ])
    );
    assert_eq!(
        files(&s, Version::V1, true).unwrap()[0].0,
        "blkio.bfq.weight"
    );
    assert_eq!(
        files(&s, Version::V2, false).unwrap(),
        pairs(&[
            ("io.weight", "4950"),
            ("io.max", "254:0 rbps=1048576 wiops=100")
        ])
    );
    assert_eq!(
        files(&s, Version::V2, true).unwrap()[0],
        ("io.bfq.weight".into(), "500".into())
    );
}

#[test]
fn weights_convert_as_runc_does() {
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    assert_eq!(blkio_weight_to_io_weight(0), 0);
}

#[test]
fn memory_cpu_hugetlb_and_network() {
    let s = resources(serde_json::json!({
        "memory": {"reservation": 33554432, "swappiness": 10},
        "cpu": {"cpus": "0", "mems": "0", "realtimePeriod": 1000000, "realtimeRuntime": 0},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    }));
    assert_eq!(
        files(&s, Version::V1, false).unwrap(),
        pairs(&[
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ("memory.soft_limit_in_bytes", "33554432"),
            ("memory.swappiness", "10"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5"),
        ])
    );
    let err = files(&s, Version::V2, false).unwrap_err();
    assert!(err.contains("realtime") && err.contains("v1"), "{err}");
}

#[test]
fn unified_only_on_v2_and_only_plain_files() {
    let s =
        resources(serde_json::json!({"unified": {"memory.high": "50000000", "pids.max": "20"}}));
    assert_eq!(
        files(&s, Version::V2, false).unwrap(),
        pairs(&[("memory.high", "50000000"), ("pids.max", "20")])
    );
    let err = files(&s, Version::V1, false).unwrap_err();
    assert!(err.contains("cgroup v2"), "{err}");
    for bad in ["../memory.max", "cgroup.procs", "nonsense", "memory/../x"] {
        let s = resources(serde_json::json!({"unified": {bad: "1"}}));
        assert!(files(&s, Version::V2, false).is_err(), "{bad}");
    }
}

#[test]
fn rdma_limits_are_one_line_per_device() {
    let s = resources(serde_json::json!({"rdma": {
        "mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000},
        "mlx4_0": {"hcaHandles": 2},
    }}));
    let expected = pairs(&[
        ("rdma.max", "mlx4_0 hca_handle=2 hca_object=max"),
        ("rdma.max", "mlx5_0 hca_handle=3 hca_object=10000"),
    ]);
    assert_eq!(files(&s, Version::V1, false).unwrap(), expected);
    assert_eq!(files(&s, Version::V2, false).unwrap(), expected);
}
