//! Suffix-hash matcher (stub).
