//! hako's packet rules, in one nftables table of its own (`ip hako`), through nft's JSON
//! API. The table is computed from what runs (the networks in use and the ports of running
//! containers) and replaced in one transaction, so a crashed hako leaves nothing that the
//! next change does not correct, and the table goes away with the last user.

use super::ipam::Subnet;
use crate::endpoint::ports::{PortMapping, Proto};
use serde_json::{json, Value};
use std::net::Ipv4Addr;

pub const TABLE: &str = "hako";

/// A network that has running containers: its subnet leaves through NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveNetwork {
    pub bridge: String,
    pub subnet: Subnet,
}

/// A published port of a running container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub mapping: PortMapping,
    pub container_ip: Ipv4Addr,
}

fn rule(chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "ip", "table": TABLE, "chain": chain, "expr": expr}}})
}

fn chain(name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"add": {"chain": {"family": "ip", "table": TABLE, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"}}})
}

fn matches(left: Value, op: &str, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

/// An anonymous set of interface names (a lone name stays a plain string).
fn name_set(names: &[&str]) -> Value {
    match names {
        [one] => json!(one),
        many => json!({"set": many}),
    }
}

/// The whole transaction: drop hako's table and, if anything runs, build it again.
pub fn ruleset(networks: &[ActiveNetwork], forwards: &[Forward]) -> Value {
    let table = json!({"table": {"family": "ip", "name": TABLE}});
    // Adding first makes the delete valid when the table does not exist yet.
    let mut cmds = vec![
        json!({"add": table.clone()}),
        json!({"delete": table.clone()}),
    ];
    if networks.is_empty() && forwards.is_empty() {
        return json!({"nftables": cmds});
    }
    cmds.push(json!({"add": table}));
    cmds.push(chain("prerouting", "nat", "prerouting", -100));
    cmds.push(chain("output", "nat", "output", -100));
    cmds.push(chain("postrouting", "nat", "postrouting", 100));
    cmds.push(chain("forward", "filter", "forward", 0));
    // Before conntrack (raw priority): a packet as it came off the wire.
    cmds.push(chain("guard", "filter", "prerouting", -300));
    cmds.push(json!({"add": {"chain": {"family": "ip", "table": TABLE, "name": "ports"}}}));
    // Traffic for the host's own addresses (any of them, loopback too) may be a port.
    let to_host = matches(
        json!({"fib": {"result": "type", "flags": ["daddr"]}}),
        "==",
        json!("local"),
    );
    for hook in ["prerouting", "output"] {
        cmds.push(rule(
            hook,
            vec![to_host.clone(), json!({"jump": {"target": "ports"}})],
        ));
    }
    for f in forwards {
        let mut expr = vec![];
        if let Some(ip) = f.mapping.host_ip.filter(|ip| !ip.is_unspecified()) {
            expr.push(matches(
                json!({"payload": {"protocol": "ip", "field": "daddr"}}),
                "==",
                json!(ip.to_string()),
            ));
        }
        let proto = match f.mapping.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        expr.push(matches(
            json!({"payload": {"protocol": proto, "field": "dport"}}),
            "==",
            json!(f.mapping.host_port),
        ));
        expr.push(
            json!({"dnat": {"addr": f.container_ip.to_string(), "port": f.mapping.container_port}}),
        );
        cmds.push(rule("ports", expr));
    }
    // Containers never reach the host's loopback. The bridges have `route_localnet` (the
    // host's 127.0.0.1 reaching a published port is DNATed out through them), which also
    // makes the kernel accept a frame a container crafts for 127.0.0.1 (CVE-2020-8558).
    // Replies of those published-port connections carry the bridge's address until
    // conntrack undoes the masquerade, after this chain, so only crafted packets match.
    let to_loopback = matches(
        json!({"payload": {"protocol": "ip", "field": "daddr"}}),
        "==",
        json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
    );
    let bridges: Vec<&str> = networks.iter().map(|n| n.bridge.as_str()).collect();
    if !bridges.is_empty() {
        cmds.push(rule(
            "guard",
            vec![
                matches(
                    json!({"meta": {"key": "iifname"}}),
                    "==",
                    name_set(&bridges),
                ),
                to_loopback,
                json!({"drop": null}),
            ],
        ));
    }
    // Networks are isolated from each other, as Docker's are: nothing is forwarded from
    // one hako bridge to another (a container on both talks to each directly).
    for n in networks {
        let others: Vec<&str> = bridges.iter().copied().filter(|b| *b != n.bridge).collect();
        if others.is_empty() {
            continue;
        }
        cmds.push(rule(
            "forward",
            vec![
                matches(json!({"meta": {"key": "iifname"}}), "==", json!(n.bridge)),
                matches(json!({"meta": {"key": "oifname"}}), "==", name_set(&others)),
                json!({"drop": null}),
            ],
        ));
    }
    for n in networks {
        let from_subnet = matches(
            json!({"payload": {"protocol": "ip", "field": "saddr"}}),
            "==",
            json!({"prefix": {"addr": n.subnet.network.to_string(), "len": n.subnet.prefix}}),
        );
        let oif = |op: &str| matches(json!({"meta": {"key": "oifname"}}), op, json!(n.bridge));
        let iif = matches(json!({"meta": {"key": "iifname"}}), "==", json!(n.bridge));
        // Out to the world: the host's address instead of the container's.
        cmds.push(rule(
            "postrouting",
            vec![from_subnet, oif("!="), json!({"masquerade": null})],
        ));
        // The host's loopback reaching a published port: the container answers the bridge.
        let from_loopback = matches(
            json!({"payload": {"protocol": "ip", "field": "saddr"}}),
            "==",
            json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
        );
        cmds.push(rule(
            "postrouting",
            vec![from_loopback, oif("=="), json!({"masquerade": null})],
        ));
        // Forwarding to and from the bridge, even where another firewall drops by default.
        cmds.push(rule("forward", vec![iif, json!({"accept": null})]));
        cmds.push(rule("forward", vec![oif("=="), json!({"accept": null})]));
    }
    json!({"nftables": cmds})
}

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("nft is not installed (apt-get install nftables): hako writes its NAT and port rules with it")]
    NoNft,
    #[error("nft refused hako's rules: {0}")]
    Refused(String),
}

/// Applies a transaction from `ruleset` with `nft -j -f -`.
pub fn apply(transaction: &Value) -> Result<(), NatError> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|_| NatError::NoNft)?;
    let body = transaction.to_string();
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(body.as_bytes())
        .map_err(|e| NatError::Refused(e.to_string()))?;
    let out = child
        .wait_with_output()
        .map_err(|e| NatError::Refused(e.to_string()))?;
    if !out.status.success() {
        return Err(NatError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_running_means_no_table() {
        let t = ruleset(&[], &[]);
        let cmds = t["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 2);
        assert!(cmds[1]["delete"]["table"]["name"] == TABLE);
    }

    #[test]
    fn a_port_and_a_network() {
        let net = ActiveNetwork {
            bridge: "hako0".into(),
            subnet: "10.88.0.0/16".parse().unwrap(),
        };
        let f = Forward {
            mapping: crate::endpoint::ports::parse("127.0.0.1:8080:80")
                .unwrap()
                .remove(0),
            container_ip: "10.88.0.2".parse().unwrap(),
        };
        let t = ruleset(&[net], &[f]).to_string();
        assert!(
            t.contains(r#"{"dnat":{"addr":"10.88.0.2","port":80}}"#),
            "{t}"
        );
        assert!(
            t.contains(r#""right":8080"#) && t.contains(r#""right":"127.0.0.1""#),
            "{t}"
        );
        assert!(t.contains(r#"{"masquerade":null}"#));
        assert!(t.contains(r#""hook":"postrouting""#));
        // Crafted packets for the host's loopback are dropped before conntrack.
        assert!(
            t.contains(r#"{"match":{"left":{"meta":{"key":"iifname"}},"op":"==","right":"hako0"}},{"match":{"left":{"payload":{"field":"daddr","protocol":"ip"}},"op":"==","right":{"prefix":{"addr":"127.0.0.0","len":8}}}},{"drop":null}"#),
            "{t}"
        );
    }

    #[test]
    fn two_networks_do_not_forward_to_each_other() {
        let net = |bridge: &str, subnet: &str| ActiveNetwork {
            bridge: bridge.into(),
            subnet: subnet.parse().unwrap(),
        };
        let t = ruleset(
            &[net("hako0", "10.88.0.0/16"), net("hako1", "10.89.0.0/24")],
            &[],
        );
        let drops: Vec<&Value> = t["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["add"]["rule"]["chain"] == "forward")
            .filter(|c| c["add"]["rule"]["expr"].to_string().contains("drop"))
            .collect();
        assert_eq!(drops.len(), 2, "{t}");
        let first = drops[0]["add"]["rule"]["expr"].to_string();
        assert!(first.contains(r#""right":"hako0""#) && first.contains(r#""right":"hako1""#));
        // The isolation comes before the rules that accept a bridge's traffic.
        let cmds = t["nftables"].as_array().unwrap();
        let pos = |needle: &str| cmds.iter().position(|c| c.to_string().contains(needle));
        assert!(pos(r#"{"drop":null}"#) < pos(r#"{"accept":null}"#));
    }
}
