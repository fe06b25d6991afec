//! Layers: tar streams in (unpack, OCI whiteouts → overlay whiteouts) and, in the commit
//! issue, out again (diff). The two are mirrors.

pub mod compression;
pub mod unpack;

pub use compression::{decoder, Compression};
pub use unpack::{unpack, UnpackError, UnpackOptions};
