//! `hostgate diff LEFT RIGHT`: the queries on which two policies disagree.

use std::io::{self, Write};

use clap::Args;
use hostgate::{diff, DiffOptions, Verdict, Witness};
use serde::Serialize;

use crate::load::{load_operand, Loaded as Operand};
use crate::output::{write_failed, Normalized, Record};
use crate::{via_parser, Failure, Format};

#[derive(Args)]
pub struct DiffArgs {
    /// The left policy: `[FORMAT:]FILE[#POLICY]` (FORMAT: hostgate, the default, or an import
    /// format as `--from` takes them, such as cilium or squid; POLICY: default, else the file's
    /// first)
    #[arg(value_name = "LEFT")]
    left: String,
    /// The right policy, in the same form
    #[arg(value_name = "RIGHT")]
    right: String,
    /// Only queries to this port [default: no port, and every port]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Only queries from this source [default: unknown, and every source]
    #[arg(long, value_parser = via_parser())]
    via: Option<hostgate::Via>,
    /// Print at most this many witnesses (the summary counts the rest)
    #[arg(long, value_name = "K", default_value_t = 100)]
    limit: usize,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Exit status 0 when the policies agree on every query, 1 when they differ.
pub fn run(args: DiffArgs) -> Result<bool, Failure> {
    let left = load_operand(&args.left)?;
    let right = load_operand(&args.right)?;
    let mut options = DiffOptions::default().limit(args.limit);
    if let Some(p) = args.port {
        options = options.port(p);
    }
    if let Some(v) = args.via {
        options = options.via(v);
    }
    let d = diff(
        (&left.engine, left.policy),
        (&right.engine, right.policy),
        &options,
    );
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = (|| -> io::Result<()> {
        for w in &d.witnesses {
            match args.format {
                Format::Text => writeln!(out, "{}", text_line(w, &left, &right))?,
                Format::Json => {
                    // The witness is a normalized name: normalizing it again gives itself.
                    let normalized = Normalized::of(w.name.as_bytes());
                    let j = JsonWitness {
                        name: &w.name,
                        port: w.port,
                        via: w.via.map(|v| v.as_str()),
                        left: json_side(w, &w.left, &normalized, &left),
                        right: json_side(w, &w.right, &normalized, &right),
                    };
                    serde_json::to_writer(&mut out, &j)?;
                    writeln!(out)?;
                }
            }
        }
        match args.format {
            Format::Text => writeln!(out, "{}", summary(&d))?,
            Format::Json => {
                let s = JsonSummary {
                    summary: SummaryFields {
                        regions: d.regions,
                        shown: d.witnesses.len(),
                        complete: d.complete,
                        incomplete: &d.incomplete,
                        queries: d.queries,
                    },
                };
                serde_json::to_writer(&mut out, &s)?;
                writeln!(out)?;
            }
        }
        out.flush()
    })();
    match written {
        Ok(()) => Ok(d.agree()),
        Err(e) => write_failed(e).map(|()| d.agree()),
    }
}

fn port_text(port: Option<u16>) -> String {
    port.map_or("no port".to_string(), |p| format!("port {p}"))
}

/// How one side decided: `allow by RULE (FILE:LINE)`, `deny by default`.
fn side_text(v: &Verdict<'_>, side: &Operand) -> String {
    match v.rule {
        Some(r) => format!("{} by {} ({}:{})", v.action, r.id(), side.origin, r.line()),
        None => format!("{} by {}", v.action, v.reason),
    }
}

fn text_line(w: &Witness<'_, '_>, left: &Operand, right: &Operand) -> String {
    format!(
        "{}  {}  {}  left: {}  right: {}",
        w.name,
        port_text(w.port),
        w.via
            .map_or("source unknown".to_string(), |v| format!("via {v}")),
        side_text(&w.left, left),
        side_text(&w.right, right),
    )
}

fn summary(d: &hostgate::Diff<'_, '_>) -> String {
    let found = match d.regions {
        0 => "no disagreement".to_string(),
        1 => "1 disagreement region".to_string(),
        n => format!("{n} disagreement regions"),
    };
    let shown = if d.witnesses.len() < d.regions {
        format!(
            " ({} shown, {} over --limit)",
            d.witnesses.len(),
            d.regions - d.witnesses.len()
        )
    } else {
        String::new()
    };
    let search = if d.complete {
        "search complete: every query was covered".to_string()
    } else {
        format!("search incomplete: {}", d.incomplete.join("; "))
    };
    format!("{found}{shown}; {search} ({} queries asked)", d.queries)
}

#[derive(Serialize)]
struct JsonSide<'a> {
    #[serde(flatten)]
    record: Record<'a>,
    file: &'a str,
}

#[derive(Serialize)]
struct JsonWitness<'a> {
    name: &'a str,
    port: Option<u16>,
    via: Option<&'static str>,
    left: JsonSide<'a>,
    right: JsonSide<'a>,
}

/// One side of a witness, shaped like a `check --format json` record plus the file.
fn json_side<'a>(
    w: &'a Witness<'a, 'a>,
    v: &Verdict<'a>,
    normalized: &'a Normalized,
    op: &'a Operand,
) -> JsonSide<'a> {
    JsonSide {
        record: Record::new(w.name.as_bytes(), normalized, v, op.policy_name()),
        file: &op.origin,
    }
}

#[derive(Serialize)]
struct SummaryFields<'a> {
    regions: usize,
    shown: usize,
    complete: bool,
    incomplete: &'a [String],
    queries: usize,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    summary: SummaryFields<'a>,
}
