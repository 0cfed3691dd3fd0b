//! `hostgate explain`: every rule that matches one name, which one decides, and why.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Write};

use clap::Args;
use hostgate::{ExplainedRule, NameKind, Query, Reason, RuleInfo};
use serde::Serialize;

use crate::load::load;
use crate::output::{display_name, write_failed, Normalized, Record};
use crate::{Failure, Format, QueryArgs};

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Output format (json: the `check` record plus `matches` and `why`)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The name to explain
    #[arg(value_name = "NAME")]
    name: OsString,
}

/// `explain --format json`: the `check` fields, then the evidence.
#[derive(Serialize)]
struct ExplainRecord<'a> {
    #[serde(flatten)]
    check: Record<'a>,
    matches: Vec<MatchRecord>,
    why: &'a str,
}

#[derive(Serialize)]
struct MatchRecord {
    index: u32,
    id: String,
    line: u32,
    action: &'static str,
    pattern: String,
    ports: Vec<[u16; 2]>,
    via: Vec<&'static str>,
    /// The regex is matched against the name as received (case, trailing dot, `:PORT`).
    received: bool,
    decides: bool,
}

impl From<&ExplainedRule<'_>> for MatchRecord {
    fn from(m: &ExplainedRule<'_>) -> Self {
        let r = &m.rule;
        MatchRecord {
            index: r.index,
            id: r.id.to_string(),
            line: r.line,
            action: r.action.as_str(),
            pattern: r.pattern.clone(),
            ports: r.ports.iter().map(|&(lo, hi)| [lo, hi]).collect(),
            received: r.received,
            via: r.via.iter().map(|v| v.as_str()).collect(),
            decides: m.decides,
        }
    }
}

pub fn run(args: ExplainArgs) -> Result<(), Failure> {
    let loaded = load(&args.query)?;
    let input = args.name.as_encoded_bytes();
    let mut query = Query::new(input);
    query.port = args.query.port;
    query.via = args.query.via;
    let ex = loaded.engine.explain(loaded.policy, &query);
    let normalized = Normalized::of(input);
    let policy = loaded.policy_name();

    let text = match args.format {
        Format::Json => {
            let record = ExplainRecord {
                check: Record::new(input, &normalized, &ex.verdict, policy),
                matches: ex.matches.iter().map(MatchRecord::from).collect(),
                why: &ex.why,
            };
            let mut s = serde_json::to_string(&record)
                .map_err(|e| Failure::msg(format!("cannot encode JSON: {e}")))?;
            s.push('\n');
            s
        }
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(s, "name:     {}", describe_name(input, &normalized));
            let _ = match loaded.engine.policy_settings(loaded.policy) {
                Some((precedence, default)) => writeln!(
                    s,
                    "policy:   {policy} (precedence {precedence}, default {default})"
                ),
                None => writeln!(s, "policy:   {policy}"),
            };
            let port = query
                .port
                .map_or("no port".to_owned(), |p| format!("port {p}"));
            let via = query
                .via
                .map_or("source unknown".to_owned(), |v| format!("via {v}"));
            let _ = writeln!(s, "query:    {port}, {via}");
            let v = &ex.verdict;
            let decided = match (v.reason, v.rule) {
                (Reason::Matched, Some(r)) => format!("by rule {} (line {})", r.id(), r.line()),
                (Reason::Default, _) => "by the policy default".to_owned(),
                (Reason::InvalidName, _) => "because invalid names are always denied".to_owned(),
                (reason, _) => format!("({reason})"),
            };
            let _ = writeln!(s, "verdict:  {} {decided}", v.action);
            if ex.matches.is_empty() {
                let _ = writeln!(s, "\nno rule matches");
            } else {
                let _ = writeln!(s, "\nmatching rules, in file order:");
                for m in &ex.matches {
                    let mark = if m.decides { "=>" } else { "  " };
                    let _ = writeln!(s, "  {mark} line {:<4} {}", m.rule.line, rule_text(&m.rule));
                }
            }
            // `why` quotes the input, which may hold terminal control characters.
            let _ = writeln!(s, "\nwhy: {}", display_name(ex.why.as_bytes()));
            s
        }
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => write_failed(e),
    }
}

/// A rule as it would be written in a policy file (normalized pattern), with its id.
fn rule_text(r: &RuleInfo<'_>) -> String {
    let mut s = format!("{:<5} {}", r.action.as_str(), r.pattern);
    if !r.ports.is_empty() {
        let ports: Vec<String> = r
            .ports
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        let _ = write!(s, "  port {}", ports.join(","));
    }
    if !r.via.is_empty() {
        let via: Vec<&str> = r.via.iter().map(|v| v.as_str()).collect();
        let _ = write!(s, "  via {}", via.join(","));
    }
    if r.received {
        s.push_str("  received");
    }
    let _ = write!(s, "  id {}", r.id);
    s
}

/// `API.Kadath.IO (host name, normalized to api.kadath.io)`, `a..b (invalid name: empty label)`.
fn describe_name(input: &[u8], normalized: &Normalized) -> String {
    let shown = display_name(input);
    match &normalized.0 {
        Err(e) => format!("{shown} (invalid name: {e})"),
        Ok(n) => {
            let kind = match n.kind() {
                NameKind::Name => "host name",
                NameKind::Ip(_) => "IP address",
                _ => "name of another kind",
            };
            if n.as_str() == shown {
                format!("{shown} ({kind})")
            } else {
                format!("{shown} ({kind}, normalized to {n})")
            }
        }
    }
}
