//! Bridge networking: container IPs, published ports, named networks, cleanup. Traffic
//! goes only to loopback and to the containers and bridges these tests create.

use crate::harness::*;

fn http_get(addr: &str) -> String {
    let o = std::process::Command::new("curl")
        .args(["-s", "-m", "3", &format!("http://{addr}/hostname")])
        .output()
        .unwrap();
    stdout(&o)
}

fn nft_table() -> String {
    let o = std::process::Command::new("nft")
        .args(["list", "table", "ip", "hako"])
        .output()
        .unwrap();
    stdout(&o)
}

/// busybox httpd in a container, reached by its IP and through published ports.
#[test]
fn httpd_by_ip_and_by_published_port() {
    if !require_root("bridge networking") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let (subnet, net) = free_subnet();
    let (loopback_port, any_port) = (free_port().to_string(), free_port().to_string());
    let on_loopback = format!("127.0.0.1:{loopback_port}");
    ok(
        hako(r, &["network", "create", "--subnet", &subnet, "webnet"]),
        "network create",
    );
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "web",
                "--network",
                "webnet",
                "-p",
                &format!("{on_loopback}:80"),
                "-p",
                &format!("{any_port}:80"),
                "-p",
                "80",
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                "/etc",
            ],
        ),
        "run -d",
    );
    let ip = ok(
        hako(
            r,
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"],
        ),
        "inspect",
    );
    let ip = ip.trim();
    assert!(ip.starts_with(&format!("{net}.")), "{ip}");
    let hostname = ok(
        hako(r, &["inspect", "-f", "{{.Config.Hostname}}", "web"]),
        "hostname",
    );
    until("httpd", || http_get(ip).trim() == hostname.trim());
    assert_eq!(
        http_get(&on_loopback).trim(),
        hostname.trim(),
        "published on loopback"
    );
    // The host's own address on the test's bridge (not only loopback) reaches -p PORT.
    assert_eq!(
        http_get(&format!("{net}.1:{any_port}")).trim(),
        hostname.trim()
    );
    // -p 80: a random host port, shown by hako port and in inspect.
    let port = ok(hako(r, &["port", "web", "80"]), "port");
    let random = port
        .lines()
        .find(|l| {
            !l.ends_with(&format!(":{any_port}")) && !l.ends_with(&format!(":{loopback_port}"))
        })
        .unwrap();
    let random_port = random.rsplit(':').next().unwrap();
    assert_eq!(
        http_get(&format!("127.0.0.1:{random_port}")).trim(),
        hostname.trim()
    );
    assert!(ok(hako(r, &["ps"]), "ps").contains(&format!("{on_loopback}->80/tcp")));
    let ports = ok(
        hako(
            r,
            &["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"],
        ),
        "ports",
    );
    assert!(
        ports.contains(&format!(r#""HostPort":"{any_port}""#)),
        "{ports}"
    );
    // A taken host port is refused, naming who holds it, and nothing is left running.
    let o = hako(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "webnet",
            "-p",
            &format!("{any_port}:80"),
            "busybox",
            "true",
        ],
    );
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{any_port} is already in use")) && err.contains("hako"),
        "{err}"
    );
    ok(hako(r, &["rm", "-f", "web"]), "rm");
    assert!(
        !nft_table().contains(&format!(" {loopback_port} ")),
        "port rules outlived the container"
    );
    ok(hako(r, &["network", "rm", "webnet"]), "network rm");
}

/// A TCP service by IP (an sshd-like banner server), and UDP through a published port.
#[test]
fn tcp_by_ip_and_udp_published() {
    if !require_root("tcp/udp") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let udp_port = free_udp_port();
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "banner",
                "busybox",
                "sh",
                "-c",
                "while true; do echo SSH-2.0-hako | nc -l -p 22; done",
            ],
        ),
        "run -d",
    );
    let ip = ok(
        hako(
            r,
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "banner"],
        ),
        "ip",
    );
    until("the banner", || {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("busybox nc -w 2 {} 22 </dev/null", ip.trim()))
            .output()
            .unwrap();
        stdout(&o).contains("SSH-2.0-hako")
    });
    // UDP: the host's python3 (mounted read-only) answers datagrams inside the container.
    let server = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(b'pong:'+d,a)\n";
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "udp",
                "-p",
                &format!("127.0.0.1:{udp_port}:5353/udp"),
                "-v",
                "/usr:/usr:ro",
                "-v",
                "/usr/lib:/lib:ro",
                "-v",
                "/lib64:/lib64:ro",
                "busybox",
                "/usr/bin/python3",
                "-c",
                server,
            ],
        ),
        "run -d udp",
    );
    let client = format!("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\nfor i in range(30):\n try:\n  s.sendto(b'ping',('127.0.0.1',{udp_port})); print(s.recvfrom(100)[0].decode()); sys.exit(0)\n except OSError: pass\nsys.exit(1)\n");
    let o = std::process::Command::new("python3")
        .args(["-c", &client])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "pong:ping", "{}", stderr(&o));
    ok(hako(r, &["rm", "-f", "banner", "udp"]), "rm");
}

/// Two containers on a named network reach each other by name and alias, both ways.
#[test]
fn named_network_resolves_names() {
    if !require_root("named networks") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    ok(hako(r, &["network", "create", "appnet"]), "network create");
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "db",
                "--network",
                "appnet",
                "--network-alias",
                "database",
                "busybox",
                "sh",
                "-c",
                "while true; do echo db-answers | nc -l -p 5432; done",
            ],
        ),
        "db",
    );
    let out = ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--name",
                "client",
                "--network",
                "appnet",
                "busybox",
                "sh",
                "-c",
                "nc -w 2 db 5432; sleep 0.5; nc -w 2 database 5432",
            ],
        ),
        "client",
    );
    assert_eq!(out, "db-answers\ndb-answers\n");
    // The first container learns a later one's name too (its /etc/hosts is kept current).
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "web",
                "--network",
                "appnet",
                "busybox",
                "sleep",
                "300",
            ],
        ),
        "web",
    );
    assert!(
        ok(hako(r, &["exec", "db", "cat", "/etc/hosts"]), "hosts").contains(" web")
            || ok(hako(r, &["exec", "db", "cat", "/etc/hosts"]), "hosts").contains("\tweb")
    );
    ok(
        hako(r, &["exec", "db", "ping", "-c", "1", "-W", "2", "web"]),
        "db pings web",
    );
    // The default bridge does not resolve names, as in Docker; --add-host adds one.
    let o = ok(
        hako(
            r,
            &[
                "run",
                "--rm",
                "--add-host",
                "gw.test:10.88.0.1",
                "busybox",
                "grep",
                "gw.test",
                "/etc/hosts",
            ],
        ),
        "add-host",
    );
    assert_eq!(o, "10.88.0.1\tgw.test\n");
    let o = hako(r, &["network", "rm", "appnet"]);
    assert!(
        !o.status.success() && stderr(&o).contains("active endpoints"),
        "{}",
        stderr(&o)
    );
    ok(hako(r, &["rm", "-f", "db", "web"]), "rm");
    ok(hako(r, &["network", "rm", "appnet"]), "network rm");
}

/// The host links and leases that name any of these containers (tests run in parallel,
/// so only this test's own containers are looked for).
fn leftovers(ids: &[String]) -> Vec<String> {
    let links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let leases = std::fs::read_to_string("/run/hako/network/leases.json").unwrap_or_default();
    let mut out = vec![];
    for id in ids {
        let short = &id[..10];
        out.extend(links.iter().filter(|l| l.ends_with(short)).cloned());
        if leases.contains(id.as_str()) {
            out.push(format!("lease of {short}"));
        }
    }
    out
}

/// Many cycles and parallel runs leave no link, lease or rule, and never share an address.
#[test]
fn cycles_and_parallel_runs_leave_nothing_behind() {
    if !require_root("network cleanup") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let crash_port = format!("127.0.0.1:{}:80", free_port());
    let mut ids = vec![];
    for i in 0..50 {
        let name = format!("cyc{i}");
        ids.push(
            ok(
                hako(
                    r,
                    &[
                        "create",
                        "--name",
                        &name,
                        "-p",
                        "127.0.0.1::80",
                        "busybox",
                        "true",
                    ],
                ),
                "create",
            )
            .trim()
            .to_string(),
        );
        ok(hako(r, &["start", "-a", &name]), "start");
        ok(hako(r, &["rm", &name]), "rm");
    }
    // 20 at once: all hold their addresses at the same moment.
    let barrier = tempfile::tempdir().unwrap();
    let mut children = vec![];
    for i in 0..20 {
        let name = format!("par{i}");
        let script = format!(
            "ip -4 -o addr show eth0 | awk '{{print $4}}' > /b/ip{i}; while [ $(ls /b | wc -l) -lt 20 ]; do sleep 0.05; done"
        );
        children.push(
            hako_cmd(
                r,
                &[
                    "run",
                    "--rm",
                    "--name",
                    &name,
                    "-v",
                    &format!("{}:/b", barrier.path().display()),
                    "busybox",
                    "sh",
                    "-c",
                    &script,
                ],
            )
            .spawn()
            .unwrap(),
        );
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut ips: Vec<String> = (0..20)
        .map(|i| std::fs::read_to_string(barrier.path().join(format!("ip{i}"))).unwrap())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "an address was handed out twice: {ips:?}");
    assert_eq!(
        leftovers(&ids),
        Vec::<String>::new(),
        "links or leases left behind"
    );
    assert_eq!(ok(hako(r, &["ps", "-aq"]), "ps"), "");
    // After kill -9 of a keeper, the next command (here: system prune) cleans up.
    let crash = ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "crash",
                "-p",
                &crash_port,
                "busybox",
                "sleep",
                "300",
            ],
        ),
        "run -d",
    );
    let pid = inspect_field(r, "crash", "/State/Pid").as_i64().unwrap();
    let keeper = shell(&format!("awk '{{print $4}}' /proc/{pid}/stat"));
    shell(&format!("kill -9 {}", keeper.trim()));
    until("the container to die with its keeper", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    ok(hako(r, &["system", "prune", "-f"]), "system prune");
    assert!(
        !nft_table().contains(&format!(" {} ", crash_port.split(':').nth(1).unwrap())),
        "a crashed container's port rule survived prune"
    );
    assert_eq!(
        leftovers(&[crash.trim().to_string()]),
        Vec::<String>::new(),
        "a crashed container's lease or link survived prune"
    );
    // The port is free again.
    ok(
        hako(r, &["run", "--rm", "-p", &crash_port, "busybox", "true"]),
        "port reused",
    );
}

#[test]
fn network_modes() {
    if !require_root("network modes") {
        return;
    }
    let root = shared_root();
    let eth0 = sh(
        &[],
        "ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\\n' ' '",
    );
    assert_eq!(eth0, "eth0 lo ");
    let none = sh(
        &["--network", "none"],
        "ip -o link | awk -F': ' '{print $2}' | tr '\\n' ' '",
    );
    assert_eq!(none, "lo ");
    let host = sh(&["--network", "host"], "ip -o link | wc -l");
    assert!(host.trim().parse::<u32>().unwrap() >= 2);
    ok(
        hako(
            root,
            &["run", "-d", "--name", "netowner", "busybox", "sleep", "300"],
        ),
        "run -d",
    );
    let owner_ip = ok(
        hako(
            root,
            &[
                "inspect",
                "-f",
                "{{.NetworkSettings.IPAddress}}",
                "netowner",
            ],
        ),
        "ip",
    );
    let joined = sh(
        &["--network", "container:netowner"],
        "ip -4 -o addr show eth0 | awk '{print $4}'",
    );
    assert_eq!(joined.trim().split('/').next().unwrap(), owner_ip.trim());
    ok(hako(root, &["rm", "-f", "netowner"]), "rm");
    // --ip, --mac-address and --dns as asked; -P publishes what the image exposes.
    let fixed = sh(
        &["--ip", "10.88.200.7", "--mac-address", "92:d0:c6:0a:29:33", "--dns", "10.88.0.1"],
        "ip -4 -o addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address; grep nameserver /etc/resolv.conf",
    );
    assert_eq!(
        fixed,
        "10.88.200.7/16\n92:d0:c6:0a:29:33\nnameserver 10.88.0.1\n"
    );
    ok(
        hako(root, &["run", "--name", "exposer", "busybox", "true"]),
        "run",
    );
    ok(
        hako(
            root,
            &["commit", "-c", "EXPOSE 8080/tcp", "exposer", "exposing:1"],
        ),
        "commit",
    );
    ok(
        hako(
            root,
            &[
                "run",
                "-d",
                "--name",
                "exposed",
                "-P",
                "exposing:1",
                "sleep",
                "60",
            ],
        ),
        "run -P",
    );
    let port = ok(hako(root, &["port", "exposed"]), "port");
    assert!(port.starts_with("8080/tcp -> 0.0.0.0:"), "{port}");
    ok(hako(root, &["rm", "-f", "exposed", "exposer"]), "rm");
    let o = hako(
        root,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-p",
            "80",
            "busybox",
            "true",
        ],
    );
    assert_eq!(o.status.code(), Some(125));
    let o = hako(
        root,
        &["run", "--rm", "--network", "nosuchnet", "busybox", "true"],
    );
    assert!(
        stderr(&o).contains("network nosuchnet not found"),
        "{}",
        stderr(&o)
    );
}

/// `network connect` gives a running container one more interface on another network,
/// where names resolve both ways; `disconnect` takes it away again.
#[test]
fn connect_and_disconnect() {
    if !require_root("network connect") {
        return;
    }
    let root = fresh_root("busybox");
    let r = root.path();
    let (side_subnet, side_net) = free_subnet();
    ok(
        hako(r, &["network", "create", "--subnet", &side_subnet, "side"]),
        "network create",
    );
    ok(
        hako(
            r,
            &["run", "-d", "--name", "roamer", "busybox", "sleep", "300"],
        ),
        "roamer",
    );
    ok(
        hako(
            r,
            &[
                "run",
                "-d",
                "--name",
                "local",
                "--network",
                "side",
                "busybox",
                "sleep",
                "300",
            ],
        ),
        "local",
    );
    ok(
        hako(
            r,
            &[
                "network", "connect", "--alias", "wanderer", "side", "roamer",
            ],
        ),
        "connect",
    );
    let addrs = ok(
        hako(r, &["exec", "roamer", "ip", "-4", "-o", "addr"]),
        "addrs",
    );
    assert!(
        addrs.contains("eth1") && addrs.contains(&format!("{side_net}.")),
        "{addrs}"
    );
    // Its default route stays on the network it started on.
    let route = ok(hako(r, &["exec", "roamer", "ip", "route"]), "route");
    assert!(
        route.starts_with("default via 10.88.0.1 dev eth0"),
        "{route}"
    );
    ok(
        hako(r, &["exec", "roamer", "ping", "-c1", "-W2", "local"]),
        "roamer → local",
    );
    ok(
        hako(r, &["exec", "local", "ping", "-c1", "-W2", "wanderer"]),
        "local → roamer by alias",
    );
    let nets = ok(
        hako(
            r,
            &[
                "inspect",
                "-f",
                "{{json .NetworkSettings.Networks}}",
                "roamer",
            ],
        ),
        "inspect",
    );
    assert!(
        nets.contains("\"side\"") && nets.contains(&format!("{side_net}.")),
        "{nets}"
    );
    let o = hako(r, &["network", "connect", "side", "roamer"]);
    assert!(stderr(&o).contains("already connected"), "{}", stderr(&o));
    ok(
        hako(r, &["network", "disconnect", "side", "roamer"]),
        "disconnect",
    );
    let links = ok(
        hako(r, &["exec", "roamer", "ls", "/sys/class/net"]),
        "links",
    );
    assert!(!links.contains("eth1"), "{links}");
    assert!(!ok(hako(r, &["exec", "local", "cat", "/etc/hosts"]), "hosts").contains("wanderer"));
    ok(hako(r, &["rm", "-f", "roamer", "local"]), "rm");
    ok(hako(r, &["network", "rm", "side"]), "network rm");
}
