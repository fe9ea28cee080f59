//! Where a key-file passphrase comes from: `--passphrase-file`, else `ACCORD_PASSPHRASE`.

use std::path::Path;

use accord_node::Passphrase;
use anyhow::Context;

/// The environment variable that may hold the passphrase.
pub(crate) const PASSPHRASE_ENV: &str = "ACCORD_PASSPHRASE";

/// Reads the passphrase, if one was given. A file's trailing newline is not part of it, so
/// that `echo secret > file` works as people expect.
pub(crate) fn read(file: Option<&Path>) -> anyhow::Result<Option<Passphrase>> {
    let text = match file {
        Some(path) => {
            let mut text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read passphrase file {}", path.display()))?;
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            text
        }
        None => match std::env::var(PASSPHRASE_ENV) {
            Ok(text) => text,
            Err(_) => return Ok(None),
        },
    };
    let passphrase = Passphrase::new(text).context("unusable passphrase")?;
    Ok(Some(passphrase))
}
