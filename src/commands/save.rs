//! `hako save`.

use super::output::ArchiveOutput;
use crate::archive::save::{save as write_archive, Format, SaveItem};
use crate::cli::SaveArgs;
use crate::reference::Reference;
use crate::store::Store;
use anyhow::Result;

pub fn save(store: &Store, args: &SaveArgs) -> Result<i32> {
    let format = match args.format.as_str() {
        "oci-archive" => Format::OciArchive,
        _ => Format::DockerArchive,
    };
    let mut items = vec![];
    for what in &args.images {
        let record = store.lookup_image(what)?;
        // Saved under the name it was asked by; by ID it carries no name (as in Docker).
        let name = what
            .parse::<Reference>()
            .ok()
            .filter(|r| record.names.contains(&r.canonical()));
        items.push(SaveItem { record, name });
    }
    let out = ArchiveOutput::open(args.output.as_deref())?;
    let file = out.file.try_clone()?;
    match write_archive(store, &items, format, file) {
        Ok(file) => out.finish(file)?,
        Err(e) => {
            out.abandon();
            return Err(e);
        }
    }
    Ok(0)
}
