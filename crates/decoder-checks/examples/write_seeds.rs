//! Writes the seed corpus of every fuzz target: `crates/fuzz/seeds/<target>/<name>`.
//!
//! ```text
//! cargo run -p accord-decoder-checks --example write_seeds [-- <dir>]
//! ```
//!
//! Run it again after changing a wire format, and commit the result (delete a renamed seed's
//! old file by hand).

use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds"),
        PathBuf::from,
    );
    let seeds = accord_decoder_checks::seeds::all();
    for target in accord_decoder_checks::TARGETS {
        let target_dir = dir.join(target.name);
        // Only add and overwrite: the directory also keeps the inputs of fixed crashes, which
        // no generator produces.
        std::fs::create_dir_all(&target_dir)
            .with_context(|| format!("cannot create {}", target_dir.display()))?;
    }
    for seed in &seeds {
        let path = dir.join(seed.target).join(&seed.name);
        std::fs::write(&path, &seed.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("wrote {} seeds under {}", seeds.len(), dir.display());
    Ok(())
}
