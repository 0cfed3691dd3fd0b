//! Squid `squid.conf`: the egress decision of `http_access` (and of `ssl_bump`, for the TLS
//! SNI) on a destination name, port and method, as ordered hostgate rules.
//!
//! Each source is compiled on its own: `via http` (plain HTTP requests: the absolute-form
//! target's host) and `via connect` (CONNECT targets) from `http_access`, `via tls` (the SNI
//! Squid peeks at step 2 of SslBump) from `ssl_bump`. An `http_access` line is an AND of acls;
//! a negated name acl is reproduced by first writing what the following lines decide for
//! those names, so the result stays one first-match list.

mod ere;
mod lex;

use std::collections::{HashMap, HashSet};

use hostgate::{Action, EngineBuilder, PolicySpec, Precedence, Query, RuleSpec, Via};

use crate::kube::Cx;
use crate::{Options, Read, RuleSource};
use lex::Tok;

/// Most rules one configuration may expand to (negated name acls multiply them).
const MAX_RULES: usize = 100_000;
/// Deepest `include` nesting (Squid's own limit is 16).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A position in one of the files read.
#[derive(Clone, Debug)]
struct Pos {
    file: String,
    line: u32,
    column: u32,
}

impl Pos {
    fn of(file: &str, t: &Tok) -> Pos {
        Pos {
            file: file.to_string(),
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

/// One name an acl lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Name {
    /// `a.b`: that name.
    Exact(String),
    /// `.a.b`: a.b and every name below.
    Dot(String),
    /// An IP address, matched as written.
    Ip(String),
    /// A translated regex (hostgate syntax, without `~`) and the Squid text.
    Regex(String, String),
}

impl Name {
    fn pattern(&self) -> String {
        match self {
            Name::Exact(s) | Name::Ip(s) => s.clone(),
            Name::Dot(s) => format!(".{s}"),
            Name::Regex(r, _) => format!("~{r}"),
        }
    }
}

/// Whether `name` is `base` or below it.
fn under(name: &str, base: &str) -> bool {
    name == base
        || (name.len() > base.len()
            && name.ends_with(base)
            && name.as_bytes()[name.len() - base.len() - 1] == b'.')
}

/// Whether a regex (hostgate syntax) matches `name`, by the engine itself.
fn regex_matches(re: &str, name: &str) -> Option<bool> {
    let engine = EngineBuilder::new()
        .policy(PolicySpec::new("p").rule(RuleSpec::new(Action::Allow, format!("~{re}"))))
        .build()
        .ok()?;
    let p = engine.policy("p")?;
    Some(engine.check(p, &Query::new(name)).is_allow())
}

/// `a ∩ b` as one name, `Ok(None)` when empty, `Err` when it is not one hostgate pattern.
fn meet(a: &Name, b: &Name) -> Result<Option<Name>, String> {
    use Name::*;
    Ok(match (a, b) {
        (Ip(x), Ip(y)) => (x == y).then(|| a.clone()),
        (Ip(_), _) | (_, Ip(_)) => None,
        (Exact(x), Exact(y)) => (x == y).then(|| a.clone()),
        (Exact(x), Dot(y)) | (Dot(y), Exact(x)) => under(x, y).then(|| Exact(x.clone())),
        (Dot(x), Dot(y)) => {
            if under(x, y) {
                Some(a.clone())
            } else if under(y, x) {
                Some(b.clone())
            } else {
                None
            }
        }
        (Exact(x), Regex(r, _)) | (Regex(r, _), Exact(x)) => match regex_matches(r, x) {
            Some(true) => Some(Exact(x.clone())),
            Some(false) => None,
            None => return Err(format!("`{x}` against a regex that does not compile")),
        },
        (Regex(_, s), other) | (other, Regex(_, s)) => {
            if a == b {
                Some(a.clone())
            } else {
                return Err(format!(
                    "the names both regex `{s}` and `{}` match are not one hostgate pattern",
                    other.pattern()
                ));
            }
        }
    })
}

/// `None`: every name and address; `Some(list)`: any of these.
type Names = Option<Vec<Name>>;

fn meet_sets(a: &Names, b: &Names) -> Result<Names, String> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x.clone()),
        (Some(x), Some(y)) => {
            let mut out: Vec<Name> = Vec::new();
            let mut seen = HashSet::new();
            for p in x {
                for q in y {
                    if let Some(m) = meet(p, q)? {
                        if seen.insert(m.clone()) {
                            out.push(m);
                        }
                    }
                }
            }
            Ok(Some(out))
        }
    }
}

/// A set of ports as sorted, disjoint inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ports(Vec<(u16, u16)>);

impl Ports {
    fn all() -> Ports {
        Ports(vec![(1, 65535)])
    }
    fn from(mut r: Vec<(u16, u16)>) -> Ports {
        r.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (a, b) in r {
            match out.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Ports(out)
    }
    fn not(&self) -> Ports {
        let mut out = Vec::new();
        let mut next: u32 = 1;
        for &(a, b) in &self.0 {
            if u32::from(a) > next {
                out.push((next as u16, a - 1));
            }
            next = u32::from(b) + 1;
        }
        if next <= 65535 {
            out.push((next as u16, 65535));
        }
        Ports(out)
    }
    fn and(&self, o: &Ports) -> Ports {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Ports::from(out)
    }
    fn is_all(&self) -> bool {
        self.0 == [(1, 65535)]
    }
}

/// What the SNI-matching acls compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerName {
    /// `dstdomain`, `dstdom_regex`: the request's host.
    Request,
    /// `ssl::server_name[_regex]`: the name most recently learned (the SNI at step 2).
    Recent,
    /// `--client-requested`: the SNI.
    Client,
}

#[derive(Clone, Debug)]
enum AclKind {
    /// Names; `lookups`: IP-address hosts are also reverse-resolved (no `-n`).
    Names {
        names: Vec<Name>,
        server: ServerName,
        lookups: bool,
        /// Index of each listed value, for overlap checks (dstdomain syntax only).
        seen: HashSet<Name>,
        parents: HashMap<String, Name>,
    },
    Port(Vec<(u16, u16)>),
    Method(Vec<String>),
    AtStep(Vec<u8>),
    /// Always matches (`all`).
    All,
    /// What hostgate cannot see: taken to match (`true`) or not, with this explanation.
    Opaque(bool, String),
}

#[derive(Clone, Debug)]
struct Acl {
    ty: String,
    kind: AclKind,
    at: Pos,
}

/// One `http_access` or `ssl_bump` line.
struct Access {
    action: String,
    terms: Vec<(bool, String, Pos)>,
    at: Pos,
    /// How many acls were defined when the line was read (Squid needs them before use).
    defined: usize,
}

#[derive(Default)]
struct Conf {
    acls: HashMap<String, Acl>,
    order: Vec<String>,
    http_access: Vec<Access>,
    ssl_bump: Vec<Access>,
    /// An `http_port` or `https_port` was read, and whether one has `ssl-bump`.
    ports_seen: bool,
    bump_port: bool,
}

/// Directives that do not take part in the access decision by name.
const QUIET: &[&str] = &[
    "cache_dir",
    "coredump_dir",
    "refresh_pattern",
    "pid_filename",
    "cache_log",
    "access_log",
    "cache_store_log",
    "logformat",
    "cache_effective_user",
    "cache_effective_group",
    "visible_hostname",
    "unique_hostname",
    "dns_nameservers",
    "hosts_file",
    "pinger_enable",
    "shutdown_lifetime",
    "cache_mem",
    "maximum_object_size",
    "minimum_object_size",
    "maximum_object_size_in_memory",
    "sslcrtd_program",
    "sslcrtd_children",
    "sslproxy_cert_error",
    "tls_outgoing_options",
    "workers",
    "cache_mgr",
    "error_directory",
    "deny_info",
    "debug_options",
    "logfile_rotate",
    "icp_port",
    "htcp_port",
    "dns_v4_first",
    "forwarded_for",
    "via",
    "httpd_suppress_version_string",
    "memory_pools",
    "client_persistent_connections",
    "server_persistent_connections",
    "connect_timeout",
    "read_timeout",
    "request_timeout",
    "client_lifetime",
    "half_closed_clients",
    "netdb_filename",
    "icon_directory",
    "error_default_language",
    "mime_table",
    "digest_generation",
    "cache_replacement_policy",
    "memory_replacement_policy",
    "store_dir_select_algorithm",
    "max_filedescriptors",
    "dns_timeout",
    "positive_dns_ttl",
    "negative_dns_ttl",
    "negative_ttl",
    "pinger_program",
    "logfile_daemon",
    "sslproxy_capath",
    "sslproxy_options",
    "sslproxy_cipher",
    "strip_query_terms",
    "umask",
    "httpd_accel_no_pmtu_disc",
    "cache_swap_low",
    "cache_swap_high",
    "ipcache_size",
    "fqdncache_size",
    "dns_defnames",
    "append_domain",
    "ftp_user",
    "ftp_passive",
    "snmp_port",
    "buffered_logs",
];

/// Directives that change what is allowed in ways hostgate does not reproduce.
const NOT_REPRODUCED: &[&str] = &[
    "adapted_http_access",
    "http_reply_access",
    "miss_access",
    "url_rewrite_program",
    "url_rewrite_access",
    "store_id_program",
    "external_acl_type",
    "auth_param",
    "icap_enable",
    "icap_service",
    "adaptation_access",
    "ecap_enable",
    "ecap_service",
    "cache_peer",
    "cache_peer_access",
    "never_direct",
    "always_direct",
    "http_access2",
    "reply_body_max_size",
    "request_header_access",
    "request_header_replace",
    "on_unsupported_protocol",
    "tcp_outgoing_address",
    "follow_x_forwarded_for",
    "acl_uses_indirect_client",
    "ssl_bump_step",
    "sslproxy_cert_adapt",
    "delay_pools",
    "client_request_buffer_max_size",
    "request_body_max_size",
];

/// The format's reader: `files[0]` is squid.conf; the others are available to `include` and
/// `"file"` values by name.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], options: &Options) -> Read {
    let mut conf = Conf::default();
    let mut out = Read::new(Action::Deny);
    out.precedence = Precedence::FirstMatch;
    let Some(&(main, bytes)) = files.first() else {
        return out;
    };
    let mut stack = Vec::new();
    let src = Src {
        files,
        options,
        main,
    };
    read_file(cx, &mut conf, &src, main, bytes, &mut stack);
    if !cx.errors.is_empty() {
        return out;
    }
    let mut emitted: Vec<(Rule, Vec<Via>)> = Vec::new();
    let http = compile_http(cx, &conf, Via::Http);
    let connect = compile_http(cx, &conf, Via::Connect);
    let tls = compile_tls(cx, &conf);
    let (Some(http), Some(connect), Some(tls)) = (http, connect, tls) else {
        return out;
    };
    if http == connect {
        emitted.extend(http.into_iter().map(|r| (r, vec![Via::Http, Via::Connect])));
    } else {
        emitted.extend(http.into_iter().map(|r| (r, vec![Via::Http])));
        emitted.extend(connect.into_iter().map(|r| (r, vec![Via::Connect])));
    }
    emitted.extend(tls.into_iter().map(|r| (r, vec![Via::Tls])));
    let base = id_base(main);
    let mut counts: HashMap<(String, u32), usize> = HashMap::new();
    for (rule, via) in emitted {
        let patterns: Vec<String> = match &rule.name {
            Some(n) => vec![n.pattern()],
            None => vec!["*".into(), "0.0.0.0/0".into(), "::/0".into()],
        };
        for pattern in patterns {
            if let Some(Name::Regex(_, squid)) = &rule.name {
                if let Some(e) = regex_problem(&pattern) {
                    if e.contains("can never match") {
                        warn(
                            cx,
                            &rule.at,
                            format!("dstdom_regex `{squid}` never matches a host name (Squid lowercases the host first): left out"),
                        );
                        continue;
                    }
                    err(cx, &rule.at, format!("regex `{squid}` as `{pattern}`: {e}"));
                    continue;
                }
            }
            let file_base = if rule.at.file == main {
                base.clone()
            } else {
                id_base(&rule.at.file)
            };
            let n = counts.entry((file_base.clone(), rule.at.line)).or_insert(0);
            let mut spec = RuleSpec::new(rule.action, pattern);
            spec.ports = if rule.ports.is_all() {
                Vec::new()
            } else {
                rule.ports.0.clone()
            };
            spec.via = via.clone();
            spec.id = Some(format!("{file_base}:{}:{n}", rule.at.line));
            spec.line = rule.at.line;
            *n += 1;
            out.rules.push(spec);
            out.sources.push(RuleSource {
                file: rule.at.file.clone(),
                line: rule.at.line,
                column: rule.at.column,
                object: rule.directive.to_string(),
            });
        }
    }
    // Each source is compiled on its own: say each thing once.
    let mut said = HashSet::new();
    cx.warnings
        .retain(|w| said.insert((w.file.clone(), w.line, w.column, w.message.clone())));
    if out.rules.len() > MAX_RULES {
        err(
            cx,
            &Pos {
                file: main.to_string(),
                line: 1,
                column: 1,
            },
            format!("the configuration expands to more than {MAX_RULES} rules"),
        );
    }
    out
}

/// The compile error of a regex rule, if any.
fn regex_problem(pattern: &str) -> Option<String> {
    let built = EngineBuilder::new()
        .policy(PolicySpec::new("p").rule(RuleSpec::new(Action::Allow, pattern)))
        .build();
    built.err().map(|e| {
        e.errors()
            .first()
            .map(|d| d.message.clone())
            .unwrap_or_default()
    })
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
        "squid".into()
    } else {
        s
    }
}

/// `path` as named in the configuration `main`: a relative path is taken from `main`'s
/// directory (Squid itself takes it from its working directory, usually that one), with `.`
/// and `..` folded.
fn resolve(main: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        match main.rfind('/') {
            Some(i) => format!("{}/{path}", &main[..i]),
            None => path.to_string(),
        }
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

/// The bytes of a referenced file: one of those given, else (unless sandboxed) the
/// filesystem.
fn open(files: &[(&str, &[u8])], options: &Options, path: &str) -> Result<Vec<u8>, String> {
    if let Some((_, b)) = files.iter().find(|(n, _)| *n == path) {
        return Ok(b.to_vec());
    }
    if options.sandboxed {
        return Err("not among the files given (reading files is turned off)".into());
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Where referenced files come from.
struct Src<'a> {
    files: &'a [(&'a str, &'a [u8])],
    options: &'a Options,
    main: &'a str,
}

fn read_file(
    cx: &mut Cx,
    conf: &mut Conf,
    src: &Src<'_>,
    name: &str,
    bytes: &[u8],
    stack: &mut Vec<String>,
) {
    cx.file = name.to_string();
    let text = match lex::utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            cx.err_at(e.line, e.column, e.message);
            return;
        }
    };
    let dirs = match lex::directives(text) {
        Ok(d) => d,
        Err(e) => {
            cx.err_at(e.line, e.column, e.message);
            return;
        }
    };
    stack.push(name.to_string());
    for d in dirs {
        let head = &d.toks[0];
        let at = Pos::of(name, head);
        match head.text.as_str() {
            "acl" => read_acl(cx, conf, src, name, &d.toks),
            "http_access" | "ssl_bump" => {
                let Some(action) = d.toks.get(1) else {
                    err(cx, &at, format!("{} without an action", head.text));
                    continue;
                };
                let ok: &[&str] = if head.text == "http_access" {
                    &["allow", "deny"]
                } else {
                    &["splice", "bump", "peek", "stare", "terminate"]
                };
                if !ok.contains(&action.text.as_str()) {
                    let old = ["client-first", "server-first", "none"];
                    let why = if old.contains(&action.text.as_str()) {
                        " (an action of Squid 3.4 and older, not read)".to_string()
                    } else {
                        String::new()
                    };
                    err(
                        cx,
                        &Pos::of(name, action),
                        format!(
                            "{} action `{}`{why}; expected {}",
                            head.text,
                            action.text,
                            ok.join(", ")
                        ),
                    );
                    continue;
                }
                let mut terms = Vec::new();
                for t in &d.toks[2..] {
                    let (neg, acl) = match t.text.strip_prefix('!') {
                        Some(rest) => (true, rest),
                        None => (false, t.text.as_str()),
                    };
                    if acl.is_empty() || t.quoted {
                        err(
                            cx,
                            &Pos::of(name, t),
                            format!("`{}` is not an acl name", t.text),
                        );
                        continue;
                    }
                    terms.push((neg, acl.to_string(), Pos::of(name, t)));
                }
                if terms.is_empty() && d.toks.len() == 2 {
                    warn(
                        cx,
                        &at,
                        format!("{} line without acls: Squid skips it", head.text),
                    );
                    continue;
                }
                let line = Access {
                    action: action.text.clone(),
                    terms,
                    at,
                    defined: conf.order.len(),
                };
                if head.text == "http_access" {
                    conf.http_access.push(line);
                } else {
                    conf.ssl_bump.push(line);
                }
            }
            "include" => {
                if d.toks.len() < 2 {
                    err(cx, &at, "include without a file");
                }
                for t in &d.toks[1..] {
                    let tat = Pos::of(name, t);
                    if t.text.contains(['*', '?', '[']) {
                        err(
                            cx,
                            &tat,
                            format!("include `{}`: globs are not read", t.text),
                        );
                        continue;
                    }
                    let path = resolve(src.main, &t.text);
                    if stack.contains(&path) {
                        err(cx, &tat, format!("include `{path}` includes itself"));
                        continue;
                    }
                    if stack.len() >= MAX_INCLUDE_DEPTH {
                        err(
                            cx,
                            &tat,
                            format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
                        );
                        continue;
                    }
                    match open(src.files, src.options, &path) {
                        Ok(b) => {
                            read_file(cx, conf, src, &path, &b, stack);
                            cx.file = name.to_string();
                        }
                        Err(e) => err(cx, &tat, format!("include `{path}`: {e}")),
                    }
                }
            }
            "http_port" | "https_port" => {
                conf.ports_seen = true;
                conf.bump_port |= d.toks.iter().any(|t| t.text == "ssl-bump");
            }
            "if" | "else" | "endif" => err(
                cx,
                &at,
                format!("`{}`: conditional configuration is not read", head.text),
            ),
            d if QUIET.contains(&d) => {}
            d if NOT_REPRODUCED.contains(&d) => warn(
                cx,
                &at,
                format!("`{d}` can change what Squid allows; it is not reproduced"),
            ),
            d => warn(
                cx,
                &at,
                format!(
                    "directive `{d}` is not read (hostgate takes it not to decide egress by name)"
                ),
            ),
        }
    }
    stack.pop();
}

/// Reads an acl's values: words, and the lines of `"file"` words.
fn values(cx: &mut Cx, src: &Src<'_>, name: &str, toks: &[Tok]) -> Vec<(String, Pos)> {
    let mut out = Vec::new();
    for t in toks {
        if !t.quoted {
            out.push((t.text.clone(), Pos::of(name, t)));
            continue;
        }
        let path = resolve(src.main, &t.text);
        let bytes = match open(src.files, src.options, &path) {
            Ok(b) => b,
            Err(e) => {
                err(cx, &Pos::of(name, t), format!("acl file `{path}`: {e}"));
                continue;
            }
        };
        let text = match lex::utf8(&bytes) {
            Ok(s) => s,
            Err(e) => {
                cx.file.clone_from(&path);
                cx.err_at(e.line, e.column, e.message);
                continue;
            }
        };
        for (i, line) in text.split('\n').enumerate() {
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut col = 0usize;
            for word in line.split([' ', '\t', '\r']) {
                let start = col;
                col += word.chars().count() + 1;
                if word.is_empty() {
                    continue;
                }
                if word.starts_with('#') {
                    break;
                }
                out.push((
                    word.to_string(),
                    Pos {
                        file: path.clone(),
                        line: line_no,
                        column: u32::try_from(start + 1).unwrap_or(u32::MAX),
                    },
                ));
            }
        }
    }
    out
}

/// Acl types hostgate cannot see, whether they are taken to match, and why.
fn opaque(ty: &str) -> Option<(bool, &'static str)> {
    const CLIENT: &str =
        "is about the client or the moment, which hostgate does not see: taken to match";
    const REQUEST: &str =
        "is about the request beyond its name, port and method: taken not to match";
    Some(match ty {
        "src"
        | "srcdomain"
        | "srcdom_regex"
        | "arp"
        | "eui64"
        | "myip"
        | "myport"
        | "localip"
        | "localport"
        | "myportname"
        | "time"
        | "proxy_auth"
        | "proxy_auth_regex"
        | "ident"
        | "ident_regex"
        | "external"
        | "maxconn"
        | "max_user_ip"
        | "random"
        | "note"
        | "client_connection_mark"
        | "ext_user"
        | "ext_user_regex"
        | "user_cert"
        | "ca_cert"
        | "ssl_error"
        | "server_cert_fingerprint"
        | "transaction_initiator"
        | "annotate_client"
        | "annotate_transaction"
        | "has"
        | "any-of"
        | "all-of"
        | "tag"
        | "peername"
        | "peername_regex"
        | "hier_code" => (true, CLIENT),
        "dst"
        | "dst_as"
        | "url_regex"
        | "urlpath_regex"
        | "urllogin"
        | "proto"
        | "browser"
        | "referer_regex"
        | "req_header"
        | "req_mime_type"
        | "rep_header"
        | "rep_mime_type"
        | "http_status"
        | "squid_error"
        | "adaptation_service"
        | "connections_encrypted"
        | "ssl::server_name_regex_cert" => (false, REQUEST),
        _ => return None,
    })
}

fn read_acl(cx: &mut Cx, conf: &mut Conf, src: &Src<'_>, name: &str, toks: &[Tok]) {
    let at = Pos::of(name, &toks[0]);
    let (Some(acl_name), Some(ty)) = (toks.get(1), toks.get(2)) else {
        err(cx, &at, "acl needs a name and a type");
        return;
    };
    let acl_at = Pos::of(name, acl_name);
    let ty_s = ty.text.as_str();
    let mut rest = &toks[3..];
    // Options: `-x`/`--x`, up to `--` or the first value.
    let mut flags: Vec<(String, Pos)> = Vec::new();
    let takes_i = matches!(ty_s, "dstdom_regex" | "ssl::server_name_regex");
    let mut icase = false;
    while let Some(t) = rest.first() {
        if t.quoted {
            break;
        }
        if t.text == "--" {
            rest = &rest[1..];
            break;
        }
        // `-i`/`+i` switch case folding for the regexes after them, here and among the values.
        if takes_i && (t.text == "-i" || t.text == "+i") {
            icase = t.text == "-i";
            rest = &rest[1..];
            continue;
        }
        if t.text.starts_with('-') {
            flags.push((t.text.clone(), Pos::of(name, t)));
            rest = &rest[1..];
            continue;
        }
        break;
    }
    let allowed: &[&str] = match ty_s {
        "dstdomain" => &["-n"],
        "dstdom_regex" => &["-n"],
        "ssl::server_name" | "ssl::server_name_regex" => {
            &["--client-requested", "--server-provided", "--consensus"]
        }
        _ => &[],
    };
    let mut lookups = true;
    let mut server = if ty_s.starts_with("ssl::") {
        ServerName::Recent
    } else {
        ServerName::Request
    };
    for (f, fat) in &flags {
        if !allowed.contains(&f.as_str()) && opaque(ty_s).is_none() {
            err(
                cx,
                fat,
                format!("unsupported ACL option: {f} (Squid refuses it for {ty_s})"),
            );
            return;
        }
        match f.as_str() {
            "-n" => lookups = false,
            "--client-requested" => server = ServerName::Client,
            "--server-provided" | "--consensus" => {
                err(
                    cx,
                    fat,
                    format!("ssl::server_name {f}: the name comes from the server's certificate, which hostgate does not see"),
                );
                return;
            }
            _ => {}
        }
    }
    let vals = values(cx, src, name, rest);
    let existing = conf.acls.get(&acl_name.text).cloned();
    if let Some(e) = &existing {
        if e.ty != ty_s {
            err(
                cx,
                &Pos::of(name, ty),
                format!(
                    "ACL '{}' already exists with a different type ({} at {}:{})",
                    acl_name.text, e.ty, e.at.file, e.at.line
                ),
            );
            return;
        }
    }
    if ["all", "manager", "localhost", "to_localhost"].contains(&acl_name.text.as_str())
        && existing.is_none()
    {
        warn(
            cx,
            &acl_at,
            format!(
                "`{}` is predefined by Squid; this definition replaces it",
                acl_name.text
            ),
        );
    }
    let mut acl = existing.unwrap_or_else(|| Acl {
        ty: ty_s.to_string(),
        kind: match ty_s {
            "dstdomain" | "dstdom_regex" | "ssl::server_name" | "ssl::server_name_regex" => {
                AclKind::Names {
                    names: Vec::new(),
                    server,
                    lookups,
                    seen: HashSet::new(),
                    parents: HashMap::new(),
                }
            }
            "port" => AclKind::Port(Vec::new()),
            "method" => AclKind::Method(Vec::new()),
            "at_step" => AclKind::AtStep(Vec::new()),
            other => match opaque(other) {
                Some((assume, why)) => AclKind::Opaque(assume, format!("acl type `{other}` {why}")),
                None => AclKind::Opaque(false, String::new()),
            },
        },
        at: acl_at.clone(),
    });
    if let AclKind::Opaque(_, why) = &acl.kind {
        if why.is_empty() {
            err(
                cx,
                &Pos::of(name, ty),
                format!("acl type `{ty_s}` is not read"),
            );
            return;
        }
    }
    if vals.is_empty() && !matches!(acl.kind, AclKind::Opaque(..)) {
        warn(
            cx,
            &acl_at,
            format!("acl `{}` without values", acl_name.text),
        );
    }
    match &mut acl.kind {
        AclKind::Names {
            names,
            lookups: lk,
            seen,
            parents,
            server: sv,
        } => {
            if *sv != server || *lk != lookups {
                err(
                    cx,
                    &acl_at,
                    format!("acl `{}` repeated with other options", acl_name.text),
                );
                return;
            }
            if lookups && !ty_s.starts_with("ssl::") {
                warn(
                    cx,
                    &acl_at,
                    format!("{ty_s} without -n: for an IP-address destination Squid also matches its reverse-DNS name; not reproduced (IP addresses match only IP values)"),
                );
            }
            let regex = ty_s.ends_with("_regex");
            if regex && !lookups && ty_s == "dstdom_regex" {
                warn(
                    cx,
                    &acl_at,
                    "dstdom_regex on an IP-address destination: Squid matches the regex against the address text; hostgate's regex rules match names only",
                );
            }
            for (v, vat) in vals {
                if regex {
                    match v.as_str() {
                        "-i" => {
                            icase = true;
                            continue;
                        }
                        "+i" => {
                            icase = false;
                            continue;
                        }
                        _ => {}
                    }
                    match ere::translate(&v, icase) {
                        Ok(r) => names.push(Name::Regex(r, v)),
                        Err(e) => err(
                            cx,
                            &Pos {
                                column: vat.column + u32::try_from(e.offset).unwrap_or(u32::MAX),
                                ..vat
                            },
                            format!("{ty_s} `{v}`: {}", e.message),
                        ),
                    }
                    continue;
                }
                let Some(n) = domain_value(cx, &v, &vat) else {
                    continue;
                };
                add_domain(cx, &acl_name.text, names, seen, parents, n, &v, &vat);
            }
        }
        AclKind::Port(ranges) => {
            for (v, vat) in vals {
                let parse = |s: &str| crate::kube::port_number(s).filter(|&p| p > 0);
                let r = match v.split_once('-') {
                    Some((a, b)) => parse(a).zip(parse(b)).filter(|(a, b)| a <= b),
                    None => parse(&v).map(|p| (p, p)),
                };
                match r {
                    Some(r) => ranges.push(r),
                    None => err(
                        cx,
                        &vat,
                        format!("port `{v}`: expected N or N-M in 1-65535"),
                    ),
                }
            }
        }
        AclKind::Method(ms) => ms.extend(vals.into_iter().map(|(v, _)| v)),
        AclKind::AtStep(steps) => {
            for (v, vat) in vals {
                match v.as_str() {
                    "SslBump1" => steps.push(1),
                    "SslBump2" => steps.push(2),
                    "SslBump3" => steps.push(3),
                    _ => err(
                        cx,
                        &vat,
                        format!("at_step `{v}`: expected SslBump1, SslBump2 or SslBump3"),
                    ),
                }
            }
        }
        AclKind::All | AclKind::Opaque(..) => {}
    }
    if !conf.acls.contains_key(&acl_name.text) {
        conf.order.push(acl_name.text.clone());
    }
    conf.acls.insert(acl_name.text.clone(), acl);
}

/// A dstdomain-syntax value as a name, or `None` (reported) when it can never match.
fn domain_value(cx: &mut Cx, v: &str, at: &Pos) -> Option<Name> {
    let lower = v.to_ascii_lowercase();
    let (dot, body) = match lower.strip_prefix('.') {
        Some(b) => (true, b.to_string()),
        None => (false, lower.clone()),
    };
    if body.ends_with('.') {
        let fixed = body.trim_end_matches('.');
        warn(
            cx,
            at,
            format!(
                "`{v}` never matches: Squid removes the trailing dot from the request's host but not from acl values; write `{}{fixed}` to match {fixed}",
                if dot { "." } else { "" }
            ),
        );
        return None;
    }
    let unbracketed = body
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .unwrap_or(&body);
    if let Ok(ip) = unbracketed.parse::<std::net::IpAddr>() {
        if dot {
            warn(
                cx,
                at,
                format!("`{v}`: a dot before an IP address; only the address itself is matched"),
            );
        }
        return Some(Name::Ip(ip.to_string()));
    }
    match hostgate::normalize(&body) {
        Ok(n) if n.as_str() == body => Some(if dot {
            Name::Dot(body)
        } else {
            Name::Exact(body)
        }),
        _ => {
            let hint = match body.strip_prefix("*.") {
                Some(rest) => format!(
                    " (Squid has no wildcards; `.{rest}` matches {rest} and every name below)"
                ),
                None => String::new(),
            };
            warn(
                cx,
                at,
                format!("`{v}` is not a host name, so no request matches it: left out{hint}"),
            );
            None
        }
    }
}

/// Adds a dstdomain value as Squid's splay tree does: a value under an earlier `.x` is
/// dropped with a warning; a `.x` over an earlier value makes Squid refuse to start.
#[allow(clippy::too_many_arguments)]
fn add_domain(
    cx: &mut Cx,
    acl: &str,
    names: &mut Vec<Name>,
    seen: &mut HashSet<Name>,
    parents: &mut HashMap<String, Name>,
    n: Name,
    v: &str,
    at: &Pos,
) {
    if seen.contains(&n) {
        return;
    }
    let shown = |n: &Name| n.pattern();
    if let Name::Exact(s) | Name::Dot(s) = &n {
        // Covered by an earlier `.x`?
        let mut rest = s.as_str();
        loop {
            let d = Name::Dot(rest.to_string());
            if d != n && seen.contains(&d) {
                warn(
                    cx,
                    at,
                    format!("Squid: '{}' is a subdomain of '{}'; it is ignored (Squid: \"You should remove '{}' from the ACL named '{acl}'\")", v.to_ascii_lowercase(), shown(&d), v.to_ascii_lowercase()),
                );
                return;
            }
            match rest.split_once('.') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
        // Covering an earlier value?
        if let Name::Dot(base) = &n {
            if let Some(old) = parents.get(base) {
                let (sub, of) = if *old == Name::Exact(base.clone()) {
                    (shown(&n), shown(old))
                } else {
                    (shown(old), shown(&n))
                };
                err(
                    cx,
                    at,
                    format!("Squid refuses to start: '{sub}' is a subdomain of '{of}'; \"You need to remove '{sub}' from the ACL named '{acl}'\""),
                );
                return;
            }
        }
        let mut rest = s.as_str();
        loop {
            parents.entry(rest.to_string()).or_insert_with(|| n.clone());
            match rest.split_once('.') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
    }
    seen.insert(n.clone());
    names.push(n);
}

/// One emitted rule: `name` `None` is every name and address.
#[derive(Clone, Debug)]
struct Rule {
    action: Action,
    name: Option<Name>,
    ports: Ports,
    at: Pos,
    directive: &'static str,
}

impl PartialEq for Rule {
    fn eq(&self, o: &Rule) -> bool {
        self.action == o.action
            && self.name == o.name
            && self.ports == o.ports
            && self.at.line == o.at.line
            && self.at.file == o.at.file
    }
}

/// One access line reduced for one source and step.
struct Line {
    action: Action,
    ports: Ports,
    pos: Vec<Vec<Name>>,
    neg: Vec<Vec<Name>>,
    at: Pos,
    directive: &'static str,
}

/// What an acl is for one source: a constant, names, or ports.
enum Term {
    Const(bool),
    Names(Vec<Name>),
    Ports(Ports),
}

/// The context an acl is evaluated in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// `http_access` for a plain HTTP request or a CONNECT.
    Http(Via),
    /// `ssl_bump` at a step (1 or 2).
    Bump(u8),
}

fn term(
    cx: &mut Cx,
    acl: &Acl,
    name: &str,
    ctx: Ctx,
    at: &Pos,
    said: &mut HashSet<String>,
) -> Option<Term> {
    let mut note = |cx: &mut Cx, msg: String| {
        if said.insert(format!("{}:{}:{name}", at.file, at.line)) {
            warn(cx, at, msg);
        }
    };
    Some(match &acl.kind {
        AclKind::All => Term::Const(true),
        AclKind::Opaque(assume, why) => {
            note(cx, format!("acl `{name}`: {why}"));
            Term::Const(*assume)
        }
        AclKind::Port(r) => Term::Ports(Ports::from(r.clone())),
        AclKind::AtStep(steps) => Term::Const(match ctx {
            // Outside SslBump a transaction is at step 1.
            Ctx::Http(_) => steps.contains(&1),
            Ctx::Bump(s) => steps.contains(&s),
        }),
        AclKind::Method(ms) => {
            let connect = ms.iter().any(|m| m == "CONNECT");
            let other = ms.iter().any(|m| m != "CONNECT");
            match ctx {
                Ctx::Http(Via::Http) => {
                    if other {
                        note(cx, format!("acl `{name}`: the method of a plain HTTP request is not seen by hostgate: taken to be one listed"));
                    }
                    Term::Const(other)
                }
                _ => Term::Const(connect),
            }
        }
        AclKind::Names { names, server, .. } => match (ctx, server) {
            (Ctx::Http(_), _) => Term::Names(names.clone()),
            (Ctx::Bump(2), ServerName::Recent | ServerName::Client) => Term::Names(names.clone()),
            (Ctx::Bump(1), ServerName::Client) => Term::Const(false),
            (Ctx::Bump(_), ServerName::Request) => {
                err(cx, at, format!("acl `{name}` ({}) in ssl_bump: the request's host changes between steps; use ssl::server_name", acl.ty));
                return None;
            }
            // Step 1: the CONNECT target; `compile_tls` refuses a step-1 decision by name.
            (Ctx::Bump(_), _) => Term::Names(names.clone()),
        },
    })
}

/// The acls Squid defines itself: `all`, `manager`, `localhost`, `to_localhost`.
fn predefined_acl(name: &str, at: &Pos) -> Option<Acl> {
    let (ty, kind) = match name {
        "all" => ("src", AclKind::All),
        "manager" => (
            "url_regex",
            AclKind::Opaque(
                false,
                "the predefined `manager` matches cache manager URLs: taken not to match".into(),
            ),
        ),
        "localhost" | "to_localhost" => {
            let ty = if name == "localhost" { "src" } else { "dst" };
            let (assume, why) = opaque(ty)?;
            (
                ty,
                AclKind::Opaque(assume, format!("the predefined `{name}` ({ty}) {why}")),
            )
        }
        _ => return None,
    };
    Some(Acl {
        ty: ty.into(),
        kind,
        at: at.clone(),
    })
}

/// Reduces access lines for one context: lines that cannot match are left out.
fn reduce(
    cx: &mut Cx,
    conf: &Conf,
    lines: &[Access],
    ctx: Ctx,
    directive: &'static str,
    act: &dyn Fn(&str) -> Action,
) -> Option<Vec<Line>> {
    let mut out = Vec::new();
    let mut said = HashSet::new();
    let mut ok = true;
    'lines: for l in lines {
        let mut line = Line {
            action: act(&l.action),
            ports: Ports::all(),
            pos: Vec::new(),
            neg: Vec::new(),
            at: l.at.clone(),
            directive,
        };
        let mut never = false;
        for (neg, name, at) in &l.terms {
            let predefined;
            let defined = conf
                .order
                .iter()
                .position(|n| n == name)
                .is_some_and(|i| i < l.defined);
            let acl: &Acl = match conf.acls.get(name) {
                Some(a) if defined => a,
                _ => match predefined_acl(name, at) {
                    Some(a) => {
                        predefined = a;
                        &predefined
                    }
                    None => {
                        err(
                            cx,
                            at,
                            format!(
                                "acl `{name}` is not defined before this line (Squid refuses to start)"
                            ),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            let Some(t) = term(cx, acl, name, ctx, at, &mut said) else {
                ok = false;
                continue 'lines;
            };
            match (t, neg) {
                (Term::Const(b), n) => never |= b == *n,
                (Term::Ports(p), false) => line.ports = line.ports.and(&p),
                (Term::Ports(p), true) => line.ports = line.ports.and(&p.not()),
                (Term::Names(ns), false) => line.pos.push(ns),
                (Term::Names(ns), true) => line.neg.push(ns),
            }
        }
        if !never && !line.ports.0.is_empty() {
            out.push(line);
        }
    }
    ok.then_some(out)
}

/// The first-match list of `lines` for names in `restrict`, ending in `default` for them.
fn emit(
    lines: &[Line],
    restrict: &Names,
    default: Action,
    out: &mut Vec<Rule>,
    end: &Pos,
) -> Result<(), (Pos, String)> {
    for (i, l) in lines.iter().enumerate() {
        let mut names = restrict.clone();
        for p in &l.pos {
            names = meet_sets(&names, &Some(p.clone())).map_err(|e| (l.at.clone(), e))?;
        }
        if names.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        if !l.neg.is_empty() {
            let m: Vec<Name> = l.neg.iter().flatten().cloned().collect();
            let skip = meet_sets(&Some(m.clone()), &names)
                .or_else(|_| meet_sets(&Some(m), restrict))
                .map_err(|e| (l.at.clone(), e))?;
            if skip.as_ref().is_some_and(|s| !s.is_empty()) {
                emit(&lines[i + 1..], &skip, default, out, end)?;
            }
        }
        // A line that matches every name left and every port: nothing after it is reached.
        let all = l.pos.is_empty() && l.ports.is_all() && l.neg.is_empty();
        match &names {
            None => out.push(Rule {
                action: l.action,
                name: None,
                ports: l.ports.clone(),
                at: l.at.clone(),
                directive: l.directive,
            }),
            Some(ns) => {
                for n in ns {
                    out.push(Rule {
                        action: l.action,
                        name: Some(n.clone()),
                        ports: l.ports.clone(),
                        at: l.at.clone(),
                        directive: l.directive,
                    });
                }
            }
        }
        if out.len() > MAX_RULES {
            return Err((
                l.at.clone(),
                format!("the configuration expands to more than {MAX_RULES} rules"),
            ));
        }
        if all {
            return Ok(());
        }
    }
    match restrict {
        None => {
            if default == Action::Allow {
                out.push(Rule {
                    action: Action::Allow,
                    name: None,
                    ports: Ports::all(),
                    at: end.clone(),
                    directive: "default",
                });
            }
        }
        Some(ns) => {
            for n in ns {
                out.push(Rule {
                    action: default,
                    name: Some(n.clone()),
                    ports: Ports::all(),
                    at: end.clone(),
                    directive: "default",
                });
            }
        }
    }
    Ok(())
}

fn compile_http(cx: &mut Cx, conf: &Conf, via: Via) -> Option<Vec<Rule>> {
    let lines = reduce(
        cx,
        conf,
        &conf.http_access,
        Ctx::Http(via),
        "http_access",
        &|a| {
            if a == "allow" {
                Action::Allow
            } else {
                Action::Deny
            }
        },
    )?;
    // No line matches: the opposite of the last line; no lines at all: deny.
    let default = match conf.http_access.last() {
        Some(l) if l.action == "deny" => Action::Allow,
        _ => Action::Deny,
    };
    let end = conf.http_access.last().map_or_else(
        || Pos {
            file: cx.file.clone(),
            line: 1,
            column: 1,
        },
        |l| l.at.clone(),
    );
    let mut out = Vec::new();
    if let Err((at, e)) = emit(&lines, &None, default, &mut out, &end) {
        err(cx, &at, e);
        return None;
    }
    Some(out)
}

/// `ssl_bump` for the SNI: step 1 must not decide by name; step 2 decides on the SNI;
/// `peek`/`stare` at step 2 would defer to the server certificate.
fn compile_tls(cx: &mut Cx, conf: &Conf) -> Option<Vec<Rule>> {
    let bump_action = |a: &str| match a {
        "terminate" => Action::Deny,
        _ => Action::Allow,
    };
    let end = conf.ssl_bump.last().map_or_else(
        || Pos {
            file: cx.file.clone(),
            line: 1,
            column: 1,
        },
        |l| l.at.clone(),
    );
    if let (Some(first), true) = (conf.ssl_bump.first(), conf.ports_seen && !conf.bump_port) {
        warn(
            cx,
            &first.at,
            "no http_port or https_port has ssl-bump: Squid never consults ssl_bump, every SNI passes",
        );
        return Some(vec![Rule {
            action: Action::Allow,
            name: None,
            ports: Ports::all(),
            at: end,
            directive: "default",
        }]);
    }
    let step1 = reduce(
        cx,
        conf,
        &conf.ssl_bump,
        Ctx::Bump(1),
        "ssl_bump",
        &bump_action,
    )?;
    // The first line that can match at step 1 decides it, and may not depend on names.
    let decided = step1.first();
    let mut out = Vec::new();
    let Some(l1) = decided else {
        // No line matches at step 1: Squid splices (every SNI passes).
        out.push(Rule {
            action: Action::Allow,
            name: None,
            ports: Ports::all(),
            at: end,
            directive: "default",
        });
        return Some(out);
    };
    if !l1.pos.is_empty() || !l1.neg.is_empty() || !l1.ports.is_all() {
        let what = conf
            .ssl_bump
            .iter()
            .find(|a| a.at.line == l1.at.line && a.at.file == l1.at.file)
            .and_then(|a| {
                a.terms.iter().find(|(_, n, _)| {
                    conf.acls.get(n).is_some_and(|acl| {
                        !matches!(
                            acl.kind,
                            AclKind::AtStep(_) | AclKind::All | AclKind::Opaque(..)
                        )
                    })
                })
            })
            .map(|(_, n, at)| (n.clone(), at.clone()));
        let (n, at) = what.unwrap_or_else(|| (String::new(), l1.at.clone()));
        let port = conf
            .acls
            .get(&n)
            .is_some_and(|a| matches!(a.kind, AclKind::Port(_)));
        let why = if port {
            "a port"
        } else {
            "a name, there the CONNECT target, not the SNI"
        };
        err(
            cx,
            &at,
            format!("ssl_bump decides on `{n}` ({why}) at step 1: not reproduced (put `ssl_bump peek` for step 1 first)"),
        );
        return None;
    }
    let a1 = conf
        .ssl_bump
        .iter()
        .find(|a| a.at.line == l1.at.line && a.at.file == l1.at.file)
        .map(|a| a.action.as_str())
        .unwrap_or("");
    if a1 != "peek" && a1 != "stare" {
        out.push(Rule {
            action: bump_action(a1),
            name: None,
            ports: Ports::all(),
            at: l1.at.clone(),
            directive: "ssl_bump",
        });
        return Some(out);
    }
    let step2 = reduce(
        cx,
        conf,
        &conf.ssl_bump,
        Ctx::Bump(2),
        "ssl_bump",
        &bump_action,
    )?;
    for l in &step2 {
        let a = conf
            .ssl_bump
            .iter()
            .find(|a| a.at.line == l.at.line && a.at.file == l.at.file)
            .map(|a| a.action.as_str())
            .unwrap_or("");
        if a == "peek" || a == "stare" {
            err(cx, &l.at, format!("ssl_bump {a} at step 2: the decision moves to step 3, on the server's certificate, which hostgate does not see"));
            return None;
        }
    }
    if let Err((at, e)) = emit(&step2, &None, Action::Allow, &mut out, &end) {
        err(cx, &at, e);
        return None;
    }
    Some(out)
}
