//! Twenty hako processes at once on one store — `run -d`, `pull`, `commit`, `rmi` and
//! `image prune` interleaved — must leave it consistent, hand out every name and address
//! once, and never remove a layer a container or image still uses.

use crate::harness::*;
use crate::registry::{Auth, Registry};
use std::collections::HashSet;

#[test]
fn twenty_parallel_commands_on_one_store() {
    if !require_root("twenty_parallel_commands_on_one_store") {
        return;
    }
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let root = fresh_root("base");
    let r = root.path().to_path_buf();
    let pulled = format!("{}/conc/img:1", reg.addr);
    run_named(&r, "seed", "base", "head -c 4000000 /dev/urandom > /seed");
    ok(hako(&r, &["commit", "seed", &pulled]), "commit");
    ok(hako(&r, &["push", "-q", &pulled]), "push");
    ok(hako(&r, &["rmi", &pulled]), "rmi the pushed tag");
    // Sources for the commits and tags for the removals, made beforehand.
    for i in 0..4 {
        run_named(&r, &format!("src{i}"), "base", &format!("echo {i} > /mark"));
        ok(hako(&r, &["tag", "base", &format!("doomed:{i}")]), "tag");
    }
    let workers: Vec<_> = (0..20)
        .map(|i| {
            let r = r.clone();
            let pulled = pulled.clone();
            std::thread::spawn(move || {
                let k = (i / 5).to_string();
                let args: Vec<String> = match i % 5 {
                    0 => vec![
                        "run",
                        "-d",
                        "--name",
                        &format!("par{i}"),
                        "base",
                        "sleep",
                        "60",
                    ]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                    1 => vec!["pull".into(), "-q".into(), pulled],
                    2 => vec!["commit".into(), format!("src{k}"), format!("committed:{k}")],
                    3 => vec!["rmi".into(), format!("doomed:{k}")],
                    _ => vec!["image".into(), "prune".into(), "-f".into()],
                };
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (i, args.join(" "), hako(&r, &args))
            })
        })
        .collect();
    for w in workers {
        let (i, what, o) = w.join().unwrap();
        assert!(o.status.success(), "worker {i} ({what}): {}", stderr(&o));
    }
    // Every container runs, with its own name and address, and its layers are all there.
    let mut addresses = HashSet::new();
    for i in (0..20).step_by(5) {
        let name = format!("par{i}");
        let ip = ok(
            hako(
                &r,
                &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name],
            ),
            "inspect",
        );
        assert!(
            addresses.insert(ip.trim().to_string()),
            "{name} got a taken address {ip}"
        );
        ok(hako(&r, &["exec", &name, "ls", "/bin/sh"]), "exec");
    }
    for k in 0..4 {
        let mark = ok(
            hako(
                &r,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    &format!("committed:{k}"),
                    "cat",
                    "/mark",
                ],
            ),
            "committed image",
        );
        assert_eq!(mark.trim(), k.to_string());
    }
    ok(
        hako(
            &r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &pulled,
                "test",
                "-s",
                "/seed",
            ],
        ),
        "pulled",
    );
    let check = ok(hako(&r, &["system", "check"]), "system check");
    assert!(check.contains("No problems found"), "{check}");
    let names = ok(hako(&r, &["ps", "-a", "--format", "{{.Names}}"]), "ps");
    let unique: HashSet<&str> = names.lines().collect();
    assert_eq!(
        unique.len(),
        names.lines().count(),
        "a name handed out twice: {names}"
    );
    for i in (0..20).step_by(5) {
        let _ = hako(&r, &["rm", "-f", &format!("par{i}")]);
    }
    // Five at once asking for the same name: exactly one gets it.
    let racers: Vec<_> = (0..5)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || {
                hako(
                    &r,
                    &[
                        "run",
                        "-d",
                        "--name",
                        "contested",
                        "--network",
                        "none",
                        "base",
                        "sleep",
                        "30",
                    ],
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let winners = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outcomes.iter().map(stderr).collect::<Vec<_>>()
    );
    assert!(outcomes
        .iter()
        .filter(|o| !o.status.success())
        .all(|o| stderr(o).contains("already in use")));
    let _ = hako(&r, &["rm", "-f", "contested"]);
}
