//! What `check` and `explain` print about one name: the JSON record and the text pieces.

use std::borrow::Cow;
use std::io;

use hostgate::{normalize, InvalidName, Name, NameKind, Verdict};
use serde::Serialize;

use crate::Failure;

/// The normalized form of a query, from the library's one normalization function.
pub struct Normalized(pub Result<Name, InvalidName>);

impl Normalized {
    pub fn of(input: &[u8]) -> Self {
        Normalized(normalize(input))
    }

    pub fn text(&self) -> Option<&str> {
        self.0.as_ref().ok().map(Name::as_str)
    }

    /// `name`, `ip` or `invalid`, as in the JSON `kind` field.
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Ok(n) => match n.kind() {
                NameKind::Name => "name",
                NameKind::Ip(_) => "ip",
                _ => "unknown",
            },
            Err(_) => "invalid",
        }
    }
}

/// One line of `check --format json`; field order is the documented order.
#[derive(Serialize)]
pub struct Record<'a> {
    pub name: Cow<'a, str>,
    pub normalized: Option<&'a str>,
    pub kind: &'static str,
    pub verdict: &'static str,
    pub reason: &'static str,
    pub policy: &'a str,
    pub rule: Option<String>,
    pub line: Option<u32>,
}

impl<'a> Record<'a> {
    pub fn new(
        input: &'a [u8],
        normalized: &'a Normalized,
        verdict: &Verdict<'a>,
        policy: &'a str,
    ) -> Self {
        Record {
            // Names are bytes; a non-UTF-8 one (always invalid) is shown with U+FFFD.
            name: String::from_utf8_lossy(input),
            normalized: normalized.text(),
            kind: normalized.kind(),
            verdict: verdict.action.as_str(),
            reason: verdict.reason.as_str(),
            policy,
            rule: verdict.rule.map(|r| r.id().to_string()),
            line: verdict.rule.map(|r| r.line()),
        }
    }
}

/// The input as text safe for a terminal: control characters escaped, so a hostile name list
/// cannot move the cursor or recolour the screen.
pub fn display_name(input: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(input);
    let mut out = String::with_capacity(lossy.len());
    for c in lossy.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `input` plus its normalized form when that differs (`API.Leng.COM. (api.leng.com)`).
pub fn name_with_normalized(input: &[u8], normalized: &Normalized) -> String {
    let shown = display_name(input);
    match normalized.text() {
        Some(n) if n != shown => format!("{shown} ({n})"),
        _ => shown,
    }
}

/// A write error on stdout. A closed pipe (`hostgate check … | head`) means the reader has
/// what it wanted, so it ends the run quietly and successfully.
pub fn write_failed(e: io::Error) -> Result<(), Failure> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::msg(format!("cannot write output: {e}")))
    }
}
