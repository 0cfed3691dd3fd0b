//! `hostgate_engine_load` reports a bad policy file with the text every front end reports
//! (`tests/policy-errors/*.expected`, with the path it was given), and the positions of each
//! error through `hostgate_error_get`.

use std::ffi::CStr;
use std::ptr;

use crate::{hostgate_check, hostgate_verdict};
use crate::{
    hostgate_engine, hostgate_engine_compile, hostgate_engine_default_policy, hostgate_engine_free,
    hostgate_engine_load, hostgate_engine_load_from, hostgate_engine_open,
    hostgate_engine_policy_name, hostgate_engine_warning, hostgate_engine_warning_count,
    hostgate_engine_write, hostgate_error, hostgate_error_count, hostgate_error_free,
    hostgate_error_get, hostgate_error_message, hostgate_result,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn expected(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/tests/policy-errors/{name}.expected"))
        .expect("fixture")
        .replace("{FILE}", file)
}

/// Loads `path`; returns the result, the engine (or NULL) and the error (or NULL).
fn load(path: &str) -> (hostgate_result, *mut hostgate_engine, *mut hostgate_error) {
    let mut engine = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: `path` is `len` readable bytes; both out-pointers are writable.
    let r =
        unsafe { hostgate_engine_load(path.as_ptr().cast(), path.len(), &mut engine, &mut err) };
    (r, engine, err)
}

fn message(err: *const hostgate_error) -> String {
    // SAFETY: `err` is a live error object; its message is NUL-terminated and lives with it.
    unsafe { CStr::from_ptr(hostgate_error_message(err)) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_bad_policy_file_gives_the_shared_error_text() {
    let path = format!("{ROOT}/tests/policy-errors/bad.policy");
    let (r, engine, err) = load(&path);
    assert_eq!(r, hostgate_result::CompileError);
    assert!(engine.is_null());
    assert_eq!(format!("{}\n", message(err)), expected("bad", &path));
    // Each error's position, in file order, as in the expected text.
    // SAFETY: `err` is live; the out-pointers are writable.
    let n = unsafe { hostgate_error_count(err) };
    let mut at = Vec::new();
    for i in 0..n {
        let (mut line, mut column, mut msg) = (0, 0, ptr::null());
        // SAFETY: as above.
        let r = unsafe { hostgate_error_get(err, i, &mut line, &mut column, &mut msg) };
        assert_eq!(r, hostgate_result::Ok);
        at.push((line, column));
    }
    assert_eq!(at, [(4, 9), (6, 25), (7, 1)]);
    // SAFETY: `err` came from `hostgate_engine_load` and is freed once.
    unsafe { hostgate_error_free(err) };
}

#[test]
fn an_unreadable_file_is_an_io_error_naming_the_path() {
    let (r, engine, err) = load("/nonexistent/egress.policy");
    assert_eq!(r, hostgate_result::IoError);
    assert!(engine.is_null());
    assert!(
        message(err).starts_with("cannot read policy file /nonexistent/egress.policy: "),
        "{}",
        message(err)
    );
    // SAFETY: `err` came from `hostgate_engine_load` and is freed once.
    unsafe { hostgate_error_free(err) };
}

#[test]
fn a_good_file_loads_and_names_its_default_policy() {
    let path = format!("{ROOT}/examples/policies/egress.policy");
    let (r, engine, err) = load(&path);
    assert_eq!(r, hostgate_result::Ok);
    assert!(err.is_null());
    let mut index = u32::MAX;
    // SAFETY: `engine` is live; the out-pointers are writable.
    unsafe {
        assert_eq!(
            hostgate_engine_default_policy(engine, &mut index),
            hostgate_result::Ok
        );
        let (mut name, mut len) = (ptr::null(), 0);
        assert_eq!(
            hostgate_engine_policy_name(engine, index, &mut name, &mut len),
            hostgate_result::Ok
        );
        let name = std::slice::from_raw_parts(name.cast::<u8>(), len);
        assert_eq!(name, b"default");
        hostgate_engine_free(engine);
    }
}

/// Every warning of an engine, one line each.
fn warnings(engine: *const hostgate_engine) -> String {
    // SAFETY: `engine` is live; each warning is NUL-terminated and lives with it.
    unsafe {
        (0..hostgate_engine_warning_count(engine))
            .map(|i| {
                let w = CStr::from_ptr(hostgate_engine_warning(engine, i));
                format!("{}\n", w.to_str().unwrap())
            })
            .collect()
    }
}

#[test]
fn warnings_name_the_file_they_were_loaded_from() {
    let path = format!("{ROOT}/tests/policy-errors/warn.policy");
    let (r, engine, _) = load(&path);
    assert_eq!(r, hostgate_result::Ok);
    assert_eq!(warnings(engine), expected("warn", &path));
    // SAFETY: `engine` is live; out of range and NULL give NULL and 0.
    unsafe {
        assert!(hostgate_engine_warning(engine, 1).is_null());
        assert!(hostgate_engine_warning(ptr::null(), 0).is_null());
        assert_eq!(hostgate_engine_warning_count(ptr::null()), 0);
    }
    // Text compiled from memory has no file name: the warning starts at the line.
    let text = std::fs::read(&path).unwrap();
    let mut from_text = ptr::null_mut();
    // SAFETY: `text` is `len` readable bytes; the out-pointer is writable.
    let r = unsafe {
        hostgate_engine_compile(
            text.as_ptr().cast(),
            text.len(),
            &mut from_text,
            ptr::null_mut(),
        )
    };
    assert_eq!(r, hostgate_result::Ok);
    assert_eq!(
        warnings(from_text),
        expected("warn", "").trim_start_matches(':')
    );
    // SAFETY: both engines are live and freed once.
    unsafe {
        hostgate_engine_free(engine);
        hostgate_engine_free(from_text);
    }
}

/// Loads `path` written in `format`.
fn load_from(
    format: &str,
    path: &str,
) -> (hostgate_result, *mut hostgate_engine, *mut hostgate_error) {
    let mut engine = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: both strings are `len` readable bytes; both out-pointers are writable.
    let r = unsafe {
        hostgate_engine_load_from(
            format.as_ptr().cast(),
            format.len(),
            path.as_ptr().cast(),
            path.len(),
            &mut engine,
            &mut err,
        )
    };
    (r, engine, err)
}

#[test]
fn a_bad_imported_file_gives_the_importers_text() {
    let path = format!("{ROOT}/tests/policy-errors/bad-cilium.yaml");
    let (r, engine, err) = load_from("cilium", &path);
    assert_eq!(r, hostgate_result::CompileError);
    assert!(engine.is_null());
    assert_eq!(format!("{}\n", message(err)), expected("bad-cilium", &path));
    // SAFETY: `err` came from `hostgate_engine_load_from` and is freed once.
    unsafe { hostgate_error_free(err) };
    // As the hostgate language, the same file is not a policy at all.
    let (r, _, err) = load_from("", &path);
    assert_eq!(r, hostgate_result::CompileError);
    // SAFETY: as above.
    unsafe { hostgate_error_free(err) };
}

#[test]
fn an_unknown_format_is_an_invalid_argument_listing_the_formats() {
    let (r, engine, err) = load_from("kyverno", "p.yaml");
    assert_eq!(r, hostgate_result::InvalidArgument);
    assert!(engine.is_null());
    let m = message(err);
    assert!(m.starts_with("0:0: "), "{m}");
    assert!(m.contains("kyverno") && m.contains("cilium"), "{m}");
    // SAFETY: `err` came from `hostgate_engine_load_from` and is freed once.
    unsafe { hostgate_error_free(err) };
}

#[test]
fn an_imported_file_decides_with_the_systems_meaning() {
    let path = format!("{ROOT}/examples/migrate/cilium.yaml");
    let (r, engine, err) = load_from("cilium", &path);
    assert_eq!(r, hostgate_result::Ok);
    assert!(err.is_null());
    let check = |name: &str| {
        let mut v = std::mem::MaybeUninit::<hostgate_verdict>::uninit();
        // SAFETY: `engine` is live; `name` is `len` bytes; `v` is writable.
        let r = unsafe {
            hostgate_check(
                engine,
                0,
                name.as_ptr().cast(),
                name.len(),
                443,
                crate::types::hostgate_via::Tls as _,
                v.as_mut_ptr(),
            )
        };
        assert_eq!(r, hostgate_result::Ok);
        // SAFETY: `hostgate_check` wrote the verdict on OK.
        let v = unsafe { v.assume_init() };
        // SAFETY: a non-NULL rule id is `rule_id_len` bytes that live with the engine.
        let id = (!v.rule_id.is_null()).then(|| unsafe {
            std::str::from_utf8(std::slice::from_raw_parts(
                v.rule_id.cast::<u8>(),
                v.rule_id_len,
            ))
            .unwrap()
            .to_owned()
        });
        (v.action as u32, id)
    };
    // Cilium's `*.` is one label: a.kadath.io is allowed, a.b.kadath.io is not.
    let (allow, id) = check("a.kadath.io");
    assert_eq!(allow, crate::types::hostgate_action::Allow as u32);
    assert_eq!(
        id.as_deref(),
        Some("CiliumNetworkPolicy/build/egress-allowlist:1")
    );
    assert_eq!(
        check("a.b.kadath.io").0,
        crate::types::hostgate_action::Deny as u32
    );
    // SAFETY: `engine` came from `hostgate_engine_load_from` and is freed once.
    unsafe { hostgate_engine_free(engine) };
}

/// Opens `path` as an engine file.
fn open(path: &str) -> (hostgate_result, *mut hostgate_engine, *mut hostgate_error) {
    let mut engine = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: `path` is `len` readable bytes; both out-pointers are writable.
    let r =
        unsafe { hostgate_engine_open(path.as_ptr().cast(), path.len(), &mut engine, &mut err) };
    (r, engine, err)
}

/// (action, line, rule index) of `name` on port 443 via TLS, policy 0.
fn verdict_of(engine: *const hostgate_engine, name: &str) -> (u32, u32, i32) {
    let mut v = std::mem::MaybeUninit::<hostgate_verdict>::uninit();
    // SAFETY: `engine` is live; `name` is `len` bytes; `v` is writable.
    let r = unsafe {
        hostgate_check(
            engine,
            0,
            name.as_ptr().cast(),
            name.len(),
            443,
            crate::types::hostgate_via::Tls as _,
            v.as_mut_ptr(),
        )
    };
    assert_eq!(r, hostgate_result::Ok);
    // SAFETY: `hostgate_check` wrote the verdict on OK.
    let v = unsafe { v.assume_init() };
    (v.action as u32, v.line, v.rule)
}

#[test]
fn an_engine_file_written_and_opened_answers_as_the_text() {
    let text = "default deny\ndeny api.kadath.io\nallow .kadath.io\n";
    let mut compiled = ptr::null_mut();
    // SAFETY: `text` is `len` bytes; the out-pointer is writable; no error object wanted.
    let r = unsafe {
        hostgate_engine_compile(
            text.as_ptr().cast(),
            text.len(),
            &mut compiled,
            ptr::null_mut(),
        )
    };
    assert_eq!(r, hostgate_result::Ok);
    let dir = std::env::temp_dir().join(format!("hostgate-ffi-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.engine").display().to_string();
    // SAFETY: `compiled` is live; `path` is `len` bytes; no error object wanted.
    let r = unsafe {
        hostgate_engine_write(compiled, path.as_ptr().cast(), path.len(), ptr::null_mut())
    };
    assert_eq!(r, hostgate_result::Ok);

    let (r, opened, err) = open(&path);
    assert_eq!(r, hostgate_result::Ok);
    assert!(err.is_null());
    let (r, loaded, _) = load(&path);
    assert_eq!(
        r,
        hostgate_result::Ok,
        "hostgate_engine_load takes engine files too"
    );
    for name in ["api.kadath.io", "www.kadath.io", "kadath.io", "leng.com"] {
        let want = verdict_of(compiled, name);
        assert_eq!(verdict_of(opened, name), want, "{name}");
        assert_eq!(verdict_of(loaded, name), want, "{name}");
    }
    assert_eq!(verdict_of(opened, "api.kadath.io"), (0, 2, 0));

    // Policy text is not an engine file.
    let text_path = dir.join("k.policy").display().to_string();
    std::fs::write(&text_path, text).unwrap();
    let (r, none, err) = open(&text_path);
    assert_eq!(r, hostgate_result::EngineFileError);
    assert!(none.is_null());
    assert_eq!(
        message(err),
        format!("{text_path}: not an engine file (wrong magic)")
    );
    // SAFETY: `err` came from `hostgate_engine_open` and is freed once.
    unsafe { hostgate_error_free(err) };

    // A truncated file names the file and what is wrong.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.engine").display().to_string();
    std::fs::write(&cut, &bytes[..bytes.len() - 8]).unwrap();
    let (r, _, err) = open(&cut);
    assert_eq!(r, hostgate_result::EngineFileError);
    assert!(
        message(err).starts_with(&format!("{cut}: engine file is ")),
        "{}",
        message(err)
    );
    // SAFETY: as above.
    unsafe { hostgate_error_free(err) };
    // A missing file is an I/O error.
    let (r, _, err) = open(&dir.join("missing.engine").display().to_string());
    assert_eq!(r, hostgate_result::IoError);
    // SAFETY: as above.
    unsafe { hostgate_error_free(err) };

    // SAFETY: each engine is live and freed once.
    unsafe {
        hostgate_engine_free(compiled);
        hostgate_engine_free(opened);
        hostgate_engine_free(loaded);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
