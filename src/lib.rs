//! hako: a daemonless container runtime. See `docs/architecture.md` for the data flow;
//! `launcher/init.rs` is the container's life story, step by step.

pub mod archive;
pub mod cgroups;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod image;
pub mod launcher;
pub mod layer;
pub mod reference;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod store;
pub mod sys;
pub mod timefmt;
pub mod trace;
