//! Hostile input, generated: every parser that reads what users and images supply is fed
//! random and mutated input, and must answer with a value or an error, never a panic,
//! and the layer unpacker must never write outside its directory. proptest runs a bounded
//! number of cases per property in every `cargo test` (`PROPTEST_CASES` raises it); a
//! failure prints the shrunk input, which then becomes a plain regression test here.

use proptest::prelude::*;
use std::path::Path;

/// Text biased towards the characters these grammars care about.
fn grammar_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("FROM ".to_string()),
            Just("RUN ".to_string()),
            Just("COPY --from=".to_string()),
            Just("ARG ".to_string()),
            Just("${".to_string()),
            Just(":-".to_string()),
            Just("}".to_string()),
            Just("\\\n".to_string()),
            Just("\n".to_string()),
            Just("[\"".to_string()),
            Just("\"]".to_string()),
            Just("services:\n  a:\n    image: ".to_string()),
            Just("  ".to_string()),
            Just("@sha256:".to_string()),
            Just(":".to_string()),
            Just("/".to_string()),
            "[ -~]{0,8}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// 512 cases per property in every `cargo test`; `make test` runs its fuzz lane with more.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn references_parse_or_refuse(s in grammar_text()) {
        let _ = s.parse::<crate::reference::Reference>();
    }

    #[test]
    fn dockerfiles_parse_or_refuse(s in grammar_text()) {
        let _ = crate::build::dockerfile::parse(&s);
    }

    #[test]
    fn dockerfile_words_split_or_refuse(s in grammar_text()) {
        let env = |k: &str| (k == "A").then(|| "x y".to_string());
        let _ = crate::build::words::split(&s, '\\', &env);
    }

    #[test]
    fn compose_files_load_or_refuse(s in grammar_text()) {
        let env = crate::compose::interpolate::Env::new();
        let _ = crate::compose::load(&crate::compose::Load {
            text: &s,
            dir: Path::new("/nonexistent"),
            project_name: Some("fuzz"),
            env: &env,
        });
    }

    #[test]
    fn image_configs_and_flags_parse_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..256), s in grammar_text()) {
        let _ = crate::image::parse_config(&bytes);
        let _ = crate::image::parse_config(s.as_bytes());
        let _ = crate::flags::parse_volume(&s);
        let _ = crate::flags::parse_mount(&s);
        let _ = crate::endpoint::ports::parse(&s);
        let _ = crate::flags::parse_memory(&s);
    }

    #[test]
    fn seccomp_profiles_compile_or_refuse(s in grammar_text()) {
        let text = format!(r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": ["{}"], "action": "SCMP_ACT_ALLOW"}}]}}"#, s.replace(['"', '\\'], ""));
        if let Ok(p) = crate::seccomp::default_profile::from_docker_json(&text, &[], (6, 1)) {
            let _ = crate::seccomp::compile(&p);
        }
    }

    /// Random bytes after a valid tar header, and tars of random entries: the unpacker
    /// refuses or unpacks, and nothing appears beside its destination.
    #[test]
    fn layers_never_write_outside_their_directory(
        names in proptest::collection::vec("(\\.\\./|/|[a-c]{1,2}/|\\.wh\\.|\\.wh\\.\\.wh\\.\\.opq){0,4}[a-c]{0,2}", 1..6),
        kinds in proptest::collection::vec(0u8..4, 6),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let mut h = tar::Header::new_gnu();
            let kind = kinds[i % kinds.len()];
            h.set_entry_type(match kind {
                0 => tar::EntryType::Regular,
                1 => tar::EntryType::Directory,
                2 => tar::EntryType::Symlink,
                _ => tar::EntryType::Link,
            });
            h.set_size(if kind == 0 { 1 } else { 0 });
            h.set_mode(0o755);
            if kind >= 2 {
                let _ = h.set_link_name(if i % 2 == 0 { "../../outside" } else { "/etc/passwd" });
            }
            // Raw names: the builder would refuse the hostile ones we want to send.
            let raw = name.as_bytes();
            let field = &mut h.as_old_mut().name;
            let n = raw.len().min(field.len() - 1);
            field[..n].copy_from_slice(&raw[..n]);
            h.set_cksum();
            let data: &[u8] = if kind == 0 { b"x" } else { b"" };
            b.append(&h, data).unwrap();
        }
        let mut tar = b.into_inner().unwrap();
        if tail.len() % 3 == 0 {
            tar.extend_from_slice(&tail);
        } else {
            let at = tail.len() % tar.len().max(1);
            tar.truncate(at);
        }
        let opts = crate::layer::UnpackOptions { rootless: true, squash: false, budget: None };
        let _ = crate::layer::unpack(&tar[..], &dest, &opts);
        let beside: Vec<_> = std::fs::read_dir(outer.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        prop_assert_eq!(beside.len(), 1, "wrote beside the layer: {:?}", beside);
    }
}
