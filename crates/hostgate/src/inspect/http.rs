//! HTTP/1.x request head: the destination name and port, and where they came from (the Host
//! header, an absolute-form target, or a CONNECT authority).
//!
//! Strict where proxies have been fooled: two Host lines, `Host :`, obs-fold, NUL and other
//! control bytes, bare LF or CR, userinfo, and a Host that disagrees with an absolute-form or
//! CONNECT target are all refused ([`Malformed`]). The head must fit in
//! [`Limits::http_head`] bytes.
//!
//! ```
//! use hostgate::inspect::{http, Limits, Outcome};
//! use hostgate::Via;
//!
//! let req = b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n";
//! let Outcome::Complete(head) = http::parse_request_head(req, &Limits::default()) else {
//!     panic!()
//! };
//! assert_eq!(head.name.unwrap().as_str(), "api.example");
//! assert_eq!(head.port, Some(443));
//! assert_eq!(head.source.unwrap().via(), Via::Connect);
//! ```

use core::fmt;

use super::{Limits, Outcome};
use crate::name::{normalize_into, InvalidName, Name};
use crate::swar::{splat, zero_bytes};
use crate::verdict::Via;

/// Longest method token accepted; longer means "not HTTP" (registered methods are ≤ 17 bytes).
const MAX_METHOD_LEN: usize = 32;

/// Why a request head is refused. A refused request is denied.
///
/// ```
/// use hostgate::inspect::{http, Limits, Outcome};
/// let r = http::parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &Limits::default());
/// assert!(matches!(r, Outcome::Malformed(http::Malformed::DuplicateHost)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// No end of head within [`Limits::http_head`] bytes.
    TooLarge,
    /// A line ends with LF alone.
    BareLf,
    /// A NUL byte.
    Nul,
    /// Another control byte (CR alone, DEL, ...) in the request line or a header.
    ControlByte,
    /// A line starting with white space: obs-fold (RFC 9112 §5.2), or white space before the
    /// first header.
    ObsFold,
    /// White space between a header name and its colon (`Host :`, RFC 9112 §5.1).
    SpaceBeforeColon,
    /// A header line without a colon, or a header name that is not a token.
    BadHeader,
    /// The request line is not `method SP target SP version`.
    BadRequestLine,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// A request target that is not valid for its method.
    BadTarget,
    /// An absolute-form target with a scheme other than `http` or `https`.
    UnsupportedScheme,
    /// Userinfo (`user@`) in an authority.
    Userinfo,
    /// A port that is empty, zero, not decimal or over 65535.
    BadPort,
    /// A CONNECT authority without a port.
    MissingPort,
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2).
    MissingHost,
    /// Two Host header lines.
    DuplicateHost,
    /// The Host header names another destination than the absolute-form or CONNECT target.
    /// Egress must not let them disagree, so the request is refused.
    HostMismatch,
    /// The host is not a valid name or IP literal.
    InvalidName(InvalidName),
}

impl Malformed {
    /// The name error, when the request was refused because of its host.
    ///
    /// ```
    /// use hostgate::{inspect::http::Malformed, InvalidName};
    /// assert_eq!(Malformed::InvalidName(InvalidName::Empty).invalid_name(), Some(InvalidName::Empty));
    /// assert_eq!(Malformed::BareLf.invalid_name(), None);
    /// ```
    pub fn invalid_name(self) -> Option<InvalidName> {
        match self {
            Malformed::InvalidName(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Malformed::TooLarge => "request head larger than the configured cap",
            Malformed::BareLf => "line ends with a bare LF",
            Malformed::Nul => "NUL byte in the request head",
            Malformed::ControlByte => "control byte in the request head",
            Malformed::ObsFold => "line starts with white space (obs-fold)",
            Malformed::SpaceBeforeColon => "white space before a header colon",
            Malformed::BadHeader => "malformed header line",
            Malformed::BadRequestLine => "malformed request line",
            Malformed::UnsupportedVersion => "HTTP version other than 1.0 or 1.1",
            Malformed::BadTarget => "request target not valid for the method",
            Malformed::UnsupportedScheme => "absolute-form scheme other than http or https",
            Malformed::Userinfo => "userinfo in an authority",
            Malformed::BadPort => "bad port",
            Malformed::MissingPort => "CONNECT authority without a port",
            Malformed::MissingHost => "HTTP/1.1 request without Host",
            Malformed::DuplicateHost => "two Host headers",
            Malformed::HostMismatch => "Host header disagrees with the request target",
            Malformed::InvalidName(e) => return write!(f, "invalid host: {e}"),
        };
        f.write_str(s)
    }
}

/// The form of the request target (RFC 9112 §3.2).
///
/// ```
/// assert_ne!(hostgate::inspect::http::TargetForm::Origin, hostgate::inspect::http::TargetForm::Absolute);
/// ```
// Exhaustive on purpose: RFC 9112 defines exactly these four forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`
    Origin,
    /// `http://host[:port]/path`
    Absolute,
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// Where the name came from.
///
/// ```
/// use hostgate::{inspect::http::NameSource, Via};
/// assert_eq!(NameSource::Target.via(), Via::Http);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameSource {
    /// The Host header (origin- or asterisk-form).
    Host,
    /// The absolute-form request target (a forward-proxy request).
    Target,
    /// The CONNECT authority.
    Connect,
}

impl NameSource {
    /// The engine's source for this name: `Connect` for CONNECT, else `Http`.
    ///
    /// ```
    /// use hostgate::{inspect::http::NameSource, Via};
    /// assert_eq!(NameSource::Connect.via(), Via::Connect);
    /// ```
    pub fn via(self) -> Via {
        match self {
            NameSource::Connect => Via::Connect,
            NameSource::Host | NameSource::Target => Via::Http,
        }
    }
}

/// HTTP/1.0 or HTTP/1.1.
///
/// ```
/// assert!(hostgate::inspect::http::Version::Http10 < hostgate::inspect::http::Version::Http11);
/// ```
// Exhaustive on purpose: this parser reads HTTP/1 only, whose versions are these two; a
// later HTTP has its own framing and would be another parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// HTTP/1.0 (Host is optional).
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// A parsed request head.
///
/// ```
/// use hostgate::inspect::{http, Limits, Outcome};
/// let req = b"GET http://a.example:8080/x HTTP/1.1\r\nHost: a.example:8080\r\n\r\nbody";
/// let Outcome::Complete(h) = http::parse_request_head(req, &Limits::default()) else { panic!() };
/// assert_eq!((h.method, h.form, h.port), (&b"GET"[..], http::TargetForm::Absolute, Some(8080)));
/// assert_eq!(h.source, Some(http::NameSource::Target));
/// assert_eq!(h.len, req.len() - 4);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The method token.
    pub method: &'a [u8],
    /// The raw request target.
    pub target: &'a [u8],
    /// The target's form.
    pub form: TargetForm,
    /// The version.
    pub version: Version,
    /// The normalized destination. `Some` in [`Outcome::Complete`]; `None` in
    /// [`Outcome::NoName`] (HTTP/1.0 without Host, or an empty Host).
    pub name: Option<Name>,
    /// The destination port: the CONNECT port; the absolute-form port or its scheme's default
    /// (80, 443); the Host header's port; `None` when none is stated.
    pub port: Option<u16>,
    /// Where `name` came from.
    pub source: Option<NameSource>,
    /// The raw Host header value (white space trimmed), if any.
    pub host: Option<&'a [u8]>,
    /// The length of the head, through the empty line that ends it.
    pub len: usize,
}

/// RFC 9110 `tchar`, as a table: header names are checked byte by byte.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        b += 1;
    }
    t
};

#[inline]
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// The first `\n`, eight bytes at a time (SWAR): the head scan is the hot loop.
#[inline]
fn find_lf(hay: &[u8]) -> Option<usize> {
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Only the first flagged byte is certain, and only the first is wanted.
        let found = zero_bytes(u64::from_le_bytes(word) ^ splat(b'\n'));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| at + p)
}

/// Parses the HTTP/1.x request head at the start of `buf`.
///
/// - [`Outcome::NotThisProtocol`]: the buffer does not start with an uppercase method token
///   and a space (so a TLS or binary stream is handed on). Empty lines before the request line
///   are not skipped.
/// - [`Outcome::NeedMore`] until the empty line that ends the head arrives (`at_least` is
///   `None`: HTTP does not say); refused as [`Malformed::TooLarge`] once
///   [`Limits::http_head`] bytes are there without it. A line already complete is checked at
///   once, so a bad byte is refused without waiting for the rest.
/// - [`Outcome::NoName`]: HTTP/1.0 without Host, or an empty Host, with an origin-form target.
/// - [`Outcome::Complete`]: the name (see [`RequestHead`]).
///
/// ```
/// use hostgate::inspect::{http, Limits, Outcome};
/// let l = Limits::default();
/// assert!(matches!(http::parse_request_head(b"GET / HT", &l), Outcome::NeedMore { .. }));
/// assert!(matches!(http::parse_request_head(b"\x16\x03\x01", &l), Outcome::NotThisProtocol));
/// assert!(matches!(
///     http::parse_request_head(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", &l),
///     Outcome::Malformed(http::Malformed::SpaceBeforeColon)
/// ));
/// ```
pub fn parse_request_head<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Outcome<RequestHead<'a>, Malformed> {
    // The method decides whether this is HTTP at all.
    let Some(&first) = buf.first() else {
        return Outcome::NeedMore { at_least: None };
    };
    if !first.is_ascii_uppercase() {
        return Outcome::NotThisProtocol;
    }
    let mut method_len = None;
    for (i, &b) in buf.iter().enumerate().take(MAX_METHOD_LEN + 1) {
        if b == b' ' {
            method_len = Some(i);
            break;
        }
        if !is_tchar(b) || i == MAX_METHOD_LEN {
            return Outcome::NotThisProtocol;
        }
    }
    let Some(method_len) = method_len else {
        return Outcome::NeedMore { at_least: None };
    };
    match scan(buf, method_len, limits) {
        Ok(Some(raw)) => resolve(raw),
        Ok(None) => Outcome::NeedMore { at_least: None },
        Err(e) => Outcome::Malformed(e),
    }
}

/// The pieces of a syntactically valid head.
struct RawHead<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: Version,
    host: Option<&'a [u8]>,
    len: usize,
}

/// Checks each complete line; `Ok(None)` when the head has not ended yet.
fn scan<'a>(
    buf: &'a [u8],
    method_len: usize,
    limits: &Limits,
) -> Result<Option<RawHead<'a>>, Malformed> {
    let window = buf.get(..buf.len().min(limits.http_head)).unwrap_or(buf);
    let mut pos = 0usize;
    let mut request_line: Option<(&[u8], Version)> = None;
    let mut host: Option<&[u8]> = None;
    loop {
        let rest = window.get(pos..).unwrap_or(&[]);
        let Some(nl) = find_lf(rest) else {
            if buf.len() >= limits.http_head {
                return Err(Malformed::TooLarge);
            }
            // The partial line is not checked yet: its bytes may still be completed.
            return Ok(None);
        };
        debug_assert!(nl < rest.len(), "find_lf past the end");
        let line = rest.get(..nl).unwrap_or(&[]);
        let Some(line) = line.strip_suffix(b"\r") else {
            return Err(Malformed::BareLf);
        };
        pos += nl + 1;
        match request_line {
            None => {
                let target = request_line_target(line, method_len)?;
                request_line = Some(target);
            }
            Some((target, version)) => {
                if line.is_empty() {
                    return Ok(Some(RawHead {
                        method: buf.get(..method_len).unwrap_or(&[]),
                        target,
                        version,
                        host,
                        len: pos,
                    }));
                }
                if let Some(value) = header(line)? {
                    if host.is_some() {
                        return Err(Malformed::DuplicateHost);
                    }
                    host = Some(value);
                }
            }
        }
    }
}

/// Checks `method SP target SP HTTP/1.x`; returns the target and version.
fn request_line_target(line: &[u8], method_len: usize) -> Result<(&[u8], Version), Malformed> {
    check_bytes(line)?;
    let after_method = line
        .get(method_len + 1..)
        .ok_or(Malformed::BadRequestLine)?;
    // The version is the short last field: find its space from the end, then check the
    // whole target at once (a space inside it is refused there).
    let sp = after_method
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(Malformed::BadRequestLine)?;
    let (target, version) = after_method.split_at(sp);
    // `version` starts at the space found above.
    debug_assert_eq!(version.first(), Some(&b' '));
    let version = version.get(1..).unwrap_or(&[]);
    let graphic = target.iter().fold(true, |ok, &b| ok & b.is_ascii_graphic());
    if target.is_empty() || !graphic {
        return Err(Malformed::BadTarget);
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => return Err(Malformed::UnsupportedVersion),
        _ => return Err(Malformed::BadRequestLine),
    };
    Ok((target, version))
}

/// NUL and control bytes other than HTAB are refused anywhere in the head.
#[inline]
fn check_bytes(line: &[u8]) -> Result<(), Malformed> {
    // Branch-free over the whole line; the slow loop only runs to name the error.
    let bad = line.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    });
    if !bad {
        return Ok(());
    }
    for &b in line {
        if b < 0x20 || b == 0x7f {
            return Err(match b {
                0 => Malformed::Nul,
                b'\t' => continue,
                _ => Malformed::ControlByte,
            });
        }
    }
    Ok(())
}

/// Checks one header line; returns the trimmed value when it is Host.
fn header(line: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(Malformed::ObsFold);
    }
    check_bytes(line)?;
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Malformed::BadHeader)?;
    let (name, value) = line.split_at(colon);
    if matches!(name.last(), Some(b' ' | b'\t')) {
        return Err(Malformed::SpaceBeforeColon);
    }
    // Branch-free: header names are short and almost always valid.
    if name.is_empty() || !name.iter().fold(true, |ok, &b| ok & is_tchar(b)) {
        return Err(Malformed::BadHeader);
    }
    if !name.eq_ignore_ascii_case(b"host") {
        return Ok(None);
    }
    // `value` starts at the colon found above.
    debug_assert_eq!(value.first(), Some(&b':'));
    let value = value.get(1..).unwrap_or(&[]);
    Ok(Some(value.trim_ascii()))
}

/// Turns a syntactically valid head into the destination. Names are normalized once, straight
/// into the result (a `Name` is large: copies show up in profiles).
fn resolve(raw: RawHead<'_>) -> Outcome<RequestHead<'_>, Malformed> {
    let (form, dest) = match destination(&raw) {
        Ok(d) => d,
        Err(e) => return Outcome::Malformed(e),
    };
    let mut head = RequestHead {
        method: raw.method,
        target: raw.target,
        form,
        version: raw.version,
        name: None,
        port: None,
        source: None,
        host: raw.host,
        len: raw.len,
    };
    let Some(dest) = dest else {
        return Outcome::NoName(Some(head));
    };
    head.port = dest.port;
    head.source = Some(dest.source);
    // The name is normalized in place, into the result, and `out` is returned from one place
    // only, so the large `Name` is never moved.
    let mut out = Outcome::Complete(RequestHead {
        name: Some(Name::empty()),
        ..head
    });
    if let Outcome::Complete(RequestHead {
        name: Some(name), ..
    }) = &mut out
    {
        if let Err(e) = fill_name(name, &dest) {
            out = Outcome::Malformed(e);
        }
    }
    out
}

/// Normalizes the destination into `name` and checks that the Host header, when it must be
/// compared, names the same destination.
fn fill_name(name: &mut Name, dest: &Dest<'_>) -> Result<(), Malformed> {
    normalize_host_into(dest.host, name).map_err(Malformed::InvalidName)?;
    let Some(check) = dest.check else {
        return Ok(());
    };
    if check.port.is_some_and(|p| Some(p) != dest.port) {
        return Err(Malformed::HostMismatch);
    }
    // Equal bytes up to ASCII case normalize to the same name: the second normalization is
    // only needed when they differ.
    if check.host.eq_ignore_ascii_case(dest.host) {
        return Ok(());
    }
    let mut host = Name::empty();
    normalize_host_into(check.host, &mut host).map_err(Malformed::InvalidName)?;
    if host != *name {
        return Err(Malformed::HostMismatch);
    }
    Ok(())
}

/// Where the name is, before normalization.
struct Dest<'a> {
    host: &'a [u8],
    port: Option<u16>,
    source: NameSource,
    /// The Host header to compare with, for a target that names the destination itself.
    check: Option<Authority<'a>>,
}

/// An authority split into host and port; the host is not normalized yet.
#[derive(Clone, Copy)]
struct Authority<'a> {
    host: &'a [u8],
    port: Option<u16>,
}

fn destination<'a>(raw: &RawHead<'a>) -> Result<(TargetForm, Option<Dest<'a>>), Malformed> {
    if raw.version == Version::Http11 && raw.host.is_none() {
        return Err(Malformed::MissingHost);
    }
    let host = match raw.host {
        Some(h) if !h.is_empty() => Some(split_authority(h)?),
        // RFC 9112 §3.2: a target with an authority needs that authority in Host, not an empty
        // Host; refused like any other disagreement.
        Some(_)
            if raw.method == b"CONNECT"
                || raw.target.first() != Some(&b'/') && raw.target != b"*" =>
        {
            return Err(Malformed::HostMismatch)
        }
        _ => None,
    };
    let from_host = |h: Option<Authority<'a>>| {
        h.map(|h| Dest {
            host: h.host,
            port: h.port,
            source: NameSource::Host,
            check: None,
        })
    };
    if raw.method == b"CONNECT" {
        let target = split_authority(raw.target)?;
        let port = target.port.ok_or(Malformed::MissingPort)?;
        // A Host without a port means the CONNECT port.
        let check = host.map(|h| Authority {
            host: h.host,
            port: Some(h.port.unwrap_or(port)),
        });
        let dest = Dest {
            host: target.host,
            port: Some(port),
            source: NameSource::Connect,
            check,
        };
        return Ok((TargetForm::Authority, Some(dest)));
    }
    if raw.target.first() == Some(&b'/') {
        return Ok((TargetForm::Origin, from_host(host)));
    }
    if raw.target == b"*" {
        if raw.method != b"OPTIONS" {
            return Err(Malformed::BadTarget);
        }
        return Ok((TargetForm::Asterisk, from_host(host)));
    }
    let sep = raw
        .target
        .windows(3)
        .position(|w| w == b"://")
        .ok_or(Malformed::BadTarget)?;
    let (scheme, rest) = raw.target.split_at(sep);
    let default_port = if scheme.eq_ignore_ascii_case(b"http") {
        80
    } else if scheme.eq_ignore_ascii_case(b"https") {
        443
    } else {
        return Err(Malformed::UnsupportedScheme);
    };
    let rest = rest.get(3..).unwrap_or(&[]);
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let target = split_authority(rest.get(..end).unwrap_or(&[]))?;
    // Host without a port means the scheme's default port.
    let check = host.map(|h| Authority {
        host: h.host,
        port: Some(h.port.unwrap_or(default_port)),
    });
    let dest = Dest {
        host: target.host,
        port: Some(target.port.unwrap_or(default_port)),
        source: NameSource::Target,
        check,
    };
    Ok((TargetForm::Absolute, Some(dest)))
}

/// A Host is ASCII (RFC 3986 reg-name): non-ASCII is refused, not IDNA-converted.
fn normalize_host_into(host: &[u8], out: &mut Name) -> Result<(), InvalidName> {
    if !host.is_ascii() {
        return Err(InvalidName::BadCharacter);
    }
    normalize_into(host, out)
}

/// `host[:port]` or `[v6][:port]`; userinfo is refused.
fn split_authority(auth: &[u8]) -> Result<Authority<'_>, Malformed> {
    // Branch-free folds, no memchr call: authorities are short and this runs on every request.
    if auth.iter().fold(false, |seen, &b| seen | (b == b'@')) {
        return Err(Malformed::Userinfo);
    }
    let (host, port) = if auth.first() == Some(&b'[') {
        let close = auth
            .iter()
            .position(|&b| b == b']')
            .ok_or(Malformed::InvalidName(InvalidName::BadIpLiteral))?;
        let (host, rest) = auth.split_at(close + 1);
        match rest {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return Err(Malformed::InvalidName(InvalidName::BadIpLiteral)),
        }
    } else {
        // The port is short: look for its colon from the end.
        match auth.iter().rposition(|&b| b == b':') {
            Some(c) => {
                let (host, port) = auth.split_at(c);
                let port = port.get(1..).unwrap_or(&[]);
                if host.iter().fold(false, |seen, &b| seen | (b == b':')) {
                    // An unbracketed IPv6 address, or garbage: never guess where the port is.
                    return Err(Malformed::InvalidName(InvalidName::BadIpLiteral));
                }
                (host, Some(port))
            }
            None => (auth, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok(Authority { host, port })
}

fn parse_port(p: &[u8]) -> Result<u16, Malformed> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::BadPort);
    }
    let v = p
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    match u16::try_from(v) {
        Ok(0) | Err(_) => Err(Malformed::BadPort),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::find_lf;

    #[test]
    fn find_lf_matches_a_plain_search() {
        let mut buf = vec![b'a'; 40];
        assert_eq!(find_lf(&buf), None);
        for at in 0..40 {
            buf[at] = b'\n';
            for start in 0..=at {
                let want = buf[start..].iter().position(|&b| b == b'\n');
                assert_eq!(find_lf(&buf[start..]), want, "{at} {start}");
            }
            buf[at] = 0x8a; // a high byte must not look like LF
        }
        assert_eq!(find_lf(&buf), None);
    }
}
