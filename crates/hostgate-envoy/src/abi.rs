//! The part of Envoy's dynamic-module C ABI this module uses, declared by hand.
//!
//! Matched against Envoy 1.40.0 (`envoy --version`: 9e5580933739775e8bce696a57a2e1bc99368f23,
//! ABI version string `v0.2.0`): the hook names and argument lists follow
//! `source/extensions/dynamic_modules/abi/abi.h` and the listener filter's
//! `filter.cc`/`filter_config.cc`; the callbacks' argument registers were checked against the
//! exported symbols of the 1.40.0 binary. Only x86-64/aarch64 Linux is targeted: a two-word
//! struct passed by value travels in two registers there, exactly like Envoy's C structs.

use std::ffi::c_void;

/// The ABI version this module was written against; returned from `on_program_init`.
/// Envoy 1.40 only warns when it differs.
pub const ABI_VERSION: &[u8] = b"v0.2.0\0";

/// Envoy's pointer to its listener filter config object (opaque).
pub type ConfigEnvoyPtr = *mut c_void;
/// Our pointer to the module's listener filter config (an `Arc<Config>` turned into a raw
/// pointer).
pub type ConfigModulePtr = *const c_void;
/// Envoy's pointer to one listener filter (one accepted connection).
pub type FilterEnvoyPtr = *mut c_void;
/// Our pointer to one per-connection filter (a `Box<Filter>`).
pub type FilterModulePtr = *mut c_void;

/// Bytes owned by Envoy, valid for the duration of the call that hands them out.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

/// Bytes owned by the module, read by Envoy during the call only.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

impl ModuleBuffer {
    pub fn of(s: &[u8]) -> Self {
        ModuleBuffer {
            ptr: s.as_ptr(),
            length: s.len(),
        }
    }
}

/// What a listener filter hook tells Envoy: go on to the next filter (and the filter chain),
/// or stop here (wait for more bytes, or the socket was closed).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // Continue is built by Envoy's enum; we return both.
pub enum Status {
    Continue = 0,
    StopIteration = 1,
}

/// Envoy's log levels (spdlog's order).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

// Callbacks Envoy exports from its own binary; resolved when Envoy dlopens the module. The test
// build supplies fakes with the same names (see `hooks::fake_envoy`).
extern "C" {
    /// Points `out` at the bytes peeked so far; false outside `on_data`.
    pub fn envoy_dynamic_module_callback_listener_filter_get_buffer_chunk(
        filter: FilterEnvoyPtr,
        out: *mut EnvoyBuffer,
    ) -> bool;
    /// Closes the accepted socket; `details` becomes the connection termination details.
    pub fn envoy_dynamic_module_callback_listener_filter_close_socket(
        filter: FilterEnvoyPtr,
        details: ModuleBuffer,
    );
    /// Sets one string value in the connection's dynamic metadata under `namespace`.
    pub fn envoy_dynamic_module_callback_listener_filter_set_dynamic_metadata_string(
        filter: FilterEnvoyPtr,
        namespace: ModuleBuffer,
        key: ModuleBuffer,
        value: ModuleBuffer,
    );
    /// Sets the requested server name (as the TLS inspector would) for filter chain matching.
    pub fn envoy_dynamic_module_callback_listener_filter_set_requested_server_name(
        filter: FilterEnvoyPtr,
        name: ModuleBuffer,
    );
    /// Sets the detected transport protocol (`tls` / `raw_buffer`) for filter chain matching.
    pub fn envoy_dynamic_module_callback_listener_filter_set_detected_transport_protocol(
        filter: FilterEnvoyPtr,
        protocol: ModuleBuffer,
    );
    /// The local (destination) address of the accepted socket: address text and port.
    pub fn envoy_dynamic_module_callback_listener_filter_get_local_address(
        filter: FilterEnvoyPtr,
        address_out: *mut EnvoyBuffer,
        port_out: *mut u32,
    ) -> bool;
    /// Writes one message to Envoy's `dynamic_modules` logger.
    pub fn envoy_dynamic_module_callback_log(level: LogLevel, message: ModuleBuffer);
}
