//! The contract tables in `tests/contract/` (the same files the C ABI, C, C++, Go and Python
//! tests read), run against the engine and against the naive reference (`hostgate-reference`),
//! so the tables also pin the reference that the differential tests trust.
//!
//! - `queries.tsv`: policy file + query -> verdict (action, reason, rule id, line). Each row is
//!   asked with `check`, again with `check_name` when the name normalizes, and each (file,
//!   policy) group in one `check_batch` call.
//! - `diagnostics.tsv`: policy file -> its compile errors and warnings (line, column, count,
//!   message fragment); the reference must reject every file with an error and accept the rest.
//!
//! The column formats are described at the top of each table. Mismatches are collected and
//! reported together, one line each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hostgate::{normalize, Diagnostic, Engine, Query, Severity, Verdict, Via};
use hostgate_reference::{Policies, RefVerdict};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/contract")
}

fn policy_text(file: &str) -> String {
    let path = dir().join("policies").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The data rows of a table: (line number, columns), without comments, blank lines and the
/// column-name line.
fn table(name: &str, columns: usize) -> Vec<(usize, Vec<String>)> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') || line.starts_with("file\t") {
            continue;
        }
        let f: Vec<String> = line.split('\t').map(str::to_owned).collect();
        assert_eq!(f.len(), columns, "{name}:{}: want {columns} columns", i + 1);
        rows.push((i + 1, f));
    }
    rows
}

/// `\xHH` is one raw byte; `<empty>` is the empty name.
fn unescape(s: &str) -> Vec<u8> {
    if s == "<empty>" {
        return Vec::new();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex digits");
            out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn via(s: &str) -> Option<Via> {
    match s {
        "-" => None,
        "tls" => Some(Via::Tls),
        "http" => Some(Via::Http),
        "connect" => Some(Via::Connect),
        "dns" => Some(Via::Dns),
        other => panic!("unknown via {other:?}"),
    }
}

struct QueryRow {
    at: String,
    file: String,
    policy: String,
    name: Vec<u8>,
    port: Option<u16>,
    via: Option<Via>,
    /// `action reason rule_id line`, as in the table.
    want: String,
}

fn query_rows() -> Vec<QueryRow> {
    table("queries.tsv", 9)
        .into_iter()
        .map(|(line, f)| QueryRow {
            at: format!("queries.tsv:{line}"),
            file: f[0].clone(),
            policy: f[1].clone(),
            name: unescape(&f[2]),
            port: (f[3] != "-").then(|| f[3].parse().expect("port")),
            via: via(&f[4]),
            want: f[5..].join(" "),
        })
        .collect()
}

fn render(v: &Verdict<'_>) -> String {
    match v.rule {
        Some(r) => format!("{} {} {} {}", v.action, v.reason, r.id(), r.line()),
        None => format!("{} {} - 0", v.action, v.reason),
    }
}

fn render_reference(v: &RefVerdict) -> String {
    format!(
        "{} {} {} {}",
        v.action,
        v.reason,
        v.id.as_deref().unwrap_or("-"),
        v.line.unwrap_or(0)
    )
}

fn assert_clean(what: &str, rows: usize, bad: Vec<String>) {
    assert!(
        bad.is_empty(),
        "{} mismatches in {rows} {what}:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn queries_engine_and_reference() {
    let rows = query_rows();
    assert!(rows.len() >= 350, "queries.tsv has {} rows", rows.len());
    let mut engines: BTreeMap<&str, Engine> = BTreeMap::new();
    let mut references: BTreeMap<&str, Policies> = BTreeMap::new();
    for row in &rows {
        if !engines.contains_key(row.file.as_str()) {
            let text = policy_text(&row.file);
            let e = Engine::compile(&text)
                .unwrap_or_else(|e| panic!("{}: engine rejects {}:\n{e}", row.at, row.file));
            let r = Policies::parse(&text)
                .unwrap_or_else(|e| panic!("{}: reference rejects {}: {e}", row.at, row.file));
            engines.insert(&row.file, e);
            references.insert(&row.file, r);
        }
    }
    let mut bad = Vec::new();
    for row in &rows {
        let shown = String::from_utf8_lossy(&row.name);
        let what = format!(
            "{}: {} policy {:?}: {shown:?} port {:?} via {:?}",
            row.at, row.file, row.policy, row.port, row.via
        );
        match references[row.file.as_str()].check(&row.policy, &row.name, row.port, row.via) {
            None => bad.push(format!("{what}: reference has no such policy")),
            Some(v) => {
                let got = render_reference(&v);
                if got != row.want {
                    bad.push(format!(
                        "{what}: reference: want `{}`, got `{got}`",
                        row.want
                    ));
                }
            }
        }
        let e = &engines[row.file.as_str()];
        let Some(p) = e.policy(&row.policy) else {
            bad.push(format!("{what}: engine has no such policy"));
            continue;
        };
        let q = Query {
            name: &row.name,
            port: row.port,
            via: row.via,
        };
        let v = e.check(p, &q);
        let got = render(&v);
        if got != row.want {
            bad.push(format!("{what}: engine: want `{}`, got `{got}`", row.want));
        }
        if v.policy != p {
            bad.push(format!("{what}: verdict names policy {:?}", v.policy));
        }
        if let Ok(name) = normalize(&row.name) {
            let by_name = e.check_name(p, &name, row.port, row.via);
            if by_name != v {
                bad.push(format!("{what}: check_name gives `{}`", render(&by_name)));
            }
        }
    }
    assert_clean("rows", rows.len(), bad);
}

#[test]
fn queries_in_batches() {
    let rows = query_rows();
    let mut groups: BTreeMap<(&str, &str), Vec<&QueryRow>> = BTreeMap::new();
    for row in &rows {
        groups
            .entry((&row.file, &row.policy))
            .or_default()
            .push(row);
    }
    let mut bad = Vec::new();
    for ((file, policy), group) in groups {
        let e = Engine::compile(&policy_text(file)).expect("compiles (see the other test)");
        let p = e
            .policy(policy)
            .expect("policy exists (see the other test)");
        let queries: Vec<Query<'_>> = group
            .iter()
            .map(|r| Query {
                name: &r.name,
                port: r.port,
                via: r.via,
            })
            .collect();
        let mut out = vec![Verdict::default(); queries.len()];
        assert_eq!(e.check_batch(p, &queries, &mut out), queries.len());
        for (row, v) in group.iter().zip(&out) {
            let got = render(v);
            if got != row.want {
                bad.push(format!(
                    "{} (batch): want `{}`, got `{got}`",
                    row.at, row.want
                ));
            }
        }
    }
    assert_clean("rows", rows.len(), bad);
}

/// One row of `diagnostics.tsv`.
struct DiagRow {
    at: String,
    severity: Severity,
    line: u32,
    /// Inclusive column range; `None` for any.
    columns: Option<(u32, u32)>,
    /// Exactly this many; `None` for one or more.
    count: Option<usize>,
    /// Any of these substrings; empty for any message.
    message: Vec<String>,
}

fn diagnostic_rows() -> BTreeMap<String, Vec<DiagRow>> {
    let mut files: BTreeMap<String, Vec<DiagRow>> = BTreeMap::new();
    for (line, f) in table("diagnostics.tsv", 6) {
        let at = format!("diagnostics.tsv:{line}");
        let severity = match f[1].as_str() {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            other => panic!("{at}: severity {other:?}"),
        };
        let columns = match f[3].as_str() {
            "-" => None,
            c => Some(match c.split_once('-') {
                Some((lo, hi)) => (lo.parse().expect("column"), hi.parse().expect("column")),
                None => {
                    let n = c.parse().expect("column");
                    (n, n)
                }
            }),
        };
        let count = (f[4] != "+").then(|| f[4].parse().expect("count"));
        let message = match f[5].as_str() {
            "-" => Vec::new(),
            m => m.split('|').map(str::to_owned).collect(),
        };
        files.entry(f[0].clone()).or_default().push(DiagRow {
            at,
            severity,
            line: f[2].parse().expect("line"),
            columns,
            count,
            message,
        });
    }
    files
}

/// The message as the C ABI reports it: `message (help)`.
fn full_message(d: &Diagnostic) -> String {
    match &d.help {
        Some(help) => format!("{} ({help})", d.message),
        None => d.message.clone(),
    }
}

/// Compares the diagnostics of one severity with the rows that describe them.
fn compare(file: &str, diags: &[Diagnostic], rows: &[&DiagRow], bad: &mut Vec<String>) {
    let positions: Vec<(u32, u32)> = diags.iter().map(|d| (d.line, d.column)).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    if positions != sorted {
        bad.push(format!(
            "{file}: diagnostics not in text order: {positions:?}"
        ));
    }
    let mut by_line: BTreeMap<u32, Vec<&Diagnostic>> = BTreeMap::new();
    for d in diags {
        by_line.entry(d.line).or_default().push(d);
    }
    for row in rows {
        let Some(on_line) = by_line.get(&row.line) else {
            bad.push(format!(
                "{}: {file}: no {} on line {}; got {positions:?}",
                row.at,
                row.severity.as_str(),
                row.line
            ));
            continue;
        };
        let first = on_line[0];
        if let Some(n) = row.count {
            if on_line.len() != n {
                bad.push(format!(
                    "{}: {file}: want {n} on line {}, got {}: {on_line:?}",
                    row.at,
                    row.line,
                    on_line.len()
                ));
            }
        }
        if let Some((lo, hi)) = row.columns {
            if !(lo..=hi).contains(&first.column) {
                bad.push(format!(
                    "{}: {file}: line {}: want column {lo}..={hi}, got {}",
                    row.at, row.line, first.column
                ));
            }
        }
        let msg = full_message(first);
        if !row.message.is_empty() && !row.message.iter().any(|m| msg.contains(m.as_str())) {
            bad.push(format!(
                "{}: {file}: line {}: message {msg:?} contains none of {:?}",
                row.at, row.line, row.message
            ));
        }
    }
    for (line, ds) in &by_line {
        if !rows.iter().any(|r| r.line == *line) {
            bad.push(format!(
                "{file}: unexpected diagnostics on line {line}: {ds:?}"
            ));
        }
    }
}

#[test]
fn diagnostics_engine_and_reference() {
    let files = diagnostic_rows();
    let total: usize = files.values().map(Vec::len).sum();
    assert!(total >= 70, "diagnostics.tsv has {total} rows");
    let mut bad = Vec::new();
    for (file, rows) in &files {
        let text = policy_text(file);
        let errors: Vec<&DiagRow> = rows
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .collect();
        let warnings: Vec<&DiagRow> = rows
            .iter()
            .filter(|r| r.severity == Severity::Warning)
            .collect();
        let reference = Policies::parse(&text);
        if errors.is_empty() {
            match Engine::compile(&text) {
                Ok(e) => compare(file, e.warnings(), &warnings, &mut bad),
                Err(e) => bad.push(format!("{file}: want it to compile, got\n{e}")),
            }
            if let Err(e) = reference {
                bad.push(format!("{file}: reference rejects it: {e}"));
            }
            continue;
        }
        if reference.is_ok() {
            bad.push(format!("{file}: reference accepts it"));
        }
        let errs = match Engine::compile(&text) {
            Ok(_) => {
                bad.push(format!("{file}: compiles, want errors"));
                continue;
            }
            Err(errs) => errs,
        };
        let diags = errs.errors();
        if let Some(d) = diags.iter().find(|d| d.severity != Severity::Error) {
            bad.push(format!("{file}: a failed compile holds a non-error: {d:?}"));
        }
        compare(file, diags, &errors, &mut bad);
        // Rendered as FILE:LINE:COL: message, one line per error.
        let rendered = errs.render("p.hg");
        if rendered.lines().count() != diags.len() {
            bad.push(format!(
                "{file}: render has the wrong number of lines:\n{rendered}"
            ));
        }
        for (l, d) in rendered.lines().zip(diags) {
            if !l.starts_with(&format!("p.hg:{}:{}: ", d.line, d.column)) {
                bad.push(format!("{file}: rendered as {l:?}"));
            }
        }
    }
    assert_clean("rows", total, bad);
}
