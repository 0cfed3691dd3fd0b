//! Runs `tests/conformance/table.tsv` through the C ABI functions (the same table the C, C++, Go
//! and Python tests run): every row one at a time with `hostgate_check`, then every
//! (file, policy) group in one `hostgate_check_batch` call.
//!
//! Compiled as a module of the library (`src/lib.rs` includes it under `cfg(test)`): an
//! integration test could not name this crate, whose library is called `hostgate` like the core.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::ptr;

use crate::{
    hostgate_action_name, hostgate_check, hostgate_check_batch, hostgate_engine,
    hostgate_engine_compile, hostgate_engine_free, hostgate_engine_policy, hostgate_engine_rule_id,
    hostgate_error, hostgate_error_free, hostgate_error_message, hostgate_query,
    hostgate_reason_name, hostgate_result, hostgate_verdict,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
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

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("table.tsv")).unwrap();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.starts_with("file\t") || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 9, "table.tsv:{}: want 9 columns", i + 1);
        rows.push(Row {
            lineno: i + 1,
            file: f[0].to_string(),
            policy: f[1].to_string(),
            name: unescape(f[2]),
            port: if f[3] == "-" {
                0
            } else {
                f[3].parse().unwrap()
            },
            via: via(f[4]),
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
fn conformance_table_through_the_c_abi() {
    let rows = rows();
    assert!(rows.len() >= 40, "the table has {} rows", rows.len());
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
        assert_eq!(r, hostgate_result::Ok, "table.tsv:{}: policy", row.lineno);
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
        assert_eq!(r, hostgate_result::Ok, "table.tsv:{}", row.lineno);
        // SAFETY: hostgate_check returned OK, so it wrote v.
        let got = render(engine, &unsafe { v.assume_init() });
        if got != row.expected {
            failures.push(format!(
                "table.tsv:{}: {} {} {:?} port {} via {}: want `{}`, got `{}`",
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
fn conformance_table_in_batches() {
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
                "table.tsv:{} (batch)",
                row.lineno
            );
        }
    }
}
