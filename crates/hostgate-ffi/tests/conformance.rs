//! Runs the contract tables in `tests/contract/` through the C ABI functions (the same files the
//! engine, C, C++, Go and Python tests read): every row of `queries.tsv` one at a time with
//! `hostgate_check`, then every (file, policy) group in one `hostgate_check_batch` call; and the
//! errors of `diagnostics.tsv` through `hostgate_error_*` (the C ABI reports no warnings: a file
//! with only warnings must compile).
//!
//! Compiled as a module of the library (`src/lib.rs` includes it under `cfg(test)`): an
//! integration test could not name this crate, whose library is called `hostgate` like the core.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::ptr;

use crate::{
    hostgate_action_name, hostgate_check, hostgate_check_batch, hostgate_engine,
    hostgate_engine_compile, hostgate_engine_free, hostgate_engine_policy, hostgate_engine_rule_id,
    hostgate_error, hostgate_error_column, hostgate_error_count, hostgate_error_free,
    hostgate_error_get, hostgate_error_line, hostgate_error_message, hostgate_query,
    hostgate_reason_name, hostgate_result, hostgate_verdict,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/contract")
}

struct Row {
    lineno: usize,
    file: String,
    policy: String,
    name: Vec<u8>,
    port: u16,
    via: u32,
    expected: String,
}

fn unescape(s: &str) -> Vec<u8> {
    if s == "<empty>" {
        return Vec::new();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b.get(i + 1) == Some(&b'x') {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn via(s: &str) -> u32 {
    match s {
        "-" | "any" => 0,
        "tls" => 1,
        "http" => 2,
        "connect" => 3,
        "dns" => 4,
        other => panic!("unknown via {other}"),
    }
}

/// The data rows of a table: (line number, columns), without comments, blank lines and the
/// column-name line.
fn table(name: &str, columns: usize) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.starts_with("file\t") || line.is_empty() {
            continue;
        }
        let f: Vec<String> = line.split('\t').map(str::to_owned).collect();
        assert_eq!(f.len(), columns, "{name}:{}: want {columns} columns", i + 1);
        rows.push((i + 1, f));
    }
    rows
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (lineno, f) in table("queries.tsv", 9) {
        rows.push(Row {
            lineno,
            file: f[0].to_string(),
            policy: f[1].to_string(),
            name: unescape(&f[2]),
            port: if f[3] == "-" {
                0
            } else {
                f[3].parse().unwrap()
            },
            via: via(&f[4]),
            expected: f[5..].join(" "),
        });
    }
    rows
}

struct Engine(*mut hostgate_engine);

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the pointer came from hostgate_engine_compile and is freed once, here.
        unsafe { hostgate_engine_free(self.0) }
    }
}

fn compile(file: &str) -> Engine {
    let text = std::fs::read(dir().join("policies").join(file)).unwrap();
    let mut engine = ptr::null_mut();
    let mut err: *mut hostgate_error = ptr::null_mut();
    // SAFETY: text is readable for its length; both out-pointers are valid locals.
    let r =
        unsafe { hostgate_engine_compile(text.as_ptr().cast(), text.len(), &mut engine, &mut err) };
    if r != hostgate_result::Ok {
        // SAFETY: err was written by the failed compile (or is NULL).
        let msg = unsafe { cstr(hostgate_error_message(err)) };
        // SAFETY: err is NULL or a live error object, freed once.
        unsafe { hostgate_error_free(err) };
        panic!("{file}: {r:?}: {msg}");
    }
    Engine(engine)
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string.
unsafe fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        return "(null)".into();
    }
    // SAFETY: per the contract of this fn.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

fn render(engine: &Engine, v: &hostgate_verdict) -> String {
    let (id, line) = if v.rule < 0 {
        ("-".to_string(), v.line.to_string())
    } else {
        // SAFETY: rule_id points to rule_id_len bytes inside the live engine.
        let id = unsafe { std::slice::from_raw_parts(v.rule_id.cast::<u8>(), v.rule_id_len) };
        let id = String::from_utf8_lossy(id).into_owned();
        // The id lookup by index must agree with the id in the verdict.
        let (mut p, mut n) = (ptr::null(), 0usize);
        // SAFETY: engine is live; p and n are valid locals.
        let r = unsafe { hostgate_engine_rule_id(engine.0, v.policy, v.rule, &mut p, &mut n) };
        assert_eq!(r, hostgate_result::Ok);
        // SAFETY: p points to n bytes inside the live engine.
        let id2 = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
        assert_eq!(id.as_bytes(), id2);
        (id, v.line.to_string())
    };
    // SAFETY: the name functions return static NUL-terminated strings.
    let (action, reason) = unsafe {
        (
            cstr(hostgate_action_name(v.action as u32)),
            cstr(hostgate_reason_name(v.reason as u32)),
        )
    };
    format!("{action} {reason} {id} {line}")
}

#[test]
fn queries_through_the_c_abi() {
    let rows = rows();
    assert!(rows.len() >= 350, "queries.tsv has {} rows", rows.len());
    let mut engines: BTreeMap<String, Engine> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        let engine = engines
            .entry(row.file.clone())
            .or_insert_with(|| compile(&row.file));
        let mut policy = 0u32;
        // SAFETY: engine is live; the name is readable for its length; policy is a local.
        let r = unsafe {
            hostgate_engine_policy(
                engine.0,
                row.policy.as_ptr().cast(),
                row.policy.len(),
                &mut policy,
            )
        };
        assert_eq!(r, hostgate_result::Ok, "queries.tsv:{}: policy", row.lineno);
        let mut v = std::mem::MaybeUninit::<hostgate_verdict>::uninit();
        // SAFETY: engine is live; the name is readable for its length; v is writable.
        let r = unsafe {
            hostgate_check(
                engine.0,
                policy,
                row.name.as_ptr().cast(),
                row.name.len(),
                row.port,
                row.via,
                v.as_mut_ptr(),
            )
        };
        assert_eq!(r, hostgate_result::Ok, "queries.tsv:{}", row.lineno);
        // SAFETY: hostgate_check returned OK, so it wrote v.
        let got = render(engine, &unsafe { v.assume_init() });
        if got != row.expected {
            failures.push(format!(
                "queries.tsv:{}: {} {} {:?} port {} via {}: want `{}`, got `{}`",
                row.lineno,
                row.file,
                row.policy,
                String::from_utf8_lossy(&row.name),
                row.port,
                row.via,
                row.expected,
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn queries_in_batches() {
    let rows = rows();
    let mut groups: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        groups
            .entry((row.file.clone(), row.policy.clone()))
            .or_default()
            .push(row);
    }
    for ((file, policy_name), group) in groups {
        let engine = compile(&file);
        let mut policy = 0u32;
        // SAFETY: engine is live; the name is readable for its length; policy is a local.
        let r = unsafe {
            hostgate_engine_policy(
                engine.0,
                policy_name.as_ptr().cast(),
                policy_name.len(),
                &mut policy,
            )
        };
        assert_eq!(r, hostgate_result::Ok);
        let mut names = Vec::new();
        let mut queries = Vec::new();
        for row in &group {
            queries.push(hostgate_query {
                offset: names.len(),
                len: row.name.len(),
                port: row.port,
                via: row.via,
            });
            names.extend_from_slice(&row.name);
        }
        let mut out: Vec<hostgate_verdict> = Vec::with_capacity(group.len());
        // SAFETY: every buffer is live and sized as promised; out has capacity for every query.
        let r = unsafe {
            hostgate_check_batch(
                engine.0,
                policy,
                names.as_ptr().cast(),
                names.len(),
                queries.as_ptr(),
                queries.len(),
                out.as_mut_ptr(),
            )
        };
        assert_eq!(r, hostgate_result::Ok);
        // SAFETY: the batch returned OK, so it wrote every element.
        unsafe { out.set_len(group.len()) };
        for (row, v) in group.iter().zip(&out) {
            assert_eq!(
                render(&engine, v),
                row.expected,
                "queries.tsv:{} (batch)",
                row.lineno
            );
        }
    }
}

/// The error rows of `diagnostics.tsv` for one file: (table line, line, column range, exact
/// count, message alternatives), with `None` / empty for "any".
type ErrorRow = (usize, u32, Option<(u32, u32)>, Option<usize>, Vec<String>);

/// Every file of `diagnostics.tsv` with its error rows (empty for a file with only warnings).
fn diagnostic_files() -> BTreeMap<String, Vec<ErrorRow>> {
    let mut files: BTreeMap<String, Vec<ErrorRow>> = BTreeMap::new();
    for (lineno, f) in table("diagnostics.tsv", 6) {
        let rows = files.entry(f[0].clone()).or_default();
        match f[1].as_str() {
            "warning" => continue,
            "error" => {}
            other => panic!("diagnostics.tsv:{lineno}: severity {other:?}"),
        }
        let columns = match f[3].as_str() {
            "-" => None,
            c => Some(match c.split_once('-') {
                Some((lo, hi)) => (lo.parse().unwrap(), hi.parse().unwrap()),
                None => (c.parse().unwrap(), c.parse().unwrap()),
            }),
        };
        let count = (f[4] != "+").then(|| f[4].parse().unwrap());
        let message = match f[5].as_str() {
            "-" => Vec::new(),
            m => m.split('|').map(str::to_owned).collect(),
        };
        rows.push((lineno, f[2].parse().unwrap(), columns, count, message));
    }
    files
}

#[test]
fn diagnostics_through_the_c_abi() {
    let files = diagnostic_files();
    assert!(
        files.len() >= 40,
        "diagnostics.tsv has {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for (file, rows) in &files {
        let text = std::fs::read(dir().join("policies").join(file)).unwrap();
        let mut engine = ptr::null_mut();
        let mut err: *mut hostgate_error = ptr::null_mut();
        // SAFETY: text is readable for its length; both out-pointers are valid locals.
        let r = unsafe {
            hostgate_engine_compile(text.as_ptr().cast(), text.len(), &mut engine, &mut err)
        };
        if rows.is_empty() {
            // Only warnings: it compiles.
            if r != hostgate_result::Ok {
                failures.push(format!("{file}: want it to compile, got {r:?}"));
            }
            // SAFETY: both are NULL or live objects from the compile, each freed once.
            unsafe {
                hostgate_engine_free(engine);
                hostgate_error_free(err);
            }
            continue;
        }
        if r != hostgate_result::CompileError || err.is_null() {
            failures.push(format!("{file}: want COMPILE_ERROR, got {r:?}"));
            // SAFETY: as above.
            unsafe {
                hostgate_engine_free(engine);
                hostgate_error_free(err);
            }
            continue;
        }
        // (line, column, message) of every error, in the order the ABI gives them.
        let mut errors = Vec::new();
        // SAFETY: err is a live error object until the free below.
        let count = unsafe { hostgate_error_count(err) };
        for i in 0..count {
            let (mut line, mut column, mut message) = (0u32, 0u32, ptr::null());
            // SAFETY: err is live; the out-pointers are valid locals.
            let r = unsafe { hostgate_error_get(err, i, &mut line, &mut column, &mut message) };
            assert_eq!(r, hostgate_result::Ok);
            // SAFETY: the message is NUL-terminated and owned by the live err.
            errors.push((line, column, unsafe { cstr(message) }));
        }
        // SAFETY: err is live.
        let (first_line, first_column) =
            unsafe { (hostgate_error_line(err), hostgate_error_column(err)) };
        // SAFETY: err is live; index `count` is one past the end.
        let past = unsafe {
            hostgate_error_get(
                err,
                count,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        // SAFETY: err came from the compile and is freed once; engine is NULL.
        unsafe { hostgate_error_free(err) };
        if past != hostgate_result::InvalidArgument {
            failures.push(format!("{file}: error {count} of {count}: {past:?}"));
        }
        if errors.first().map(|e| (e.0, e.1)) != Some((first_line, first_column)) {
            failures.push(format!(
                "{file}: hostgate_error_line/column {first_line}:{first_column} is not the first error"
            ));
        }
        let positions: Vec<(u32, u32)> = errors.iter().map(|e| (e.0, e.1)).collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        if positions != sorted {
            failures.push(format!("{file}: errors not in text order: {positions:?}"));
        }
        let lines: BTreeSet<u32> = errors.iter().map(|e| e.0).collect();
        let want_lines: BTreeSet<u32> = rows.iter().map(|r| r.1).collect();
        if lines != want_lines {
            failures.push(format!(
                "{file}: errors on lines {lines:?}, want {want_lines:?}"
            ));
        }
        for (lineno, line, columns, count, message) in rows {
            let on_line: Vec<&(u32, u32, String)> =
                errors.iter().filter(|e| e.0 == *line).collect();
            let Some(first) = on_line.first() else {
                continue; // reported above
            };
            let at = format!("diagnostics.tsv:{lineno}: {file}: line {line}");
            if count.is_some_and(|n| n != on_line.len()) {
                failures.push(format!("{at}: want {count:?} errors, got {on_line:?}"));
            }
            if let Some((lo, hi)) = columns {
                if !(*lo..=*hi).contains(&first.1) {
                    failures.push(format!("{at}: want column {lo}..={hi}, got {}", first.1));
                }
            }
            if !message.is_empty() && !message.iter().any(|m| first.2.contains(m.as_str())) {
                failures.push(format!(
                    "{at}: message {:?} contains none of {message:?}",
                    first.2
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
