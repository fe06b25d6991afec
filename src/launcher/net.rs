//! Network setup inside the container's namespace. For now: loopback up (`--network none`).
//! The bridge/veth/NAT issue adds the rest here.

use crate::trace;

/// `ip link set lo up`, with one ioctl: SIOCGIFFLAGS, add IFF_UP, SIOCSIFFLAGS.
pub fn loopback_up() -> Result<(), String> {
    trace::step(
        "network",
        "ioctl",
        || "SIOCSIFFLAGS, \"lo\", IFF_UP".into(),
        || {
            // SAFETY: a plain datagram socket used only for interface ioctls, closed below; the
            // ifreq is zeroed and holds a NUL-terminated name.
            unsafe {
                let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                if sock < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut req: libc::ifreq = std::mem::zeroed();
                for (i, b) in b"lo\0".iter().enumerate() {
                    req.ifr_name[i] = *b as libc::c_char;
                }
                let mut rc = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
                if rc == 0 {
                    req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                    rc = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
                }
                let err = std::io::Error::last_os_error();
                libc::close(sock);
                if rc == 0 {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        },
    )
    .map_err(|e| format!("bring up loopback: {e}"))
}
