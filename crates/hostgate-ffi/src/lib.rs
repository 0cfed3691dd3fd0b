//! # hostgate C ABI
//!
//! The C interface of hostgate, built as `libhostgate.a`, `libhostgate.so` and an rlib. The
//! header `include/hostgate.h` is generated from this crate by a pinned cbindgen
//! (`scripts/gen-header.sh`); every item below is documented there too.
//!
//! Conventions:
//! - Every fallible function returns a [`hostgate_result`]; out-parameters are written only on
//!   `HOSTGATE_RESULT_OK`.
//! - Every pointer is checked for NULL. Data is always pointer + length (no NUL terminator is
//!   needed or read); a data pointer may be NULL only when its length is 0.
//! - A panic inside hostgate never unwinds into C: it becomes `HOSTGATE_RESULT_PANIC` (or NULL /
//!   0 for functions that return those). This needs the library built with `panic = "unwind"`,
//!   the default.
//! - Thread safety: a `hostgate_engine` is immutable once compiled. One engine may be used from
//!   any number of threads at once without locking. To reload policy, compile a new engine, swap
//!   the pointer your threads read (atomically, or under your own lock), and free the old one
//!   once no thread still uses it. A `hostgate_error` is not shared state either: it may be read
//!   from any thread, and freed once.
//!
//! All of hostgate's `unsafe` code lives in this crate; every block carries a `SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

mod boundary;
mod quic;
mod types;

#[cfg(test)]
#[path = "../tests/conformance.rs"]
mod conformance;
#[cfg(test)]
mod loading_tests;
#[cfg(test)]
mod quic_tests;

use std::ffi::{c_char, CString};

use hostgate::{Engine, Format, LoadErrorKind, PolicyId, PolicySource, Query};

use boundary::{borrow, bytes, ffi_boundary, out_ptr, try_ffi};
pub use quic::{hostgate_quic_caps, hostgate_quic_reassembler};
pub use types::{
    hostgate_action, hostgate_inspection, hostgate_name_kind, hostgate_protocol, hostgate_query,
    hostgate_reason, hostgate_result, hostgate_status, hostgate_verdict, hostgate_via, ActionIn,
    ReasonIn, ResultIn, ViaIn, HOSTGATE_ALPN_CAPACITY, HOSTGATE_ERROR_CAPACITY,
    HOSTGATE_NAME_CAPACITY,
};
use types::{via_from_c, UNKNOWN};

/// A compiled, immutable set of policies. Create with `hostgate_engine_compile`, free with
/// `hostgate_engine_free`.
///
/// Thread safety: an engine may be used from many threads at once (every function takes it as
/// `const`). Reload policy by compiling a new engine and swapping the pointer; free the old one
/// when no thread uses it any more.
pub struct hostgate_engine {
    engine: Engine,
    /// Every rule's id text, per policy, made once at compile time: the core derives
    /// `POLICY:LINE` ids on demand, but C needs a pointer that lives as long as the engine.
    ids: Vec<Vec<Box<str>>>,
    /// The policy's warnings, rendered once: `FILE:LINE:COL: warning: …` for a loaded file,
    /// `LINE:COL: warning: …` for text.
    warnings: Vec<CString>,
}

impl hostgate_engine {
    fn new(engine: Engine, warnings: Vec<String>) -> Self {
        let ids = engine
            .policies()
            .map(|(p, _)| {
                (0..engine.rule_count(p))
                    .map(|i| {
                        engine
                            .rule(p, i)
                            .map(|r| r.id.to_string().into_boxed_str())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let warnings = warnings.iter().map(|w| c_string(w)).collect();
        hostgate_engine {
            engine,
            ids,
            warnings,
        }
    }

    /// The id text of rule `index` of `policy`.
    pub(crate) fn rule_id(&self, policy: u32, index: u32) -> Option<&str> {
        self.ids
            .get(policy as usize)?
            .get(index as usize)
            .map(|s| &**s)
    }
}

/// Why `hostgate_engine_compile` failed: every error in the policy text, each with a line and a
/// column (from 1; columns in characters). Free with `hostgate_error_free`.
pub struct hostgate_error {
    /// Every error, one per line, as `LINE:COL: message`.
    message: CString,
    items: Vec<ErrorItem>,
}

struct ErrorItem {
    line: u32,
    column: u32,
    message: CString,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<hostgate_engine>();
    assert_send_sync::<hostgate_error>();
};

/// A C string from Rust text; NUL bytes (which a message may quote from the input) become `\0`.
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

impl hostgate_error {
    fn new(items: Vec<ErrorItem>) -> hostgate_error {
        let mut all = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                all.push('\n');
            }
            all.push_str(&format!(
                "{}:{}: {}",
                item.line,
                item.column,
                item.message.to_string_lossy()
            ));
        }
        hostgate_error {
            message: c_string(&all),
            items,
        }
    }

    /// From the core's loading path. Text compiled from memory has no file name: its message
    /// is `LINE:COL: message` lines; a file's is exactly what the CLI prints,
    /// `FILE:LINE:COL: message`.
    fn from_load(error: &hostgate::LoadError, named: bool) -> hostgate_error {
        let items: Vec<ErrorItem> = error
            .diagnostics()
            .iter()
            .map(|d| {
                let mut message = d.message.clone();
                if let Some(help) = &d.help {
                    message.push_str(&format!(" ({help})"));
                }
                ErrorItem {
                    line: d.line,
                    column: d.column,
                    message: c_string(&message),
                }
            })
            .collect();
        let mut made = hostgate_error::new(items);
        if named {
            made.message = c_string(&error.to_string());
        }
        made
    }

    /// The result code for a loading failure.
    fn result_of(error: &hostgate::LoadError) -> hostgate_result {
        match error.kind() {
            LoadErrorKind::Read(_) => hostgate_result::IoError,
            LoadErrorKind::NotUtf8 { .. } => hostgate_result::InvalidUtf8,
            LoadErrorKind::UnknownPolicy { .. } => hostgate_result::UnknownPolicy,
            LoadErrorKind::EngineFile(_) => hostgate_result::EngineFileError,
            _ => hostgate_result::CompileError,
        }
    }
}

/// Writes a new error object to `*err` when `err` is not NULL.
///
/// # Safety
/// A non-NULL `err` must be valid for writing one pointer.
unsafe fn set_error(err: *mut *mut hostgate_error, value: hostgate_error) {
    if !err.is_null() {
        let boxed = Box::into_raw(Box::new(value));
        // SAFETY: `err` is non-NULL and the caller guarantees it is writable.
        unsafe { err.write(boxed) };
    }
}

/// Resolves a policy index against an engine.
fn policy_id(engine: &Engine, policy: u32) -> Result<PolicyId, hostgate_result> {
    let id = PolicyId::from_index(policy);
    match engine.policy_name(id) {
        Some(_) => Ok(id),
        None => Err(hostgate_result::UnknownPolicy),
    }
}

/// The library version, `MAJOR.MINOR.PATCH` (the same as `HOSTGATE_VERSION`). The string is
/// static and NUL-terminated; do not free it.
#[no_mangle]
pub extern "C" fn hostgate_version() -> *const c_char {
    ffi_boundary!(c"".as_ptr(), {
        const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
        VERSION.as_ptr().cast()
    })
}

/// The name of a result code, such as `"HOSTGATE_RESULT_OK"`, or `"UNKNOWN"` for a value that
/// is not a `hostgate_result`. The string is static and NUL-terminated; do not free it.
#[no_mangle]
pub extern "C" fn hostgate_result_name(result: ResultIn) -> *const c_char {
    ffi_boundary!(UNKNOWN.as_ptr(), { hostgate_result::name(result).as_ptr() })
}

/// `"deny"` or `"allow"`, or `"UNKNOWN"` for another value. Static and NUL-terminated.
#[no_mangle]
pub extern "C" fn hostgate_action_name(action: ActionIn) -> *const c_char {
    ffi_boundary!(UNKNOWN.as_ptr(), {
        match action {
            0 => c"deny".as_ptr(),
            1 => c"allow".as_ptr(),
            _ => UNKNOWN.as_ptr(),
        }
    })
}

/// `"matched"`, `"default"`, `"invalid-name"` or `"no-name"` (the spelling of logs and JSON), or
/// `"UNKNOWN"` for another value. Static and NUL-terminated.
#[no_mangle]
pub extern "C" fn hostgate_reason_name(reason: ReasonIn) -> *const c_char {
    ffi_boundary!(UNKNOWN.as_ptr(), {
        match reason {
            0 => c"matched".as_ptr(),
            1 => c"default".as_ptr(),
            2 => c"invalid-name".as_ptr(),
            3 => c"no-name".as_ptr(),
            _ => UNKNOWN.as_ptr(),
        }
    })
}

/// `"any"`, `"tls"`, `"http"`, `"connect"` or `"dns"`, or `"UNKNOWN"` for another value.
/// Static and NUL-terminated.
#[no_mangle]
pub extern "C" fn hostgate_via_name(via: ViaIn) -> *const c_char {
    ffi_boundary!(UNKNOWN.as_ptr(), {
        match via {
            0 => c"any".as_ptr(),
            1 => c"tls".as_ptr(),
            2 => c"http".as_ptr(),
            3 => c"connect".as_ptr(),
            4 => c"dns".as_ptr(),
            _ => UNKNOWN.as_ptr(),
        }
    })
}

/// Compiles policy text (the language of `docs/policy-language.md`) into an engine.
///
/// `text` is `len` bytes of UTF-8 (no NUL terminator needed; NULL allowed when `len` is 0: an
/// empty policy). On `HOSTGATE_RESULT_OK`, `*out` receives a new engine to free with
/// `hostgate_engine_free`. On `HOSTGATE_RESULT_COMPILE_ERROR` or `HOSTGATE_RESULT_INVALID_UTF8`,
/// and when `err` is not NULL, `*err` receives a new error object to free with
/// `hostgate_error_free`; otherwise `*err` is left untouched (initialize it to NULL).
///
/// Results: `OK`, `NULL_ARGUMENT` (`out` NULL, or `text` NULL with `len` > 0),
/// `INVALID_ARGUMENT`, `INVALID_UTF8`, `COMPILE_ERROR`, `PANIC`.
///
/// # Safety
/// `text` must point to `len` readable bytes; `out` (and `err` when not NULL) must be valid for
/// writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_compile(
    text: *const c_char,
    len: usize,
    out: *mut *mut hostgate_engine,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        let out = try_ffi!(out_ptr(out));
        // SAFETY: the caller guarantees `len` readable bytes at `text`.
        let raw = try_ffi!(unsafe { bytes(text.cast(), len) });
        let source = PolicySource::borrowed("", raw);
        // SAFETY: the caller guarantees `out` and a non-NULL `err` are writable.
        unsafe { finish_load(source.compile(), false, out, err) }
    })
}

/// Hands a loading result to the caller: the engine to `*out`, or the error to `*err`.
///
/// # Safety
/// `out` must be non-NULL and writable; a non-NULL `err` must be writable.
unsafe fn finish_load(
    loaded: Result<hostgate::LoadedPolicy, hostgate::LoadError>,
    named: bool,
    out: *mut *mut hostgate_engine,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    match loaded {
        Ok(loaded) => {
            let warnings: Vec<String> = if named {
                loaded.warnings().collect()
            } else {
                loaded
                    .engine()
                    .warnings()
                    .iter()
                    .map(|w| w.to_string())
                    .collect()
            };
            let boxed = Box::into_raw(Box::new(hostgate_engine::new(
                loaded.into_engine(),
                warnings,
            )));
            // SAFETY: the caller guarantees `out` is non-NULL and writable.
            unsafe { out.write(boxed) };
            hostgate_result::Ok
        }
        Err(e) => {
            // SAFETY: the caller guarantees a non-NULL `err` is writable.
            unsafe { set_error(err, hostgate_error::from_load(&e, named)) };
            hostgate_error::result_of(&e)
        }
    }
}

/// Reads and compiles a policy file (`len` bytes of UTF-8 path at `path`, no NUL terminator
/// needed) through the same loading path as the `hostgate` CLI: the error object's message is
/// exactly what the CLI prints, every error as `FILE:LINE:COL: message` with the path as given.
///
/// On `HOSTGATE_RESULT_OK`, `*out` receives a new engine to free with `hostgate_engine_free`.
/// On failure, and when `err` is not NULL, `*err` receives a new error object to free with
/// `hostgate_error_free` (for `IO_ERROR` its line and column are 0).
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (the path is not UTF-8), `IO_ERROR`,
/// `INVALID_UTF8`, `COMPILE_ERROR`, `PANIC`.
///
/// # Safety
/// `path` must point to `len` readable bytes; `out` (and `err` when not NULL) must be valid for
/// writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_load(
    path: *const c_char,
    len: usize,
    out: *mut *mut hostgate_engine,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        let out = try_ffi!(out_ptr(out));
        // SAFETY: the caller guarantees `len` readable bytes at `path`.
        let raw = try_ffi!(unsafe { bytes(path.cast(), len) });
        if raw.is_empty() {
            return hostgate_result::NullArgument;
        }
        let Ok(path) = std::str::from_utf8(raw) else {
            return hostgate_result::InvalidArgument;
        };
        // An engine file is mapped and opened in place; text is read and compiled.
        let loaded = hostgate_map::read_source(path).and_then(|source| source.compile());
        // SAFETY: `out` is non-NULL (checked); the caller guarantees a non-NULL `err` is
        // writable.
        unsafe { finish_load(loaded, true, out, err) }
    })
}

/// Reads a policy file written in `format` (`format_len` bytes of UTF-8, no NUL terminator
/// needed: `hostgate`, or an import format such as `cilium` or `gke`, as the CLI's `--from`
/// takes them; an empty format is `hostgate`) and builds an engine through the same loading
/// path as the CLI's `--from FORMAT --policy PATH`: an imported file gives one policy,
/// `default`, with each system's meaning, and every error as `FILE:LINE:COL: message`.
///
/// On `HOSTGATE_RESULT_OK`, `*out` receives a new engine to free with `hostgate_engine_free`.
/// On failure, and when `err` is not NULL, `*err` receives a new error object to free with
/// `hostgate_error_free` (an unknown format gives `INVALID_ARGUMENT` and an error object at line
/// 0 listing the known formats).
///
/// Results: as `hostgate_engine_load`, and `INVALID_ARGUMENT` for an unknown format.
///
/// # Safety
/// `format` must point to `format_len` readable bytes and `path` to `len`; `out` (and `err`
/// when not NULL) must be valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_load_from(
    format: *const c_char,
    format_len: usize,
    path: *const c_char,
    len: usize,
    out: *mut *mut hostgate_engine,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        let out = try_ffi!(out_ptr(out));
        // SAFETY: the caller guarantees `format_len` readable bytes at `format`.
        let name = try_ffi!(unsafe { bytes(format.cast(), format_len) });
        // SAFETY: the caller guarantees `len` readable bytes at `path`.
        let raw = try_ffi!(unsafe { bytes(path.cast(), len) });
        if raw.is_empty() {
            return hostgate_result::NullArgument;
        }
        let (Ok(name), Ok(path)) = (std::str::from_utf8(name), std::str::from_utf8(raw)) else {
            return hostgate_result::InvalidArgument;
        };
        let format = if name.is_empty() {
            Ok(Format::Hostgate)
        } else {
            name.parse::<Format>()
        };
        let format = match format {
            Ok(f) => f,
            Err(e) => {
                let item = ErrorItem {
                    line: 0,
                    column: 0,
                    message: c_string(&e.to_string()),
                };
                // SAFETY: the caller guarantees a non-NULL `err` is writable.
                unsafe { set_error(err, hostgate_error::new(vec![item])) };
                return hostgate_result::InvalidArgument;
            }
        };
        let loaded = hostgate_map::read_source(path)
            .and_then(|source| hostgate_import::load(&source.with_format(format)));
        // SAFETY: `out` is non-NULL (checked); the caller guarantees a non-NULL `err` is
        // writable.
        unsafe { finish_load(loaded, true, out, err) }
    })
}

/// Opens an engine file (written by `hostgate compile` or `hostgate_engine_write`; `len` bytes
/// of UTF-8 path at `path`, no NUL terminator needed) by mapping it read-only: no compile, and
/// the engine's arrays are read in place, shared with every process that maps the same file.
/// Every check of the format is made on open (`docs/engine-file.md`); the engine then answers
/// exactly as the one compiled from the same policy.
///
/// On `HOSTGATE_RESULT_OK`, `*out` receives a new engine to free with `hostgate_engine_free`.
/// On failure, and when `err` is not NULL, `*err` receives a new error object to free with
/// `hostgate_error_free`, whose message names the file and what is wrong (line and column 0).
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (the path is not UTF-8), `IO_ERROR`,
/// `ENGINE_FILE_ERROR` (not an engine file, another version or machine, truncated, damaged,
/// inconsistent), `PANIC`.
///
/// # Safety
/// `path` must point to `len` readable bytes; `out` (and `err` when not NULL) must be valid for
/// writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_open(
    path: *const c_char,
    len: usize,
    out: *mut *mut hostgate_engine,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        let out = try_ffi!(out_ptr(out));
        // SAFETY: the caller guarantees `len` readable bytes at `path`.
        let raw = try_ffi!(unsafe { bytes(path.cast(), len) });
        if raw.is_empty() {
            return hostgate_result::NullArgument;
        }
        let Ok(path) = std::str::from_utf8(raw) else {
            return hostgate_result::InvalidArgument;
        };
        let source = match hostgate_map::read_source(path) {
            Ok(source) => source,
            // SAFETY: `out` is non-NULL (checked); a non-NULL `err` is writable.
            Err(e) => return unsafe { finish_load(Err(e), true, out, err) },
        };
        if !source.is_engine_file() {
            let message = format!("{path}: {}", hostgate::EngineFileError::NotEngineFile);
            let mut made = hostgate_error::new(vec![ErrorItem {
                line: 0,
                column: 0,
                message: c_string(&message),
            }]);
            made.message = c_string(&message);
            // SAFETY: the caller guarantees a non-NULL `err` is writable.
            unsafe { set_error(err, made) };
            return hostgate_result::EngineFileError;
        }
        // SAFETY: `out` is non-NULL (checked); the caller guarantees a non-NULL `err` is
        // writable.
        unsafe { finish_load(source.compile(), true, out, err) }
    })
}

/// Writes an engine as an engine file at `path` (`len` bytes of UTF-8, no NUL terminator
/// needed), atomically: into a temporary file in the same directory, then renamed over `path`,
/// so that a reader opening `path` sees the old file or the new one, never part of one.
///
/// On failure, and when `err` is not NULL, `*err` receives a new error object to free with
/// `hostgate_error_free`, naming the file and why.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (the path is not UTF-8), `IO_ERROR`,
/// `PANIC`.
///
/// # Safety
/// `engine` must be a live engine; `path` must point to `len` readable bytes; `err` when not
/// NULL must be valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_write(
    engine: *const hostgate_engine,
    path: *const c_char,
    len: usize,
    err: *mut *mut hostgate_error,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `len` readable bytes at `path`.
        let raw = try_ffi!(unsafe { bytes(path.cast(), len) });
        if raw.is_empty() {
            return hostgate_result::NullArgument;
        }
        let Ok(path) = std::str::from_utf8(raw) else {
            return hostgate_result::InvalidArgument;
        };
        match hostgate_map::write(path, &e.engine.to_bytes()) {
            Ok(()) => hostgate_result::Ok,
            Err(io) => {
                let message = format!("cannot write engine file {path}: {io}");
                let mut made = hostgate_error::new(vec![ErrorItem {
                    line: 0,
                    column: 0,
                    message: c_string(&message),
                }]);
                made.message = c_string(&message);
                // SAFETY: the caller guarantees a non-NULL `err` is writable.
                unsafe { set_error(err, made) };
                hostgate_result::IoError
            }
        }
    })
}

/// The index of the policy a front end asks when none is named (`default` when the text has
/// statements outside any `policy` block, else the first policy), written to `*out_index`.
///
/// Results: `OK`, `NULL_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `engine` must be a live engine and `out_index` writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_default_policy(
    engine: *const hostgate_engine,
    out_index: *mut u32,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        let out = try_ffi!(out_ptr(out_index));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(e.engine.default_policy().index()) };
        hostgate_result::Ok
    })
}

/// Frees an engine. NULL is a no-op. The engine (and every `rule_id` pointer taken from it) must
/// not be used afterwards, by any thread.
///
/// # Safety
/// `engine` must be NULL or a pointer returned by `hostgate_engine_compile` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_free(engine: *mut hostgate_engine) {
    ffi_boundary!((), {
        if !engine.is_null() {
            // SAFETY: a non-NULL `engine` came from `Box::into_raw` in `hostgate_engine_compile`
            // and, per the contract, has not been freed yet.
            drop(unsafe { Box::from_raw(engine) });
        }
    })
}

/// How many warnings the policy compiled with (0 when `engine` is NULL): rules that compile but
/// probably do not mean what their author thinks, such as `*google.com`.
///
/// # Safety
/// `engine` must be NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_warning_count(engine: *const hostgate_engine) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        match unsafe { borrow(engine) } {
            Ok(e) => e.warnings.len(),
            Err(_) => 0,
        }
    })
}

/// Warning `index` (from 0, in text order) as one NUL-terminated line, exactly as the CLI prints
/// it: `FILE:LINE:COL: warning: message` for an engine from `hostgate_engine_load`,
/// `LINE:COL: warning: message` for one from `hostgate_engine_compile`. Owned by the engine
/// (valid until `hostgate_engine_free`); NULL when `engine` is NULL or `index` is out of range.
///
/// # Safety
/// `engine` must be NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_warning(
    engine: *const hostgate_engine,
    index: usize,
) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        match unsafe { borrow(engine) } {
            Ok(e) => e
                .warnings
                .get(index)
                .map_or(std::ptr::null(), |w| w.as_ptr()),
            Err(_) => std::ptr::null(),
        }
    })
}

/// The number of policies in an engine (0 when `engine` is NULL). Indexes run from 0 to this
/// number minus one, in file order.
///
/// # Safety
/// `engine` must be NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_policy_count(engine: *const hostgate_engine) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let Ok(e) = (unsafe { borrow(engine) }) else {
            return 0;
        };
        u32::try_from(e.engine.policies().len()).unwrap_or(u32::MAX)
    })
}

/// Finds a policy by name (`len` bytes at `name`, no NUL terminator needed) and writes its index
/// to `*out_index`. Resolve names once and keep the index.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `UNKNOWN_POLICY`, `PANIC`.
///
/// # Safety
/// `engine` must be a live engine, `name` must point to `len` readable bytes, and `out_index`
/// must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_policy(
    engine: *const hostgate_engine,
    name: *const c_char,
    len: usize,
    out_index: *mut u32,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `len` readable bytes at `name`.
        let name = try_ffi!(unsafe { bytes(name.cast(), len) });
        let out = try_ffi!(out_ptr(out_index));
        let Ok(name) = std::str::from_utf8(name) else {
            return hostgate_result::UnknownPolicy;
        };
        match e.engine.policy(name) {
            Some(id) => {
                // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
                unsafe { out.write(id.index()) };
                hostgate_result::Ok
            }
            None => hostgate_result::UnknownPolicy,
        }
    })
}

/// The name of the policy at `index`: `*ptr` receives a pointer into the engine (valid until
/// `hostgate_engine_free`, **not** NUL-terminated) and `*len` its length.
///
/// Results: `OK`, `NULL_ARGUMENT`, `UNKNOWN_POLICY`, `PANIC`.
///
/// # Safety
/// `engine` must be a live engine; `ptr` and `len` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_policy_name(
    engine: *const hostgate_engine,
    index: u32,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        let ptr = try_ffi!(out_ptr(ptr));
        let len = try_ffi!(out_ptr(len));
        let Some(name) = e.engine.policy_name(PolicyId::from_index(index)) else {
            return hostgate_result::UnknownPolicy;
        };
        // SAFETY: both out-pointers are non-NULL (checked) and the caller guarantees they are
        // writable.
        unsafe { write_str_out(ptr, len, name) };
        hostgate_result::Ok
    })
}

/// Hands out a borrowed string as pointer + length (not NUL-terminated).
///
/// # Safety
/// `ptr` and `len` must be non-NULL and writable.
unsafe fn write_str_out(ptr: *mut *const c_char, len: *mut usize, s: &str) {
    // SAFETY: the caller guarantees both pointers are non-NULL and writable.
    unsafe {
        ptr.write(s.as_ptr().cast());
        len.write(s.len());
    }
}

/// The id of rule `rule` (a `hostgate_verdict.rule`) of policy `policy`: `*ptr` receives a
/// pointer into the engine (valid until `hostgate_engine_free`, **not** NUL-terminated) and
/// `*len` its length.
///
/// Results: `OK`, `NULL_ARGUMENT`, `UNKNOWN_POLICY`, `UNKNOWN_RULE` (including `rule` = -1),
/// `PANIC`.
///
/// # Safety
/// `engine` must be a live engine; `ptr` and `len` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_engine_rule_id(
    engine: *const hostgate_engine,
    policy: u32,
    rule: i32,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        let ptr = try_ffi!(out_ptr(ptr));
        let len = try_ffi!(out_ptr(len));
        let policy = try_ffi!(policy_id(&e.engine, policy));
        let Ok(index) = u32::try_from(rule) else {
            return hostgate_result::UnknownRule;
        };
        let Some(id) = e.rule_id(policy.index(), index) else {
            return hostgate_result::UnknownRule;
        };
        // SAFETY: both out-pointers are non-NULL (checked) and the caller guarantees they are
        // writable.
        unsafe { write_str_out(ptr, len, id) };
        hostgate_result::Ok
    })
}

/// Checks one name against policy `policy` (an index from `hostgate_engine_policy`).
///
/// `name` is `len` raw bytes as received (no NUL terminator needed; NULL allowed when `len` is
/// 0); the engine normalizes it (case, trailing dot, IDNA, IP literals). `port` is the
/// destination port, 0 for none (a DNS question); `via` where the name came from. An invalid
/// name is not an error: it gives `HOSTGATE_RESULT_OK` and a deny verdict with reason
/// `HOSTGATE_REASON_INVALID_NAME`.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (unknown `via`), `UNKNOWN_POLICY`, `PANIC`.
///
/// # Safety
/// `engine` must be a live engine, `name` must point to `len` readable bytes, and `out` must be
/// writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_check(
    engine: *const hostgate_engine,
    policy: u32,
    name: *const c_char,
    len: usize,
    port: u16,
    via: ViaIn,
    out: *mut hostgate_verdict,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `len` readable bytes at `name`.
        let name = try_ffi!(unsafe { bytes(name.cast(), len) });
        let out = try_ffi!(out_ptr(out));
        let via = try_ffi!(via_from_c(via));
        let policy = try_ffi!(policy_id(&e.engine, policy));
        let query = Query {
            name,
            port: (port != 0).then_some(port),
            via,
        };
        let verdict = hostgate_verdict::from_verdict(e, &e.engine.check(policy, &query));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(verdict) };
        hostgate_result::Ok
    })
}

/// Checks `count` queries against one policy in one call (one cgo/cffi crossing for many names).
///
/// Query `i`'s name is the `queries[i].len` bytes at `names + queries[i].offset`; its verdict is
/// written to `out[i]`. Every query is validated before anything is written: a name outside
/// `names_len` or an unknown `via` gives `INVALID_ARGUMENT` with `out` untouched. `count` may be
/// 0 (then `queries` and `out` may be NULL), and `names` may be NULL when `names_len` is 0.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `UNKNOWN_POLICY`, `PANIC` (then `out` may
/// be partly written).
///
/// # Safety
/// `engine` must be a live engine, `names` must point to `names_len` readable bytes, `queries`
/// to `count` readable `hostgate_query`, and `out` to `count` writable `hostgate_verdict`.
#[no_mangle]
pub unsafe extern "C" fn hostgate_check_batch(
    engine: *const hostgate_engine,
    policy: u32,
    names: *const c_char,
    names_len: usize,
    queries: *const hostgate_query,
    count: usize,
    out: *mut hostgate_verdict,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `names_len` readable bytes at `names`.
        let names = try_ffi!(unsafe { bytes(names.cast(), names_len) });
        let policy = try_ffi!(policy_id(&e.engine, policy));
        if count == 0 {
            return hostgate_result::Ok;
        }
        let out = try_ffi!(out_ptr(out));
        if queries.is_null() {
            return hostgate_result::NullArgument;
        }
        if count > isize::MAX as usize / std::mem::size_of::<hostgate_verdict>() {
            return hostgate_result::InvalidArgument;
        }
        // SAFETY: `queries` is non-NULL, `count` is non-zero and small enough, and the caller
        // guarantees `count` readable, initialized `hostgate_query` values (plain integers, so
        // every bit pattern is valid).
        let queries = unsafe { std::slice::from_raw_parts(queries, count) };
        for q in queries {
            let end = try_ffi!(q
                .offset
                .checked_add(q.len)
                .ok_or(hostgate_result::InvalidArgument));
            if end > names.len() {
                return hostgate_result::InvalidArgument;
            }
            try_ffi!(via_from_c(q.via));
        }
        for (i, q) in queries.iter().enumerate() {
            let query = Query {
                name: &names[q.offset..q.offset + q.len],
                port: (q.port != 0).then_some(q.port),
                via: via_from_c(q.via).unwrap_or(None),
            };
            let verdict = hostgate_verdict::from_verdict(e, &e.engine.check(policy, &query));
            // SAFETY: `out` is non-NULL and the caller guarantees `count` writable verdicts;
            // `i < count`. `write` does not read the (possibly uninitialized) old value.
            unsafe { out.add(i).write(verdict) };
        }
        hostgate_result::Ok
    })
}

/// Inspects the first bytes of a TCP stream (a TLS ClientHello, an HTTP/1.x request head, or
/// DNS over TCP) and writes what it found to `*out`: protocol, status, the normalized name,
/// port, ALPN and ECH. Nothing is allocated or kept; call again with more bytes while the
/// status is `HOSTGATE_STATUS_NEED_MORE`. Malformed or unrecognized bytes are not an error:
/// they are a status.
///
/// Results: `OK`, `NULL_ARGUMENT` (`out` NULL, or `buf` NULL with `len` > 0),
/// `INVALID_ARGUMENT`, `PANIC`.
///
/// # Safety
/// `buf` must point to `len` readable bytes and `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_inspect(
    buf: *const u8,
    len: usize,
    out: *mut hostgate_inspection,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let buf = try_ffi!(unsafe { bytes(buf, len) });
        let out = try_ffi!(out_ptr(out));
        let inspection = hostgate_inspection::from_inspection(&hostgate::inspect::inspect(buf));
        // SAFETY: `out` is non-NULL (checked) and the caller guarantees it is writable.
        unsafe { out.write(inspection) };
        hostgate_result::Ok
    })
}

/// Inspects the first bytes of a stream (as `hostgate_inspect`) and checks the name found
/// against policy `policy` in one call. `port` is the connection's real destination port (0:
/// use the one the request names). The source follows the protocol (SNI: TLS, Host: HTTP,
/// CONNECT: CONNECT, DNS: DNS). Anything but a complete inspection is denied: reason
/// `HOSTGATE_REASON_NO_NAME`, or `HOSTGATE_REASON_INVALID_NAME` for a refused name; wait for
/// more bytes while `insp->status` is `HOSTGATE_STATUS_NEED_MORE` before acting on the verdict.
/// `insp` may be NULL when the inspection is not wanted.
///
/// Results: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `UNKNOWN_POLICY`, `PANIC`.
///
/// # Safety
/// `engine` must be a live engine, `buf` must point to `len` readable bytes, `out` (and `insp`
/// when not NULL) must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_inspect_check(
    engine: *const hostgate_engine,
    policy: u32,
    buf: *const u8,
    len: usize,
    port: u16,
    insp: *mut hostgate_inspection,
    out: *mut hostgate_verdict,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `engine` is live.
        let e = try_ffi!(unsafe { borrow(engine) });
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let buf = try_ffi!(unsafe { bytes(buf, len) });
        let out = try_ffi!(out_ptr(out));
        let policy = try_ffi!(policy_id(&e.engine, policy));
        let (inspection, verdict) =
            e.engine
                .inspect_check(policy, buf, (port != 0).then_some(port));
        let verdict = hostgate_verdict::from_verdict(e, &verdict);
        let inspection =
            (!insp.is_null()).then(|| hostgate_inspection::from_inspection(&inspection));
        // SAFETY: `out` is non-NULL (checked) and `insp` is written only when non-NULL; the
        // caller guarantees both are writable.
        unsafe {
            out.write(verdict);
            if let Some(i) = inspection {
                insp.write(i);
            }
        }
        hostgate_result::Ok
    })
}

/// All the errors, one per line, as `LINE:COL: message`. The string is NUL-terminated and owned
/// by `err` (valid until `hostgate_error_free`). NULL when `err` is NULL.
///
/// # Safety
/// `err` must be NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_message(err: *const hostgate_error) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: the caller guarantees a non-NULL `err` is live.
        match unsafe { borrow(err) } {
            Ok(err) => err.message.as_ptr(),
            Err(_) => std::ptr::null(),
        }
    })
}

/// The line (from 1) of the first error; 0 when `err` is NULL.
///
/// # Safety
/// `err` must be NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_line(err: *const hostgate_error) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `err` is live.
        match unsafe { borrow(err) } {
            Ok(err) => err.items.first().map_or(0, |i| i.line),
            Err(_) => 0,
        }
    })
}

/// The column (from 1, in characters) of the first error; 0 when `err` is NULL.
///
/// # Safety
/// `err` must be NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_column(err: *const hostgate_error) -> u32 {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `err` is live.
        match unsafe { borrow(err) } {
            Ok(err) => err.items.first().map_or(0, |i| i.column),
            Err(_) => 0,
        }
    })
}

/// How many errors `err` holds (at least 1); 0 when `err` is NULL.
///
/// # Safety
/// `err` must be NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_count(err: *const hostgate_error) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller guarantees a non-NULL `err` is live.
        match unsafe { borrow(err) } {
            Ok(err) => err.items.len(),
            Err(_) => 0,
        }
    })
}

/// Error number `index` (from 0, in text order): its line, column and message (NUL-terminated,
/// owned by `err`, without the `LINE:COL: ` prefix). Any of `line`, `column`, `message` may be
/// NULL when not wanted.
///
/// Results: `OK`, `NULL_ARGUMENT` (`err` NULL), `INVALID_ARGUMENT` (`index` out of range),
/// `PANIC`.
///
/// # Safety
/// `err` must be a live error object; non-NULL out-pointers must be writable.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_get(
    err: *const hostgate_error,
    index: usize,
    line: *mut u32,
    column: *mut u32,
    message: *mut *const c_char,
) -> hostgate_result {
    ffi_boundary!(hostgate_result::Panic, {
        // SAFETY: the caller guarantees a non-NULL `err` is live.
        let err = try_ffi!(unsafe { borrow(err) });
        let Some(item) = err.items.get(index) else {
            return hostgate_result::InvalidArgument;
        };
        // SAFETY: each out-pointer is written only when non-NULL, and the caller guarantees
        // non-NULL ones are writable.
        unsafe {
            if !line.is_null() {
                line.write(item.line);
            }
            if !column.is_null() {
                column.write(item.column);
            }
            if !message.is_null() {
                message.write(item.message.as_ptr());
            }
        }
        hostgate_result::Ok
    })
}

/// Frees an error object. NULL is a no-op.
///
/// # Safety
/// `err` must be NULL or a pointer written by `hostgate_engine_compile` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn hostgate_error_free(err: *mut hostgate_error) {
    ffi_boundary!((), {
        if !err.is_null() {
            // SAFETY: a non-NULL `err` came from `Box::into_raw` in `set_error` and, per the
            // contract, has not been freed yet.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

#[cfg(test)]
mod header_tests {
    use std::ffi::CStr;

    fn header() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../include/hostgate.h");
        std::fs::read_to_string(path).expect("include/hostgate.h exists")
    }

    fn define(header: &str, name: &str) -> String {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{name} is defined"))
            .trim()
            .to_string()
    }

    #[test]
    fn version_macros_match_cargo_toml() {
        let h = header();
        assert_eq!(
            define(&h, "HOSTGATE_VERSION_MAJOR"),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            define(&h, "HOSTGATE_VERSION_MINOR"),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            define(&h, "HOSTGATE_VERSION_PATCH"),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        assert_eq!(
            define(&h, "HOSTGATE_VERSION"),
            format!("\"{}\"", env!("CARGO_PKG_VERSION"))
        );
        // SAFETY: hostgate_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(super::hostgate_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_declaration_in_the_header_is_documented() {
        let h = header();
        let lines: Vec<&str> = h.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let declares = line.starts_with("const char *hostgate_")
                || line.starts_with("hostgate_result hostgate_")
                || line.starts_with("void hostgate_")
                || line.starts_with("uint32_t hostgate_")
                || line.starts_with("size_t hostgate_")
                || line.starts_with("enum hostgate_")
                || line.starts_with("typedef struct hostgate_")
                || line.starts_with("#define HOSTGATE_VERSION");
            if declares {
                let prev = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
                assert!(
                    prev.is_some_and(|p| p.trim_end().ends_with("*/")),
                    "include/hostgate.h:{}: `{line}` has no doc comment",
                    i + 1
                );
            }
        }
    }
}
