//! The files a packager or user installs beside the binary: shell completions
//! (`accord completions <bash|zsh|fish>`) and the man page (`accord man`). Both are generated
//! from the clap definition the CLI parses with, so they always match the real options.

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;

/// The shells `accord completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompletionShell {
    /// Bash (e.g. ~/.local/share/bash-completion/completions/accord)
    Bash,
    /// Zsh (a file named `_accord` in a directory on $fpath)
    Zsh,
    /// Fish (~/.config/fish/completions/accord.fish)
    Fish,
}

impl CompletionShell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// Writes the completion script of `command` for `shell` to standard output.
pub(crate) fn completions(
    mut command: clap::Command,
    shell: CompletionShell,
) -> anyhow::Result<()> {
    let name = command.get_name().to_owned();
    // Generated into memory first: clap_complete panics when its writer fails (a closed pipe,
    // as with `| head`), while a failed write here is an ordinary error.
    let mut script = Vec::new();
    clap_complete::generate(shell.generator(), &mut command, name, &mut script);
    std::io::stdout()
        .write_all(&script)
        .context("cannot write the completion script")
}

/// Writes the man page of `command` (roff, section 1) to standard output.
pub(crate) fn man(command: clap::Command) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .context("cannot render the man page")?;
    std::io::stdout()
        .write_all(&page)
        .context("cannot write the man page")?;
    Ok(())
}
