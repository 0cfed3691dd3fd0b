//! The C ABI, driven through the Rust-visible `extern "C"` exports of `hostgate-ffi` with
//! arbitrary buffers, lengths, indexes, enum values and NULLs: no crash, no `PANIC` result, no
//! leak (AddressSanitizer's leak check at exit), and every output matches what the Rust engine
//! says for the same input.
//!
//! Only the pointers the contract allows are passed (valid memory, or NULL): arbitrary
//! addresses would be undefined behaviour by contract, not a finding.
#![no_main]

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use arbitrary::{Result, Unstructured};
use hostgate::inspect::{Inspection, Protocol, Status};
use hostgate::{Engine, PolicyId, Query, Via};
use hostgate_ffi::{
    hostgate_action, hostgate_action_name, hostgate_check, hostgate_check_batch,
    hostgate_engine_compile, hostgate_engine_free, hostgate_engine_policy,
    hostgate_engine_policy_count, hostgate_engine_policy_name, hostgate_engine_rule_id,
    hostgate_error_column, hostgate_error_count, hostgate_error_free, hostgate_error_get,
    hostgate_error_line, hostgate_error_message, hostgate_query, hostgate_reason,
    hostgate_reason_name, hostgate_result, hostgate_result_name, hostgate_verdict,
    hostgate_version, hostgate_via_name,
};
use hostgate_ffi::{
    hostgate_inspect, hostgate_inspect_check, hostgate_inspection, hostgate_name_kind,
    hostgate_protocol, hostgate_status, HOSTGATE_ALPN_CAPACITY, HOSTGATE_ERROR_CAPACITY,
    HOSTGATE_NAME_CAPACITY,
};
use libfuzzer_sys::fuzz_target;

/// Valid policies the fuzzer can pick, so that most runs reach the query functions.
const POLICIES: &[&str] = &[
    "allow api.kadath.io id kadath-api\ndeny api.leng.com\nallow **.stripe.com port 443 via tls\n",
    "default allow\nprecedence deny-overrides\ndeny ~(ads|track)[0-9]*\\.example\nallow .kadath.io port 80,8000-8999\n\
     policy second\nprecedence most-specific\nallow *.b.example via http,connect\ndeny 192.0.2.0/24\nallow 2001:db8::/32\n\
     policy third\ndefault deny\nallow *\n",
    "policy only\nallow cdn-*.kadath.io port 443 id cdn\ndeny staging-*.kadath.io\nallow 10.0.0.0/8 via dns\n",
    "",
];

const NAMES: &[&[u8]] = &[
    b"api.kadath.io",
    b"API.Kadath.IO.",
    b"a.stripe.com",
    b"ads7.example",
    b"x.b.example",
    b"192.0.2.9",
    b"2001:db8::1",
    b"cdn-eu.kadath.io",
    b"bad..name",
    b"",
    b"b\xc3\xbccher.example",
    b"10.1.2.3",
];

fn cstr<'a>(p: *const c_char) -> &'a CStr {
    assert!(!p.is_null(), "a static name is NULL");
    // SAFETY: the ABI returns static NUL-terminated strings from the name functions.
    unsafe { CStr::from_ptr(p) }
}

/// `len` bytes at `ptr` as a slice (NULL only with 0).
///
/// # Safety
/// `ptr` must point to `len` readable bytes for `'a` when not NULL.
unsafe fn slice<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    assert!(!ptr.is_null(), "NULL pointer with length {len}");
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(ptr.cast(), len) }
}

fn same_verdict(engine: &Engine, policy: u32, v: &hostgate_verdict, want: &hostgate::Verdict<'_>) {
    let action = match want.action {
        hostgate::Action::Allow => hostgate_action::Allow,
        hostgate::Action::Deny => hostgate_action::Deny,
    };
    let reason = match want.reason {
        hostgate::Reason::Matched => hostgate_reason::Matched,
        hostgate::Reason::Default => hostgate_reason::Default,
        hostgate::Reason::InvalidName => hostgate_reason::InvalidName,
        hostgate::Reason::NoName => hostgate_reason::NoName,
        // What the C ABI reports for a reason it does not name yet.
        _ => hostgate_reason::NoName,
    };
    assert_eq!((v.action, v.reason, v.policy), (action, reason, policy));
    match want.rule {
        Some(r) => {
            assert_eq!((v.rule, v.line), (r.index() as i32, r.line()));
            // SAFETY: rule_id points into the live engine, rule_id_len bytes.
            let id = unsafe { slice(v.rule_id, v.rule_id_len) };
            assert_eq!(id, r.id().to_string().as_bytes());
            let info = engine
                .rule(PolicyId::from_index(policy), r.index())
                .expect("the deciding rule exists");
            assert_eq!(info.id, r.id());
        }
        None => {
            assert_eq!((v.rule, v.line, v.rule_id_len), (-1, 0, 0));
            assert!(v.rule_id.is_null());
        }
    }
}

fn via_of(v: u32) -> Option<Option<Via>> {
    match v {
        0 => Some(None),
        1 => Some(Some(Via::Tls)),
        2 => Some(Some(Via::Http)),
        3 => Some(Some(Via::Connect)),
        4 => Some(Some(Via::Dns)),
        _ => None,
    }
}

/// A via value: mostly valid, sometimes anything.
fn via(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(if u.ratio(7, 8)? {
        u.int_in_range(0..=4)?
    } else {
        u.arbitrary()?
    })
}

/// A policy index: mostly in range, sometimes anything.
fn policy_index(u: &mut Unstructured<'_>, count: u32) -> Result<u32> {
    Ok(if count > 0 && u.ratio(7, 8)? {
        u.int_in_range(0..=count - 1)?
    } else {
        u.arbitrary()?
    })
}

/// A name: a known one or arbitrary bytes.
fn name<'a>(u: &mut Unstructured<'a>) -> Result<&'a [u8]> {
    if u.ratio(1, 2)? {
        Ok(*u.choose(NAMES)?)
    } else {
        let n = u.int_in_range(0..=300)?;
        u.bytes(n.min(u.len()))
    }
}

fn check_errors(err: *const hostgate_ffi::hostgate_error, rust: Option<&[hostgate::Diagnostic]>) {
    // SAFETY: `err` is a live error object written by hostgate_engine_compile.
    unsafe {
        let count = hostgate_error_count(err);
        assert!(count >= 1, "an error object with no error");
        let all = hostgate_error_message(err);
        assert!(!all.is_null());
        let all = CStr::from_ptr(all).to_bytes();
        assert_eq!(
            all.split(|&b| b == b'\n').count(),
            count,
            "error_message has one line per error"
        );
        if let Some(diags) = rust {
            assert_eq!(count, diags.len());
            assert_eq!(hostgate_error_line(err), diags[0].line);
            assert_eq!(hostgate_error_column(err), diags[0].column);
        }
        for i in 0..count + 1 {
            let (mut line, mut column, mut message) = (0u32, 0u32, null::<c_char>());
            let r = hostgate_error_get(err, i, &mut line, &mut column, &mut message);
            if i == count {
                assert_eq!(r, hostgate_result::InvalidArgument);
                continue;
            }
            assert_eq!(r, hostgate_result::Ok);
            let m = CStr::from_ptr(message).to_bytes();
            assert!(!m.is_empty());
            if let Some(diags) = rust {
                assert_eq!((line, column), (diags[i].line, diags[i].column));
                assert!(
                    m.starts_with(diags[i].message.replace('\0', "\\0").as_bytes()),
                    "message {i} differs"
                );
            }
            // NULL out-pointers are allowed.
            let r = hostgate_error_get(err, i, null_mut(), null_mut(), null_mut());
            assert_eq!(r, hostgate_result::Ok);
        }
    }
}

/// Bytes to inspect: arbitrary, or a well-formed ClientHello / request head around an
/// arbitrary name and ALPN list (so complete inspections, long names and ALPN truncation are
/// reached).
fn stream_bytes(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => {
            let sni: &[u8] = if u.ratio(1, 2)? {
                *u.choose(NAMES)?
            } else {
                u.arbitrary()?
            };
            let n = u.int_in_range(0..=40)?;
            let mut alpn: Vec<Vec<u8>> = Vec::with_capacity(n);
            for _ in 0..n {
                let len = u.int_in_range(1..=40)?;
                alpn.push(vec![b'a' + (len as u8 % 26); len]);
            }
            let refs: Vec<&[u8]> = alpn.iter().map(Vec::as_slice).collect();
            let mut hello = hostgate::inspect::tls::testing::client_hello(
                (!sni.is_empty()).then_some(sni),
                &refs,
                u.arbitrary()?,
            );
            // Sometimes cut it: a need-more inspection.
            if u.ratio(1, 4)? {
                let k = u.int_in_range(0..=hello.len())?;
                hello.truncate(k);
            }
            hello
        }
        1 => {
            let host: &[u8] = if u.ratio(1, 2)? {
                *u.choose(NAMES)?
            } else {
                u.arbitrary()?
            };
            let connect: bool = u.arbitrary()?;
            let mut req = Vec::new();
            if connect {
                req.extend_from_slice(b"CONNECT ");
                req.extend_from_slice(host);
                req.extend_from_slice(b":443 HTTP/1.1\r\nHost: ");
                req.extend_from_slice(host);
                req.extend_from_slice(b":443\r\n\r\n");
            } else {
                req.extend_from_slice(b"GET / HTTP/1.1\r\nHost: ");
                req.extend_from_slice(host);
                req.extend_from_slice(b"\r\n\r\n");
            }
            req
        }
        _ => u.arbitrary::<&[u8]>()?.to_vec(),
    })
}

/// A C string in a fixed array: NUL-terminated inside it; returns the bytes before the NUL.
fn fixed_cstr(a: &[c_char]) -> Vec<u8> {
    let end = a
        .iter()
        .position(|&c| c == 0)
        .expect("a fixed string without its NUL");
    a[..end].iter().map(|&c| c as u8).collect()
}

/// The C inspection says what the Rust one says.
fn same_inspection(c: &hostgate_inspection, r: &Inspection<'_>) {
    let protocol = match r.protocol {
        Protocol::Tls => hostgate_protocol::Tls,
        Protocol::Http => hostgate_protocol::Http,
        Protocol::Dns => hostgate_protocol::Dns,
        Protocol::Unknown => hostgate_protocol::Unknown,
        _ => hostgate_protocol::Unknown,
    };
    let status = match r.status {
        Status::Complete => hostgate_status::Complete,
        Status::NeedMore => hostgate_status::NeedMore,
        Status::NoName => hostgate_status::NoName,
        Status::Malformed => hostgate_status::Malformed,
        Status::Unrecognized => hostgate_status::Unrecognized,
        _ => hostgate_status::Unrecognized,
    };
    assert_eq!((c.protocol, c.status), (protocol, status));
    assert_eq!(c.via as u32, r.via.map_or(0, |v| v as u32 + 1));
    let name = fixed_cstr(&c.name);
    match &r.name {
        Some(n) => {
            assert_eq!(name, n.as_bytes());
            assert_eq!(c.name_len as usize, n.as_bytes().len());
            let kind = match n.ip() {
                None => hostgate_name_kind::Name,
                Some(std::net::IpAddr::V4(_)) => hostgate_name_kind::Ipv4,
                Some(std::net::IpAddr::V6(_)) => hostgate_name_kind::Ipv6,
            };
            assert_eq!(c.name_kind, kind);
        }
        None => {
            assert!(name.is_empty() && c.name_len == 0);
            assert_eq!(c.name_kind, hostgate_name_kind::None);
        }
    }
    assert_eq!(c.port, r.port.unwrap_or(0));
    assert_eq!(c.qtype, r.qtype.unwrap_or(0));
    assert_eq!(c.ech, u8::from(r.ech));
    assert_eq!(c.need, r.need.map_or(0, |n| n as u64));
    // ALPN: whole protocols in wire format, a prefix of the list, flagged when cut.
    let used = c.alpn_len as usize;
    assert!(used <= HOSTGATE_ALPN_CAPACITY);
    let mut got: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    while at < used {
        let n = usize::from(c.alpn[at]);
        assert!(at + 1 + n <= used, "an ALPN entry runs past alpn_len");
        got.push(&c.alpn[at + 1..at + 1 + n]);
        at += 1 + n;
    }
    assert_eq!(got.len(), usize::from(c.alpn_count));
    let want: Vec<Vec<u8>> = r.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    assert!(got.len() <= want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(*g, w.as_slice());
    }
    assert_eq!(
        c.alpn_truncated == 1,
        got.len() < want.len(),
        "alpn_truncated is wrong"
    );
    let error = fixed_cstr(&c.error);
    match &r.error {
        Some(e) => {
            let text = e.to_string().replace('\0', "?");
            let n = text.len().min(HOSTGATE_ERROR_CAPACITY - 1);
            assert_eq!(error, &text.as_bytes()[..n]);
        }
        None => assert!(error.is_empty()),
    }
    let _ = HOSTGATE_NAME_CAPACITY;
}

/// A recognizable "not written" verdict.
fn blank_verdict() -> hostgate_verdict {
    hostgate_verdict {
        action: hostgate_action::Allow,
        reason: hostgate_reason::NoName,
        policy: u32::MAX,
        rule: 12345,
        line: 777,
        rule_id: null(),
        rule_id_len: 99,
    }
}

/// A recognizable "not written" inspection.
fn blank_inspection() -> hostgate_inspection {
    hostgate_inspection {
        protocol: hostgate_protocol::Unknown,
        status: hostgate_status::Unrecognized,
        via: hostgate_ffi::hostgate_via::Any,
        name_kind: hostgate_name_kind::None,
        name_len: 4242,
        name: [0; HOSTGATE_NAME_CAPACITY],
        port: 0,
        qtype: 0,
        ech: 0,
        alpn_truncated: 0,
        alpn_count: 0,
        alpn_len: 0,
        alpn: [0; HOSTGATE_ALPN_CAPACITY],
        need: 0,
        error: [0; HOSTGATE_ERROR_CAPACITY],
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    // Inspection needs no engine.
    if u.ratio(1, 3)? {
        let buf = stream_bytes(u)?;
        let mut out = blank_inspection();
        let ptr = if buf.is_empty() && u.ratio(1, 2)? {
            null()
        } else {
            buf.as_ptr()
        };
        // SAFETY: `buf` is `buf.len()` readable bytes; `out` is writable.
        let r = unsafe { hostgate_inspect(ptr, buf.len(), &mut out) };
        assert_eq!(r, hostgate_result::Ok);
        same_inspection(&out, &hostgate::inspect::inspect(&buf));
        // SAFETY: NULL cases, rejected before any access.
        unsafe {
            assert_eq!(
                hostgate_inspect(buf.as_ptr(), buf.len(), null_mut()),
                hostgate_result::NullArgument
            );
            if !buf.is_empty() {
                assert_eq!(
                    hostgate_inspect(null(), buf.len(), &mut out),
                    hostgate_result::NullArgument
                );
            }
        }
    }

    // The policy text: a known one (maybe cut or with bytes appended) or arbitrary bytes.
    let mut text: Vec<u8> = if u.ratio(3, 4)? {
        u.choose(POLICIES)?.as_bytes().to_vec()
    } else {
        let n = u.int_in_range(0..=2000)?;
        u.bytes(n.min(u.len()))?.to_vec()
    };
    if u.ratio(1, 8)? {
        let extra: &[u8] = u.arbitrary()?;
        text.extend_from_slice(extra);
    }

    // NULL-argument paths of compile first: nothing is written, nothing leaks.
    let mut engine_ptr = null_mut();
    let mut err_ptr = null_mut();
    // SAFETY: every pointer is valid or NULL as the contract allows.
    unsafe {
        assert_eq!(
            hostgate_engine_compile(text.as_ptr().cast(), text.len(), null_mut(), &mut err_ptr),
            hostgate_result::NullArgument
        );
        if !text.is_empty() {
            assert_eq!(
                hostgate_engine_compile(null(), text.len(), &mut engine_ptr, &mut err_ptr),
                hostgate_result::NullArgument
            );
        }
        assert!(engine_ptr.is_null() && err_ptr.is_null());
    }

    let with_err = u.ratio(7, 8)?;
    let text_ptr = if text.is_empty() && u.ratio(1, 2)? {
        null()
    } else {
        text.as_ptr().cast()
    };
    // SAFETY: `text` is `text.len()` readable bytes; the out-pointers are valid or NULL.
    let r = unsafe {
        hostgate_engine_compile(
            text_ptr,
            text.len(),
            &mut engine_ptr,
            if with_err { &mut err_ptr } else { null_mut() },
        )
    };
    let rust = std::str::from_utf8(&text).map(Engine::compile);
    match (&rust, r) {
        (Ok(Ok(_)), hostgate_result::Ok) => {
            assert!(!engine_ptr.is_null() && err_ptr.is_null());
        }
        (Ok(Err(errs)), hostgate_result::CompileError) => {
            assert!(engine_ptr.is_null());
            assert_eq!(err_ptr.is_null(), !with_err);
            if with_err {
                check_errors(err_ptr, Some(errs.errors()));
            }
        }
        (Err(_), hostgate_result::InvalidUtf8) => {
            assert!(engine_ptr.is_null());
            assert_eq!(err_ptr.is_null(), !with_err);
            if with_err {
                check_errors(err_ptr, None);
                // SAFETY: a live error object.
                let (line, col) =
                    unsafe { (hostgate_error_line(err_ptr), hostgate_error_column(err_ptr)) };
                assert!(line >= 1 && col >= 1);
            }
        }
        (rust, r) => panic!(
            "compile: C ABI {r:?}, Rust {:?}",
            rust.as_ref().map(|r| r.is_ok())
        ),
    }
    // SAFETY: NULL or a live error object, freed once.
    unsafe { hostgate_error_free(err_ptr) };

    // Freed on every path out of here, including an early `?` when the input runs out.
    let _guard = EngineGuard(engine_ptr);
    let engine_rs = match rust {
        Ok(Ok(e)) => Some(e),
        _ => None,
    };
    let ops = if engine_rs.is_some() { 48 } else { 0 };
    if let Some(engine) = &engine_rs {
        let e = engine_ptr.cast_const();
        // SAFETY: `e` is the live engine; every other pointer is valid or NULL as allowed.
        unsafe {
            let count = hostgate_engine_policy_count(e);
            assert_eq!(count as usize, engine.policies().len());
            for _ in 0..ops {
                if u.is_empty() {
                    break;
                }
                match u.int_in_range(0..=7)? {
                    0 => {
                        // Policy by name: a real one or arbitrary bytes.
                        let bytes: &[u8] = if u.ratio(1, 2)? && count > 0 {
                            let i = u.int_in_range(0..=count - 1)?;
                            engine
                                .policy_name(PolicyId::from_index(i))
                                .unwrap()
                                .as_bytes()
                        } else {
                            u.arbitrary()?
                        };
                        let mut idx = u32::MAX;
                        let r =
                            hostgate_engine_policy(e, bytes.as_ptr().cast(), bytes.len(), &mut idx);
                        let want = std::str::from_utf8(bytes)
                            .ok()
                            .and_then(|s| engine.policy(s));
                        match want {
                            Some(p) => assert_eq!((r, idx), (hostgate_result::Ok, p.index())),
                            None => {
                                assert_ne!(r, hostgate_result::Ok);
                                assert_ne!(r, hostgate_result::Panic);
                                assert_eq!(idx, u32::MAX, "out written on failure");
                            }
                        }
                        let r = hostgate_engine_policy(
                            e,
                            bytes.as_ptr().cast(),
                            bytes.len(),
                            null_mut(),
                        );
                        assert_eq!(r, hostgate_result::NullArgument);
                        if !bytes.is_empty() {
                            let r = hostgate_engine_policy(e, null(), bytes.len(), &mut idx);
                            assert_eq!(r, hostgate_result::NullArgument);
                        }
                    }
                    1 => {
                        let i = policy_index(u, count)?;
                        let (mut p, mut n) = (null::<c_char>(), usize::MAX);
                        let r = hostgate_engine_policy_name(e, i, &mut p, &mut n);
                        match engine.policy_name(PolicyId::from_index(i)) {
                            Some(name) => {
                                assert_eq!(r, hostgate_result::Ok);
                                assert_eq!(slice(p, n), name.as_bytes());
                            }
                            None => {
                                assert_eq!(r, hostgate_result::UnknownPolicy);
                                assert!(p.is_null() && n == usize::MAX);
                            }
                        }
                        let r = hostgate_engine_policy_name(e, i, null_mut(), &mut n);
                        assert_eq!(r, hostgate_result::NullArgument);
                    }
                    2 => {
                        // One check.
                        let i = policy_index(u, count)?;
                        let nm = name(u)?;
                        let port: u16 = u.arbitrary()?;
                        let v = via(u)?;
                        let mut out = blank_verdict();
                        let ptr = if nm.is_empty() && u.ratio(1, 2)? {
                            null()
                        } else {
                            nm.as_ptr().cast()
                        };
                        let r = hostgate_check(e, i, ptr, nm.len(), port, v, &mut out);
                        let pid = PolicyId::from_index(i);
                        match (via_of(v), engine.policy_name(pid)) {
                            (Some(via), Some(_)) => {
                                assert_eq!(r, hostgate_result::Ok);
                                let q = Query {
                                    name: nm,
                                    port: (port != 0).then_some(port),
                                    via,
                                };
                                same_verdict(engine, i, &out, &engine.check(pid, &q));
                            }
                            (None, _) | (_, None) => {
                                assert!(
                                    matches!(
                                        r,
                                        hostgate_result::InvalidArgument
                                            | hostgate_result::UnknownPolicy
                                    ),
                                    "check: {r:?}"
                                );
                                assert_eq!(
                                    (out.policy, out.rule),
                                    (u32::MAX, 12345),
                                    "out written on failure"
                                );
                            }
                        }
                        assert_eq!(
                            hostgate_check(e, i, nm.as_ptr().cast(), nm.len(), port, v, null_mut()),
                            hostgate_result::NullArgument
                        );
                        assert_eq!(
                            hostgate_check(
                                null(),
                                i,
                                nm.as_ptr().cast(),
                                nm.len(),
                                port,
                                v,
                                &mut out
                            ),
                            hostgate_result::NullArgument
                        );
                    }
                    3 => {
                        // A batch over one names buffer, with offsets in and out of range.
                        let i = policy_index(u, count)?;
                        let names: &[u8] = u.arbitrary()?;
                        let n = u.int_in_range(0..=8)?;
                        let mut queries = Vec::with_capacity(n);
                        for _ in 0..n {
                            let (offset, len) = if u.ratio(7, 8)? {
                                let a = u.int_in_range(0..=names.len())?;
                                let b = u.int_in_range(a..=names.len())?;
                                (a, b - a)
                            } else {
                                (u.arbitrary::<usize>()?, u.arbitrary::<usize>()?)
                            };
                            queries.push(hostgate_query {
                                offset,
                                len,
                                port: u.arbitrary()?,
                                via: via(u)?,
                            });
                        }
                        let sentinel = hostgate_verdict {
                            action: hostgate_action::Allow,
                            reason: hostgate_reason::NoName,
                            policy: 4242,
                            rule: 4242,
                            line: 4242,
                            rule_id: null(),
                            rule_id_len: 4242,
                        };
                        let mut out = vec![sentinel; n];
                        let names_ptr = if names.is_empty() && u.ratio(1, 2)? {
                            null()
                        } else {
                            names.as_ptr().cast()
                        };
                        let r = hostgate_check_batch(
                            e,
                            i,
                            names_ptr,
                            names.len(),
                            queries.as_ptr(),
                            n,
                            out.as_mut_ptr(),
                        );
                        let pid = PolicyId::from_index(i);
                        let valid = queries.iter().all(|q| {
                            q.offset
                                .checked_add(q.len)
                                .is_some_and(|end| end <= names.len())
                                && via_of(q.via).is_some()
                        });
                        if engine.policy_name(pid).is_none() {
                            assert_eq!(r, hostgate_result::UnknownPolicy);
                        } else if n > 0 && !valid {
                            assert_eq!(r, hostgate_result::InvalidArgument);
                        } else {
                            assert_eq!(r, hostgate_result::Ok);
                            for (q, v) in queries.iter().zip(&out) {
                                let query = Query {
                                    name: &names[q.offset..q.offset + q.len],
                                    port: (q.port != 0).then_some(q.port),
                                    via: via_of(q.via).unwrap(),
                                };
                                same_verdict(engine, i, v, &engine.check(pid, &query));
                            }
                        }
                        if r != hostgate_result::Ok {
                            assert!(
                                out.iter().all(|v| v.policy == 4242 && v.rule == 4242),
                                "out written on failure"
                            );
                        }
                        if n > 0 {
                            let r = hostgate_check_batch(
                                e,
                                i,
                                names_ptr,
                                names.len(),
                                null(),
                                n,
                                out.as_mut_ptr(),
                            );
                            assert!(matches!(
                                r,
                                hostgate_result::NullArgument | hostgate_result::UnknownPolicy
                            ));
                            let r = hostgate_check_batch(
                                e,
                                i,
                                names_ptr,
                                names.len(),
                                queries.as_ptr(),
                                n,
                                null_mut(),
                            );
                            assert!(matches!(
                                r,
                                hostgate_result::NullArgument | hostgate_result::UnknownPolicy
                            ));
                        }
                        // count 0 with NULL arrays is allowed.
                        let r = hostgate_check_batch(
                            e,
                            i,
                            names_ptr,
                            names.len(),
                            null(),
                            0,
                            null_mut(),
                        );
                        assert!(matches!(
                            r,
                            hostgate_result::Ok | hostgate_result::UnknownPolicy
                        ));
                    }
                    4 => {
                        let i = policy_index(u, count)?;
                        let rule: i32 = if u.ratio(3, 4)? {
                            u.int_in_range(-1..=40)?
                        } else {
                            u.arbitrary()?
                        };
                        let (mut p, mut n) = (null::<c_char>(), usize::MAX);
                        let r = hostgate_engine_rule_id(e, i, rule, &mut p, &mut n);
                        let pid = PolicyId::from_index(i);
                        let want = u32::try_from(rule).ok().and_then(|k| engine.rule(pid, k));
                        match (engine.policy_name(pid), want) {
                            (None, _) => assert_eq!(r, hostgate_result::UnknownPolicy),
                            (Some(_), None) => assert_eq!(r, hostgate_result::UnknownRule),
                            (Some(_), Some(info)) => {
                                assert_eq!(r, hostgate_result::Ok);
                                assert_eq!(slice(p, n), info.id.to_string().as_bytes());
                            }
                        }
                        if r != hostgate_result::Ok {
                            assert!(p.is_null() && n == usize::MAX, "out written on failure");
                        }
                        assert_eq!(
                            hostgate_engine_rule_id(e, i, rule, &mut p, null_mut()),
                            hostgate_result::NullArgument
                        );
                    }
                    5 => {
                        let v: u32 = u.arbitrary()?;
                        for s in [
                            hostgate_result_name(v),
                            hostgate_action_name(v),
                            hostgate_reason_name(v),
                            hostgate_via_name(v),
                            hostgate_version(),
                        ] {
                            assert!(cstr(s).to_bytes().iter().all(|b| b.is_ascii_graphic()));
                        }
                    }
                    6 => {
                        // Inspect and check in one call, with and without the inspection.
                        let i = policy_index(u, count)?;
                        let buf = stream_bytes(u)?;
                        let port: u16 = u.arbitrary()?;
                        let mut insp = blank_inspection();
                        let mut out = blank_verdict();
                        let want_insp: bool = u.arbitrary()?;
                        let insp_ptr = if want_insp {
                            &mut insp as *mut _
                        } else {
                            null_mut()
                        };
                        let r = hostgate_inspect_check(
                            e,
                            i,
                            buf.as_ptr(),
                            buf.len(),
                            port,
                            insp_ptr,
                            &mut out,
                        );
                        let pid = PolicyId::from_index(i);
                        if engine.policy_name(pid).is_some() {
                            assert_eq!(r, hostgate_result::Ok);
                            let (ri, rv) =
                                engine.inspect_check(pid, &buf, (port != 0).then_some(port));
                            same_verdict(engine, i, &out, &rv);
                            if want_insp {
                                same_inspection(&insp, &ri);
                            } else {
                                assert_eq!(insp.name_len, 4242);
                            }
                        } else {
                            assert_eq!(r, hostgate_result::UnknownPolicy);
                            assert_eq!(
                                (out.policy, out.rule, insp.name_len),
                                (u32::MAX, 12345, 4242)
                            );
                        }
                        assert_eq!(
                            hostgate_inspect_check(
                                e,
                                i,
                                buf.as_ptr(),
                                buf.len(),
                                port,
                                null_mut(),
                                null_mut()
                            ),
                            hostgate_result::NullArgument
                        );
                    }
                    _ => {
                        // The NULL cases of every function that accepts NULL.
                        assert_eq!(hostgate_engine_policy_count(null()), 0);
                        assert!(hostgate_error_message(null()).is_null());
                        assert_eq!(hostgate_error_line(null()), 0);
                        assert_eq!(hostgate_error_column(null()), 0);
                        assert_eq!(hostgate_error_count(null()), 0);
                        assert_eq!(
                            hostgate_error_get(null(), 0, null_mut(), null_mut(), null_mut()),
                            hostgate_result::NullArgument
                        );
                        hostgate_error_free(null_mut());
                        hostgate_engine_free(null_mut());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Frees the engine when dropped.
struct EngineGuard(*mut hostgate_ffi::hostgate_engine);

impl Drop for EngineGuard {
    fn drop(&mut self) {
        // SAFETY: NULL or the live engine from hostgate_engine_compile, freed once.
        unsafe { hostgate_engine_free(self.0) };
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
