//! Layers: tar streams in (unpack: OCI whiteouts → overlay whiteouts) and out again (pack:
//! overlay whiteouts → OCI whiteouts, for commit and export). The two are mirrors.

pub mod budget;
pub mod changes_list;
pub mod compression;
pub mod pack;
pub mod tar_writer;
pub mod unpack;

pub use compression::{decoder, Compression};
pub use unpack::{unpack, UnpackError, UnpackOptions};
