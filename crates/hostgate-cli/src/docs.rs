//! `hostgate completions SHELL` and `hostgate man`: shell completions and the man page, made
//! from the same clap definitions as `--help`, so they cannot drift from the CLI.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::Failure;

/// The shells `completions` writes for.
#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    /// bash (source it, or put it in /usr/share/bash-completion/completions/hostgate)
    Bash,
    /// zsh (put it in a directory of $fpath as _hostgate)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/hostgate.fish)
    Fish,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the completion script for `shell` to standard output.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<(), Failure> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hostgate", &mut out);
    write(&out)
}

/// Writes the man page (roff, section 1) to standard output: `hostgate man | man -l -`.
pub fn man(cmd: clap::Command) -> Result<(), Failure> {
    let mut out = Vec::new();
    let page = clap_mangen::Man::new(cmd);
    page.render(&mut out)
        .map_err(|e| Failure::msg(format!("cannot render the man page: {e}")))?;
    write(&out)
}

fn write(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .or_else(crate::output::write_failed)
}
