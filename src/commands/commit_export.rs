//! `hako commit`, `hako export`.

use super::output::ArchiveOutput;
use crate::cli::{CommitArgs, ExportArgs};
use crate::commit::{commit as commit_container, CommitOptions};
use crate::reference::Reference;
use crate::store::Store;
use anyhow::{Context, Result};

pub fn commit(store: &Store, args: &CommitArgs) -> Result<i32> {
    let reference: Option<Reference> = args.reference.as_deref().map(str::parse).transpose()?;
    if let Some(r) = reference.as_ref().filter(|r| r.digest.is_some()) {
        anyhow::bail!("refusing to commit to a digest reference ({r}): give a name and tag");
    }
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(v.parse::<u64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")
        })?),
        _ => None,
    };
    let container = store.lookup_container(&args.container)?;
    let _writer = store.writer_guard()?;
    let done = commit_container(
        store,
        &container,
        &CommitOptions {
            reference: reference.as_ref(),
            message: args.message.as_deref(),
            author: args.author.as_deref(),
            changes: &args.changes,
            pause: args.pause,
            reproducible: args.reproducible,
            source_date_epoch,
        },
    )
    .with_context(|| format!("commit container {}", container.name))?;
    for (path, entries) in &done.left_out {
        eprintln!(
            "note: /{} holds {entries} entries that are not part of the image: it is a volume or bind mount, as in Docker; copy the data elsewhere in the container to keep it",
            path.display()
        );
    }
    println!("{}", done.record.config);
    Ok(0)
}

pub fn export(store: &Store, args: &ExportArgs) -> Result<i32> {
    let container = store.lookup_container(&args.container)?;
    let out = ArchiveOutput::open(args.output.as_deref())?;
    let file = out.file.try_clone()?;
    match crate::export::export(store, &container, file) {
        Ok((file, _)) => out.finish(file)?,
        Err(e) => {
            out.abandon();
            return Err(e);
        }
    }
    Ok(0)
}
