//! Addresses on a network: the gateway takes the first, containers the next free ones.
//! Leases live in a file beside the network's definition, changed only under its lock,
//! so parallel `hako run`s never get the same address; a lease whose container is gone
//! or stopped is free again (crash recovery needs no daemon).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An IPv4 subnet, `10.88.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Subnet, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s}: expected a CIDR subnet such as 10.89.0.0/24"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s}: invalid IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("{s}: the prefix must be between /8 and /30"))?;
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == u32::from(self.network)
    }

    /// The first usable address: the bridge's (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    fn broadcast(&self) -> u32 {
        u32::from(self.network) | !(u32::MAX << (32 - self.prefix))
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

/// address → container ID.
pub type Leases = BTreeMap<Ipv4Addr, String>;

/// The lowest free address after the gateway, or the one asked for (`--ip`) if free.
pub fn allocate(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    leases: &Leases,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, String> {
    if let Some(ip) = wanted {
        if !subnet.contains(ip)
            || ip == gateway
            || u32::from(ip) == subnet.broadcast()
            || ip == subnet.network
        {
            return Err(format!(
                "--ip {ip}: not a usable address of {subnet} (gateway {gateway})"
            ));
        }
        if let Some(owner) = leases.get(&ip) {
            return Err(format!(
                "--ip {ip}: address already in use by container {}",
                &owner[..12.min(owner.len())]
            ));
        }
        return Ok(ip);
    }
    let first = u32::from(subnet.network) + 1;
    (first..subnet.broadcast())
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !leases.contains_key(ip))
        .ok_or_else(|| format!("network {subnet} has no free address left (remove stopped containers: hako container prune)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_never_twice() {
        let s: Subnet = "10.88.0.0/16".parse().unwrap();
        let gw = s.first_host();
        let mut leases = Leases::new();
        for i in 0..5 {
            let ip = allocate(&s, gw, &leases, None).unwrap();
            assert!(leases.insert(ip, format!("c{i}")).is_none());
        }
        assert_eq!(leases.keys().next().unwrap().to_string(), "10.88.0.2");
        leases.remove(&"10.88.0.3".parse().unwrap());
        assert_eq!(
            allocate(&s, gw, &leases, None).unwrap().to_string(),
            "10.88.0.3"
        );
        assert!(allocate(&s, gw, &leases, Some("10.88.0.2".parse().unwrap())).is_err());
        assert!(allocate(&s, gw, &leases, Some("10.89.0.2".parse().unwrap())).is_err());
        assert!(allocate(&s, gw, &leases, Some(gw)).is_err());
        let tiny: Subnet = "192.168.7.0/30".parse().unwrap();
        let mut l = Leases::new();
        l.insert(
            allocate(&tiny, tiny.first_host(), &l, None).unwrap(),
            "a".into(),
        );
        assert!(
            allocate(&tiny, tiny.first_host(), &l, None).is_err(),
            "/30 has one container address"
        );
        assert_eq!(
            "10.88.3.7/16".parse::<Subnet>().unwrap().to_string(),
            "10.88.0.0/16"
        );
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
    }
}
