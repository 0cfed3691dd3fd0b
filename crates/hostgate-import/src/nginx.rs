//! nginx `nginx.conf`: which names a `stream` server that reads the TLS SNI
//! (`ssl_preread on`) or an `http` server passes to an upstream, as ordered hostgate rules.
//!
//! A name's path through nginx is two lookups of the same kind: the `server_name` selection
//! of an `http` port, and `map` blocks with `hostnames`. Both order their keys the same way
//! (exact, longest leading wildcard, longest trailing wildcard, first regex, default), so
//! both are written as first-match rules in that order. A server decides by a constant action
//! (it proxies, or it returns/denies) or by the value of one map on the name.

mod lex;

use std::collections::{BTreeMap, HashMap, HashSet};

use hostgate::{Action, EngineBuilder, PolicySpec, Precedence, RuleSpec, Via};

use crate::kube::Cx;
use crate::{Options, Read, RuleSource};
use lex::{Directive, Tok};

/// Deepest `include` nesting.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Most files one glob may name.
const MAX_GLOB_FILES: usize = 4096;

/// A position in one of the files read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pos {
    file: String,
    line: u32,
    column: u32,
}

impl Pos {
    fn of(d: &Directive, t: &Tok) -> Pos {
        Pos {
            file: d.file.clone(),
            line: t.line,
            column: t.column,
        }
    }
}

fn err(cx: &mut Cx, at: &Pos, message: impl Into<String>) {
    cx.file.clone_from(&at.file);
    cx.err_at(at.line, at.column, message);
}

fn warn(cx: &mut Cx, at: &Pos, message: impl Into<String>) {
    cx.file.clone_from(&at.file);
    cx.warn_at(at.line, at.column, message);
}

/// One key of a `server_name` or of a `map` with `hostnames`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    /// `a.b`.
    Exact(String),
    /// `*.b` (one or more labels before `b`), or `.b` (`b` itself as an exact key too).
    Lead { suffix: String, apex: bool },
    /// `a.*` (one or more labels after `a`).
    Trail(String),
    /// `~re` (case-sensitive) or `~*re`, searched anywhere in the name.
    Regex { re: String, caseless: bool },
}

/// A key and what it leads to (a map value, or a server's index).
#[derive(Clone, Debug)]
struct Entry<T> {
    key: Key,
    to: T,
    at: Pos,
}

/// Where the name a `map` looks up comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `$host`: lowercased, without port or trailing dot.
    Host,
    /// `$http_host`: the Host header as sent.
    HttpHost,
    /// `$ssl_preread_server_name`: the SNI as sent.
    Sni,
}

struct Map {
    /// In `stream` (else `http`): each has its own variables.
    stream: bool,
    source: Source,
    /// The variable it sets, without `$`.
    target: String,
    entries: Vec<Entry<String>>,
    default: String,
    /// `hostnames`: wildcard keys, and one trailing dot removed before any key is tried.
    hostnames: bool,
    at: Pos,
}

impl Map {
    /// The value for an empty name (no SNI: what ssl_preread gives a connection that is not
    /// TLS): regexes are not tried on an empty value.
    fn empty_value(&self) -> &str {
        self.entries
            .iter()
            .find(|e| e.key == Key::Exact(String::new()))
            .map_or(self.default.as_str(), |e| e.to.as_str())
    }
}

/// A test of an `if (…)` on a map's variable.
#[derive(Clone, Debug)]
enum Cond {
    Eq(String),
    Ne(String),
    True,
    False,
}

impl Cond {
    fn holds(&self, v: &str) -> bool {
        let truthy = !v.is_empty() && v != "0";
        match self {
            Cond::Eq(x) => v == x,
            Cond::Ne(x) => v != x,
            Cond::True => truthy,
            Cond::False => !truthy,
        }
    }
}

/// What a server does with a connection or request.
#[derive(Clone, Debug)]
enum Decision {
    Const(Action, Pos),
    /// By the value of map `map`: a `stream` `proxy_pass $v` (an empty value closes the
    /// connection), or an `http` server's `if` tests (deny when one holds, else `base`).
    Map {
        map: usize,
        conds: Vec<Cond>,
        base: Action,
        stream: bool,
        at: Pos,
    },
}

#[derive(Clone, Debug)]
struct Listen {
    addr: String,
    port: u16,
    default: bool,
    at: Pos,
}

struct Server {
    at: Pos,
    stream: bool,
    preread: bool,
    listens: Vec<Listen>,
    names: Vec<Entry<()>>,
    decision: Decision,
    /// The `proxy_pass` destinations of a server that passes every name, for [`chain`].
    targets: Vec<(String, Pos)>,
}

#[derive(Default)]
struct Conf {
    maps: Vec<Map>,
    servers: Vec<Server>,
    /// `upstream` blocks: in `stream`?, name, their servers' addresses.
    upstreams: Vec<(bool, String, Vec<String>)>,
}

/// Where included files come from.
struct Src<'a> {
    files: &'a [(&'a str, &'a [u8])],
    options: &'a Options,
    /// The directory relative `include` paths are taken from: the main file's.
    prefix: String,
}

/// The format's reader: `files[0]` is nginx.conf; the others are available to `include` by
/// name.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], options: &Options) -> Read {
    let mut out = Read::new(Action::Deny);
    out.precedence = Precedence::FirstMatch;
    let Some(&(main, bytes)) = files.first() else {
        return out;
    };
    let src = Src {
        files,
        options,
        prefix: main
            .rfind('/')
            .map_or(String::new(), |i| main[..i].to_string()),
    };
    let mut stack = Vec::new();
    let Some(top) = read_file(cx, &src, main, bytes, &mut stack) else {
        return out;
    };
    let mut conf = Conf::default();
    main_context(cx, &mut conf, &top);
    if !cx.errors.is_empty() {
        return out;
    }
    let rules = compile(cx, &conf);
    let mut counts: HashMap<(String, u32), usize> = HashMap::new();
    for r in rules {
        let base = id_base(&r.at.file);
        let n = counts.entry((base.clone(), r.at.line)).or_insert(0);
        let mut spec = RuleSpec::new(r.action, r.pattern);
        spec.received = r.received;
        spec.ports = vec![(r.port, r.port)];
        spec.via = r.via;
        spec.id = Some(format!("{base}:{}:{n}", r.at.line));
        spec.line = r.at.line;
        *n += 1;
        out.rules.push(spec);
        out.sources.push(RuleSource {
            file: r.at.file.clone(),
            line: r.at.line,
            column: r.at.column,
            object: r.object,
        });
    }
    let mut said = HashSet::new();
    cx.errors
        .retain(|e| said.insert((e.file.clone(), e.line, e.column, e.message.clone())));
    let mut said = HashSet::new();
    cx.warnings
        .retain(|w| said.insert((w.file.clone(), w.line, w.column, w.message.clone())));
    out
}

/// A file name as an id prefix (ids are one word).
fn id_base(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "nginx".into()
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Files and includes

/// `path` as nginx resolves it: relative to the main configuration's directory, with `.`
/// and `..` folded.
fn resolve(prefix: &str, path: &str) -> String {
    let joined = if path.starts_with('/') || prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "." => {}
            ".." if parts.last().is_some_and(|l| !l.is_empty() && *l != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Whether `name` matches one path component of a glob (`*`, `?`, `[…]`, `[!…]`); as
/// glob(3), a leading `.` is matched only by a literal `.`.
fn glob_component(pat: &[char], name: &[char]) -> bool {
    if name.first() == Some(&'.') && pat.first() != Some(&'.') {
        return false;
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(&c) = n.first() else { return false };
                let mut i = 1;
                let negate = matches!(p.get(1), Some('!' | '^'));
                if negate {
                    i += 1;
                }
                let mut hit = false;
                let mut first = true;
                while i < p.len() && (first || p[i] != ']') {
                    first = false;
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        hit |= p[i] <= c && c <= p[i + 2];
                        i += 3;
                    } else {
                        hit |= p[i] == c;
                        i += 1;
                    }
                }
                if i >= p.len() {
                    // No closing `]`: the `[` is literal.
                    return c == '[' && go(&p[1..], &n[1..]);
                }
                hit != negate && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pat, name)
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let n: Vec<&str> = path.split('/').collect();
    p.len() == n.len()
        && p.iter().zip(&n).all(|(a, b)| {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            glob_component(&a, &b)
        })
}

/// The files a glob names on the filesystem.
fn glob_fs(pattern: &str) -> Vec<String> {
    let mut found = vec![if pattern.starts_with('/') {
        String::new()
    } else {
        ".".to_string()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &found {
            let base = if dir.is_empty() { "/" } else { dir.as_str() };
            let join = |name: &str| {
                if dir.is_empty() {
                    format!("/{name}")
                } else if dir == "." && !pattern.starts_with("./") {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                }
            };
            if !is_glob(part) {
                next.push(join(part));
                continue;
            }
            let pat: Vec<char> = part.chars().collect();
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| glob_component(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            for n in names {
                let p = join(&n);
                if last || std::path::Path::new(&p).is_dir() {
                    next.push(p);
                }
            }
            if next.len() > MAX_GLOB_FILES {
                break;
            }
        }
        found = next;
    }
    found.retain(|p| std::path::Path::new(p).is_file());
    found
}

/// The bytes of a file: one of those given, else (unless sandboxed) the filesystem.
fn open(src: &Src<'_>, path: &str) -> Result<Vec<u8>, String> {
    if let Some((_, b)) = src.files.iter().find(|(n, _)| *n == path) {
        return Ok(b.to_vec());
    }
    if src.options.sandboxed {
        return Err("not among the files given (reading files is turned off)".into());
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// One file's directives, with its `include`s expanded in place.
fn read_file(
    cx: &mut Cx,
    src: &Src<'_>,
    name: &str,
    bytes: &[u8],
    stack: &mut Vec<String>,
) -> Option<Vec<Directive>> {
    cx.file = name.to_string();
    let parsed = lex::utf8(bytes).and_then(|text| lex::parse(name, text));
    let dirs = match parsed {
        Ok(d) => d,
        Err(e) => {
            cx.file = name.to_string();
            cx.err_at(e.line, e.column, e.message);
            return None;
        }
    };
    stack.push(name.to_string());
    let out = expand(cx, src, dirs, stack);
    stack.pop();
    Some(out)
}

fn expand(
    cx: &mut Cx,
    src: &Src<'_>,
    dirs: Vec<Directive>,
    stack: &mut Vec<String>,
) -> Vec<Directive> {
    let mut out = Vec::new();
    for mut d in dirs {
        if d.name.text != "include" {
            if let Some(block) = d.block.take() {
                d.block = Some(expand(cx, src, block, stack));
            }
            out.push(d);
            continue;
        }
        let at = Pos::of(&d, &d.name);
        if d.block.is_some() || d.args.len() != 1 {
            err(cx, &at, "`include` takes one file name");
            continue;
        }
        let arg = &d.args[0];
        let at = Pos::of(&d, arg);
        let path = resolve(&src.prefix, &arg.text);
        let names: Vec<String> = if is_glob(&path) {
            let mut names: Vec<String> = src
                .files
                .iter()
                .map(|(n, _)| (*n).to_string())
                .filter(|n| glob_match(&path, n))
                .collect();
            if !src.options.sandboxed {
                names.extend(glob_fs(&path));
            }
            names.sort();
            names.dedup();
            names
        } else {
            vec![path.clone()]
        };
        if names.len() > MAX_GLOB_FILES {
            err(
                cx,
                &at,
                format!("`include {path}` names more than {MAX_GLOB_FILES} files"),
            );
            continue;
        }
        for n in names {
            if stack.contains(&n) {
                err(
                    cx,
                    &at,
                    format!("`include {n}`: that file is being read already"),
                );
                continue;
            }
            if stack.len() >= MAX_INCLUDE_DEPTH {
                err(
                    cx,
                    &at,
                    format!("`include` nested deeper than {MAX_INCLUDE_DEPTH}"),
                );
                continue;
            }
            match open(src, &n) {
                Ok(bytes) => {
                    if let Some(inner) = read_file(cx, src, &n, &bytes, stack) {
                        out.extend(inner);
                    }
                }
                Err(e) => err(cx, &at, format!("include `{n}`: {e}")),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Contexts

fn name_at(d: &Directive) -> Pos {
    Pos::of(d, &d.name)
}

/// Directives of the main context that take no part in the decision by name.
const MAIN_IGNORED: &[&str] = &[
    "user",
    "worker_processes",
    "pid",
    "error_log",
    "load_module",
    "worker_rlimit_nofile",
    "worker_rlimit_core",
    "worker_priority",
    "worker_cpu_affinity",
    "worker_shutdown_timeout",
    "pcre_jit",
    "daemon",
    "master_process",
    "env",
    "thread_pool",
    "timer_resolution",
    "lock_file",
    "working_directory",
    "ssl_engine",
    "debug_points",
    "events",
];

fn main_context(cx: &mut Cx, conf: &mut Conf, dirs: &[Directive]) {
    let mut seen_http = false;
    let mut seen_stream = false;
    for d in dirs {
        let name = d.name.text.as_str();
        match (name, &d.block) {
            ("http", Some(b)) if !seen_http => {
                seen_http = true;
                context(cx, conf, b, false);
            }
            ("stream", Some(b)) if !seen_stream => {
                seen_stream = true;
                context(cx, conf, b, true);
            }
            ("http" | "stream", Some(_)) => {
                err(cx, &name_at(d), format!("`{name}` directive is duplicate"))
            }
            ("mail", Some(_)) => warn(
                cx,
                &name_at(d),
                "`mail`: the mail proxy does not decide by a host name; not read",
            ),
            (n, _) if MAIN_IGNORED.contains(&n) => {}
            _ => err(cx, &name_at(d), unknown(name, "the main context")),
        }
    }
}

fn unknown(name: &str, context: &str) -> String {
    format!(
        "`{name}` in {context} is not read by the nginx importer (it could change what is allowed)"
    )
}

/// Whether a directive of the `http`/`stream`/`server`/`location` contexts takes no part in
/// the decision by name (logging, buffers, timeouts, TLS and header settings, MIME types).
fn ignored(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "sendfile",
        "tcp_nopush",
        "tcp_nodelay",
        "types",
        "default_type",
        "access_log",
        "error_log",
        "log_format",
        "log_subrequest",
        "open_log_file_cache",
        "server_tokens",
        "charset",
        "charset_types",
        "source_charset",
        "override_charset",
        "add_header",
        "add_trailer",
        "expires",
        "etag",
        "error_page",
        "recursive_error_pages",
        "resolver",
        "resolver_timeout",
        "variables_hash_max_size",
        "variables_hash_bucket_size",
        "types_hash_max_size",
        "types_hash_bucket_size",
        "map_hash_max_size",
        "map_hash_bucket_size",
        "server_names_hash_max_size",
        "server_names_hash_bucket_size",
        "server_name_in_redirect",
        "port_in_redirect",
        "absolute_redirect",
        "msie_padding",
        "msie_refresh",
        "reset_timedout_connection",
        "lingering_close",
        "lingering_time",
        "lingering_timeout",
        "send_lowat",
        "postpone_output",
        "chunked_transfer_encoding",
        "underscores_in_headers",
        "ignore_invalid_headers",
        "merge_slashes",
        "large_client_header_buffers",
        "output_buffers",
        "aio",
        "directio",
        "read_ahead",
        "http2",
        "http2_max_concurrent_streams",
        "keepalive_requests",
        "keepalive_time",
        "keepalive_disable",
        "preread_buffer_size",
        "preread_timeout",
        "proxy_protocol_timeout",
        "variables_hash_max_size",
        "real_ip_header",
        "set_real_ip_from",
        "real_ip_recursive",
        "upstream",
        "index",
        "autoindex",
        "uninitialized_variable_warn",
        "status_zone",
    ];
    const PREFIX: &[&str] = &[
        "ssl_",
        "gzip",
        "proxy_",
        "client_",
        "keepalive_",
        "send_",
        "open_file_cache",
        "grpc_",
        "fastcgi_",
        "uwsgi_",
        "scgi_",
        "log_",
    ];
    // `proxy_pass` decides; every other `proxy_*` setting shapes how the upstream is reached.
    name != "proxy_pass"
        && name != "fastcgi_pass"
        && name != "uwsgi_pass"
        && name != "scgi_pass"
        && name != "grpc_pass"
        && (EXACT.contains(&name) || PREFIX.iter().any(|p| name.starts_with(p)))
}

/// The `http` or `stream` context: maps, upstreams and servers.
fn context(cx: &mut Cx, conf: &mut Conf, dirs: &[Directive], stream: bool) {
    let what = if stream { "`stream`" } else { "`http`" };
    // Maps first: nginx defines a map's variable wherever the map is written.
    for d in dirs {
        if d.name.text == "map" {
            read_map(cx, conf, d, stream);
        }
    }
    // `allow`/`deny` here are inherited by every server without its own.
    let access: Vec<&Directive> = dirs
        .iter()
        .filter(|d| matches!(d.name.text.as_str(), "allow" | "deny") && d.block.is_none())
        .collect();
    for d in dirs {
        let name = d.name.text.as_str();
        match (name, &d.block) {
            ("map", _) => {}
            ("server", Some(b)) => read_server(cx, conf, d, b, stream, &access),
            ("upstream", Some(b)) => {
                let name = d.args.first().map_or(String::new(), |a| a.text.clone());
                let servers = b
                    .iter()
                    .filter(|x| x.name.text == "server")
                    .filter_map(|x| x.args.first().map(|a| a.text.clone()))
                    .collect();
                conf.upstreams.push((stream, name, servers));
            }
            ("geo" | "split_clients" | "geoip_country" | "geoip_city" | "geoip_org", _) => warn(
                cx,
                &name_at(d),
                format!("`{name}` sets a variable from the client's address or at random: not reproduced; a server that decides by it is refused"),
            ),
            ("allow" | "deny", None) => {}
            (n, _) if ignored(n) => {}
            _ => err(cx, &name_at(d), unknown(name, what)),
        }
    }
}

/// The variable name of `$name` (or `${name}`), if the word is one variable.
fn variable(word: &str) -> Option<&str> {
    let v = word.strip_prefix('$')?;
    let v = v
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(v);
    (!v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(v)
}

/// The variables a word names.
fn variables(word: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let (name, next) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(j) => (&b[..j], &b[j + 1..]),
                None => (b, ""),
            }
        } else {
            let j = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..j], &after[j..])
        };
        if !name.is_empty() {
            out.push(name.to_string());
        }
        rest = next;
    }
    out
}

fn read_map(cx: &mut Cx, conf: &mut Conf, d: &Directive, stream: bool) {
    let at = name_at(d);
    let Some(block) = &d.block else {
        err(cx, &at, "`map` needs a block");
        return;
    };
    if d.args.len() != 2 {
        err(
            cx,
            &at,
            "`map` takes a source and a variable: `map $SOURCE $VARIABLE { … }`",
        );
        return;
    }
    let src_at = Pos::of(d, &d.args[0]);
    let Some(target) = variable(&d.args[1].text) else {
        err(
            cx,
            &Pos::of(d, &d.args[1]),
            format!("`{}` is not a variable", d.args[1].text),
        );
        return;
    };
    let source = match (variable(&d.args[0].text), stream) {
        (Some("host"), false) => Some(Source::Host),
        (Some("http_host"), false) => Some(Source::HttpHost),
        (Some("ssl_preread_server_name"), true) => Some(Source::Sni),
        (Some("server_name"), false) => {
            err(cx, &src_at, "map on `$server_name` is not read: it is the selected server's first name, not the name requested (decide with `server_name`, or map `$host`)");
            None
        }
        _ => {
            // A map on anything else decides by something other than the name; it matters
            // only if a server decides by its variable, which is refused there.
            None
        }
    };
    let mut hostnames = false;
    let mut entries: Vec<Entry<String>> = Vec::new();
    let mut default: Option<String> = None;
    let mut seen: HashMap<String, Pos> = HashMap::new();
    for e in block {
        let eat = name_at(e);
        if e.block.is_some() {
            err(cx, &eat, "a block inside `map`");
            continue;
        }
        let key = e.name.text.as_str();
        match (key, e.args.len()) {
            ("hostnames", 0) => {
                if !entries.is_empty() {
                    err(cx, &eat, "`hostnames` after keys: nginx reads the keys before it as plain strings; put it first");
                }
                hostnames = true;
                continue;
            }
            ("volatile", 0) => continue,
            ("default", 1) => {
                if default.is_some() {
                    err(cx, &eat, "duplicate default map parameter");
                }
                default = Some(e.args[0].text.clone());
                continue;
            }
            (_, 1) => {}
            _ => {
                err(
                    cx,
                    &eat,
                    "invalid number of the map parameters: `KEY VALUE;`",
                );
                continue;
            }
        }
        if source.is_none() {
            continue;
        }
        let value = e.args[0].text.clone();
        // A leading backslash lets a key be `default` or `hostnames` literally.
        let key = key.strip_prefix('\\').unwrap_or(key);
        let parsed = if let Some(re) = key.strip_prefix("~*") {
            Some(Key::Regex {
                re: re.to_string(),
                caseless: true,
            })
        } else if let Some(re) = key.strip_prefix('~') {
            Some(Key::Regex {
                re: re.to_string(),
                caseless: false,
            })
        } else if hostnames {
            match wildcard(key) {
                Ok(k) => Some(k),
                Err(m) => {
                    err(cx, &eat, m);
                    continue;
                }
            }
        } else {
            Some(Key::Exact(key.to_ascii_lowercase()))
        };
        let Some(k) = parsed else { continue };
        if let Key::Regex { re, .. } = &k {
            if let Err((col, m)) = pcre_check(re) {
                let mut p = eat.clone();
                p.column = p.column.saturating_add(col);
                err(cx, &p, format!("regex `{re}`: {m}"));
                continue;
            }
        }
        let norm = match &k {
            Key::Exact(s) => s.clone(),
            Key::Lead { suffix, apex } => format!("{}{suffix}", if *apex { "." } else { "*." }),
            Key::Trail(p) => format!("{p}.*"),
            Key::Regex { re, caseless } => format!("~{}{re}", if *caseless { "*" } else { "" }),
        };
        if let Some(first) = seen.get(&norm) {
            err(
                cx,
                &eat,
                format!(
                    "conflicting parameter `{key}` (already at line {})",
                    first.line
                ),
            );
            continue;
        }
        seen.insert(norm, eat.clone());
        entries.push(Entry {
            key: k,
            to: value,
            at: eat,
        });
    }
    let Some(source) = source else {
        return;
    };
    conf.maps.push(Map {
        stream,
        source,
        target: target.to_string(),
        entries,
        default: default.unwrap_or_default(),
        hostnames,
        at,
    });
}

/// A `hostnames` key or `server_name` (lowercased, as nginx keeps them).
fn wildcard(key: &str) -> Result<Key, String> {
    let k = key.to_ascii_lowercase();
    let bad = || format!("invalid host name or wildcard `{key}`");
    if let Some(s) = k.strip_prefix("*.") {
        if s.is_empty() || s.contains('*') || s.starts_with('.') || s.ends_with('.') {
            return Err(bad());
        }
        return Ok(Key::Lead {
            suffix: s.to_string(),
            apex: false,
        });
    }
    if let Some(s) = k.strip_prefix('.') {
        if s.is_empty() || s.contains('*') || s.starts_with('.') || s.ends_with('.') {
            return Err(bad());
        }
        return Ok(Key::Lead {
            suffix: s.to_string(),
            apex: true,
        });
    }
    if let Some(p) = k.strip_suffix(".*") {
        if p.is_empty() || p.contains('*') || p.ends_with('.') {
            return Err(bad());
        }
        return Ok(Key::Trail(p.to_string()));
    }
    if k.contains('*') {
        return Err(bad());
    }
    Ok(Key::Exact(k))
}

/// Whether a PCRE regex means the same under hostgate's regex engine on a host name; the
/// character offset and reason of the first construct that does not.
fn pcre_check(re: &str) -> Result<(), (u32, String)> {
    let c: Vec<char> = re.chars().collect();
    let at = |i: usize, m: &str| Err((u32::try_from(i).unwrap_or(u32::MAX), m.to_string()));
    let mut i = 0;
    let mut class = false;
    let mut class_start = 0;
    while i < c.len() {
        let ch = c[i];
        if !ch.is_ascii() || ch.is_ascii_control() {
            return at(i, "non-ASCII and control characters are not read");
        }
        if ch == '\\' {
            let Some(&e) = c.get(i + 1) else {
                return at(i, "a trailing backslash");
            };
            if e.is_ascii_alphanumeric() && !"dDwWsSbBAztnrxfp".contains(e)
                || (class && "bBAz".contains(e))
            {
                return at(
                    i,
                    &format!(
                        "`\\{e}` (PCRE only, or means something else in hostgate's regex engine)"
                    ),
                );
            }
            if e == 'p' {
                return at(i, "`\\p` Unicode properties are not read");
            }
            i += 2;
            continue;
        }
        if class {
            if ch == ']' && i > class_start {
                class = false;
            } else if ch == '[' {
                if c.get(i + 1) == Some(&':') {
                    // `[:alpha:]`: the same in both; skip to its end.
                    let rest: String = c[i..].iter().collect();
                    match rest.find(":]") {
                        Some(j) => {
                            i += rest[..j + 2].chars().count();
                            continue;
                        }
                        None => return at(i, "an unclosed `[:`"),
                    }
                }
                return at(
                    i,
                    "`[` inside a bracket expression (a nested class in hostgate's regex engine)",
                );
            } else if (ch == '&' || ch == '-' || ch == '~') && c.get(i + 1) == Some(&ch) {
                return at(i, &format!("`{ch}{ch}` inside a bracket expression (a set operation in hostgate's regex engine)"));
            }
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                class = true;
                class_start = i + 1;
                if c.get(i + 1) == Some(&'^') {
                    class_start += 1;
                }
            }
            '(' if c.get(i + 1) == Some(&'*') => return at(i, "PCRE verbs `(*…)` are not read"),
            '(' if c.get(i + 1) == Some(&'?') => {
                let rest: String = c[i + 2..].iter().collect();
                let ok = rest.starts_with(':')
                    || rest.starts_with("P<")
                    || (rest.starts_with('<')
                        && !rest.starts_with("<=")
                        && !rest.starts_with("<!"))
                    || {
                        // Flags: `(?i)`, `(?i-s:`…
                        let f: String = rest
                            .chars()
                            .take_while(|c| *c != ')' && *c != ':')
                            .collect();
                        !f.is_empty()
                            && f.chars().all(|c| "imsx-".contains(c))
                            && rest.len() > f.len()
                    };
                if !ok {
                    return at(i, "lookaround, atomic groups, recursion, conditionals, comments and `(?|` are PCRE only");
                }
            }
            '*' | '+' | '?' | '}' if c.get(i + 1) == Some(&'+') => {
                return at(i + 1, "possessive quantifiers are PCRE only");
            }
            _ => {}
        }
        i += 1;
    }
    if class {
        return at(c.len(), "an unclosed `[`");
    }
    Ok(())
}

/// An access list (`allow`/`deny` in order): whether it denies, taking a client address
/// rule to let the client through (the client asked about is one the configuration serves).
fn access_denies(cx: &mut Cx, rules: &[&Directive]) -> Option<Pos> {
    for d in rules {
        let arg = d.args.first().map_or("", |a| a.text.as_str());
        let allow = d.name.text == "allow";
        if arg == "all" {
            return (!allow).then(|| name_at(d));
        }
        if allow {
            warn(cx, &name_at(d), format!("`allow {arg}` is about the client's address: not reproduced (the client is taken to be in it)"));
            return None;
        }
        warn(cx, &name_at(d), format!("`deny {arg}` is about the client's address: not reproduced (the client is taken not to be in it)"));
    }
    None
}

/// `listen ADDRESS[:PORT] | PORT [params]`.
fn read_listen(cx: &mut Cx, d: &Directive, stream: bool) -> Option<Listen> {
    let at = name_at(d);
    let Some(first) = d.args.first() else {
        err(cx, &at, "`listen` needs an address or port");
        return None;
    };
    let fat = Pos::of(d, first);
    let text = first.text.as_str();
    let (addr, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some(j) = rest.find(']') else {
            err(cx, &fat, format!("invalid address `{text}`"));
            return None;
        };
        let port = rest[j + 1..].strip_prefix(':');
        (format!("[{}]", &rest[..j]), port)
    } else if text.starts_with("unix:") {
        err(
            cx,
            &fat,
            "a unix socket listener is not reached by host name: not read",
        );
        return None;
    } else if text.chars().all(|c| c.is_ascii_digit()) {
        ("*".to_string(), Some(text))
    } else if let Some((a, p)) = text.rsplit_once(':') {
        (a.to_string(), Some(p))
    } else {
        (text.to_string(), None)
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                err(cx, &fat, format!("invalid port in `{text}`"));
                return None;
            }
        },
        None if stream => {
            err(cx, &fat, format!("no port in `{text}`"));
            return None;
        }
        None => 80,
    };
    let addr = if addr == "0.0.0.0" {
        "*".to_string()
    } else {
        addr
    };
    let mut default = false;
    for p in &d.args[1..] {
        let pat = Pos::of(d, p);
        let name = p.text.split('=').next().unwrap_or("");
        match name {
            "default_server" | "default" => default = true,
            "ssl" => {
                err(cx, &pat, if stream {
                    "`listen … ssl` in `stream`: nginx terminates TLS, and the SNI is not read by `ssl_preread` then; not read"
                } else {
                    "`listen … ssl` in `http`: both the SNI and the Host select a server; not read (use a `stream` server with `ssl_preread` for the SNI)"
                });
            }
            "proxy_protocol" => err(cx, &pat, "`proxy_protocol`: the connection starts with a PROXY header, not the client's bytes; not read"),
            "udp" => err(cx, &pat, "`udp`: not TCP; not read"),
            "http2" | "reuseport" | "backlog" | "rcvbuf" | "sndbuf" | "ipv6only" | "so_keepalive"
            | "deferred" | "bind" | "fastopen" | "accept_filter" | "setfib" => {}
            _ => err(cx, &pat, format!("unknown `listen` parameter `{}`", p.text)),
        }
    }
    Some(Listen {
        addr,
        port,
        default,
        at,
    })
}

/// The name map of a context whose variable is `var`.
fn map_of(conf: &Conf, stream: bool, var: &str) -> Option<usize> {
    conf.maps
        .iter()
        .position(|m| m.stream == stream && m.target == var)
}

fn read_server(
    cx: &mut Cx,
    conf: &mut Conf,
    d: &Directive,
    block: &[Directive],
    stream: bool,
    inherited: &[&Directive],
) {
    let at = name_at(d);
    let mut server = Server {
        at: at.clone(),
        stream,
        preread: false,
        listens: Vec::new(),
        names: Vec::new(),
        decision: Decision::Const(Action::Deny, at.clone()),
        targets: Vec::new(),
    };
    let mut access: Vec<&Directive> = Vec::new();
    let mut returns: Option<Pos> = None;
    let mut conds: Vec<(usize, Cond, Pos)> = Vec::new();
    let mut proxy: Option<&Directive> = None;
    let mut locations: Vec<&Directive> = Vec::new();
    let before = cx.errors.len();
    for x in block {
        let name = x.name.text.as_str();
        let xat = name_at(x);
        match (name, &x.block) {
            ("listen", None) => {
                if let Some(l) = read_listen(cx, x, stream) {
                    server.listens.push(l);
                }
            }
            ("server_name", None) if !stream => {
                for a in &x.args {
                    let aat = Pos::of(x, a);
                    let t = a.text.as_str();
                    if t.starts_with('$') {
                        err(cx, &aat, format!("server name `{t}` is a variable: not read"));
                        continue;
                    }
                    let key = if let Some(re) = t.strip_prefix('~') {
                        if re.starts_with('*') {
                            err(cx, &aat, format!("server name `{t}`: `~*` is not a form of `server_name` (nginx compiles `*…` as the regex, which PCRE refuses); a regex with a capital letter is caseless"));
                            continue;
                        }
                        if let Err((col, m)) = pcre_check(re) {
                            let mut p = aat.clone();
                            p.column = p.column.saturating_add(col + 1);
                            err(cx, &p, format!("regex `{re}`: {m}"));
                            continue;
                        }
                        // nginx matches server name regexes against the lowercased host,
                        // and compiles one with a capital letter caseless.
                        Key::Regex {
                            re: re.to_string(),
                            caseless: re.chars().any(|c| c.is_ascii_uppercase()),
                        }
                    } else {
                        match wildcard(t) {
                            Ok(k) => k,
                            Err(m) => {
                                err(cx, &aat, m);
                                continue;
                            }
                        }
                    };
                    server.names.push(Entry {
                        key,
                        to: (),
                        at: aat,
                    });
                }
            }
            ("server_name", None) => err(cx, &xat, "`server_name` in a `stream` server (nginx 1.25.5 and later) is not read: map `$ssl_preread_server_name` instead"),
            ("ssl_preread", None) if stream => {
                server.preread = x.args.first().is_some_and(|a| a.text == "on");
            }
            ("return", None) => {
                returns.get_or_insert(xat);
            }
            ("allow" | "deny", None) => access.push(x),
            ("proxy_pass", None) if stream => proxy = Some(x),
            ("location", Some(_)) if !stream => locations.push(x),
            ("if", Some(b)) if !stream => {
                if let Some((m, c)) = read_if(cx, conf, x) {
                    let only_return = !b.is_empty() && b.iter().all(|y| y.name.text == "return" && y.block.is_none());
                    if !only_return {
                        err(cx, &xat, "an `if` block that does more than `return`: not read");
                    } else {
                        conds.push((m, c, xat));
                    }
                }
            }
            ("rewrite" | "set" | "break" | "try_files" | "root" | "alias", None) if !stream => {
                if name == "root" || name == "alias" {
                    // Only what a location does decides; a root is where files come from.
                    continue;
                }
                err(cx, &xat, format!("`{name}` at server level: not read"));
            }
            (n, None) if ignored(n) => {}
            _ => err(cx, &xat, unknown(name, if stream { "a `stream` server" } else { "a `server`" })),
        }
    }
    if server.listens.is_empty() {
        if stream {
            err(cx, &at, "a `stream` server without `listen`");
        } else {
            // nginx's default for a server without `listen` (run as root).
            server.listens.push(Listen {
                addr: "*".into(),
                port: 80,
                default: false,
                at: at.clone(),
            });
        }
    }
    if cx.errors.len() > before {
        return;
    }
    if access.is_empty() {
        access = inherited.to_vec();
    }
    // In `http` the access list applies per location (a location's own replaces it).
    let denied = if stream {
        returns.clone().or_else(|| access_denies(cx, &access))
    } else {
        returns.clone()
    };
    let mut targets = Vec::new();
    server.decision = if stream {
        stream_decision(cx, conf, &server, denied, proxy, &mut targets)
    } else {
        match http_decision(
            cx,
            conf,
            &server,
            denied,
            conds,
            &locations,
            &access,
            &mut targets,
        ) {
            Some(d) => d,
            None => return,
        }
    };
    server.targets = targets;
    conf.servers.push(server);
}

fn stream_decision(
    cx: &mut Cx,
    conf: &Conf,
    server: &Server,
    denied: Option<Pos>,
    proxy: Option<&Directive>,
    targets: &mut Vec<(String, Pos)>,
) -> Decision {
    if let Some(p) = denied {
        return Decision::Const(Action::Deny, p);
    }
    let Some(p) = proxy else {
        err(
            cx,
            &server.at,
            "a `stream` server without `proxy_pass` or `return`",
        );
        return Decision::Const(Action::Deny, server.at.clone());
    };
    let pat = name_at(p);
    let Some(target) = p.args.first() else {
        err(cx, &pat, "`proxy_pass` needs an address");
        return Decision::Const(Action::Deny, pat);
    };
    let vars = variables(&target.text);
    let maps: Vec<usize> = vars.iter().filter_map(|v| map_of(conf, true, v)).collect();
    if let [m] = maps[..] {
        if vars.len() == 1 {
            if !server.preread {
                err(
                    cx,
                    &pat,
                    "`proxy_pass` by the SNI map without `ssl_preread on`: the SNI is never read",
                );
            }
            return Decision::Map {
                map: m,
                conds: Vec::new(),
                base: Action::Allow,
                stream: true,
                at: pat,
            };
        }
    }
    if vars.is_empty() {
        targets.push((target.text.clone(), Pos::of(p, target)));
        return Decision::Const(Action::Allow, pat);
    }
    if vars.iter().all(|v| v == "ssl_preread_server_name") {
        if !server.preread {
            err(
                cx,
                &pat,
                "`$ssl_preread_server_name` without `ssl_preread on`: it is empty",
            );
        }
        warn(cx, &pat, "`proxy_pass` to the SNI itself: every name is passed on; whether it resolves is not reproduced");
        return Decision::Const(Action::Allow, pat);
    }
    err(
        cx,
        &pat,
        format!(
            "`proxy_pass {}`: a destination from variables other than one name map's is not read",
            target.text
        ),
    );
    Decision::Const(Action::Deny, pat)
}

/// `if ($v = X)`, `if ($v != X)`, `if ($v)`, `if (!$v)` on a name map's variable.
fn read_if(cx: &mut Cx, conf: &Conf, d: &Directive) -> Option<(usize, Cond)> {
    let at = name_at(d);
    // nginx's words: `($v`, `=`, `x)`, or a quoted value followed by its own `)`.
    let mut words: Vec<String> = d.args.iter().map(|a| a.text.clone()).collect();
    match words.first().cloned().as_deref() {
        Some("(") => {
            words.remove(0);
        }
        Some(f) if f.starts_with('(') => words[0] = f[1..].to_string(),
        _ => {
            err(cx, &at, "`if` needs a condition in parentheses");
            return None;
        }
    }
    match words.last().cloned().as_deref() {
        Some(")") => {
            words.pop();
        }
        Some(l) if l.ends_with(')') => {
            let n = words.len() - 1;
            words[n] = l[..l.len() - 1].to_string();
        }
        _ => {
            err(cx, &at, "`if` needs a condition in parentheses");
            return None;
        }
    }
    let bad = |cx: &mut Cx| {
        err(cx, &at, "an `if` other than `($v = VALUE)`, `($v != VALUE)`, `($v)` or `(!$v)` on a name map's variable: not read");
        None
    };
    let (neg, var) = match words.first() {
        Some(w) => match w.strip_prefix('!') {
            Some(v) if words.len() == 1 => (true, v.to_string()),
            _ => (false, w.clone()),
        },
        None => return bad(cx),
    };
    let Some(m) = variable(&var).and_then(|v| map_of(conf, false, v)) else {
        return bad(cx);
    };
    let cond = match &words[1..] {
        [] if neg => Cond::False,
        [] => Cond::True,
        [op, v] if op == "=" => Cond::Eq(v.clone()),
        [op, v] if op == "!=" => Cond::Ne(v.clone()),
        _ => return bad(cx),
    };
    Some((m, cond))
}

#[allow(clippy::too_many_arguments)]
fn http_decision(
    cx: &mut Cx,
    conf: &Conf,
    server: &Server,
    denied: Option<Pos>,
    conds: Vec<(usize, Cond, Pos)>,
    locations: &[&Directive],
    server_access: &[&Directive],
    targets: &mut Vec<(String, Pos)>,
) -> Option<Decision> {
    if let Some(p) = denied {
        return Some(Decision::Const(Action::Deny, p));
    }
    // What each location does to every path it takes.
    let mut base: Option<(Action, Pos)> = None;
    let mut root = false;
    for l in locations {
        let lat = name_at(l);
        let args: Vec<&str> = l.args.iter().map(|a| a.text.as_str()).collect();
        if args.first().is_some_and(|a| a.starts_with('@')) {
            continue;
        }
        if args == ["/"] || args == ["^~", "/"] {
            root = true;
        }
        let Some(block) = &l.block else {
            err(cx, &lat, "`location` needs a block");
            return None;
        };
        let mut access: Vec<&Directive> = Vec::new();
        let mut ret: Option<Pos> = None;
        let mut pass: Option<Pos> = None;
        for x in block {
            let name = x.name.text.as_str();
            let xat = name_at(x);
            match (name, &x.block) {
                ("return", None) => {
                    ret.get_or_insert(xat);
                }
                ("allow" | "deny", None) => access.push(x),
                ("proxy_pass", None) => {
                    let target = x.args.first().map_or("", |a| a.text.as_str());
                    let vars = variables(target);
                    if vars.iter().any(|v| map_of(conf, false, v).is_some()) {
                        err(cx, &xat, "`proxy_pass` by a name map's variable in `http`: not read; deny with `if ($v = VALUE) { return 403; }`");
                        return None;
                    }
                    let unknown: Vec<&String> = vars
                        .iter()
                        .filter(|v| {
                            !matches!(
                                v.as_str(),
                                "host"
                                    | "http_host"
                                    | "request_uri"
                                    | "uri"
                                    | "args"
                                    | "is_args"
                                    | "scheme"
                                    | "server_port"
                                    | "proxy_port"
                            )
                        })
                        .collect();
                    if !unknown.is_empty() {
                        err(
                            cx,
                            &xat,
                            format!(
                                "`proxy_pass {target}`: its destination depends on `${}`: not read",
                                unknown[0]
                            ),
                        );
                        return None;
                    }
                    if vars.is_empty() {
                        targets.push((target.to_string(), xat.clone()));
                    } else {
                        warn(cx, &xat, "`proxy_pass` to the requested name: every name is passed on; whether it resolves is not reproduced");
                    }
                    pass = Some(xat);
                }
                ("if", _) | ("location", _) | ("rewrite", None) | ("set", None) => {
                    err(cx, &xat, format!("`{name}` in a location: not read"));
                    return None;
                }
                ("try_files" | "root" | "alias" | "internal" | "limit_except", _) => {}
                (n, None) if ignored(n) => {}
                _ => {
                    err(cx, &xat, unknown(name, "a `location`"));
                    return None;
                }
            }
        }
        let access = if access.is_empty() {
            server_access
        } else {
            &access[..]
        };
        let act = if let Some(p) = ret {
            (Action::Deny, p)
        } else if let Some(p) = access_denies(cx, access) {
            (Action::Deny, p)
        } else if let Some(p) = pass {
            (Action::Allow, p)
        } else {
            err(cx, &lat, "a location that neither proxies (`proxy_pass`) nor refuses (`return`, `deny all`): it serves files; not read");
            return None;
        };
        match &base {
            None => base = Some(act),
            Some((a, _)) if *a != act.0 => {
                err(
                    cx,
                    &lat,
                    "locations decide differently by path: not a decision by name; not read",
                );
                return None;
            }
            Some(_) => {}
        }
    }
    let Some((base, base_at)) = base else {
        err(cx, &server.at, "a server that neither proxies (`proxy_pass` in a location) nor refuses (`return`, `deny all`): it serves files; not read");
        return None;
    };
    if !root {
        err(
            cx,
            &server.at,
            "no `location /`: the paths no location takes are served from files; not read",
        );
        return None;
    }
    if conds.is_empty() {
        return Some(Decision::Const(base, base_at));
    }
    let m = conds[0].0;
    if let Some((_, _, p)) = conds.iter().find(|c| c.0 != m) {
        err(cx, p, "`if` tests on two maps' variables: not read");
        return None;
    }
    let at = conds[0].2.clone();
    Some(Decision::Map {
        map: m,
        conds: conds.into_iter().map(|c| c.1).collect(),
        base,
        stream: false,
        at,
    })
}

// ---------------------------------------------------------------------------------------
// Rules

/// One generated rule.
struct Rule {
    pattern: String,
    /// The pattern is a regex on the name as received.
    received: bool,
    action: Action,
    port: u16,
    via: Vec<Via>,
    at: Pos,
    object: String,
}

/// The action of a map value under a decision.
fn value_action(decision: &Decision, value: &str) -> Action {
    match decision {
        Decision::Const(a, _) => *a,
        Decision::Map {
            conds,
            base,
            stream,
            ..
        } => {
            if *stream {
                if value.is_empty() {
                    Action::Deny
                } else {
                    Action::Allow
                }
            } else if conds.iter().any(|c| c.holds(value)) {
                Action::Deny
            } else {
                *base
            }
        }
    }
}

/// Keys in nginx's order: exact, leading wildcards by length (longest first), trailing
/// wildcards by length, regexes in file order. A `.x` key's `x` is an exact key.
fn ordered<T: Clone>(entries: &[Entry<T>]) -> Vec<Entry<T>> {
    let mut exact = Vec::new();
    let mut lead = Vec::new();
    let mut trail = Vec::new();
    let mut regex = Vec::new();
    for e in entries {
        match &e.key {
            Key::Exact(_) => exact.push(e.clone()),
            Key::Lead { suffix, apex } => {
                if *apex {
                    exact.push(Entry {
                        key: Key::Exact(suffix.clone()),
                        to: e.to.clone(),
                        at: e.at.clone(),
                    });
                }
                lead.push(e.clone());
            }
            Key::Trail(_) => trail.push(e.clone()),
            Key::Regex { .. } => regex.push(e.clone()),
        }
    }
    let len = |k: &Key| match k {
        Key::Lead { suffix, .. } => suffix.len(),
        Key::Trail(p) => p.len(),
        _ => 0,
    };
    lead.sort_by_key(|e| std::cmp::Reverse(len(&e.key)));
    trail.sort_by_key(|e| std::cmp::Reverse(len(&e.key)));
    exact
        .into_iter()
        .chain(lead)
        .chain(trail)
        .chain(regex)
        .collect()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The hostgate pattern of a key; `None` (with a warning) for a key no valid name matches.
fn pattern(cx: &mut Cx, key: &Key, at: &Pos) -> Option<String> {
    let p = match key {
        Key::Exact(n) => {
            if n.is_empty() || n == "_" {
                return None;
            }
            // A plain string key (no `hostnames`) such as `*.x` or `.x`, or a name with a
            // trailing dot: nginx compares it as written, and no name it is given is that.
            if n.starts_with('.') || n.ends_with('.') || n.contains('*') {
                warn(cx, at, format!("`{n}` never matches a host name as nginx compares it (no wildcards without `hostnames`, no trailing dot): left out"));
                return None;
            }
            n.clone()
        }
        Key::Lead { suffix, .. } => format!("**.{suffix}"),
        Key::Trail(p) => format!("~{}\\..+", regex_escape(p)),
        Key::Regex { re, caseless } => {
            if *caseless {
                format!("~.*(?i:{re}).*")
            } else {
                format!("~.*(?:{re}).*")
            }
        }
    };
    checked(cx, key, at, p, false)
}

/// The pattern if it compiles; a key no name matches is left out with a warning, any other
/// compile error is an error at the key.
fn checked(cx: &mut Cx, key: &Key, at: &Pos, p: String, received: bool) -> Option<String> {
    let mut spec = RuleSpec::new(Action::Allow, p.clone());
    spec.received = received;
    let Err(e) = EngineBuilder::new()
        .policy(PolicySpec::new("p").rule(spec))
        .build()
    else {
        return Some(p);
    };
    let m = e
        .errors()
        .first()
        .map(|d| d.message.clone())
        .unwrap_or_default();
    let m = m
        .split_once(": ")
        .map_or(m.as_str(), |(_, m)| m)
        .to_string();
    if m.contains("can never match")
        || !received && matches!(key, Key::Exact(_)) && m.contains("not a valid")
    {
        let seen = if received {
            "a name as nginx receives it"
        } else {
            "a valid host name"
        };
        warn(
            cx,
            at,
            format!("`{}` never matches {seen}: left out ({m})", key_text(key)),
        );
    } else {
        err(cx, at, format!("`{}` as `{p}`: {m}", key_text(key)));
    }
    None
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Exact(s) => s.clone(),
        Key::Lead { suffix, apex } => format!("{}{suffix}", if *apex { "." } else { "*." }),
        Key::Trail(p) => format!("{p}.*"),
        Key::Regex { re, caseless } => format!("~{}{re}", if *caseless { "*" } else { "" }),
    }
}

/// Rules for every name, and every IP address a client may name.
fn everything(action: Action, port: u16, via: &[Via], at: &Pos, object: &str) -> Vec<Rule> {
    ["*", "0.0.0.0/0", "::/0"]
        .iter()
        .map(|p| Rule {
            pattern: (*p).to_string(),
            received: false,
            action,
            port,
            via: via.to_vec(),
            at: at.clone(),
            object: object.to_string(),
        })
        .collect()
}

/// The rules of one map under a decision, ending in its default.
///
/// A map on `$host` sees the normalised name, so its keys are hostgate patterns. A map on
/// `$ssl_preread_server_name` or `$http_host` sees the name as the client sent it, so keys the
/// normalised name cannot decide become `received` regexes: all of them when there is no
/// `hostnames` (no trailing dot removed) or the Host carries a port; with `hostnames`, only
/// case-sensitive `~` regexes, after a copy of the map for names that end in a dot (nginx
/// removes that dot before it tries any key, which a regex on the received name cannot undo).
fn map_rules(cx: &mut Cx, conf: &Conf, decision: &Decision, port: u16, via: &[Via]) -> Vec<Rule> {
    let Decision::Map { map, .. } = decision else {
        return Vec::new();
    };
    let Some(m) = conf.maps.get(*map) else {
        return Vec::new();
    };
    let object = format!("map ${}", m.target);
    let action_of = |cx: &mut Cx, to: &str, at: &Pos| match decision {
        Decision::Map { stream: true, .. } => {
            let to = [(to.to_string(), at.clone())];
            followed(cx, conf, true, value_action(decision, &to[0].0), &to)
        }
        _ => value_action(decision, to),
    };
    let raw =
        m.source != Source::Host && (!m.hostnames || (m.source == Source::HttpHost && port != 80));
    let case_regex = m.entries.iter().any(|e| {
        matches!(
            e.key,
            Key::Regex {
                caseless: false,
                ..
            }
        )
    });
    let mut out = Vec::new();
    let entries = ordered(&m.entries);
    let push =
        |out: &mut Vec<Rule>, p: String, received: bool, action: Action, at: &Pos, object: &str| {
            out.push(Rule {
                pattern: p,
                received,
                action,
                port,
                via: via.to_vec(),
                at: at.clone(),
                object: object.to_string(),
            });
        };
    if m.source != Source::Host && m.hostnames && !raw && case_regex {
        // Names that end in a dot: every key tried on the name without it.
        for e in &entries {
            if let Some(p) = received_pattern(cx, &e.key, true, &e.at) {
                let a = action_of(cx, &e.to, &e.at);
                push(&mut out, p, true, a, &e.at, &object);
            }
        }
        let a = action_of(cx, &m.default, &m.at);
        push(
            &mut out,
            "~.*\\.".into(),
            true,
            a,
            &m.at,
            &format!("{object} default"),
        );
    }
    for e in &entries {
        let as_received = raw
            || matches!(
                e.key,
                Key::Regex {
                    caseless: false,
                    ..
                }
            ) && m.source != Source::Host;
        let p = if as_received {
            received_pattern(cx, &e.key, false, &e.at)
        } else {
            pattern(cx, &e.key, &e.at)
        };
        if let Some(p) = p {
            let a = action_of(cx, &e.to, &e.at);
            push(&mut out, p, as_received, a, &e.at, &object);
        }
    }
    let default = action_of(cx, &m.default, &m.at);
    out.extend(everything(
        default,
        port,
        via,
        &m.at,
        &format!("{object} default"),
    ));
    out
}

/// The `received` regex (with its `~`) of a map key on the name as the client sent it: keys
/// other than regexes are compared lowercased, as nginx compares them. With `dot`, the name is
/// the key's name followed by one dot, which nginx removed before trying the key; a `$` in a
/// regex then stands before that dot. `None` (with a warning) for a key no name matches.
fn received_pattern(cx: &mut Cx, key: &Key, dot: bool, at: &Pos) -> Option<String> {
    let body = match key {
        Key::Exact(n) if n.is_empty() => return None,
        Key::Exact(n) => format!("(?i:{})", regex_escape(n)),
        Key::Lead { suffix, .. } => format!("(?i:.+\\.{})", regex_escape(suffix)),
        Key::Trail(p) => format!("(?i:{}\\..+)", regex_escape(p)),
        Key::Regex { re, caseless } => {
            let flags = if *caseless { "?i:" } else { "?:" };
            if dot {
                // Either the match ends before the dot (and anything up to it follows), or
                // the regex's end anchor stands right before it.
                let mut alts = vec![format!(".*({flags}{re}).*\\.")];
                if let Some(anchored) = end_anchored(re) {
                    alts.push(format!(".*({flags}{anchored})"));
                }
                format!("(?:{})", alts.join("|"))
            } else {
                format!(".*({flags}{re}).*")
            }
        }
    };
    let p = if dot && !matches!(key, Key::Regex { .. }) {
        format!("~{body}\\.")
    } else {
        format!("~{body}")
    };
    checked(cx, key, at, p, true)
}

/// The regex with each end anchor (`$`, `\z`, `\Z` outside a class) turned into `\.$`, if it
/// has one: the end of the name nginx tried is then the received name's last dot.
fn end_anchored(re: &str) -> Option<String> {
    let mut out = String::new();
    let mut found = false;
    let mut class = false;
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(z @ ('z' | 'Z')) if !class => {
                    let _ = z;
                    out.push_str("\\.$");
                    found = true;
                }
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !class => {
                class = true;
                out.push(c);
                // A `]` first in a class (after an optional `^`) is a member.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class => {
                class = false;
                out.push(c);
            }
            '$' if !class => {
                out.push_str("\\.$");
                found = true;
            }
            _ => out.push(c),
        }
    }
    found.then_some(out)
}

/// The port of one of this configuration's own servers that an address (`HOST:PORT`, or a
/// URL) names on loopback.
fn own_port(conf: &Conf, addr: &str) -> Option<u16> {
    let a = addr.split_once("://").map_or(addr, |(_, r)| r);
    let a = a.split('/').next().unwrap_or(a);
    let (host, port) = match a.strip_prefix('[') {
        Some(r) => r.split_once("]:")?,
        None => a.rsplit_once(':')?,
    };
    let port: u16 = port.parse().ok()?;
    let loopback = host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    let own = conf
        .servers
        .iter()
        .any(|s| s.listens.iter().any(|l| l.port == port));
    (loopback && own).then_some(port)
}

/// What passing a connection to `target` (an address, or an `upstream`'s name) comes to when
/// it reaches this configuration's own servers: `Ok(None)` it does not; `Ok(Some(Deny))`
/// every address is an own `stream` server that closes the connection; `Err(port)` another
/// own server (not followed).
fn chain(conf: &Conf, stream: bool, target: &str) -> Result<Option<Action>, u16> {
    let name = target.split_once("://").map_or(target, |(_, r)| r);
    let addrs: Vec<&str> = match conf
        .upstreams
        .iter()
        .find(|(s, n, _)| *s == stream && n == name)
    {
        Some((_, _, servers)) => servers.iter().map(String::as_str).collect(),
        None => vec![target],
    };
    let own: Vec<Option<u16>> = addrs.iter().map(|a| own_port(conf, a)).collect();
    if own.iter().all(Option::is_none) {
        return Ok(None);
    }
    for p in &own {
        let Some(p) = *p else {
            // Some addresses are own servers, some not: which one is reached varies.
            return Err(own.iter().flatten().next().copied().unwrap_or(0));
        };
        let closes = conf
            .servers
            .iter()
            .filter(|s| s.listens.iter().any(|l| l.port == p))
            .all(|s| s.stream && matches!(s.decision, Decision::Const(Action::Deny, _)));
        if !closes {
            return Err(p);
        }
    }
    Ok(Some(Action::Deny))
}

/// An allow that passes to `targets`, followed through this configuration's own servers.
fn followed(
    cx: &mut Cx,
    conf: &Conf,
    stream: bool,
    action: Action,
    targets: &[(String, Pos)],
) -> Action {
    if action != Action::Allow || targets.is_empty() {
        return action;
    }
    let mut denies = true;
    for (t, at) in targets {
        match chain(conf, stream, t) {
            Ok(Some(Action::Deny)) => {}
            Ok(_) => denies = false,
            Err(p) => {
                err(
                    cx,
                    at,
                    format!(
                        "`{t}` passes to this configuration's own server on port {p}: not followed"
                    ),
                );
                return action;
            }
        }
    }
    if denies {
        Action::Deny
    } else {
        action
    }
}

/// Drops deny rules no allow rule follows (the policy's default denies them already).
fn trim(mut rules: Vec<Rule>) -> Vec<Rule> {
    while rules.last().is_some_and(|r| r.action == Action::Deny) {
        rules.pop();
    }
    rules
}

/// The servers listening on one address and port, in order, and its `default_server`.
type Listeners = (Vec<usize>, Option<usize>);

fn compile(cx: &mut Cx, conf: &Conf) -> Vec<Rule> {
    // Per port: each address's servers in order, and its default.
    let mut ports: BTreeMap<u16, BTreeMap<String, Listeners>> = BTreeMap::new();
    for (i, s) in conf.servers.iter().enumerate() {
        for l in &s.listens {
            let slot = ports
                .entry(l.port)
                .or_default()
                .entry(l.addr.clone())
                .or_default();
            if slot.0.contains(&i) {
                continue;
            }
            if let Some(&first) = slot.0.first() {
                if conf.servers[first].stream != s.stream {
                    err(
                        cx,
                        &l.at,
                        format!("port {} is listened on by both `stream` and `http`", l.port),
                    );
                    continue;
                }
                if s.stream {
                    err(cx, &l.at, format!("duplicate listen {}:{}", l.addr, l.port));
                    continue;
                }
            }
            if l.default {
                if slot.1.is_some() {
                    err(
                        cx,
                        &l.at,
                        format!("a duplicate default server for {}:{}", l.addr, l.port),
                    );
                    continue;
                }
                slot.1 = Some(i);
            }
            slot.0.push(i);
        }
    }
    let mut out = Vec::new();
    for (port, addrs) in &ports {
        let mut groups = addrs.values().map(|(s, d)| (s.clone(), d.unwrap_or(s[0])));
        let Some((servers, default)) = groups.next() else {
            continue;
        };
        if groups.any(|g| g != (servers.clone(), default)) {
            let at = &conf.servers[servers[0]].at;
            err(cx, at, format!("port {port}: the servers listening on it differ by address; which answer depends on the address connected to: not read"));
            continue;
        }
        let first = &conf.servers[servers[0]];
        let rules = if first.stream {
            stream_rules(cx, conf, first, *port)
        } else {
            http_rules(cx, conf, &servers, default, *port)
        };
        out.extend(trim(rules));
    }
    out
}

fn stream_rules(cx: &mut Cx, conf: &Conf, s: &Server, port: u16) -> Vec<Rule> {
    match &s.decision {
        Decision::Const(a, at) => {
            // No SNI is read: every connection goes the same way, TLS or not.
            let a = followed(cx, conf, true, *a, &s.targets);
            everything(a, port, &[Via::Tls, Via::Http], at, "server")
        }
        d @ Decision::Map { map, at, .. } => {
            let mut rules = map_rules(cx, conf, d, port, &[Via::Tls]);
            // A connection that is not TLS has no SNI: the map's value for an empty name.
            if let Some(m) = conf.maps.get(*map) {
                let to = [(m.empty_value().to_string(), m.at.clone())];
                let a = followed(cx, conf, true, value_action(d, m.empty_value()), &to);
                if a == Action::Allow {
                    rules.extend(everything(a, port, &[Via::Http], at, "server (not TLS)"));
                }
            }
            rules
        }
    }
}

fn http_rules(cx: &mut Cx, conf: &Conf, servers: &[usize], default: usize, port: u16) -> Vec<Rule> {
    let via = [Via::Http];
    for &i in servers {
        if let Decision::Map { map, at, .. } = &conf.servers[i].decision {
            let m = &conf.maps[*map];
            if m.source == Source::Sni {
                err(cx, at, "a map on `$ssl_preread_server_name` in `http`");
                return Vec::new();
            }
        }
    }
    let mapped: Vec<usize> = servers
        .iter()
        .copied()
        .filter(|&i| matches!(conf.servers[i].decision, Decision::Map { .. }))
        .collect();
    let mut out = Vec::new();
    let selectable = |i: usize| {
        conf.servers[i]
            .names
            .iter()
            .any(|e| !matches!(&e.key, Key::Exact(n) if n.is_empty() || n == "_"))
    };
    if let Some(&m) = mapped.first() {
        if servers.len() > 1 && (m != default || selectable(m) || mapped.len() > 1) {
            err(cx, &conf.servers[m].at, format!("port {port}: a server that decides by a map must be the only server on its port, or its default server without names: not read"));
            return Vec::new();
        }
    }
    // Server selection: the names of every server, in nginx's order.
    let names: Vec<Entry<usize>> = servers
        .iter()
        .flat_map(|&i| {
            conf.servers[i].names.iter().map(move |e| Entry {
                key: e.key.clone(),
                to: i,
                at: e.at.clone(),
            })
        })
        .collect();
    for e in ordered(&names) {
        if e.to == default && !mapped.is_empty() {
            continue;
        }
        let Decision::Const(a, _) = &conf.servers[e.to].decision else {
            continue;
        };
        let a = &followed(cx, conf, false, *a, &conf.servers[e.to].targets);
        if let Some(p) = pattern(cx, &e.key, &e.at) {
            out.push(Rule {
                pattern: p,
                received: false,
                action: *a,
                port,
                via: via.to_vec(),
                at: e.at.clone(),
                object: "server_name".into(),
            });
        }
    }
    let d = &conf.servers[default];
    match &d.decision {
        Decision::Const(a, _) => {
            let at = d
                .listens
                .iter()
                .find(|l| l.port == port)
                .map_or(&d.at, |l| &l.at);
            let a = followed(cx, conf, false, *a, &d.targets);
            out.extend(everything(a, port, &via, at, "default server"));
        }
        dec @ Decision::Map { .. } => out.extend(map_rules(cx, conf, dec, port, &via)),
    }
    out
}
