//! `hako import` and `hako load`.

use crate::archive::{import, load};
use crate::cli::{ImportArgs, LoadArgs};
use crate::reference::Reference;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn import(store: &Store, args: &ImportArgs) -> Result<i32> {
    let name: Option<Reference> = args.reference.as_deref().map(str::parse).transpose()?;
    let mut config = serde_json::Map::new();
    crate::changes::apply(&mut config, &args.changes)?;
    let opts = import::ImportOptions {
        message: args.message.as_deref(),
        config: serde_json::Value::Object(config),
    };
    let _writer = store.writer_guard()?;
    let rec = import::import(store, &args.source, name.as_ref(), &opts)?;
    println!("{}", rec.config);
    Ok(0)
}

pub fn load(store: &Store, args: &LoadArgs) -> Result<i32> {
    let spooled;
    let input: PathBuf = match &args.input {
        Some(p) => p.clone(),
        None => {
            // A pipe cannot be read twice; spool it (docker load reads stdin the same way).
            spooled = store.temp_path("load-stdin");
            let mut f = std::fs::File::create(&spooled)?;
            std::io::copy(&mut std::io::stdin().lock(), &mut f)
                .context("read the archive from stdin")?;
            spooled.clone()
        }
    };
    let _writer = store.writer_guard()?;
    let result = load::load(store, &input).with_context(|| format!("load {}", input.display()));
    if args.input.is_none() {
        let _ = std::fs::remove_file(&input);
    }
    for loaded in result? {
        if args.quiet {
            continue;
        }
        if loaded.names.is_empty() {
            println!("Loaded image ID: {}", loaded.record.config);
        }
        for n in &loaded.names {
            println!("Loaded image: {}", n.familiar());
        }
    }
    Ok(0)
}
