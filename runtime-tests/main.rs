//! Runtime tests: real containers, as root. `cargo test --test runtime`.

mod harness;

mod build_compose;
mod cli_habits;
mod commit;
mod concurrency;
mod core_isolation;
mod crash_safety;
mod debian;
mod docs_blocks;
mod foundation;
mod hardening;
mod images;
mod lifecycle;
mod limits;
mod networking;
mod process;
mod registry;
mod rootless;
mod runc_clients;
mod runc_conformance;
mod runc_mode;
mod runc_namespaces;
mod runc_security;
mod security;
mod trace_lines;
