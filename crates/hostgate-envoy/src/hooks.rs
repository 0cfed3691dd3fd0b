//! The event hooks Envoy calls (`envoy_dynamic_module_on_*`), each behind a panic boundary: a
//! panic never unwinds into Envoy; it becomes a refused config or a closed connection.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::abi::{self, ConfigEnvoyPtr, ConfigModulePtr, EnvoyBuffer, FilterEnvoyPtr};
use crate::abi::{FilterModulePtr, LogLevel, ModuleBuffer, Status};
use crate::{Config, Decision, Filter, Step};

fn log(level: LogLevel, message: &str) {
    // SAFETY: the buffer points at `message`, alive for the call; Envoy copies it.
    unsafe { abi::envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
}

/// Runs `f`, turning a panic into `fallback` (and a log line).
fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            // Logging itself must not panic out of here either.
            let _ = catch_unwind(|| log(LogLevel::Error, &format!("hostgate: panic in {what}")));
            fallback
        }
    }
}

/// Called once when Envoy loads the module: returns the ABI version string.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    abi::ABI_VERSION.as_ptr().cast()
}

/// Compiles the policy named by the filter config. NULL refuses the config: Envoy then fails
/// the listener with "Failed to initialize dynamic module listener filter config", and the
/// hostgate message (policy errors as FILE:LINE:COL) is in its log just before.
///
/// # Safety
/// `name` and `config` point at bytes Envoy owns for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_config_new(
    _config_envoy: ConfigEnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ConfigModulePtr {
    guard("listener_filter_config_new", std::ptr::null(), || {
        // SAFETY: Envoy passes a valid (ptr, length) pair, or NULL with length 0.
        let bytes = unsafe { envoy_bytes(config) };
        let on_reload = |r: crate::Reloaded<'_>| match r {
            Ok(warnings) => {
                for w in warnings {
                    log(LogLevel::Warn, w);
                }
                log(LogLevel::Info, "hostgate: policy reloaded");
            }
            Err(e) => log(
                LogLevel::Error,
                &format!(
                    "hostgate: reload refused, old policy kept:\n{}",
                    e.trim_end()
                ),
            ),
        };
        match Config::from_json_with(bytes, on_reload) {
            Ok(config) => {
                for w in config.warnings() {
                    log(LogLevel::Warn, w);
                }
                Arc::into_raw(Arc::new(config)).cast()
            }
            Err(message) => {
                let message = message.trim_end();
                log(LogLevel::Error, message);
                eprintln!("{message}");
                std::ptr::null()
            }
        }
    })
}

/// Drops the module's reference to the config; connections still open hold their own.
///
/// # Safety
/// `config` is a pointer returned by `..._config_new`, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_config_destroy(
    config: ConfigModulePtr,
) {
    guard("listener_filter_config_destroy", (), || {
        if !config.is_null() {
            // SAFETY: the pointer came from Arc::into_raw in config_new, and Envoy destroys
            // each config once.
            drop(unsafe { Arc::from_raw(config.cast::<Config>()) });
        }
    })
}

/// A new connection: one `Filter` holding a reference to the config. NULL makes Envoy close
/// the connection.
///
/// # Safety
/// `config` is a live pointer returned by `..._config_new`.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_new(
    config: ConfigModulePtr,
    _filter_envoy: FilterEnvoyPtr,
) -> FilterModulePtr {
    guard("listener_filter_new", std::ptr::null_mut(), || {
        if config.is_null() {
            return std::ptr::null_mut();
        }
        let config = config.cast::<Config>();
        // SAFETY: `config` came from Arc::into_raw and Envoy keeps the config alive while it
        // creates filters from it; take one more strong reference for this connection.
        let config = unsafe {
            Arc::increment_strong_count(config);
            Arc::from_raw(config)
        };
        Box::into_raw(Box::new(Filter {
            current: config.current(),
            config,
            decided: false,
        }))
        .cast()
    })
}

/// The socket is accepted: stop and wait for its first bytes (`on_data`).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_listener_filter_on_accept(
    _filter_envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) -> Status {
    Status::StopIteration
}

/// How many bytes Envoy should peek for us.
///
/// # Safety
/// `filter` is NULL or a live pointer returned by `..._filter_new`.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_get_max_read_bytes(
    _filter_envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
) -> usize {
    guard("listener_filter_get_max_read_bytes", 0, || {
        // SAFETY: see the function's contract; only read.
        match unsafe { filter.cast::<Filter>().as_ref() } {
            Some(f) => f.config.max_bytes(),
            None => 0,
        }
    })
}

/// New bytes were peeked: decide, or wait for more. On deny the socket is closed here.
///
/// # Safety
/// `filter_envoy` is Envoy's live filter and `filter` a live pointer from `..._filter_new`.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_on_data(
    filter_envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    _data_length: usize,
) -> Status {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: see the function's contract; Envoy calls hooks of one connection from its
        // worker thread only, so this is the only reference.
        let f = (unsafe { filter.cast::<Filter>().as_mut() })?;
        if f.decided {
            return Some(Status::Continue);
        }
        let mut chunk = EnvoyBuffer {
            ptr: std::ptr::null(),
            length: 0,
        };
        // SAFETY: `chunk` is a valid out-pointer; Envoy fills it with the peek buffer, valid
        // until this hook returns.
        let bytes = unsafe {
            if !abi::envoy_dynamic_module_callback_listener_filter_get_buffer_chunk(
                filter_envoy,
                &mut chunk,
            ) {
                return None;
            }
            envoy_bytes(chunk)
        };
        // SAFETY: filter_envoy is live for the call.
        let port = unsafe { local_port(filter_envoy) };
        match f.config.decide_on(&f.current, bytes, port) {
            Step::NeedMore => Some(Status::StopIteration),
            Step::Decided(d) => {
                f.decided = true;
                // SAFETY: filter_envoy is live for the call.
                unsafe { publish(filter_envoy, &f.config, &d) };
                if d.allow {
                    Some(Status::Continue)
                } else {
                    // SAFETY: as above.
                    unsafe { close(filter_envoy, &d.details) };
                    Some(Status::StopIteration)
                }
            }
        }
    }));
    match outcome {
        Ok(Some(status)) => status,
        // No buffer, no filter, or a panic: fail closed.
        Ok(None) | Err(_) => {
            let _ = catch_unwind(|| log(LogLevel::Error, "hostgate: cannot decide; closing"));
            // SAFETY: filter_envoy is live for the call.
            unsafe { close(filter_envoy, "hostgate: deny, internal error") };
            Status::StopIteration
        }
    }
}

/// The connection closed before the listener filters finished.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_listener_filter_on_close(
    _filter_envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) {
}

/// The connection's filter is done: free it.
///
/// # Safety
/// `filter` is NULL or a pointer from `..._filter_new`, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_listener_filter_destroy(filter: FilterModulePtr) {
    guard("listener_filter_destroy", (), || {
        if !filter.is_null() {
            // SAFETY: the pointer came from Box::into_raw in filter_new.
            drop(unsafe { Box::from_raw(filter.cast::<Filter>()) });
        }
    })
}

// Envoy 1.40 resolves these three hooks for every listener filter module. This module never
// schedules events nor makes HTTP callouts, so Envoy never calls them; they do nothing.

/// A scheduled event for one connection (never requested here).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_listener_filter_scheduled(
    _filter_envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _event_id: u64,
) {
}

/// A scheduled event for the config (never requested here).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_listener_filter_config_scheduled(
    _config_envoy: ConfigEnvoyPtr,
    _config: ConfigModulePtr,
    _event_id: u64,
) {
}

/// The end of an HTTP callout (never started here).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_listener_filter_http_callout_done(
    _filter_envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _callout_id: u64,
    _result: u32,
    _headers: *const std::ffi::c_void,
    _headers_size: usize,
    _body_chunks: *const EnvoyBuffer,
    _body_chunks_size: usize,
) {
}

/// # Safety
/// `b` is NULL/0 or points at `length` readable bytes that outlive the returned slice's use.
unsafe fn envoy_bytes<'a>(b: EnvoyBuffer) -> &'a [u8] {
    if b.ptr.is_null() || b.length == 0 {
        &[]
    } else {
        // SAFETY: see the function's contract.
        unsafe { std::slice::from_raw_parts(b.ptr, b.length) }
    }
}

/// # Safety
/// `filter_envoy` is live for the call.
unsafe fn local_port(filter_envoy: FilterEnvoyPtr) -> Option<u16> {
    let mut addr = EnvoyBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };
    let mut port = 0u32;
    // SAFETY: valid out-pointers; the address text is not kept.
    let ok = unsafe {
        abi::envoy_dynamic_module_callback_listener_filter_get_local_address(
            filter_envoy,
            &mut addr,
            &mut port,
        )
    };
    (ok && port > 0)
        .then_some(port)
        .and_then(|p| u16::try_from(p).ok())
}

/// Writes the decision to dynamic metadata (and, for filter chain matching, the server name and
/// transport protocol).
///
/// # Safety
/// `filter_envoy` is live for the call.
unsafe fn publish(filter_envoy: FilterEnvoyPtr, config: &Config, d: &Decision) {
    let ns = ModuleBuffer::of(config.namespace.as_bytes());
    let entries: [(&str, &str); 5] = [
        ("name", d.name.as_deref().unwrap_or("-")),
        ("verdict", d.verdict),
        ("reason", d.reason),
        ("rule", d.rule.as_deref().unwrap_or("-")),
        ("protocol", d.protocol),
    ];
    for (key, value) in entries {
        // SAFETY: all three buffers point at live bytes for the call; Envoy copies them.
        unsafe {
            abi::envoy_dynamic_module_callback_listener_filter_set_dynamic_metadata_string(
                filter_envoy,
                ns,
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        }
    }
    if config.set_server_name && d.allow {
        if let Some(tp) = d.transport_protocol() {
            // SAFETY: as above.
            unsafe {
                abi::envoy_dynamic_module_callback_listener_filter_set_detected_transport_protocol(
                    filter_envoy,
                    ModuleBuffer::of(tp.as_bytes()),
                )
            }
        }
        if let (Some("tls"), Some(name)) = (d.transport_protocol(), &d.name) {
            // SAFETY: as above.
            unsafe {
                abi::envoy_dynamic_module_callback_listener_filter_set_requested_server_name(
                    filter_envoy,
                    ModuleBuffer::of(name.as_bytes()),
                )
            }
        }
    }
    log(LogLevel::Debug, &d.details);
}

/// # Safety
/// `filter_envoy` is live for the call.
unsafe fn close(filter_envoy: FilterEnvoyPtr, details: &str) {
    // SAFETY: the details buffer is live for the call; Envoy copies it.
    unsafe {
        abi::envoy_dynamic_module_callback_listener_filter_close_socket(
            filter_envoy,
            ModuleBuffer::of(details.as_bytes()),
        )
    }
}

/// Stand-ins for Envoy's callbacks so the hooks can be driven in unit tests: the "Envoy filter"
/// is a `FakeConnection` holding the peeked bytes and recording what the module did.
#[cfg(test)]
pub(crate) mod fake_envoy {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct FakeConnection {
        pub peeked: Vec<u8>,
        pub closed: Option<String>,
        pub metadata: BTreeMap<String, String>,
        pub server_name: Option<String>,
        pub transport: Option<String>,
        pub local_port: u32,
    }

    fn conn<'a>(p: FilterEnvoyPtr) -> &'a mut FakeConnection {
        // SAFETY: tests pass a pointer to a live FakeConnection.
        unsafe { &mut *p.cast::<FakeConnection>() }
    }
    fn text(b: ModuleBuffer) -> String {
        // SAFETY: the module passes live buffers.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(b.ptr, b.length) }).into()
    }

    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_get_buffer_chunk(
        f: FilterEnvoyPtr,
        out: *mut EnvoyBuffer,
    ) -> bool {
        let c = conn(f);
        // SAFETY: out is a valid pointer from the module.
        unsafe {
            *out = EnvoyBuffer {
                ptr: c.peeked.as_ptr(),
                length: c.peeked.len(),
            }
        };
        true
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_close_socket(
        f: FilterEnvoyPtr,
        details: ModuleBuffer,
    ) {
        conn(f).closed = Some(text(details));
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_set_dynamic_metadata_string(
        f: FilterEnvoyPtr,
        ns: ModuleBuffer,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) {
        let k = format!("{}:{}", text(ns), text(key));
        conn(f).metadata.insert(k, text(value));
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_set_requested_server_name(
        f: FilterEnvoyPtr,
        name: ModuleBuffer,
    ) {
        conn(f).server_name = Some(text(name));
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_set_detected_transport_protocol(
        f: FilterEnvoyPtr,
        p: ModuleBuffer,
    ) {
        conn(f).transport = Some(text(p));
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_listener_filter_get_local_address(
        f: FilterEnvoyPtr,
        addr: *mut EnvoyBuffer,
        port: *mut u32,
    ) -> bool {
        // SAFETY: valid out-pointers from the module.
        unsafe {
            *addr = EnvoyBuffer {
                ptr: b"127.0.0.1".as_ptr(),
                length: 9,
            };
            *port = conn(f).local_port;
        }
        true
    }
    #[no_mangle]
    extern "C" fn envoy_dynamic_module_callback_log(_level: LogLevel, _m: ModuleBuffer) {}
}

#[cfg(test)]
mod tests {
    use super::fake_envoy::FakeConnection;
    use super::*;

    fn buf(s: &[u8]) -> EnvoyBuffer {
        EnvoyBuffer {
            ptr: s.as_ptr(),
            length: s.len(),
        }
    }

    struct Module {
        config: ConfigModulePtr,
    }

    impl Module {
        fn new(json: &str) -> Option<Module> {
            // SAFETY: buffers are live for the call.
            let config = unsafe {
                envoy_dynamic_module_on_listener_filter_config_new(
                    std::ptr::null_mut(),
                    buf(b"hostgate"),
                    buf(json.as_bytes()),
                )
            };
            (!config.is_null()).then_some(Module { config })
        }

        /// Feeds `chunks` one after the other like successive peeks; returns the statuses.
        fn connect(&self, chunks: &[&[u8]], conn: &mut FakeConnection) -> Vec<Status> {
            let fe: FilterEnvoyPtr = (conn as *mut FakeConnection).cast();
            // SAFETY: the config is live; `fe` points at a live FakeConnection.
            unsafe {
                let f = envoy_dynamic_module_on_listener_filter_new(self.config, fe);
                assert!(!f.is_null());
                assert_eq!(
                    envoy_dynamic_module_on_listener_filter_on_accept(fe, f),
                    Status::StopIteration
                );
                assert!(envoy_dynamic_module_on_listener_filter_get_max_read_bytes(fe, f) > 0);
                let mut out = Vec::new();
                for c in chunks {
                    (*fe.cast::<FakeConnection>()).peeked.extend_from_slice(c);
                    let len = (*fe.cast::<FakeConnection>()).peeked.len();
                    out.push(envoy_dynamic_module_on_listener_filter_on_data(fe, f, len));
                }
                envoy_dynamic_module_on_listener_filter_destroy(f);
                out
            }
        }
    }

    impl Drop for Module {
        fn drop(&mut self) {
            // SAFETY: created by config_new, destroyed once.
            unsafe { envoy_dynamic_module_on_listener_filter_config_destroy(self.config) }
        }
    }

    const POLICY: &str =
        r#"{"policy": "allow allowed.test id ok-rule\ndeny denied.test id no-rule\n"}"#;

    #[test]
    fn allow_continues_with_metadata() {
        let m = Module::new(POLICY).unwrap();
        let mut c = FakeConnection {
            local_port: 80,
            ..Default::default()
        };
        let s = m.connect(
            &[b"GET / HTTP/1.1\r\nHo", b"st: allowed.test\r\n\r\n"],
            &mut c,
        );
        assert_eq!(s, [Status::StopIteration, Status::Continue]);
        assert_eq!(c.closed, None);
        assert_eq!(c.metadata["hostgate:verdict"], "allow");
        assert_eq!(c.metadata["hostgate:rule"], "ok-rule");
        assert_eq!(c.metadata["hostgate:name"], "allowed.test");
        assert_eq!(c.transport.as_deref(), Some("raw_buffer"));
    }

    #[test]
    fn deny_closes() {
        let m = Module::new(POLICY).unwrap();
        let mut c = FakeConnection::default();
        let s = m.connect(&[b"GET / HTTP/1.1\r\nHost: denied.test\r\n\r\n"], &mut c);
        assert_eq!(s, [Status::StopIteration]);
        assert!(c.closed.as_deref().unwrap().contains("no-rule"));
        assert_eq!(c.metadata["hostgate:verdict"], "deny");
        assert_eq!(c.metadata["hostgate:rule"], "no-rule");
        assert_eq!(c.transport, None);

        let mut c = FakeConnection::default();
        m.connect(&[b"\x00\x01garbage-bytes-here-more"], &mut c);
        assert!(c.closed.is_some());
        assert_eq!(c.metadata["hostgate:reason"], "no-name");
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(Module::new(r#"{"policy": "allow a..b\n"}"#).is_none());
        assert!(Module::new("{").is_none());
    }

    #[test]
    fn abi_version_is_nul_terminated() {
        let p = envoy_dynamic_module_on_program_init();
        // SAFETY: a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        assert_eq!(s.to_str().unwrap(), "v0.2.0");
    }
}
