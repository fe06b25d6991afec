//! Resources as JSON: Docker's default device rules, and `LinuxResources` read with the
//! OCI spec's spelling of the IOPS throttles.

/// Docker's device cgroup rules: nothing but creating nodes (`m`), then the default
/// devices, the ptys and tun; everything for `--privileged`.
pub fn docker_device_rules(privileged: bool) -> serde_json::Value {
    if privileged {
        return serde_json::json!([{"allow": true, "access": "rwm"}]);
    }
    let allow = |kind: &str, major: i64, minor: Option<i64>| serde_json::json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm"});
    let mut rules = vec![
        serde_json::json!({"allow": false, "access": "rwm"}),
        serde_json::json!({"allow": true, "type": "c", "access": "m"}),
        serde_json::json!({"allow": true, "type": "b", "access": "m"}),
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(allow("c", major, Some(minor)));
    }
    rules.push(allow("c", 136, None));
    serde_json::Value::Array(rules)
}

/// The same for a bare `LinuxResources` object (runc's `update --resources`).
pub fn parse_resources(
    mut v: serde_json::Value,
) -> Result<oci_spec::runtime::LinuxResources, serde_json::Error> {
    spell_iops_as_oci_spec_does(&mut v);
    serde_json::from_value(v)
}

pub fn spell_iops_as_oci_spec_does(resources: &mut serde_json::Value) {
    let Some(b) = resources.get_mut("blockIO").and_then(|b| b.as_object_mut()) else {
        return;
    };
    for (oci, ours) in [
        ("throttleReadIOPSDevice", "throttleReadIopsDevice"),
        ("throttleWriteIOPSDevice", "throttleWriteIopsDevice"),
    ] {
        if let Some(v) = b.remove(oci) {
            b.insert(ours.into(), v);
        }
    }
}
