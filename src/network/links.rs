//! Links, addresses and routes over rtnetlink, in hako's own process (no `ip` spawned):
//! the bridge, each container's veth pair, and the container side configured from a
//! thread that has entered the container's network namespace.

use futures::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{op} {name}: {detail}")]
    Netlink {
        op: &'static str,
        name: String,
        detail: String,
    },
    #[error("enter the network namespace of pid {pid}: {detail}")]
    Namespace { pid: i32, detail: String },
}

fn nl<'a>(op: &'static str, name: &'a str) -> impl FnOnce(rtnetlink::Error) -> LinkError + 'a {
    move |e| LinkError::Netlink {
        op,
        name: name.to_string(),
        detail: e.to_string(),
    }
}

/// Runs netlink work on a small single-threaded runtime, on this thread.
fn run<T>(work: impl AsyncFnOnce(Handle) -> Result<T, LinkError>) -> Result<T, LinkError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| LinkError::Netlink {
            op: "start",
            name: "netlink runtime".into(),
            detail: e.to_string(),
        })?;
    rt.block_on(async {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| LinkError::Netlink {
                op: "open",
                name: "netlink socket".into(),
                detail: e.to_string(),
            })?;
        tokio::spawn(connection);
        work(handle).await
    })
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, LinkError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(Some(link.header.index)),
        Ok(None) => Ok(None),
        // "No such device" comes back as an error for a name lookup.
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
        Err(e) => Err(nl("find", name)(e)),
    }
}

/// The network's bridge with its gateway address, created on first use.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
    let created = run(async |h: Handle| {
        if index_of(&h, name).await?.is_some() {
            return Ok(false);
        }
        match h.link().add(LinkBridge::new(name).build()).execute().await {
            Ok(()) => {}
            // Another hako created it a moment ago.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {
                return Ok(false)
            }
            Err(e) => return Err(nl("create bridge", name)(e)),
        }
        let index = index_of(&h, name)
            .await?
            .ok_or_else(|| LinkError::Netlink {
                op: "find",
                name: name.into(),
                detail: "gone right after creation".into(),
            })?;
        h.address()
            .add(index, gateway.into(), prefix)
            .execute()
            .await
            .map_err(nl("add the gateway address to", name))?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl("bring up", name))?;
        Ok(true)
    })?;
    if created {
        // The host's loopback may reach published ports (DNAT to the bridge): the kernel
        // must route 127.0.0.1-sourced packets out of this device.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
            "1",
        );
    }
    Ok(())
}

pub fn delete_link(name: &str) -> Result<(), LinkError> {
    run(async |h: Handle| {
        if let Some(index) = index_of(&h, name).await? {
            h.link()
                .del(index)
                .execute()
                .await
                .map_err(nl("delete", name))?;
        }
        Ok(())
    })
}

/// Names of the host's links that start with `prefix` (hako's veths: for cleanup).
pub fn links_named(prefix: &str) -> Result<Vec<String>, LinkError> {
    run(async |h: Handle| {
        let mut out = vec![];
        let mut links = h.link().get().execute();
        while let Some(link) = links.try_next().await.map_err(nl("list", "links"))? {
            for attr in &link.attributes {
                if let rtnetlink::packet_route::link::LinkAttribute::IfName(n) = attr {
                    if n.starts_with(prefix) {
                        out.push(n.clone());
                    }
                }
            }
        }
        Ok(out)
    })
}

/// What the container's end of the pair gets.
pub struct Inside {
    /// eth0 for the network it starts on, eth1… for `network connect`.
    pub name: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: Option<[u8; 6]>,
    /// Only the first network gives the default route, as in Docker.
    pub default_route: bool,
}

/// A veth pair made in one request: `host` on the bridge and up, its peer created
/// directly inside `pid`'s network namespace as eth0 (moving an existing device between
/// namespaces costs the kernel RCU grace periods; creating it there does not). Then, on a
/// netlink socket opened inside that namespace: the address, up, the default route.
pub fn connect(bridge: &str, host: &str, pid: i32, inside: &Inside) -> Result<(), LinkError> {
    use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
    use rtnetlink::LinkMessageBuilder;
    let ns_err = |detail: String| LinkError::Namespace { pid, detail };
    let netns =
        std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| ns_err(e.to_string()))?;
    let own = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| ns_err(e.to_string()))?;
    run(async |h: Handle| {
        let bridge_index = index_of(&h, bridge)
            .await?
            .ok_or_else(|| LinkError::Netlink {
                op: "find",
                name: bridge.into(),
                detail: "no such bridge".into(),
            })?;
        // The same container's previous pair may still exist: the kernel destroys a
        // namespace's devices asynchronously after its last process exits, so a quick
        // restart can come before that. Nothing else uses this name.
        if let Some(stale) = index_of(&h, host).await? {
            h.link()
                .del(stale)
                .execute()
                .await
                .map_err(nl("delete the stale", host))?;
        }
        let mut peer = LinkUnspec::new_with_name(&inside.name).setns_by_fd(netns.as_raw_fd());
        if let Some(mac) = inside.mac {
            peer = peer.address(mac.to_vec());
        }
        let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .controller(bridge_index)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        h.link()
            .add(pair)
            .execute()
            .await
            .map_err(nl("create veth pair", host))?;
        // A netlink socket belongs to the namespace it was opened in: open one inside the
        // container's (this thread only, and back at once).
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| ns_err(e.to_string()))?;
        let opened = rtnetlink::new_connection();
        nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| ns_err(e.to_string()))?;
        let (connection, inner, _) = opened.map_err(|e| ns_err(e.to_string()))?;
        tokio::spawn(connection);
        let name = inside.name.as_str();
        let index = index_of(&inner, name).await?.unwrap_or(0);
        inner
            .address()
            .add(index, inside.address.into(), inside.prefix)
            .execute()
            .await
            .map_err(nl("add the address to", name))?;
        inner
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl("bring up", name))?;
        if !inside.default_route {
            return Ok(());
        }
        inner
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(inside.gateway)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl("add the default route via the gateway on", name))
    })
}
