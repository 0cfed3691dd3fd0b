//! Not a library: `cargo test` runs the README's ```rust blocks through this crate's docs, so
//! the usage example on the front page cannot drift from the API.
#![doc = include_str!("../../../README.md")]
