//! `hostgate check`: one verdict per name.

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};

use clap::Args;
use hostgate::{Query, Reason};

use crate::load::{load, Loaded};
use crate::output::{name_with_normalized, write_failed, Normalized, Record};
use crate::{Failure, Format, QueryArgs};

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Names to check. When none are given they are read from standard input, one per line:
    /// surrounding white space is trimmed, blank lines are skipped, and `#` at the start of a
    /// line or after white space starts a comment (no valid name contains `#`)
    #[arg(value_name = "NAME")]
    names: Vec<OsString>,
}

pub fn run(args: CheckArgs) -> Result<(), Failure> {
    let loaded = load(&args.query)?;
    let checker = Checker {
        loaded: &loaded,
        port: args.query.port,
        via: args.query.via,
        format: args.format,
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = if args.names.is_empty() {
        checker.stdin(&mut out)
    } else {
        args.names
            .iter()
            .try_for_each(|n| checker.one(n.as_encoded_bytes(), &mut out))
            .map_err(Error::Write)
    };
    match result.and_then(|()| out.flush().map_err(Error::Write)) {
        Ok(()) => Ok(()),
        Err(Error::Write(e)) => write_failed(e),
        Err(Error::Read(e)) => Err(Failure::msg(format!("cannot read standard input: {e}"))),
    }
}

enum Error {
    Read(io::Error),
    Write(io::Error),
}

struct Checker<'a> {
    loaded: &'a Loaded,
    port: Option<u16>,
    via: Option<hostgate::Via>,
    format: Format,
}

impl Checker<'_> {
    fn stdin(&self, out: &mut impl Write) -> Result<(), Error> {
        let mut input = io::stdin().lock();
        // Someone typing names wants each answer at once; a piped list wants throughput.
        let interactive = io::stdin().is_terminal();
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).map_err(Error::Read)? == 0 {
                return Ok(());
            }
            if let Some(name) = name_in_line(&line) {
                self.one(name, out).map_err(Error::Write)?;
                if interactive {
                    out.flush().map_err(Error::Write)?;
                }
            }
        }
    }

    fn one(&self, input: &[u8], out: &mut impl Write) -> io::Result<()> {
        let mut query = Query::new(input);
        query.port = self.port;
        query.via = self.via;
        let engine = &self.loaded.engine;
        let verdict = engine.check(self.loaded.policy, &query);
        let normalized = Normalized::of(input);
        match self.format {
            Format::Json => {
                let record = Record::new(input, &normalized, &verdict, self.loaded.policy_name());
                serde_json::to_writer(&mut *out, &record)?;
                out.write_all(b"\n")
            }
            Format::Text => {
                let name = name_with_normalized(input, &normalized);
                let why = match (verdict.reason, verdict.rule, &normalized.0) {
                    (Reason::Matched, Some(r), _) => {
                        format!("matched {} (line {})", r.id(), r.line())
                    }
                    (Reason::InvalidName, _, Err(e)) => format!("invalid-name: {e}"),
                    (reason, _, _) => reason.as_str().to_owned(),
                };
                writeln!(out, "{:<5} {name}  {why}", verdict.action.as_str())
            }
        }
    }
}

/// The name on one line of standard input, or `None` for a blank or comment-only line.
fn name_in_line(line: &[u8]) -> Option<&[u8]> {
    let end = (0..line.len())
        .find(|&i| line[i] == b'#' && (i == 0 || line[i - 1].is_ascii_whitespace()))
        .unwrap_or(line.len());
    let name = line[..end].trim_ascii();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::name_in_line;

    #[test]
    fn stdin_lines() {
        assert_eq!(
            name_in_line(b"api.kadath.io\n"),
            Some(&b"api.kadath.io"[..])
        );
        assert_eq!(
            name_in_line(b"  api.kadath.io\r\n"),
            Some(&b"api.kadath.io"[..])
        );
        assert_eq!(name_in_line(b"a.io   # note\n"), Some(&b"a.io"[..]));
        assert_eq!(name_in_line(b"# only a comment\n"), None);
        assert_eq!(name_in_line(b"   \n"), None);
        assert_eq!(name_in_line(b""), None);
        // `#` glued to a name is part of it (and makes it invalid), not a comment.
        assert_eq!(name_in_line(b"a#b.io\n"), Some(&b"a#b.io"[..]));
    }
}
