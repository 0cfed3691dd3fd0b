//! Envoy static bootstrap (YAML or JSON): which destination names its listeners let through,
//! as ordered hostgate rules.
//!
//! A query's port selects the listener (`address.socket_address.port_value`); a port without
//! a listener is denied. On a listener, a TLS query (`via tls`) picks a filter chain by its
//! SNI as Envoy does (`filter_chain_match.destination_port`, then `server_names`: exact, then
//! the longest `*.` wildcard, then a chain without names; then `transport_protocol`; no chain:
//! `default_filter_chain`, else the connection is closed), and the chain's network filters
//! decide: `envoy.filters.network.rbac` on `requested_server_name`, then `tcp_proxy` (the bytes
//! pass) or an HTTP connection manager (TLS bytes are not HTTP: closed). A plain HTTP query
//! (`via http`) has no SNI: the chain is fixed, and the HTTP connection manager decides on the
//! Host: `envoy.filters.http.rbac` on `:authority` (case kept, the `:port` kept), then the
//! virtual host its `domains` select (exact, longest suffix, longest prefix, `*`; caseless; the
//! port kept unless stripped) and that host's first route that matches every request (a
//! `route` passes, `direct_response`/`redirect` does not; no route or no host: 404). CONNECT
//! (`via connect`) is decided by the first listener with an HTTP connection manager, through its
//! `connect_matcher` routes.
//!
//! Every decision is a first-match list of conditions on the name as received (case kept, a
//! trailing dot kept, the Host's `:port` kept); stages combine such lists by conjunction,
//! disjunction and negation. The rules are `received` regexes limited to the listener's port.

use std::collections::HashMap;

use hostgate::{Action, EngineBuilder, PolicySpec, Precedence, Query, RuleSpec, Via};

use crate::kube::{Cx, Fields};
use crate::yaml::{self, Node, Value};
use crate::{Options, Read, RuleSource};

/// Most rules one configuration may expand to.
const MAX_RULES: usize = 100_000;
/// Most entries one decision list may hold while it is built.
const MAX_ENTRIES: usize = 20_000;

const TYPE_PREFIX: &str = "type.googleapis.com/";
const T_HCM: &str =
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const T_TCP: &str = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const T_NET_RBAC: &str = "envoy.extensions.filters.network.rbac.v3.RBAC";
const T_HTTP_RBAC: &str = "envoy.extensions.filters.http.rbac.v3.RBAC";
const T_ROUTER: &str = "envoy.extensions.filters.http.router.v3.Router";
const T_TLS_INSPECTOR: &str = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
const T_HTTP_INSPECTOR: &str = "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
const T_DFP: &str = "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";

/// What an atom compares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Every name.
    Any,
    Exact,
    Prefix,
    Suffix,
    Contains,
    /// A whole-match regex (hostgate syntax, no `~`).
    Regex,
}

/// One condition on the name as received.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Atom {
    kind: Kind,
    text: String,
    /// Caseless (ASCII).
    ci: bool,
    /// Prefix/suffix: at least one more character (Envoy's wildcards are never empty).
    strict: bool,
}

impl Atom {
    fn any() -> Atom {
        Atom {
            kind: Kind::Any,
            text: String::new(),
            ci: false,
            strict: false,
        }
    }

    fn new(kind: Kind, text: &str, ci: bool) -> Atom {
        Atom {
            kind,
            text: text.to_string(),
            ci,
            strict: false,
        }
    }

    /// The atom as a hostgate regex on the received name.
    fn regex(&self) -> String {
        let l = if self.ci {
            format!("(?i:{})", lit(&self.text))
        } else {
            lit(&self.text)
        };
        let more = if self.strict { ".+" } else { ".*" };
        match self.kind {
            Kind::Any => ".*".into(),
            Kind::Exact => l,
            Kind::Prefix => format!("{l}{more}"),
            Kind::Suffix => format!("{more}{l}"),
            Kind::Contains => format!(".*{l}.*"),
            Kind::Regex => self.text.clone(),
        }
    }

    /// Whether `s` satisfies the atom; `None` when that cannot be told here.
    fn eval(&self, s: &str) -> Option<bool> {
        let eq = |a: &str, b: &str| {
            if self.ci {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let n = self.text.len();
        let longer = |len: usize| len > n || (!self.strict && len == n);
        Some(match self.kind {
            Kind::Any => true,
            Kind::Exact => eq(s, &self.text),
            Kind::Prefix => longer(s.len()) && s.get(..n).is_some_and(|p| eq(p, &self.text)),
            Kind::Suffix => {
                longer(s.len())
                    && s.len() >= n
                    && s.get(s.len() - n..).is_some_and(|p| eq(p, &self.text))
            }
            Kind::Contains => {
                if self.ci {
                    s.to_ascii_lowercase()
                        .contains(&self.text.to_ascii_lowercase())
                } else {
                    s.contains(&self.text)
                }
            }
            Kind::Regex => return regex_matches(&self.text, s),
        })
    }
}

/// Whether a whole-match regex matches `s` as received, by asking the engine.
fn regex_matches(re: &str, s: &str) -> Option<bool> {
    if s.is_empty() {
        return matches!(re, ".*" | "^.*$" | "(.*)" | "").then_some(true);
    }
    let engine = EngineBuilder::new()
        .policy(
            PolicySpec::new("p")
                .precedence(Precedence::FirstMatch)
                .rule(RuleSpec::new(Action::Allow, format!("~{re}")).received()),
        )
        .build()
        .ok()?;
    let p = engine.policy("p")?;
    // A `:PORT` at the end is what a Host header carries: ask as HTTP on that port.
    let q = match s.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok_and(|p| p != 80 && p != 0) => {
            Query::new(name).port(port.parse().ok()?).via(Via::Http)
        }
        _ => Query::new(s).port(443).via(Via::Tls),
    };
    let v = engine.check(p, &q);
    Some(v.is_allow())
}

fn lit(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~ ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `a ∧ b`, or why it cannot be written as conditions of one rule each.
fn conj(a: &Atom, b: &Atom) -> Result<Vec<Atom>, String> {
    if a.kind == Kind::Any {
        return Ok(vec![b.clone()]);
    }
    if b.kind == Kind::Any {
        return Ok(vec![a.clone()]);
    }
    for (x, y) in [(a, b), (b, a)] {
        if x.kind == Kind::Exact && !x.ci {
            return match y.eval(&x.text) {
                Some(true) => Ok(vec![x.clone()]),
                Some(false) => Ok(vec![]),
                None => Err(format!(
                    "cannot tell whether `{}` matches `{}`",
                    x.text,
                    y.regex()
                )),
            };
        }
    }
    for (x, y) in [(a, b), (b, a)] {
        // Caseless exact E and a literal L: each place L may sit in E, case kept there.
        if x.kind == Kind::Exact && y.kind != Kind::Regex {
            if y.ci || !x.text.bytes().any(|c| c.is_ascii_alphabetic()) {
                let mut t = x.clone();
                t.ci = true;
                t.kind = Kind::Exact;
                return Ok(match y.eval(&x.text) {
                    Some(true) => vec![t],
                    _ => vec![],
                });
            }
            let e = &x.text;
            let n = y.text.len();
            let mut out = Vec::new();
            if n > e.len() {
                return Ok(out);
            }
            let starts: Vec<usize> = match y.kind {
                Kind::Exact if n == e.len() => vec![0],
                Kind::Exact => vec![],
                Kind::Prefix if !y.strict || e.len() > n => vec![0],
                Kind::Suffix if !y.strict || e.len() > n => vec![e.len() - n],
                Kind::Contains => (0..=e.len() - n).collect(),
                _ => vec![],
            };
            for i in starts {
                let Some(mid) = e.get(i..i + n) else { continue };
                if !mid.eq_ignore_ascii_case(&y.text) {
                    continue;
                }
                let pre = &e[..i];
                let post = &e[i + n..];
                let part = |s: &str| {
                    if s.is_empty() {
                        String::new()
                    } else {
                        format!("(?i:{})", lit(s))
                    }
                };
                let re = format!("{}{}{}", part(pre), lit(&y.text), part(post));
                let atom = Atom::new(Kind::Regex, &re, false);
                if !out.contains(&atom) {
                    out.push(atom);
                }
            }
            return Ok(out);
        }
    }
    if a.kind == b.kind && matches!(a.kind, Kind::Suffix | Kind::Prefix) && a.ci == b.ci {
        let (long, short) = if a.text.len() >= b.text.len() {
            (a, b)
        } else {
            (b, a)
        };
        let fits = if a.kind == Kind::Suffix {
            long.text
                .get(long.text.len() - short.text.len()..)
                .is_some_and(|t| t.eq_ignore_ascii_case(&short.text))
                && (long.ci || long.text.ends_with(&short.text))
        } else {
            long.text
                .get(..short.text.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(&short.text))
                && (long.ci || long.text.starts_with(&short.text))
        };
        if !fits {
            return Ok(vec![]);
        }
        let mut r = long.clone();
        if long.text.len() == short.text.len() {
            r.strict = long.strict || short.strict;
        }
        return Ok(vec![r]);
    }
    Err(format!(
        "`{}` and `{}` must both hold, which no single rule can say",
        a.regex(),
        b.regex()
    ))
}

/// A position in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: u32,
    column: u32,
}

impl Pos {
    fn of(n: &Node) -> Pos {
        Pos {
            line: n.line,
            column: n.column,
        }
    }
}

/// One entry of a decision list: a name matching one of `cond` gets `allow`.
#[derive(Clone, Debug)]
struct Entry {
    cond: Vec<Atom>,
    allow: bool,
    at: Pos,
}

/// A first-match decision on the name: the first entry whose condition holds decides, else
/// `default`.
#[derive(Clone, Debug)]
struct List {
    entries: Vec<Entry>,
    default: bool,
    default_at: Pos,
    /// An entry for every name ended the list: nothing may follow.
    terminated: bool,
}

impl List {
    fn constant(b: bool, at: Pos) -> List {
        List {
            entries: Vec::new(),
            default: b,
            default_at: at,
            terminated: false,
        }
    }

    fn may_allow(&self) -> bool {
        self.default || self.entries.iter().any(|e| e.allow)
    }

    fn pos(cond: Vec<Atom>, at: Pos) -> List {
        let mut l = List::constant(false, at);
        l.push(Entry {
            cond,
            allow: true,
            at,
        });
        l
    }

    /// Adds an entry, dropping what cannot match and ending the list at an `Any`.
    fn push(&mut self, e: Entry) {
        if self.terminated || e.cond.is_empty() {
            return;
        }
        if e.cond.iter().any(|a| a.kind == Kind::Any) {
            self.default = e.allow;
            self.default_at = e.at;
            self.terminated = true;
            return;
        }
        self.entries.push(e);
    }
}

/// Builds lists with positions for the errors of conditions no rule can say.
struct Build<'c> {
    cx: &'c mut Cx,
    failed: bool,
    /// Condition pairs formed so far, bounded so that no input makes the build run long.
    steps: usize,
}

/// Most condition pairs one import may form.
const MAX_STEPS: usize = 2_000_000;

impl Build<'_> {
    fn conj_all(&mut self, a: &[Atom], b: &[Atom], at: Pos) -> Vec<Atom> {
        let mut out = Vec::new();
        for x in a {
            for y in b {
                self.steps += 1;
                if self.steps > MAX_STEPS {
                    if !self.failed {
                        self.cx.err_at(
                            at.line,
                            at.column,
                            "the decision needs too many conditions to be written as rules",
                        );
                    }
                    self.failed = true;
                    return out;
                }
                match conj(x, y) {
                    Ok(v) => {
                        for atom in v {
                            if !out.contains(&atom) {
                                out.push(atom);
                            }
                        }
                    }
                    Err(m) => {
                        if !self.failed {
                            self.cx.err_at(at.line, at.column, m);
                        }
                        self.failed = true;
                    }
                }
            }
        }
        out
    }

    /// `l1 ∧ l2`.
    fn and(&mut self, l1: &List, l2: &List) -> List {
        let mut out = List::constant(false, l1.default_at);
        for e in &l1.entries {
            if out.terminated || self.failed || self.too_big(&out) {
                return out;
            }
            if !e.allow {
                out.push(e.clone());
                continue;
            }
            for f in &l2.entries {
                if self.failed {
                    return out;
                }
                let cond = self.conj_all(&e.cond, &f.cond, f.at);
                out.push(Entry {
                    cond,
                    allow: f.allow,
                    at: f.at,
                });
            }
            out.push(Entry {
                cond: e.cond.clone(),
                allow: l2.default,
                at: if l2.default { e.at } else { l2.default_at },
            });
        }
        if out.terminated {
            return out;
        }
        if l1.default {
            for f in &l2.entries {
                out.push(f.clone());
            }
            if !out.terminated {
                out.default = l2.default;
                out.default_at = l2.default_at;
            }
        } else {
            out.default = false;
            out.default_at = l1.default_at;
        }
        out
    }

    fn not(l: &List) -> List {
        let mut out = l.clone();
        for e in &mut out.entries {
            e.allow = !e.allow;
        }
        out.default = !out.default;
        out
    }

    fn or(&mut self, l1: &List, l2: &List) -> List {
        let a = Build::not(l1);
        let b = Build::not(l2);
        Build::not(&self.and(&a, &b))
    }

    /// `if cond then l else rest`.
    fn ite(&mut self, cond: &[Atom], at: Pos, then: &List, rest: &List) -> List {
        let gate = List {
            entries: vec![Entry {
                cond: cond.to_vec(),
                allow: true,
                at,
            }],
            default: false,
            default_at: at,
            terminated: false,
        };
        // (cond ∧ then) first, then the rest for names outside cond.
        let out = self.and(&gate, then);
        if out.terminated {
            return out;
        }
        let mut joined = List::constant(false, rest.default_at);
        for e in out.entries {
            joined.push(e);
        }
        // Names in cond that `then` did not decide got then's default inside `and`.
        for e in &rest.entries {
            if joined.terminated {
                break;
            }
            joined.push(e.clone());
        }
        if !joined.terminated {
            joined.default = rest.default;
            joined.default_at = rest.default_at;
        }
        joined
    }

    fn too_big(&mut self, l: &List) -> bool {
        if l.entries.len() > MAX_ENTRIES {
            if !self.failed {
                self.cx.err_at(
                    l.default_at.line,
                    l.default_at.column,
                    format!("the decision grows past {MAX_ENTRIES} conditions"),
                );
            }
            self.failed = true;
            return true;
        }
        false
    }
}

/// A `StringMatcher` (or a header matcher's value part) as written.
#[derive(Clone, Debug)]
struct Matcher {
    kind: Kind,
    text: String,
    ignore_case: bool,
    at: Pos,
}

/// An RBAC permission or principal, as far as a name decides it.
#[derive(Clone, Debug)]
enum F {
    Const(bool),
    /// `requested_server_name`.
    Sni(Matcher),
    /// A `:authority`/`host` header matcher; `invert`.
    Host(Matcher, bool),
    /// `destination_port(_range)`: inclusive ranges.
    Port(Vec<(u32, u32)>),
    And(Vec<F>),
    Or(Vec<F>),
    Not(Box<F>),
}

/// An RBAC filter: `allow_action` (ALLOW: a policy must match; DENY: none may), or `None`
/// when it lets everything through (no `rules`, `LOG`).
#[derive(Clone, Debug)]
struct Rbac {
    at: Pos,
    allow_action: Option<bool>,
    policies: Vec<(F, Pos)>,
}

#[derive(Clone, Debug)]
enum Term {
    /// `tcp_proxy`: the bytes pass.
    Tcp,
    Hcm(Box<Hcm>),
}

#[derive(Clone, Debug)]
struct Chain {
    at: Pos,
    names: Vec<(String, Pos)>,
    transport: Option<String>,
    dest_port: Option<u32>,
    net_rbac: Vec<Rbac>,
    term: Term,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strip {
    None,
    Any,
    Matching,
}

#[derive(Clone, Debug)]
struct Hcm {
    at: Pos,
    rbac: Vec<Rbac>,
    vhosts: Vec<Vhost>,
    strip: Strip,
    strip_at: Option<Pos>,
}

#[derive(Clone, Debug)]
struct Vhost {
    domains: Vec<(String, Pos)>,
    /// What a `GET /` and what a CONNECT get: passed or not, and where that is decided.
    http: (bool, Pos),
    connect: (bool, Pos),
}

#[derive(Clone, Debug)]
struct Listener {
    name: String,
    at: Pos,
    port: u16,
    inspector: bool,
    chains: Vec<Chain>,
    default_chain: Option<Chain>,
}

fn at(n: &Node) -> Pos {
    Pos::of(n)
}

/// Reads an Envoy bootstrap into one first-match policy, `default`.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], _options: &Options) -> Read {
    let mut out = Read::new(Action::Deny);
    out.precedence = Precedence::FirstMatch;
    let Some(&(main, bytes)) = files.first() else {
        return out;
    };
    cx.file = main.to_string();
    if files.len() > 1 {
        cx.err_at(
            1,
            1,
            "an Envoy bootstrap is one file: give only the bootstrap",
        );
        return out;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        cx.err_at(1, 1, "the bootstrap is not UTF-8 text");
        return out;
    };
    let docs = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let lines = u32::try_from(text.lines().count().max(1)).unwrap_or(u32::MAX);
            cx.err_at(e.line.clamp(1, lines), e.column.max(1), e.message);
            return out;
        }
    };
    let [root] = docs.as_slice() else {
        cx.err_at(
            1,
            1,
            "expected one YAML document, the bootstrap (`static_resources` …)",
        );
        return out;
    };
    let Some(listeners) = bootstrap(cx, root) else {
        return out;
    };
    if !cx.errors.is_empty() {
        return out;
    }
    let mut emitted: Vec<(String, Vec<Via>, Option<u16>, List)> = Vec::new();
    let mut b = Build {
        cx,
        failed: false,
        steps: 0,
    };
    let mut connect_from: Option<&Listener> = None;
    for l in &listeners {
        let tls = tls_list(&mut b, l);
        emitted.push((l.name.clone(), vec![Via::Tls], Some(l.port), tls));
        let (http, hcm) = http_list(&mut b, l, false);
        emitted.push((l.name.clone(), vec![Via::Http], Some(l.port), http));
        if hcm {
            match connect_from {
                None => {
                    connect_from = Some(l);
                    let (connect, _) = http_list(&mut b, l, true);
                    emitted.push((l.name.clone(), vec![Via::Connect], None, connect));
                }
                Some(first) if http_list(&mut b, l, true).0.may_allow() => b.cx.warn_at(
                    l.at.line,
                    l.at.column,
                    format!(
                        "CONNECT (via connect) is decided by the first listener with an HTTP \
                         connection manager, `{}` (line {}): a CONNECT query's port is its \
                         target's, not the listener's, so this listener's CONNECT decisions \
                         are not reproduced",
                        first.name, first.at.line
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    if b.failed || !cx.errors.is_empty() {
        return out;
    }
    let mut counts: HashMap<(String, u32), usize> = HashMap::new();
    for (name, via, port, list) in emitted {
        let mut entries = list.entries;
        // Entries that give what the default gives change nothing at the end of the list.
        while entries.last().is_some_and(|e| e.allow == list.default) {
            entries.pop();
        }
        let mut rules: Vec<(Vec<Atom>, bool, Pos)> = entries
            .into_iter()
            .map(|e| (e.cond, e.allow, e.at))
            .collect();
        if list.default {
            rules.push((vec![Atom::any()], true, list.default_at));
        }
        for (cond, allow, pos) in rules {
            let action = if allow { Action::Allow } else { Action::Deny };
            let mut patterns: Vec<(String, bool)> = Vec::new();
            for atom in cond {
                if atom.kind == Kind::Any {
                    patterns.push(("*".into(), false));
                    patterns.push(("0.0.0.0/0".into(), false));
                    patterns.push(("::/0".into(), false));
                } else {
                    patterns.push((format!("~{}", atom.regex()), true));
                }
            }
            for (pattern, received) in patterns {
                let n = counts.entry((name.clone(), pos.line)).or_insert(0);
                let mut spec = RuleSpec::new(action, pattern);
                spec.received = received;
                spec.via = via.clone();
                if let Some(p) = port {
                    spec.ports = vec![(p, p)];
                }
                spec.id = Some(format!("{name}:{}:{n}", pos.line));
                spec.line = pos.line;
                *n += 1;
                out.rules.push(spec);
                out.sources.push(RuleSource {
                    file: main.to_string(),
                    line: pos.line,
                    column: pos.column,
                    object: name.clone(),
                });
            }
        }
    }
    if out.rules.len() > MAX_RULES {
        cx.err_at(
            1,
            1,
            format!("the bootstrap expands to more than {MAX_RULES} rules"),
        );
    }
    let mut said = std::collections::HashSet::new();
    cx.warnings
        .retain(|w| said.insert((w.line, w.column, w.message.clone())));
    out
}

/// The listeners of `static_resources`.
fn bootstrap(cx: &mut Cx, root: &Node) -> Option<Vec<Listener>> {
    let f = cx.fields(
        root,
        "the bootstrap",
        &[
            "node",
            "node_context_params",
            "static_resources",
            "dynamic_resources",
            "cluster_manager",
            "hds_config",
            "flags_path",
            "stats_sinks",
            "deferred_stat_options",
            "stats_config",
            "stats_flush_interval",
            "stats_flush_on_admin",
            "watchdog",
            "watchdogs",
            "tracing",
            "layered_runtime",
            "admin",
            "overload_manager",
            "enable_dispatcher_stats",
            "header_prefix",
            "stats_server_version_override",
            "use_tcp_for_dns_lookups",
            "dns_resolution_config",
            "typed_dns_resolver_config",
            "bootstrap_extensions",
            "fatal_actions",
            "config_sources",
            "default_config_source",
            "default_socket_interface",
            "certificate_provider_instances",
            "inline_headers",
            "perf_tracing_file_path",
            "default_regex_engine",
            "xds_delegate_extension",
            "xds_config_tracker_extension",
            "listener_manager",
            "application_log_config",
            "grpc_async_client_manager_config",
            "memory_allocator_manager",
        ],
    )?;
    if let Some(k) = f.key("dynamic_resources") {
        cx.warn(
            k,
            "dynamic_resources: listeners and routes from xDS are not read, only \
             static_resources",
        );
    }
    let Some(sr) = f.get("static_resources") else {
        cx.err(
            root,
            "a bootstrap without `static_resources`: no listener to read",
        );
        return None;
    };
    let sf = cx.fields(
        sr,
        "static_resources",
        &["listeners", "clusters", "secrets"],
    )?;
    let mut out: Vec<Listener> = Vec::new();
    let Some(ls) = sf.get("listeners") else {
        cx.warn(sr, "no listeners: nothing is let through");
        return Some(out);
    };
    for (i, l) in cx.list(ls, "listeners")?.iter().enumerate() {
        if let Some(l) = listener(cx, l, i) {
            if let Some(other) = out.iter().find(|o| o.port == l.port) {
                cx.err_at(
                    l.at.line,
                    l.at.column,
                    format!(
                        "a second listener on port {} (the first, `{}`, is on line {}): which \
                         one a connection reaches depends on the address, not the name",
                        l.port, other.name, other.at.line
                    ),
                );
                continue;
            }
            out.push(l);
        }
    }
    Some(out)
}

fn u32_of(cx: &mut Cx, n: &Node, what: &str) -> Option<u32> {
    let s = cx.str(n, what)?;
    match s.parse::<u32>() {
        Ok(v) => Some(v),
        Err(_) => {
            cx.err(n, format!("{what} `{s}` is not a number"));
            None
        }
    }
}

fn true_flag(cx: &mut Cx, f: &Fields<'_>, key: &str) -> bool {
    match f.get(key) {
        Some(n) => cx.bool(n, key).unwrap_or(false),
        None => false,
    }
}

/// `name` and `typed_config` of a filter; the type without its prefix and the typed config's
/// other fields' node.
fn typed<'n>(cx: &mut Cx, filter: &'n Node, what: &str) -> Option<(&'n str, &'n Node, &'n Node)> {
    let f = cx.fields(
        filter,
        what,
        &[
            "name",
            "typed_config",
            "config_discovery",
            "is_optional",
            "disabled",
        ],
    )?;
    if let Some(k) = f.key("config_discovery") {
        cx.err(k, "config_discovery: a filter from xDS is not read");
        return None;
    }
    if let Some(d) = f.get("disabled") {
        if cx.bool(d, "disabled") == Some(true) {
            cx.err(d, "a disabled filter (enabled per route) is not read");
            return None;
        }
    }
    let Some(tc) = f.get("typed_config") else {
        cx.err(filter, format!("{what} without `typed_config`"));
        return None;
    };
    let Value::Map(entries) = &tc.value else {
        cx.err(tc, "typed_config must be a mapping");
        return None;
    };
    let Some((_, t)) = entries
        .iter()
        .find(|(k, _)| yaml::scalar(k) == Some("@type"))
    else {
        cx.err(tc, "typed_config without `@type`");
        return None;
    };
    let ty = cx.str(t, "@type")?;
    let Some(short) = ty.strip_prefix(TYPE_PREFIX) else {
        cx.err(t, format!("@type `{ty}` does not start with {TYPE_PREFIX}"));
        return None;
    };
    Some((short, t, tc))
}

/// The fields of a typed config other than `@type`.
fn typed_fields<'n>(cx: &mut Cx, tc: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
    let mut all = vec!["@type"];
    all.extend_from_slice(known);
    cx.fields(tc, what, &all)
}

fn listener(cx: &mut Cx, node: &Node, index: usize) -> Option<Listener> {
    let f = cx.fields(
        node,
        "a listener",
        &[
            "name",
            "address",
            "additional_addresses",
            "stat_prefix",
            "filter_chains",
            "filter_chain_matcher",
            "use_original_dst",
            "default_filter_chain",
            "per_connection_buffer_limit_bytes",
            "metadata",
            "deprecated_v1",
            "drain_type",
            "listener_filters",
            "listener_filters_timeout",
            "continue_on_listener_filters_timeout",
            "transparent",
            "freebind",
            "socket_options",
            "tcp_fast_open_queue_length",
            "traffic_direction",
            "udp_listener_config",
            "api_listener",
            "connection_balance_config",
            "reuse_port",
            "enable_reuse_port",
            "access_log",
            "tcp_backlog_size",
            "max_connections_to_accept_per_socket_event",
            "bind_to_port",
            "internal_listener",
            "enable_mptcp",
            "ignore_global_conn_limit",
            "bypass_overload_manager",
            "fcds_config",
        ],
    )?;
    for key in [
        "additional_addresses",
        "filter_chain_matcher",
        "udp_listener_config",
        "api_listener",
        "internal_listener",
        "fcds_config",
    ] {
        if let Some(k) = f.key(key) {
            cx.err(
                k,
                format!("{key}: not read (which chain or port a connection gets would not be decided by its name here)"),
            );
            return None;
        }
    }
    if true_flag(cx, &f, "use_original_dst") {
        if let Some(k) = f.key("use_original_dst") {
            cx.err(
                k,
                "use_original_dst: connections are handed to the listener of their original \
                 destination, which is not decided here",
            );
        }
        return None;
    }
    let name = match f.get("name") {
        Some(n) => {
            let s = cx.str(n, "name")?;
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
            {
                s.to_string()
            } else {
                format!("listener-{index}")
            }
        }
        None => format!("listener-{index}"),
    };
    let Some(addr) = f.get("address") else {
        cx.err(node, "a listener without `address`");
        return None;
    };
    let af = cx.fields(
        addr,
        "address",
        &["socket_address", "pipe", "envoy_internal_address"],
    )?;
    let Some(sa) = af.get("socket_address") else {
        cx.err(
            addr,
            "only `socket_address` listeners are read (a pipe or internal address has no port)",
        );
        return None;
    };
    let saf = cx.fields(
        sa,
        "socket_address",
        &[
            "protocol",
            "address",
            "port_value",
            "named_port",
            "resolver_name",
            "ipv4_compat",
            "network_namespace_filepath",
        ],
    )?;
    if let Some(p) = saf.get("protocol") {
        if cx.str(p, "protocol")? != "TCP" {
            cx.err(p, "only TCP listeners are read");
            return None;
        }
    }
    let Some(pv) = saf.get("port_value") else {
        cx.err(sa, "a socket_address without `port_value`");
        return None;
    };
    let port = u32_of(cx, pv, "port_value")?;
    let Some(port) = u16::try_from(port).ok().filter(|&p| p != 0) else {
        cx.err(pv, format!("port_value {port}: expected 1-65535"));
        return None;
    };
    let mut inspector = false;
    if let Some(lf) = f.get("listener_filters") {
        for filter in cx.list(lf, "listener_filters")? {
            let (ty, t, tc) = typed(cx, filter, "a listener filter")?;
            match ty {
                T_TLS_INSPECTOR => {
                    typed_fields(
                        cx,
                        tc,
                        "the TLS inspector",
                        &[
                            "enable_ja3_fingerprinting",
                            "enable_ja4_fingerprinting",
                            "initial_read_buffer_size",
                            "max_client_hello_size",
                        ],
                    )?;
                    inspector = true;
                }
                T_HTTP_INSPECTOR => {}
                other => {
                    cx.err(t, format!("listener filter `{other}` is not read"));
                    return None;
                }
            }
        }
    }
    let mut chains = Vec::new();
    if let Some(fc) = f.get("filter_chains") {
        for c in cx.list(fc, "filter_chains")? {
            chains.push(chain(cx, c)?);
        }
    }
    let default_chain = match f.get("default_filter_chain") {
        Some(d) => {
            let c = chain(cx, d)?;
            if !c.names.is_empty() || c.transport.is_some() || c.dest_port.is_some() {
                cx.err(d, "default_filter_chain takes no filter_chain_match");
                return None;
            }
            Some(c)
        }
        None => None,
    };
    if chains.is_empty() && default_chain.is_none() {
        cx.err(
            node,
            "a listener without filter_chains or default_filter_chain",
        );
        return None;
    }
    // Envoy refuses two chains with the same match; so does this reader.
    let mut seen: HashMap<(Option<u32>, String, Option<String>), Pos> = HashMap::new();
    for c in &chains {
        let names: Vec<String> = if c.names.is_empty() {
            vec![String::new()]
        } else {
            c.names.iter().map(|(n, _)| n.clone()).collect()
        };
        for n in names {
            if let Some(first) = seen.insert((c.dest_port, n.clone(), c.transport.clone()), c.at) {
                cx.err_at(
                    c.at.line,
                    c.at.column,
                    format!(
                        "this filter chain has the same match as the one on line {} \
                         (Envoy refuses the listener)",
                        first.line
                    ),
                );
                return None;
            }
        }
    }
    if chains.iter().any(|c| !c.names.is_empty()) {
        if !inspector {
            cx.warn(
                node,
                "server_names without the tls_inspector listener filter: the SNI is never \
                 read, so no chain with server_names is ever chosen",
            );
        } else {
            cx.warn(
                node,
                "server_names: a trailing dot is not removed from the SNI, so `api.example.com.` \
                 matches none of them (and goes to a chain without server_names)",
            );
        }
    }
    Some(Listener {
        name,
        at: at(node),
        port,
        inspector,
        chains,
        default_chain,
    })
}

fn chain(cx: &mut Cx, node: &Node) -> Option<Chain> {
    let f = cx.fields(
        node,
        "a filter chain",
        &[
            "filter_chain_match",
            "filters",
            "use_proxy_proto",
            "metadata",
            "transport_socket",
            "transport_socket_connect_timeout",
            "name",
            "on_demand_configuration",
        ],
    )?;
    for key in [
        "transport_socket",
        "on_demand_configuration",
        "use_proxy_proto",
    ] {
        if let Some(k) = f.key(key) {
            cx.err(
                k,
                format!("{key}: not read (TLS termination or a PROXY header changes what the chain sees)"),
            );
            return None;
        }
    }
    let mut names = Vec::new();
    let mut transport = None;
    let mut dest_port = None;
    if let Some(m) = f.get("filter_chain_match") {
        let mf = cx.fields(
            m,
            "filter_chain_match",
            &[
                "destination_port",
                "prefix_ranges",
                "address_suffix",
                "suffix_len",
                "direct_source_prefix_ranges",
                "source_type",
                "source_prefix_ranges",
                "source_ports",
                "server_names",
                "transport_protocol",
                "application_protocols",
            ],
        )?;
        for key in [
            "prefix_ranges",
            "address_suffix",
            "suffix_len",
            "direct_source_prefix_ranges",
            "source_prefix_ranges",
            "source_ports",
            "application_protocols",
        ] {
            if let Some(k) = mf.key(key) {
                cx.err(
                    k,
                    format!(
                        "filter_chain_match.{key}: the chain chosen would depend on addresses \
                         or ALPN, not on the name"
                    ),
                );
                return None;
            }
        }
        if let Some(st) = mf.get("source_type") {
            if cx.str(st, "source_type")? != "ANY" {
                cx.err(
                    st,
                    "source_type: the chain chosen would depend on the client's address",
                );
                return None;
            }
        }
        if let Some(p) = mf.get("destination_port") {
            dest_port = Some(u32_of(cx, p, "destination_port")?);
        }
        if let Some(t) = mf.get("transport_protocol") {
            let t_s = cx.str(t, "transport_protocol")?;
            if t_s != "tls" && t_s != "raw_buffer" {
                cx.err(
                    t,
                    format!("transport_protocol `{t_s}`: expected tls or raw_buffer"),
                );
                return None;
            }
            transport = Some(t_s.to_string());
        }
        if let Some(sn) = mf.get("server_names") {
            for n in cx.list(sn, "server_names")? {
                let s = cx.str(n, "a server name")?;
                let body = s.strip_prefix("*.").unwrap_or(s);
                if s.is_empty() || body.is_empty() || body.contains('*') {
                    cx.err(
                        n,
                        format!("server name `{s}`: expected a name or `*.` and a name"),
                    );
                    return None;
                }
                if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    cx.err(
                        n,
                        format!(
                            "server name `{s}` has capitals: Envoy compares server_names with \
                             the lowercased SNI; write it in lowercase"
                        ),
                    );
                    return None;
                }
                names.push((s.to_string(), at(n)));
            }
        }
    }
    let Some(filters) = f.get("filters") else {
        cx.err(node, "a filter chain without `filters`");
        return None;
    };
    let mut net_rbac = Vec::new();
    let mut term = None;
    for filter in cx.list(filters, "filters")? {
        let (ty, t, tc) = typed(cx, filter, "a network filter")?;
        if term.is_some() {
            cx.err(filter, "a network filter after the terminal one (tcp_proxy or the HTTP connection manager)");
            return None;
        }
        match ty {
            T_NET_RBAC => net_rbac.push(rbac(cx, tc, false)?),
            T_TCP => {
                typed_fields(
                    cx,
                    tc,
                    "tcp_proxy",
                    &[
                        "stat_prefix",
                        "cluster",
                        "weighted_clusters",
                        "on_demand",
                        "metadata_match",
                        "idle_timeout",
                        "downstream_idle_timeout",
                        "upstream_idle_timeout",
                        "access_log",
                        "max_connect_attempts",
                        "hash_policy",
                        "tunneling_config",
                        "max_downstream_connection_duration",
                        "access_log_flush_interval",
                        "flush_access_log_on_connected",
                        "access_log_options",
                        "backoff_options",
                        "proxy_protocol_tlvs",
                        "max_early_data_bytes",
                    ],
                )?;
                term = Some(Term::Tcp);
            }
            T_HCM => term = Some(Term::Hcm(Box::new(hcm(cx, tc)?))),
            other => {
                cx.err(
                    t,
                    format!("network filter `{other}` is not read: what it lets through is not known here"),
                );
                return None;
            }
        }
    }
    let Some(term) = term else {
        cx.err(
            filters,
            "a filter chain without tcp_proxy or an HTTP connection manager",
        );
        return None;
    };
    Some(Chain {
        at: at(node),
        names,
        transport,
        dest_port,
        net_rbac,
        term,
    })
}

/// An RBAC filter's config (`http`: the HTTP filter, whose permissions may read headers).
fn rbac(cx: &mut Cx, tc: &Node, http: bool) -> Option<Rbac> {
    let known: &[&str] = if http {
        &[
            "rules",
            "matcher",
            "shadow_rules",
            "shadow_matcher",
            "shadow_rules_stat_prefix",
            "rules_stat_prefix",
            "track_per_rule_stats",
        ]
    } else {
        &[
            "stat_prefix",
            "rules",
            "matcher",
            "shadow_rules",
            "shadow_matcher",
            "shadow_rules_stat_prefix",
            "enforcement_type",
            "delay_deny",
            "track_per_rule_stats",
        ]
    };
    let f = typed_fields(cx, tc, "the RBAC filter", known)?;
    if let Some(k) = f.key("matcher") {
        cx.err(
            k,
            "RBAC `matcher` (the matcher API) is not read: write `rules`",
        );
        return None;
    }
    if let Some(e) = f.get("enforcement_type") {
        if cx.str(e, "enforcement_type")? != "ONE_TIME_ON_FIRST_BYTE" {
            cx.err(
                e,
                "enforcement_type CONTINUOUS: decided again on metadata, not read",
            );
            return None;
        }
    }
    let Some(rules) = f.get("rules") else {
        return Some(Rbac {
            at: at(tc),
            allow_action: None,
            policies: vec![],
        });
    };
    let rf = cx.fields(
        rules,
        "rules",
        &["action", "policies", "audit_logging_options"],
    )?;
    let action = match rf.get("action") {
        None => "ALLOW",
        Some(a) => cx.str(a, "action")?,
    };
    let allow_action = match action {
        "ALLOW" => Some(true),
        "DENY" => Some(false),
        "LOG" => None,
        other => {
            let n = rf.get("action").unwrap_or(rules);
            cx.err(n, format!("action `{other}`: expected ALLOW, DENY or LOG"));
            return None;
        }
    };
    let mut policies = Vec::new();
    if let Some(ps) = rf.get("policies") {
        let Value::Map(entries) = &ps.value else {
            cx.err(ps, "policies must be a mapping of names to policies");
            return None;
        };
        for (k, p) in entries {
            let pf = cx.fields(
                p,
                "a policy",
                &[
                    "permissions",
                    "principals",
                    "condition",
                    "checked_condition",
                    "cel_config",
                ],
            )?;
            for key in ["condition", "checked_condition"] {
                if let Some(c) = pf.key(key) {
                    cx.err(
                        c,
                        format!("{key}: a CEL expression is not decided by the name"),
                    );
                    return None;
                }
            }
            let (Some(perms), Some(princs)) = (pf.get("permissions"), pf.get("principals")) else {
                cx.err(p, "a policy needs `permissions` and `principals`");
                return None;
            };
            let mut ors = Vec::new();
            for perm in cx.list(perms, "permissions")? {
                ors.push(permission(cx, perm, http)?);
            }
            let mut ids = Vec::new();
            for pr in cx.list(princs, "principals")? {
                ids.push(principal(cx, pr, http)?);
            }
            policies.push((F::And(vec![F::Or(ors), F::Or(ids)]), at(k)));
        }
    }
    Some(Rbac {
        at: at(tc),
        allow_action,
        policies,
    })
}

fn rules_of(cx: &mut Cx, n: &Node, http: bool, ids: bool) -> Option<Vec<F>> {
    let what = if ids { "ids" } else { "rules" };
    let f = cx.fields(n, "a set", &[what])?;
    let Some(rs) = f.get(what) else {
        cx.err(n, format!("a set without `{what}`"));
        return None;
    };
    let mut out = Vec::new();
    for r in cx.list(rs, what)? {
        out.push(if ids {
            principal(cx, r, http)?
        } else {
            permission(cx, r, http)?
        });
    }
    if out.is_empty() {
        cx.err(rs, format!("an empty `{what}` list"));
        return None;
    }
    Some(out)
}

/// The one key of a oneof mapping.
fn one_key<'n>(
    cx: &mut Cx,
    n: &'n Node,
    what: &str,
    known: &[&str],
) -> Option<(&'n str, &'n Node, &'n Node)> {
    cx.fields(n, what, known)?;
    let Value::Map(entries) = &n.value else {
        return None;
    };
    match entries.as_slice() {
        [(k, v)] => Some((yaml::scalar(k).unwrap_or(""), k, v)),
        _ => {
            cx.err(
                n,
                format!("{what} must have exactly one of: {}", known.join(", ")),
            );
            None
        }
    }
}

fn permission(cx: &mut Cx, n: &Node, http: bool) -> Option<F> {
    let (key, k, v) = one_key(
        cx,
        n,
        "a permission",
        &[
            "and_rules",
            "or_rules",
            "any",
            "header",
            "url_path",
            "destination_ip",
            "destination_port",
            "destination_port_range",
            "metadata",
            "not_rule",
            "requested_server_name",
            "matcher",
            "uri_template",
            "sourced_metadata",
        ],
    )?;
    Some(match key {
        "any" => F::Const(cx.bool(v, "any")?),
        "and_rules" => F::And(rules_of(cx, v, http, false)?),
        "or_rules" => F::Or(rules_of(cx, v, http, false)?),
        "not_rule" => F::Not(Box::new(permission(cx, v, http)?)),
        "requested_server_name" => F::Sni(string_matcher(cx, v)?),
        "destination_port" => {
            let p = u32_of(cx, v, "destination_port")?;
            F::Port(vec![(p, p)])
        }
        "destination_port_range" => {
            let rf = cx.fields(v, "destination_port_range", &["start", "end"])?;
            let s = match rf.get("start") {
                Some(s) => u32_of(cx, s, "start")?,
                None => 0,
            };
            let e = match rf.get("end") {
                Some(e) => u32_of(cx, e, "end")?,
                None => 0,
            };
            // `end` is exclusive.
            if e <= s {
                F::Const(false)
            } else {
                F::Port(vec![(s, e - 1)])
            }
        }
        "header" if http => header(cx, v)?,
        other => {
            cx.err(
                k,
                format!(
                    "permission `{other}`{}: not decided by the destination name",
                    if other == "header" {
                        " in a network filter"
                    } else {
                        ""
                    }
                ),
            );
            return None;
        }
    })
}

fn principal(cx: &mut Cx, n: &Node, http: bool) -> Option<F> {
    let (key, k, v) = one_key(
        cx,
        n,
        "a principal",
        &[
            "and_ids",
            "or_ids",
            "any",
            "authenticated",
            "source_ip",
            "direct_remote_ip",
            "remote_ip",
            "header",
            "url_path",
            "metadata",
            "filter_state",
            "not_id",
            "sourced_metadata",
            "custom",
        ],
    )?;
    Some(match key {
        "any" => F::Const(cx.bool(v, "any")?),
        "and_ids" => F::And(rules_of(cx, v, http, true)?),
        "or_ids" => F::Or(rules_of(cx, v, http, true)?),
        "not_id" => F::Not(Box::new(principal(cx, v, http)?)),
        "header" if http && is_host_header(v) => header(cx, v)?,
        other => {
            cx.warn(
                k,
                format!(
                    "principal `{other}` is about the client, not the destination: taken to \
                     match every client"
                ),
            );
            F::Const(true)
        }
    })
}

/// Whether a header matcher is on `:authority` (`host`).
fn is_host_header(n: &Node) -> bool {
    let Value::Map(entries) = &n.value else {
        return false;
    };
    entries.iter().any(|(k, v)| {
        yaml::scalar(k) == Some("name")
            && yaml::scalar(v).is_some_and(|h| {
                h.eq_ignore_ascii_case(":authority") || h.eq_ignore_ascii_case("host")
            })
    })
}

/// A header matcher: only `:authority`/`host` is decided by the name.
fn header(cx: &mut Cx, n: &Node) -> Option<F> {
    let f = cx.fields(
        n,
        "a header matcher",
        &[
            "name",
            "exact_match",
            "safe_regex_match",
            "range_match",
            "present_match",
            "prefix_match",
            "suffix_match",
            "contains_match",
            "string_match",
            "invert_match",
            "treat_missing_header_as_empty",
        ],
    )?;
    let Some(name) = f.get("name") else {
        cx.err(n, "a header matcher without `name`");
        return None;
    };
    let name_s = cx.str(name, "name")?.to_ascii_lowercase();
    if name_s != ":authority" && name_s != "host" {
        cx.err(
            name,
            format!("header `{name_s}`: only :authority (host) is decided by the name"),
        );
        return None;
    }
    let invert = match f.get("invert_match") {
        Some(i) => cx.bool(i, "invert_match")?,
        None => false,
    };
    let keys = [
        "exact_match",
        "prefix_match",
        "suffix_match",
        "contains_match",
        "safe_regex_match",
    ];
    let mut m = matcher_fields(cx, &f, keys, false)?;
    if let Some(v) = f.get("string_match") {
        m = Some(string_matcher(cx, v)?);
    }
    if let Some(v) = f.get("present_match") {
        let p = cx.bool(v, "present_match")?;
        return Some(F::Const(p != invert));
    }
    if let Some(k) = f.key("range_match") {
        cx.err(k, "range_match on the Host is not read");
        return None;
    }
    let Some(m) = m else {
        // No value matcher: the header's presence, and the Host is always there.
        return Some(F::Const(!invert));
    };
    Some(F::Host(m, invert))
}

fn regex_of(cx: &mut Cx, v: &Node) -> Option<String> {
    let rf = cx.fields(v, "a regex matcher", &["regex", "google_re2"])?;
    let Some(r) = rf.get("regex") else {
        cx.err(v, "a regex matcher without `regex`");
        return None;
    };
    Some(cx.str(r, "regex")?.to_string())
}

/// The value matcher among `keys` (exact, prefix, suffix, contains, regex, in that order: the
/// last one present wins), `Some(None)` when none is there. `ignore_case` does not apply to
/// the regex, as in Envoy.
fn matcher_fields(
    cx: &mut Cx,
    f: &Fields<'_>,
    keys: [&str; 5],
    ignore_case: bool,
) -> Option<Option<Matcher>> {
    let mut found = None;
    let kinds = [Kind::Exact, Kind::Prefix, Kind::Suffix, Kind::Contains];
    for (key, kind) in keys.into_iter().zip(kinds) {
        if let Some(v) = f.get(key) {
            found = Some(Matcher {
                kind,
                text: cx.str(v, key)?.to_string(),
                ignore_case,
                at: at(v),
            });
        }
    }
    if let Some(v) = f.get(keys[4]) {
        found = Some(Matcher {
            kind: Kind::Regex,
            text: regex_of(cx, v)?,
            ignore_case: false,
            at: at(v),
        });
    }
    Some(found)
}

fn string_matcher(cx: &mut Cx, n: &Node) -> Option<Matcher> {
    let f = cx.fields(
        n,
        "a string matcher",
        &[
            "exact",
            "prefix",
            "suffix",
            "contains",
            "safe_regex",
            "custom",
            "ignore_case",
        ],
    )?;
    let ignore_case = match f.get("ignore_case") {
        Some(i) => cx.bool(i, "ignore_case")?,
        None => false,
    };
    let keys = ["exact", "prefix", "suffix", "contains", "safe_regex"];
    let found = matcher_fields(cx, &f, keys, ignore_case)?;
    if let Some(k) = f.key("custom") {
        cx.err(k, "a custom string matcher is not read");
        return None;
    }
    if found.is_none() {
        cx.err(
            n,
            "a string matcher without exact, prefix, suffix, contains or safe_regex",
        );
    }
    found
}

fn hcm(cx: &mut Cx, tc: &Node) -> Option<Hcm> {
    let f = typed_fields(
        cx,
        tc,
        "the HTTP connection manager",
        &[
            "codec_type",
            "stat_prefix",
            "rds",
            "route_config",
            "scoped_routes",
            "http_filters",
            "add_user_agent",
            "tracing",
            "common_http_protocol_options",
            "http1_protocol_options",
            "http2_protocol_options",
            "http3_protocol_options",
            "server_name",
            "server_header_transformation",
            "scheme_header_transformation",
            "max_request_headers_kb",
            "stream_idle_timeout",
            "request_timeout",
            "request_headers_timeout",
            "drain_timeout",
            "delayed_close_timeout",
            "access_log",
            "access_log_options",
            "use_remote_address",
            "xff_num_trusted_hops",
            "original_ip_detection_extensions",
            "early_header_mutation_extensions",
            "internal_address_config",
            "skip_xff_append",
            "via",
            "generate_request_id",
            "preserve_external_request_id",
            "always_set_request_id_in_response",
            "forward_client_cert_details",
            "set_current_client_cert_details",
            "proxy_100_continue",
            "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
            "upgrade_configs",
            "normalize_path",
            "merge_slashes",
            "path_with_escaped_slashes_action",
            "request_id_extension",
            "local_reply_config",
            "strip_matching_host_port",
            "strip_any_host_port",
            "stream_error_on_invalid_http_message",
            "strip_trailing_host_dot",
            "proxy_status_config",
            "typed_header_validation_config",
            "append_x_forwarded_port",
            "append_local_overload",
            "add_proxy_protocol_connection_state",
            "http_services",
        ],
    )?;
    for key in [
        "rds",
        "scoped_routes",
        "early_header_mutation_extensions",
        "strip_trailing_host_dot",
    ] {
        if let Some(k) = f.key(key) {
            let why = match key {
                "rds" | "scoped_routes" => "routes from xDS are not read: write route_config",
                "strip_trailing_host_dot" => "a Host without its trailing dot is not reproduced",
                _ => "a header mutation before routing is not read",
            };
            cx.err(k, format!("{key}: {why}"));
            return None;
        }
    }
    let mut strip = Strip::None;
    let mut strip_at = None;
    if true_flag(cx, &f, "strip_any_host_port") {
        strip = Strip::Any;
        strip_at = f.key("strip_any_host_port").map(at);
    } else if true_flag(cx, &f, "strip_matching_host_port") {
        strip = Strip::Matching;
        strip_at = f.key("strip_matching_host_port").map(at);
    }
    let mut connect_upgrade = false;
    if let Some(u) = f.get("upgrade_configs") {
        connect_upgrade = upgrades(cx, u)?;
    }
    let mut rbacs = Vec::new();
    let mut router = false;
    if let Some(hf) = f.get("http_filters") {
        for filter in cx.list(hf, "http_filters")? {
            let (ty, t, tc) = typed(cx, filter, "an HTTP filter")?;
            if router {
                cx.err(filter, "an HTTP filter after the router");
                return None;
            }
            match ty {
                T_HTTP_RBAC => rbacs.push(rbac(cx, tc, true)?),
                T_ROUTER => router = true,
                T_DFP => cx.warn(
                    t,
                    "dynamic_forward_proxy: a name that does not resolve is let through here \
                     (Envoy answers 503 after its DNS lookup fails)",
                ),
                other => {
                    cx.err(
                        t,
                        format!("HTTP filter `{other}` is not read: what it lets through is not known here"),
                    );
                    return None;
                }
            }
        }
    }
    if !router {
        cx.err(
            tc,
            "an HTTP connection manager without the router filter: no request is forwarded",
        );
        return None;
    }
    let Some(rc) = f.get("route_config") else {
        cx.err(tc, "an HTTP connection manager without route_config");
        return None;
    };
    let rf = cx.fields(
        rc,
        "route_config",
        &[
            "name",
            "virtual_hosts",
            "vhds",
            "internal_only_headers",
            "response_headers_to_add",
            "response_headers_to_remove",
            "request_headers_to_add",
            "request_headers_to_remove",
            "most_specific_header_mutations_wins",
            "validate_clusters",
            "max_direct_response_body_size_bytes",
            "cluster_specifier_plugins",
            "request_mirror_policies",
            "ignore_port_in_host_matching",
            "ignore_path_parameters_in_path_matching",
            "typed_per_filter_config",
            "metadata",
        ],
    )?;
    if let Some(k) = rf.key("vhds") {
        cx.err(k, "vhds: virtual hosts from xDS are not read");
        return None;
    }
    if let Some(t) = rf.get("typed_per_filter_config") {
        per_filter(cx, t)?;
    }
    if true_flag(cx, &rf, "ignore_port_in_host_matching") {
        strip = Strip::Any;
        strip_at = rf.key("ignore_port_in_host_matching").map(at);
    }
    let mut vhosts = Vec::new();
    let mut seen: HashMap<String, Pos> = HashMap::new();
    if let Some(vs) = rf.get("virtual_hosts") {
        for v in cx.list(vs, "virtual_hosts")? {
            let vh = vhost(cx, v, connect_upgrade)?;
            for (d, p) in &vh.domains {
                if let Some(first) = seen.insert(d.clone(), *p) {
                    cx.err_at(
                        p.line,
                        p.column,
                        format!(
                            "domain `{d}` is also on line {} (Envoy refuses the route config)",
                            first.line
                        ),
                    );
                    return None;
                }
            }
            vhosts.push(vh);
        }
    }
    Some(Hcm {
        at: at(tc),
        rbac: rbacs,
        vhosts,
        strip,
        strip_at,
    })
}

/// Whether `upgrade_configs` enables CONNECT.
fn upgrades(cx: &mut Cx, u: &Node) -> Option<bool> {
    let mut connect = false;
    for c in cx.list(u, "upgrade_configs")? {
        let cf = cx.fields(
            c,
            "an upgrade config",
            &["upgrade_type", "filters", "enabled", "connect_config"],
        )?;
        let Some(t) = cf.get("upgrade_type") else {
            cx.err(c, "an upgrade config without upgrade_type");
            return None;
        };
        let enabled = match cf.get("enabled") {
            Some(e) => match &e.value {
                Value::Map(_) => {
                    let ef = cx.fields(e, "enabled", &["value"])?;
                    match ef.get("value") {
                        Some(v) => cx.bool(v, "value")?,
                        None => false,
                    }
                }
                _ => cx.bool(e, "enabled")?,
            },
            None => true,
        };
        if cx.str(t, "upgrade_type")?.eq_ignore_ascii_case("CONNECT") && enabled {
            connect = true;
        }
    }
    Some(connect)
}

/// `typed_per_filter_config`: an RBAC override per host or route is not read.
fn per_filter(cx: &mut Cx, t: &Node) -> Option<()> {
    if let Value::Map(entries) = &t.value {
        for (k, _) in entries {
            if yaml::scalar(k).is_some_and(|s| s.contains("rbac")) {
                cx.err(k, "an RBAC override per virtual host or route is not read");
                return None;
            }
        }
    }
    Some(())
}

fn vhost(cx: &mut Cx, n: &Node, hcm_connect: bool) -> Option<Vhost> {
    let f = cx.fields(
        n,
        "a virtual host",
        &[
            "name",
            "domains",
            "routes",
            "matcher",
            "require_tls",
            "virtual_clusters",
            "rate_limits",
            "request_headers_to_add",
            "request_headers_to_remove",
            "response_headers_to_add",
            "response_headers_to_remove",
            "cors",
            "typed_per_filter_config",
            "include_request_attempt_count",
            "include_attempt_count_in_response",
            "retry_policy",
            "retry_policy_typed_config",
            "hedge_policy",
            "include_is_timeout_retry_header",
            "per_request_buffer_limit_bytes",
            "request_mirror_policies",
            "metadata",
            "request_body_buffer_limit",
        ],
    )?;
    if let Some(k) = f.key("matcher") {
        cx.err(k, "a virtual host `matcher` is not read: write routes");
        return None;
    }
    if let Some(t) = f.get("typed_per_filter_config") {
        per_filter(cx, t)?;
    }
    let Some(ds) = f.get("domains") else {
        cx.err(n, "a virtual host without domains");
        return None;
    };
    let mut domains = Vec::new();
    for d in cx.list(ds, "domains")? {
        let s = cx.str(d, "a domain")?.to_ascii_lowercase();
        let stars = s.matches('*').count();
        let ok = s == "*"
            || (stars == 0 && !s.is_empty())
            || (stars == 1 && (s.starts_with('*') || s.ends_with('*')) && s.len() > 1);
        if !ok {
            cx.err(
                d,
                format!("domain `{s}`: a wildcard is only `*`, a leading `*` or a trailing `*`"),
            );
            return None;
        }
        domains.push((s, at(d)));
    }
    let mut http: Option<(bool, Pos)> = None;
    let mut connect: Option<(bool, Pos)> = None;
    if let Some(rt) = f.get("require_tls") {
        match cx.str(rt, "require_tls")? {
            "NONE" => {}
            // Plain HTTP is redirected to HTTPS.
            "ALL" => http = Some((false, at(rt))),
            other => {
                cx.err(rt, format!("require_tls {other}: whether a request counts as external is not decided here"));
                return None;
            }
        }
    }
    if let Some(rs) = f.get("routes") {
        for r in cx.list(rs, "routes")? {
            let (for_http, for_connect, passes, pos) = route(cx, r, hcm_connect)?;
            if for_http && http.is_none() {
                http = Some((passes.0, pos));
            }
            if for_connect && connect.is_none() {
                connect = Some((passes.1, pos));
            }
        }
    }
    Some(Vhost {
        domains,
        http: http.unwrap_or((false, at(n))),
        connect: connect.unwrap_or((false, at(n))),
    })
}

/// A route: whether it matches every `GET /`, every CONNECT, and whether each passes.
fn route(cx: &mut Cx, n: &Node, hcm_connect: bool) -> Option<(bool, bool, (bool, bool), Pos)> {
    let f = cx.fields(
        n,
        "a route",
        &[
            "name",
            "match",
            "route",
            "redirect",
            "direct_response",
            "filter_action",
            "non_forwarding_action",
            "metadata",
            "decorator",
            "typed_per_filter_config",
            "request_headers_to_add",
            "request_headers_to_remove",
            "response_headers_to_add",
            "response_headers_to_remove",
            "tracing",
            "per_request_buffer_limit_bytes",
            "stat_prefix",
            "request_body_buffer_limit",
        ],
    )?;
    if let Some(t) = f.get("typed_per_filter_config") {
        per_filter(cx, t)?;
    }
    let Some(m) = f.get("match") else {
        cx.err(n, "a route without match");
        return None;
    };
    let mf = cx.fields(
        m,
        "a route match",
        &[
            "prefix",
            "path",
            "safe_regex",
            "connect_matcher",
            "path_separated_prefix",
            "path_match_policy",
            "case_sensitive",
            "runtime_fraction",
            "headers",
            "query_parameters",
            "grpc",
            "tls_context",
            "dynamic_metadata",
            "filter_state",
            "cookies",
        ],
    )?;
    let narrowed = [
        "runtime_fraction",
        "headers",
        "query_parameters",
        "grpc",
        "tls_context",
        "dynamic_metadata",
        "filter_state",
        "cookies",
    ]
    .iter()
    .find(|k| mf.get(k).is_some());
    let mut all_http = false;
    let mut all_connect = false;
    if let Some(p) = mf.get("prefix") {
        all_http = matches!(cx.str(p, "prefix")?, "" | "/");
    } else if let Some(p) = mf.get("path_separated_prefix") {
        all_http = cx.str(p, "path_separated_prefix")? == "/";
    } else if let Some(r) = mf.get("safe_regex") {
        all_http = matches!(regex_of(cx, r)?.as_str(), ".*" | "/.*");
    } else if mf.get("connect_matcher").is_some() || mf.key("connect_matcher").is_some() {
        all_connect = true;
    }
    if mf.get("prefix").is_none() && mf.key("prefix").is_some() {
        all_http = true;
    }
    if let Some(k) = narrowed {
        cx.warn(
            m,
            format!("a route decided by `{k}`, not the name: taken as matching no request"),
        );
        return Some((false, false, (false, false), at(n)));
    }
    if !all_http && !all_connect {
        cx.warn(
            m,
            "a route for some paths only: taken as matching no request (a `GET /` is what a \
             name-only query stands for)",
        );
        return Some((false, false, (false, false), at(n)));
    }
    let mut passes = (false, false);
    let mut pos = at(n);
    if let Some(r) = f.get("route") {
        pos = at(r);
        let mut connect = hcm_connect;
        if let Value::Map(entries) = &r.value {
            if let Some((_, u)) = entries
                .iter()
                .find(|(k, _)| yaml::scalar(k) == Some("upgrade_configs"))
            {
                // A route's upgrade_configs override the connection manager's per type.
                let mut found = false;
                for c in cx.list(u, "upgrade_configs")? {
                    if let Value::Map(ce) = &c.value {
                        if ce.iter().any(|(k, v)| {
                            yaml::scalar(k) == Some("upgrade_type")
                                && yaml::scalar(v)
                                    .is_some_and(|t| t.eq_ignore_ascii_case("CONNECT"))
                        }) {
                            found = true;
                        }
                    }
                }
                if found {
                    connect = upgrades_route(cx, u)?;
                }
            }
        }
        passes = (true, connect);
    } else {
        for key in [
            "direct_response",
            "redirect",
            "filter_action",
            "non_forwarding_action",
        ] {
            if let Some(v) = f.key(key) {
                pos = at(v);
            }
        }
    }
    Some((all_http, all_connect, passes, pos))
}

/// A route's `upgrade_configs` (`upgrade_type`, `enabled`, `connect_config`): CONNECT on?
fn upgrades_route(cx: &mut Cx, u: &Node) -> Option<bool> {
    let mut connect = false;
    for c in cx.list(u, "upgrade_configs")? {
        let cf = cx.fields(
            c,
            "an upgrade config",
            &["upgrade_type", "enabled", "connect_config"],
        )?;
        let enabled = match cf.get("enabled") {
            Some(e) => cx.bool(e, "enabled")?,
            None => true,
        };
        if cf
            .get("upgrade_type")
            .and_then(yaml::scalar)
            .is_some_and(|t| t.eq_ignore_ascii_case("CONNECT"))
            && enabled
        {
            connect = true;
        }
    }
    Some(connect)
}

/// What the name is in a decision: the SNI (lowercased by Envoy), the Host as sent, or
/// neither (a plain connection's SNI is empty).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The SNI is the name.
    Sni,
    /// Plain HTTP: the SNI is empty, the Host (as received) is the name.
    Host,
}

/// A `requested_server_name` matcher as an atom on the received SNI: Envoy lowercases the
/// SNI first, so a case-sensitive pattern with capitals never matches.
fn sni_atom(cx: &mut Cx, m: &Matcher) -> Option<Vec<Atom>> {
    if m.kind == Kind::Regex {
        let mut escaped = false;
        for c in m.text.chars() {
            if !escaped && c.is_ascii_uppercase() {
                cx.err_at(
                    m.at.line,
                    m.at.column,
                    format!(
                        "regex `{}` has capitals outside escapes: Envoy matches it against the \
                         lowercased SNI; write it in lowercase",
                        m.text
                    ),
                );
                return None;
            }
            escaped = !escaped && c == '\\';
        }
        return Some(vec![Atom::new(
            Kind::Regex,
            &format!("(?i:{})", m.text),
            false,
        )]);
    }
    if !m.ignore_case && m.text.bytes().any(|b| b.is_ascii_uppercase()) {
        cx.warn_at(
            m.at.line,
            m.at.column,
            format!(
                "`{}` has capitals and no ignore_case: the SNI Envoy compares is lowercased, so \
                 this never matches",
                m.text
            ),
        );
        return Some(vec![]);
    }
    Some(vec![Atom::new(m.kind.clone(), &m.text, true)])
}

/// A warning naming a Host that escapes a case-sensitive, port-blind `:authority` matcher.
fn host_quirk(cx: &mut Cx, m: &Matcher, deny: bool) {
    if m.kind == Kind::Regex {
        return;
    }
    let sample = match m.kind {
        Kind::Suffix if m.text.starts_with('.') => format!("www{}", m.text),
        Kind::Prefix if m.text.ends_with('.') => format!("{}example.com", m.text),
        _ => m.text.clone(),
    };
    let mut escapes = Vec::new();
    if !m.ignore_case && sample.bytes().any(|b| b.is_ascii_lowercase()) {
        escapes.push(format!("`{}`", sample.to_ascii_uppercase()));
    }
    if matches!(m.kind, Kind::Exact | Kind::Suffix) && !m.text.contains(':') {
        escapes.push(format!("`{sample}:8080`"));
    }
    if escapes.is_empty() {
        return;
    }
    let verb = if deny { "denied" } else { "allowed" };
    cx.warn_at(
        m.at.line,
        m.at.column,
        format!(
            "the Host is matched as sent (case kept, `:port` kept): {} {} not {verb} by this",
            escapes.join(" and "),
            if escapes.len() > 1 { "are" } else { "is" }
        ),
    );
}

fn eval(b: &mut Build<'_>, f: &F, ctx: Ctx, port: u16, at: Pos) -> List {
    match f {
        F::Const(v) => List::constant(*v, at),
        F::Port(ranges) => List::constant(
            ranges
                .iter()
                .any(|&(s, e)| s <= u32::from(port) && u32::from(port) <= e),
            at,
        ),
        F::Sni(m) => match ctx {
            Ctx::Sni => match sni_atom(b.cx, m) {
                Some(atoms) => List::pos(atoms, m.at),
                None => {
                    b.failed = true;
                    List::constant(false, m.at)
                }
            },
            Ctx::Host => {
                let a = Atom::new(m.kind.clone(), &m.text, m.ignore_case);
                let needs_char = m.kind == Kind::Regex
                    && !m.text.contains(['*', '?', '{', '|'])
                    && m.text.chars().any(|c| !"^$()".contains(c));
                if needs_char {
                    return List::constant(false, m.at);
                }
                match a.eval("") {
                    Some(v) => List::constant(v, m.at),
                    None => {
                        b.cx.warn_at(
                            m.at.line,
                            m.at.column,
                            "a plain connection has no SNI: this regex is taken as not \
                             matching the empty name",
                        );
                        List::constant(false, m.at)
                    }
                }
            }
        },
        F::Host(m, invert) => {
            let l = List::pos(
                vec![Atom::new(m.kind.clone(), &m.text, m.ignore_case)],
                m.at,
            );
            if *invert {
                Build::not(&l)
            } else {
                l
            }
        }
        F::And(fs) => {
            let mut acc = List::constant(true, at);
            for f in fs {
                let l = eval(b, f, ctx, port, at);
                acc = b.and(&acc, &l);
            }
            acc
        }
        F::Or(fs) => {
            let mut acc = List::constant(false, at);
            for f in fs {
                let l = eval(b, f, ctx, port, at);
                acc = b.or(&acc, &l);
            }
            acc
        }
        F::Not(f) => Build::not(&eval(b, f, ctx, port, at)),
    }
}

/// Whether an RBAC filter lets the name through.
fn rbac_list(b: &mut Build<'_>, r: &Rbac, ctx: Ctx, port: u16, http: bool) -> List {
    let Some(allow_action) = r.allow_action else {
        return List::constant(true, r.at);
    };
    let mut any = List::constant(false, r.at);
    for (f, pos) in &r.policies {
        if http {
            quirks(b.cx, f, !allow_action);
        }
        let l = eval(b, f, ctx, port, *pos);
        any = b.or(&any, &l);
    }
    if allow_action {
        any
    } else {
        Build::not(&any)
    }
}

fn quirks(cx: &mut Cx, f: &F, deny: bool) {
    match f {
        F::Host(m, invert) => host_quirk(cx, m, deny != *invert),
        F::And(fs) | F::Or(fs) => fs.iter().for_each(|f| quirks(cx, f, deny)),
        F::Not(f) => quirks(cx, f, !deny),
        _ => {}
    }
}

/// The chain a connection gets: the most specific of `candidates` for the transport, if any.
fn by_transport<'c>(candidates: &[&'c Chain], detected: &str) -> Option<&'c Chain> {
    candidates
        .iter()
        .find(|c| c.transport.as_deref() == Some(detected))
        .or_else(|| candidates.iter().find(|c| c.transport.is_none()))
        .copied()
}

/// The chains a connection to the listener's own port is matched against: those for that
/// `destination_port` if any, else those without one (Envoy does not fall back).
fn port_group(l: &Listener) -> Vec<&Chain> {
    let own: Vec<&Chain> = l
        .chains
        .iter()
        .filter(|c| c.dest_port == Some(u32::from(l.port)))
        .collect();
    if !own.is_empty() {
        return own;
    }
    l.chains.iter().filter(|c| c.dest_port.is_none()).collect()
}

/// A chain's verdict; `None`: the default chain, else closed.
fn chain_or_default<'c>(l: &'c Listener, c: Option<&'c Chain>) -> Option<&'c Chain> {
    c.or(l.default_chain.as_ref())
}

fn tls_list(b: &mut Build<'_>, l: &Listener) -> List {
    let group = port_group(l);
    let detected = if l.inspector { "tls" } else { "raw_buffer" };
    let catchall: Vec<&Chain> = group
        .iter()
        .copied()
        .filter(|c| c.names.is_empty())
        .collect();
    let verdict = |b: &mut Build<'_>, c: Option<&Chain>| -> List {
        match chain_or_default(l, c) {
            None => List::constant(false, l.at),
            Some(c) => chain_tls(b, c, l),
        }
    };
    let mut rest = verdict(b, by_transport(&catchall, detected));
    if !l.inspector {
        return rest;
    }
    let mut keys: Vec<(&str, Pos)> = Vec::new();
    for c in &group {
        for (n, p) in &c.names {
            if !keys.iter().any(|(k, _)| k == n) {
                keys.push((n, *p));
            }
        }
    }
    let mut wild: Vec<(&str, Pos)> = keys
        .iter()
        .copied()
        .filter(|(k, _)| k.starts_with("*."))
        .collect();
    wild.sort_by_key(|(k, _)| k.len());
    let exact: Vec<(&str, Pos)> = keys
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("*."))
        .collect();
    for (k, p) in wild.into_iter().chain(exact) {
        let with: Vec<&Chain> = group
            .iter()
            .copied()
            .filter(|c| c.names.iter().any(|(n, _)| n == k))
            .collect();
        let then = verdict(b, by_transport(&with, detected));
        let atom = match k.strip_prefix('*') {
            Some(suffix) => Atom {
                kind: Kind::Suffix,
                text: suffix.to_string(),
                ci: true,
                strict: true,
            },
            None => Atom::new(Kind::Exact, k, true),
        };
        rest = b.ite(&[atom], p, &then, &rest);
    }
    rest
}

fn chain_tls(b: &mut Build<'_>, c: &Chain, l: &Listener) -> List {
    let ctx = if l.inspector { Ctx::Sni } else { Ctx::Host };
    let term = match c.term {
        Term::Tcp => List::constant(true, c.at),
        // TLS bytes are not an HTTP request: the connection manager closes it.
        Term::Hcm(ref h) => List::constant(false, h.at),
    };
    net_gate(b, c, ctx, l.port, term)
}

/// The chain's network RBAC filters in front of `term`.
fn net_gate(b: &mut Build<'_>, c: &Chain, ctx: Ctx, port: u16, term: List) -> List {
    let mut acc = term;
    for r in c.net_rbac.iter().rev() {
        let gate = rbac_list(b, r, ctx, port, false);
        acc = b.and(&gate, &acc);
    }
    acc
}

/// The plain-HTTP (or CONNECT) decision of a listener, and whether an HTTP connection manager
/// takes it.
fn http_list(b: &mut Build<'_>, l: &Listener, connect: bool) -> (List, bool) {
    let group = port_group(l);
    let catchall: Vec<&Chain> = group
        .iter()
        .copied()
        .filter(|c| c.names.is_empty())
        .collect();
    let Some(c) = chain_or_default(l, by_transport(&catchall, "raw_buffer")) else {
        return (List::constant(false, l.at), false);
    };
    match &c.term {
        Term::Tcp => {
            let term = List::constant(!connect, c.at);
            (net_gate(b, c, Ctx::Host, l.port, term), false)
        }
        Term::Hcm(h) => {
            let term = hcm_list(b, h, l.port, connect);
            (net_gate(b, c, Ctx::Host, l.port, term), true)
        }
    }
}

/// The connection manager's decision on the Host: its RBAC filters, then the virtual host.
fn hcm_list(b: &mut Build<'_>, h: &Hcm, port: u16, connect: bool) -> List {
    // The Host as received ends with `:PORT` on a listener not on 80 (plain HTTP), and always
    // for CONNECT; stripping takes it off before the domains are compared.
    let stripped = match h.strip {
        Strip::None => false,
        Strip::Any => true,
        Strip::Matching => !connect,
    };
    if connect && h.strip == Strip::Matching {
        if let Some(p) = h.strip_at {
            b.cx.warn_at(
                p.line,
                p.column,
                "strip_matching_host_port: a CONNECT authority on the listener's own port loses \
                 it too; CONNECT queries are matched with their port",
            );
        }
    }
    let sfx = if connect || port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    let mut exact = Vec::new();
    let mut suffix = Vec::new();
    let mut prefix = Vec::new();
    let mut star = None;
    for v in &h.vhosts {
        let verdict = if connect { v.connect } else { v.http };
        for (d, p) in &v.domains {
            if d == "*" {
                star = Some((verdict, *p));
            } else if let Some(s) = d.strip_prefix('*') {
                suffix.push((s.to_string(), verdict, *p));
            } else if let Some(s) = d.strip_suffix('*') {
                prefix.push((s.to_string(), verdict, *p));
            } else {
                exact.push((d.clone(), verdict, *p));
            }
        }
    }
    let mut rest = match star {
        Some(((v, vp), _)) => List::constant(v, vp),
        None => List::constant(false, h.at),
    };
    let port_re = if connect && stripped { ":[0-9]+" } else { "" };
    let mk = |kind: Kind, text: &str| -> Atom {
        if port_re.is_empty() {
            let t = if stripped && kind != Kind::Prefix {
                format!("{text}{sfx}")
            } else {
                text.to_string()
            };
            Atom {
                kind,
                text: t,
                ci: true,
                strict: true,
            }
        } else {
            let l = format!("(?i:{})", lit(text));
            let re = match kind {
                Kind::Exact => format!("{l}{port_re}"),
                Kind::Suffix => format!(".+{l}{port_re}"),
                _ => format!("{l}.+{port_re}"),
            };
            Atom::new(Kind::Regex, &re, false)
        }
    };
    prefix.sort_by_key(|(t, _, _)| t.len());
    suffix.sort_by_key(|(t, _, _)| t.len());
    for (t, (v, vp), p) in prefix {
        rest = b.ite(&[mk(Kind::Prefix, &t)], p, &List::constant(v, vp), &rest);
    }
    for (t, (v, vp), p) in suffix {
        if !stripped && !connect && !sfx.is_empty() && !t.contains(':') {
            b.cx.warn_at(
                p.line,
                p.column,
                format!(
                    "on port {port} the Host carries `{sfx}`: `www{t}{sfx}` does not end with \
                     `{t}`, so this domain takes no request (404)"
                ),
            );
        }
        rest = b.ite(&[mk(Kind::Suffix, &t)], p, &List::constant(v, vp), &rest);
    }
    for (t, (v, vp), p) in exact {
        if !stripped && !connect && !sfx.is_empty() && !t.contains(':') {
            b.cx.warn_at(
                p.line,
                p.column,
                format!(
                    "on port {port} the Host carries `{sfx}`: `{t}{sfx}` is not `{t}`, so this \
                     domain takes no request (404)"
                ),
            );
        }
        let mut a = mk(Kind::Exact, &t);
        a.strict = false;
        rest = b.ite(&[a], p, &List::constant(v, vp), &rest);
    }
    let mut acc = rest;
    for r in h.rbac.iter().rev() {
        let gate = rbac_list(b, r, Ctx::Host, port, true);
        // Either order decides the same; one of them may need no condition pairs.
        let mut scratch = Cx::default();
        let mut trial = Build {
            cx: &mut scratch,
            failed: false,
            steps: b.steps,
        };
        let first = trial.and(&gate, &acc);
        acc = if trial.failed {
            b.and(&acc, &gate)
        } else {
            first
        };
    }
    acc
}
