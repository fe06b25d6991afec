//! A container's endpoint on a network, as plain data: what it asks for when it is
//! created (`Request`: ports, address, aliases…) and what it got (`Settings`), kept in its
//! record. The network module makes the endpoint real; the record, inspect and ps only
//! read it, without depending on how networks are built.

pub mod ports;

use ports::PortMapping;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Requested at create time, for `attach`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub ports: Vec<PortMapping>,
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub aliases: Vec<String>,
    pub dns: Vec<String>,
    pub extra_hosts: Vec<String>,
}

/// What a container got on its network; kept in its record for inspect, ps and port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub ports: Vec<PortMapping>,
    pub aliases: Vec<String>,
    /// The host end of its veth pair.
    #[serde(default)]
    pub interface: String,
}
