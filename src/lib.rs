//! hako: a daemonless container runtime. See `docs/architecture.md` for the data flow;
//! `launcher/init.rs` is the container's life story, step by step.

// Errors carry operation, path and flags by design (see docs/architecture.md); they are
// built once per failure, never in a hot path, so their size does not matter.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod archive;
pub mod build;
pub mod cgroups;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod commit;
pub mod compose;
pub mod container;
pub mod copy;
pub mod digest;
pub mod endpoint;
pub mod exit;
pub mod export;
pub mod flags;
pub mod format;
pub mod hooks;
pub mod image;
pub mod launcher;
pub mod layer;
pub mod logs;
pub mod network;
pub mod proc;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod rootless;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod store;
pub mod substitute;
pub mod sys;
pub mod timefmt;
pub mod trace;
pub mod units;
pub mod volumes;

#[cfg(test)]
mod fuzz_tests;
