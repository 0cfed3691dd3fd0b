//! `hostgate::inspect`: the TLS ClientHello, HTTP/1 request-head and DNS question parsers, and
//! `Engine::inspect_check` from bytes to verdict. One test binary, one module per angle:
//!
//! - `fixtures`: captured real-client traffic gives what each client was told to send;
//! - `edge_cases`: each refusal and rule of `docs/inspect.md`, on hand-built bytes;
//! - `robustness`: arbitrary and mutated bytes never panic and a decision never changes as more
//!   bytes arrive;
//! - `differential`: generated ClientHellos against tls-parser;
//! - `engine`: the verdict follows the protocol's source, and every failure is denied.
//! - `quic`: QUIC Initials (RFC example packets, packets protected here), reassembly and caps.
//!
//! That no parse path allocates is in `allocation.rs`, beside the lookups.

mod common;
mod differential;
mod edge_cases;
mod engine;
mod fixtures;
mod quic;
mod robustness;
