//! Where `export` and `save` write: a file (written beside its final name and renamed into
//! place when complete, so an interrupted run never leaves a truncated archive under the
//! name) or STDOUT (never a terminal, as in Docker).

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

pub struct ArchiveOutput {
    pub file: File,
    /// (temporary path, final path) for `-o FILE`.
    rename: Option<(PathBuf, PathBuf)>,
}

impl ArchiveOutput {
    pub fn open(path: Option<&Path>) -> Result<ArchiveOutput> {
        let Some(path) = path else {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to write an archive to a terminal: use -o FILE or redirect STDOUT");
            }
            // A File on fd 1, not the line-buffered Stdout: archives are binary.
            let fd = stdout.as_fd().try_clone_to_owned()?;
            return Ok(ArchiveOutput {
                file: File::from(fd),
                rename: None,
            });
        };
        let name = path
            .file_name()
            .with_context(|| format!("-o {}: not a file name", path.display()))?;
        let tmp = path.with_file_name(format!(
            ".{}.hako-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        Ok(ArchiveOutput {
            file,
            rename: Some((tmp, path.to_path_buf())),
        })
    }

    /// Makes the archive visible under its name.
    pub fn finish(self, file: File) -> Result<()> {
        if let Some((tmp, dest)) = &self.rename {
            file.sync_all()?;
            std::fs::rename(tmp, dest)
                .with_context(|| format!("rename into {}", dest.display()))?;
        }
        Ok(())
    }

    /// Removes a half-written file.
    pub fn abandon(self) {
        if let Some((tmp, _)) = &self.rename {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Text for STDOUT; a reader that went away (`| head`) ends the command quietly, as a
/// pipe's reader expects.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
