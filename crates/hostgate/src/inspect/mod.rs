//! Strict, incremental, zero-copy parsers that pull a destination name out of raw bytes.
