//! HAProxy `haproxy.cfg`: which destination names a frontend lets through, as ordered hostgate
//! rules.
//!
//! A `mode tcp` frontend decides on the TLS SNI (`req.ssl_sni`, `ssl_fc_sni`): its rules are
//! `via tls`. A `mode http` frontend decides on the Host header (`hdr(host)` and its `-m`
//! forms): its rules are `via http,connect`. HAProxy compares the raw value (case kept, a
//! trailing dot kept, the Host's `:port` kept), so every name condition becomes a `received`
//! regex. A frontend's decision runs through stages: `tcp-request connection|session|content`
//! rules, then (`mode http`) `http-request` rules, then `use_backend`/`default_backend`; in each
//! stage the first rule whose condition holds acts (accept/allow: on to the next stage;
//! reject/deny: denied). A backend is a deny path when it has no `server` or a deny that always
//! applies. The stages are folded, from the last, into one first-match list.

use std::collections::{HashMap, HashSet};

use hostgate::{Action, EngineBuilder, PolicySpec, Precedence, RuleSpec, Via};

use crate::kube::Cx;
use crate::{Options, Read, RuleSource};

/// Most rules one configuration may expand to.
const MAX_RULES: usize = 100_000;

/// A word of a configuration line, unquoted and unescaped, with where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Word {
    text: String,
    line: u32,
    column: u32,
}

/// A position in one of the files read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pos {
    file: String,
    line: u32,
    column: u32,
}

impl Pos {
    fn of(file: &str, w: &Word) -> Pos {
        Pos {
            file: file.to_string(),
            line: w.line,
            column: w.column,
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

/// Splits a configuration into lines of words, as HAProxy's parser does: words are separated
/// by spaces and tabs; `#` outside quotes starts a comment; `'…'` quotes strongly (nothing is
/// interpreted), `"…"` weakly (backslash escapes are); outside single quotes a backslash
/// escapes a space, `#`, `\`, `'` or `"`, and `\r`, `\n`, `\t`, `\xHH` are control and hex
/// bytes; before any other character it stays. There is no line continuation. Environment
/// variables (`$NAME`, `${NAME}`, expanded only between double quotes) are refused: their
/// values are not known here.
fn tokenize(cx: &mut Cx, file: &str, text: &str) -> Vec<Vec<Word>> {
    let mut lines = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let chars: Vec<char> = raw.chars().collect();
        let mut words = Vec::new();
        let mut i = 0;
        let at = |i: usize| Pos {
            file: file.to_string(),
            line: line_no,
            column: i as u32 + 1,
        };
        'line: while i < chars.len() {
            if chars[i] == ' ' || chars[i] == '\t' {
                i += 1;
                continue;
            }
            let start = i;
            let mut word = String::new();
            while i < chars.len() && chars[i] != ' ' && chars[i] != '\t' {
                match chars[i] {
                    '#' => {
                        if i > start {
                            break;
                        }
                        break 'line;
                    }
                    '\'' => {
                        let Some(end) = chars[i + 1..].iter().position(|&c| c == '\'') else {
                            err(cx, &at(i), "unterminated single quote");
                            return Vec::new();
                        };
                        word.extend(&chars[i + 1..i + 1 + end]);
                        i += end + 2;
                    }
                    '"' => {
                        i += 1;
                        loop {
                            match chars.get(i) {
                                None => {
                                    err(cx, &at(start), "unterminated double quote");
                                    return Vec::new();
                                }
                                Some('"') => {
                                    i += 1;
                                    break;
                                }
                                Some('\\') => match escape(&chars, i) {
                                    Ok((c, len)) => {
                                        word.push(c);
                                        i += len;
                                    }
                                    Err(m) => {
                                        err(cx, &at(i), m);
                                        return Vec::new();
                                    }
                                },
                                Some('$')
                                    if chars.get(i + 1).is_some_and(|&c| {
                                        c == '{' || c == '_' || c.is_ascii_alphabetic()
                                    }) =>
                                {
                                    err(
                                        cx,
                                        &at(i),
                                        "environment variables are not read: write the value",
                                    );
                                    return Vec::new();
                                }
                                Some(&c) => {
                                    word.push(c);
                                    i += 1;
                                }
                            }
                        }
                    }
                    '\\' => match escape(&chars, i) {
                        Ok((c, len)) => {
                            word.push(c);
                            i += len;
                        }
                        Err(m) => {
                            err(cx, &at(i), m);
                            return Vec::new();
                        }
                    },
                    c => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
            words.push(Word {
                text: word,
                line: line_no,
                column: start as u32 + 1,
            });
        }
        lines.push(words);
    }
    lines
}

/// The character a backslash escape at `chars[i]` stands for, and its length.
fn escape(chars: &[char], i: usize) -> Result<(char, usize), String> {
    match chars.get(i + 1) {
        None => {
            Err("a backslash at the end of a line: haproxy.cfg has no line continuation".into())
        }
        Some(&c @ (' ' | '#' | '\\' | '\'' | '"')) => Ok((c, 2)),
        Some('r') => Ok(('\r', 2)),
        Some('n') => Ok(('\n', 2)),
        Some('t') => Ok(('\t', 2)),
        Some('x') => {
            let hex: String = chars.iter().skip(i + 2).take(2).collect();
            match (hex.len(), u8::from_str_radix(&hex, 16)) {
                (2, Ok(b)) => Ok((char::from(b), 4)),
                _ => Err("`\\x` needs two hexadecimal digits".into()),
            }
        }
        // Any other escape is kept as written (regex patterns rely on it: `\.`).
        Some(_) => Ok(('\\', 1)),
    }
}

/// Which name a fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    /// The TLS SNI.
    Sni,
    /// The Host header, `:port` included.
    Host,
}

impl Fetch {
    fn what(self) -> &'static str {
        match self {
            Fetch::Sni => "SNI",
            Fetch::Host => "Host header",
        }
    }
}

/// A match method (`-m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Str,
    Beg,
    End,
    Sub,
    Dom,
    Reg,
}

/// What an `acl` line (or an anonymous `{ … }` acl) can say about a query.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    /// The name, as received, matches one of these regexes (hostgate syntax, no `~`).
    Names(Vec<String>),
    /// True for every query this frontend sees (a TLS hello type 1 in a tcp frontend).
    Always,
    /// Decided by something other than the name: `what` names it.
    Other(String),
}

/// One condition literal: an acl (by its lines' values), maybe negated.
#[derive(Clone, Debug)]
struct Literal {
    negated: bool,
    value: Value,
    at: Pos,
    text: String,
}

/// `if`/`unless` conditions: OR of ANDs of literals.
type Cond = Vec<Vec<Literal>>;

/// A condition after the literals that no name decides are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resolved {
    True,
    False,
    /// The name matches one of these.
    Union(Vec<String>),
    /// The name matches none of these.
    Not(Vec<String>),
}

/// What a stage's rule does when its condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Deny,
    /// On to the next stage.
    Next,
}

/// A directive that decides: a `tcp-request`/`http-request` rule or a `use_backend`.
#[derive(Clone, Debug)]
struct Directive {
    at: Pos,
    kind: &'static str,
    outcome: Option<Outcome>,
    backend: Option<(String, Pos)>,
    cond: Option<Cond>,
}

/// A proxy section (`frontend`, `listen`, `backend`) as read.
#[derive(Clone, Debug, Default)]
struct Proxy {
    kind: String,
    name: String,
    at: Option<Pos>,
    http: Option<bool>,
    servers: usize,
    acls: HashMap<String, Vec<Value>>,
    /// Rules by stage: `tcp-request connection`, `session`, `content` (each ends with its own
    /// `accept`), then `http-request`.
    tcp: [Vec<Directive>; 3],
    http_rules: Vec<Directive>,
    use_backends: Vec<Directive>,
    default_backend: Option<(String, Pos)>,
}

/// Keywords of proxy sections that do not affect which destinations are let through.
const IGNORED: &[&str] = &[
    "balance",
    "bind",
    "capture",
    "compression",
    "cookie",
    "default-server",
    "description",
    "disabled",
    "enabled",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "force-persist",
    "fullconn",
    "hash-type",
    "http-after-response",
    "http-check",
    "http-error",
    "http-response",
    "http-reuse",
    "id",
    "ignore-persist",
    "load-server-state-from-file",
    "log",
    "log-format",
    "log-format-sd",
    "log-tag",
    "max-keep-alive-queue",
    "maxconn",
    "monitor",
    "monitor-uri",
    "option",
    "persist",
    "rate-limit",
    "retries",
    "retry-on",
    "server-state-file-name",
    "source",
    "stats",
    "stick",
    "stick-table",
    "tcp-check",
    "tcp-response",
    "timeout",
    "unique-id-format",
    "unique-id-header",
];

/// Sections that hold no proxy rules.
const OTHER_SECTIONS: &[&str] = &[
    "global",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "crt-store",
    "traces",
];

/// The configuration: proxies in file order, and the `defaults` mode and backend.
#[derive(Default)]
struct Conf {
    proxies: Vec<Proxy>,
}

/// Where referenced files (`-f`) come from.
struct Src<'a> {
    files: &'a [(&'a str, &'a [u8])],
    options: &'a Options,
}

impl Src<'_> {
    /// The bytes of a referenced file: one of those given, else (unless sandboxed) the
    /// filesystem.
    fn open(&self, path: &str) -> Result<Vec<u8>, String> {
        if let Some((_, b)) = self.files.iter().find(|(n, _)| *n == path) {
            return Ok(b.to_vec());
        }
        if self.options.sandboxed {
            return Err("not among the files given (reading files is turned off)".into());
        }
        std::fs::read(path).map_err(|e| e.to_string())
    }
}

/// Reads an HAProxy configuration into one first-match policy, `default`.
pub(crate) fn import(cx: &mut Cx, files: &[(&str, &[u8])], options: &Options) -> Read {
    let mut out = Read::new(Action::Deny);
    out.precedence = Precedence::FirstMatch;
    let Some(&(main, bytes)) = files.first() else {
        return out;
    };
    cx.file = main.to_string();
    let Ok(text) = std::str::from_utf8(bytes) else {
        cx.err_at(1, 1, "the configuration is not UTF-8 text");
        return out;
    };
    let src = Src { files, options };
    let lines = tokenize(cx, main, text);
    if !cx.errors.is_empty() {
        return out;
    }
    let conf = read_sections(cx, main, &lines, &src);
    if !cx.errors.is_empty() {
        return out;
    }
    let backends: HashMap<&str, &Proxy> = conf
        .proxies
        .iter()
        .filter(|p| p.kind != "frontend")
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut seen_mode: [Option<Pos>; 2] = [None, None];
    let mut emitted: Vec<(Emit, Vec<Via>, String)> = Vec::new();
    for p in conf.proxies.iter().filter(|p| p.kind != "backend") {
        let http = p.http.unwrap_or(false);
        let at = p.at.clone().unwrap_or(Pos {
            file: main.into(),
            line: 1,
            column: 1,
        });
        if let Some(first) = &seen_mode[usize::from(http)] {
            err(
                cx,
                &at,
                format!(
                    "a second `mode {}` frontend (the first is on line {}): which one a \
                     connection reaches depends on its bind address, not on the name; import \
                     one at a time",
                    if http { "http" } else { "tcp" },
                    first.line
                ),
            );
            continue;
        }
        seen_mode[usize::from(http)] = Some(at.clone());
        let Some(list) = frontend(cx, p, &backends, http) else {
            continue;
        };
        let via = if http {
            vec![Via::Http, Via::Connect]
        } else {
            vec![Via::Tls]
        };
        for e in list.rules {
            emitted.push((e, via.clone(), p.name.clone()));
        }
        if list.default == Action::Allow {
            emitted.push((
                Emit {
                    patterns: None,
                    action: Action::Allow,
                    at: list.default_at.unwrap_or(at),
                },
                via,
                p.name.clone(),
            ));
        }
    }
    if conf.proxies.iter().all(|p| p.kind == "backend") {
        cx.file = main.to_string();
        cx.warn_at(
            1,
            1,
            "no frontend or listen section: nothing is let through",
        );
    }
    let mut counts: HashMap<(String, u32), usize> = HashMap::new();
    for (e, via, section) in emitted {
        let patterns: Vec<(String, bool)> = match e.patterns {
            Some(p) => p.into_iter().map(|re| (format!("~{re}"), true)).collect(),
            None => vec![
                ("*".into(), false),
                ("0.0.0.0/0".into(), false),
                ("::/0".into(), false),
            ],
        };
        for (pattern, received) in patterns {
            if received {
                if let Some(problem) = regex_problem(&pattern) {
                    err(cx, &e.at, format!("`{pattern}`: {problem}"));
                    continue;
                }
            }
            let n = counts.entry((section.clone(), e.at.line)).or_insert(0);
            let mut spec = RuleSpec::new(e.action, pattern);
            spec.received = received;
            spec.via = via.clone();
            spec.id = Some(format!("{section}:{}:{n}", e.at.line));
            spec.line = e.at.line;
            *n += 1;
            out.rules.push(spec);
            out.sources.push(RuleSource {
                file: e.at.file.clone(),
                line: e.at.line,
                column: e.at.column,
                object: section.clone(),
            });
        }
    }
    let mut said = HashSet::new();
    cx.warnings
        .retain(|w| said.insert((w.file.clone(), w.line, w.column, w.message.clone())));
    if out.rules.len() > MAX_RULES {
        cx.file = main.to_string();
        cx.err_at(
            1,
            1,
            format!("the configuration expands to more than {MAX_RULES} rules"),
        );
    }
    out
}

/// The compile error of a `received` regex rule, if any.
fn regex_problem(pattern: &str) -> Option<String> {
    let built = EngineBuilder::new()
        .policy(PolicySpec::new("p").rule(RuleSpec::new(Action::Allow, pattern).received()))
        .build();
    built.err().map(|e| {
        e.errors()
            .first()
            .map(|d| {
                d.message
                    .split_once(": ")
                    .map_or(d.message.clone(), |(_, m)| m.to_string())
            })
            .unwrap_or_default()
    })
}

/// Reads the sections: every proxy's acls, rules, backends and servers.
fn read_sections(cx: &mut Cx, file: &str, lines: &[Vec<Word>], src: &Src<'_>) -> Conf {
    let mut conf = Conf::default();
    let mut defaults_http: Option<bool> = None;
    let mut defaults_backend: Option<(String, Pos)> = None;
    // None: outside any proxy (global or another section); Some(None): in `defaults`.
    let mut current: Option<Option<Proxy>> = None;
    let mut names: HashMap<String, u32> = HashMap::new();
    let finish = |conf: &mut Conf, current: &mut Option<Option<Proxy>>| {
        if let Some(Some(p)) = current.take() {
            conf.proxies.push(p);
        }
    };
    for words in lines {
        let Some(first) = words.first() else {
            continue;
        };
        let at = Pos::of(file, first);
        match first.text.as_str() {
            "frontend" | "listen" | "backend" => {
                finish(&mut conf, &mut current);
                let Some(name) = words.get(1) else {
                    err(cx, &at, format!("`{}` needs a name", first.text));
                    continue;
                };
                if let Some(line) = names.insert(name.text.clone(), first.line) {
                    err(
                        cx,
                        &Pos::of(file, name),
                        format!("proxy `{}` is already defined on line {line}", name.text),
                    );
                }
                let mut p = Proxy {
                    kind: first.text.clone(),
                    name: name.text.clone(),
                    at: Some(at),
                    http: defaults_http,
                    ..Proxy::default()
                };
                if first.text != "backend" {
                    p.default_backend.clone_from(&defaults_backend);
                }
                current = Some(Some(p));
                continue;
            }
            "defaults" => {
                finish(&mut conf, &mut current);
                // Each `defaults` section starts from nothing.
                defaults_http = None;
                defaults_backend = None;
                current = Some(None);
                continue;
            }
            s if OTHER_SECTIONS.contains(&s) => {
                finish(&mut conf, &mut current);
                current = None;
                continue;
            }
            _ => {}
        }
        match &mut current {
            None => {}
            Some(None) => match first.text.as_str() {
                "mode" => defaults_http = mode(cx, file, words).or(defaults_http),
                "default_backend" => match words.get(1) {
                    Some(b) => defaults_backend = Some((b.text.clone(), Pos::of(file, b))),
                    None => err(cx, &at, "`default_backend` needs a backend name"),
                },
                "acl" | "tcp-request" | "http-request" | "use_backend" => err(
                    cx,
                    &at,
                    format!("`{}` in a defaults section is not read: write it in the frontend", first.text),
                ),
                k if IGNORED.contains(&k) => {}
                k => warn(
                    cx,
                    &at,
                    format!("`{k}` is not read (it is not known to decide which destinations are let through)"),
                ),
            },
            Some(Some(p)) => proxy_line(cx, file, words, p, src),
        }
    }
    finish(&mut conf, &mut current);
    conf
}

/// `mode tcp|http`.
fn mode(cx: &mut Cx, file: &str, words: &[Word]) -> Option<bool> {
    match words.get(1).map(|w| w.text.as_str()) {
        Some("http") => Some(true),
        Some("tcp") => Some(false),
        _ => {
            let w = words.get(1).unwrap_or(&words[0]);
            err(cx, &Pos::of(file, w), "`mode` takes tcp or http");
            None
        }
    }
}

/// One line of a proxy section.
fn proxy_line(cx: &mut Cx, file: &str, words: &[Word], p: &mut Proxy, src: &Src<'_>) {
    let first = &words[0];
    let at = Pos::of(file, first);
    match first.text.as_str() {
        "mode" => p.http = mode(cx, file, words).or(p.http),
        "server" => p.servers += 1,
        "acl" => {
            let Some(name) = words.get(1) else {
                err(cx, &at, "`acl` needs a name and a fetch");
                return;
            };
            if words.len() < 3 {
                err(
                    cx,
                    &Pos::of(file, name),
                    "`acl` needs a fetch after its name",
                );
                return;
            }
            let value = acl_value(cx, file, &words[2..], src, p.http.unwrap_or(false));
            if let Some(v) = value {
                p.acls.entry(name.text.clone()).or_default().push(v);
            }
        }
        "tcp-request" => {
            let Some(stage) = words.get(1) else {
                err(
                    cx,
                    &at,
                    "`tcp-request` needs connection, session, content or inspect-delay",
                );
                return;
            };
            match stage.text.as_str() {
                "inspect-delay" => {}
                "connection" | "session" | "content" => {
                    let i = match stage.text.as_str() {
                        "connection" => 0,
                        "session" => 1,
                        _ => 2,
                    };
                    if let Some(d) = directive(cx, file, words, 2, p, src, "tcp-request") {
                        p.tcp[i].push(d);
                    }
                }
                other => err(
                    cx,
                    &Pos::of(file, stage),
                    format!("unknown `tcp-request {other}`"),
                ),
            }
        }
        "http-request" => {
            if let Some(d) = directive(cx, file, words, 1, p, src, "http-request") {
                if !p.http.unwrap_or(false) {
                    warn(
                        cx,
                        &at,
                        "`http-request` in a tcp-mode proxy: HAProxy ignores it, and so does the import",
                    );
                } else {
                    p.http_rules.push(d);
                }
            }
        }
        "use_backend" => {
            let Some(b) = words.get(1) else {
                err(cx, &at, "`use_backend` needs a backend name");
                return;
            };
            if b.text.contains("%[") {
                err(
                    cx,
                    &Pos::of(file, b),
                    "a backend chosen by a sample expression is not read: name the backend",
                );
                return;
            }
            let cond = match words.get(2) {
                None => None,
                Some(w) if w.text == "if" || w.text == "unless" => {
                    let Some(c) = condition(cx, file, &words[2..], p, src) else {
                        return;
                    };
                    Some(c)
                }
                Some(w) => {
                    err(
                        cx,
                        &Pos::of(file, w),
                        format!("unexpected `{}`; expected `if` or `unless`", w.text),
                    );
                    return;
                }
            };
            p.use_backends.push(Directive {
                at,
                kind: "use_backend",
                outcome: None,
                backend: Some((b.text.clone(), Pos::of(file, b))),
                cond,
            });
        }
        "default_backend" => match words.get(1) {
            Some(b) => p.default_backend = Some((b.text.clone(), Pos::of(file, b))),
            None => err(cx, &at, "`default_backend` needs a backend name"),
        },
        "block" | "reqdeny" | "reqallow" | "reqrep" | "reqirep" | "tcp-request-content" => err(
            cx,
            &at,
            format!(
                "`{}` was removed from HAProxy (2.1 and later refuse it): use `http-request`",
                first.text
            ),
        ),
        "redirect" | "use-server" | "http-request-rule" => {
            warn(cx, &at, format!("`{}` is not read", first.text))
        }
        k if IGNORED.contains(&k) => {}
        k => warn(
            cx,
            &at,
            format!(
                "`{k}` is not read (it is not known to decide which destinations are let through)"
            ),
        ),
    }
}

/// A `tcp-request …`/`http-request` rule from its action word (`words[at]`) on.
fn directive(
    cx: &mut Cx,
    file: &str,
    words: &[Word],
    at_action: usize,
    p: &Proxy,
    src: &Src<'_>,
    kind: &'static str,
) -> Option<Directive> {
    let at = Pos::of(file, &words[0]);
    let Some(action) = words.get(at_action) else {
        err(cx, &at, format!("`{kind}` needs an action"));
        return None;
    };
    let apos = Pos::of(file, action);
    let outcome = match (kind, action.text.as_str()) {
        ("tcp-request", "accept") | ("http-request", "allow") => Some(Outcome::Next),
        ("tcp-request", "reject" | "silent-drop") => Some(Outcome::Deny),
        ("http-request", "deny" | "reject" | "tarpit" | "silent-drop") => Some(Outcome::Deny),
        ("http-request", a @ ("auth" | "redirect" | "return")) => {
            warn(
                cx,
                &apos,
                format!("`{kind} {a}` is read as a deny: HAProxy answers the request itself, it is not forwarded"),
            );
            Some(Outcome::Deny)
        }
        (_, a) => {
            warn(
                cx,
                &apos,
                format!(
                    "`{kind} {a}` is not read: it neither lets the request through nor stops it"
                ),
            );
            None
        }
    };
    let rest = &words[at_action + 1..];
    let start = rest
        .iter()
        .position(|w| w.text == "if" || w.text == "unless");
    let cond = match start {
        Some(i) => Some(condition(cx, file, &rest[i..], p, src)?),
        None => None,
    };
    outcome.map(|o| Directive {
        at,
        kind,
        outcome: Some(o),
        backend: None,
        cond,
    })
}

/// `if|unless LITERAL… [|| LITERAL…]…`, with anonymous `{ … }` acls.
fn condition(cx: &mut Cx, file: &str, words: &[Word], p: &Proxy, src: &Src<'_>) -> Option<Cond> {
    let unless = words[0].text == "unless";
    let mut terms: Cond = vec![Vec::new()];
    let mut i = 1;
    if words.len() == 1 {
        err(
            cx,
            &Pos::of(file, &words[0]),
            format!("`{}` needs a condition", words[0].text),
        );
        return None;
    }
    while i < words.len() {
        let w = &words[i];
        let at = Pos::of(file, w);
        if w.text == "||" || w.text == "or" {
            if terms.last().is_some_and(Vec::is_empty) {
                err(cx, &at, format!("`{}` with nothing before it", w.text));
                return None;
            }
            terms.push(Vec::new());
            i += 1;
            continue;
        }
        let (negated, text) = match w.text.strip_prefix('!') {
            Some("") => {
                i += 1;
                match words.get(i) {
                    Some(n) => (true, n.text.clone()),
                    None => {
                        err(cx, &at, "`!` with nothing after it");
                        return None;
                    }
                }
            }
            Some(rest) => (true, rest.to_string()),
            None => (false, w.text.clone()),
        };
        let lit_at = Pos::of(file, &words[i]);
        let value = if text == "{" {
            let Some(end) = words[i..].iter().position(|w| w.text == "}") else {
                err(cx, &lit_at, "`{` without its `}`");
                return None;
            };
            let inner = &words[i + 1..i + end];
            if inner.is_empty() {
                err(cx, &lit_at, "an empty `{ }` acl");
                return None;
            }
            let v = acl_value(cx, file, inner, src, p.http.unwrap_or(false))?;
            i += end;
            (v, "{ … }".to_string())
        } else {
            match p.acls.get(&text) {
                Some(values) => (combine(values), text.clone()),
                None => match builtin(&text, p.http.unwrap_or(false)) {
                    Some(v) => (v, text.clone()),
                    None => {
                        err(
                            cx,
                            &lit_at,
                            format!("acl `{text}` is not defined above in this section"),
                        );
                        return None;
                    }
                },
            }
        };
        if let Some(last) = terms.last_mut() {
            last.push(Literal {
                negated,
                value: value.0,
                at: lit_at,
                text: value.1,
            });
        }
        i += 1;
    }
    if terms.last().is_some_and(Vec::is_empty) {
        err(
            cx,
            &Pos::of(file, &words[words.len() - 1]),
            "a condition that ends with `||`",
        );
        return None;
    }
    if !unless {
        return Some(terms);
    }
    // `unless C`: NOT of an OR of ANDs. One AND becomes an OR of the negated literals; ORs of
    // single literals become one AND of them negated; anything else would need expanding.
    let flip = |l: &Literal| Literal {
        negated: !l.negated,
        ..l.clone()
    };
    if terms.len() == 1 {
        return Some(terms[0].iter().map(|l| vec![flip(l)]).collect());
    }
    if terms.iter().all(|t| t.len() == 1) {
        return Some(vec![terms.iter().map(|t| flip(&t[0])).collect()]);
    }
    err(
        cx,
        &Pos::of(file, &words[0]),
        "`unless` over an OR of ANDs is not read: write it with `if` and `!`",
    );
    None
}

/// HAProxy's predefined acls.
fn builtin(name: &str, http: bool) -> Option<Value> {
    match name {
        "TRUE" => Some(Value::Always),
        "FALSE" => Some(Value::Names(Vec::new())),
        // Every query a tcp frontend is asked about is a TLS hello.
        "REQ_CONTENT" | "WAIT_END" if !http => Some(Value::Always),
        "HTTP" | "HTTP_1.0" | "HTTP_1.1" | "HTTP_2.0" | "HTTP_CONTENT" if http => {
            Some(Value::Always)
        }
        "METH_CONNECT" | "METH_GET" | "METH_POST" | "METH_HEAD" | "METH_OPTIONS" | "METH_PUT"
        | "METH_DELETE" | "METH_TRACE" | "LOCALHOST" | "RDP_COOKIE" | "HTTP_URL_ABS"
        | "HTTP_URL_SLASH" | "HTTP_URL_STAR" => {
            Some(Value::Other(format!("the predefined acl `{name}`")))
        }
        _ => None,
    }
}

/// An acl name's lines: OR of their values.
fn combine(values: &[Value]) -> Value {
    let mut names = Vec::new();
    for v in values {
        match v {
            Value::Always => return Value::Always,
            Value::Other(w) => return Value::Other(w.clone()),
            Value::Names(n) => names.extend(n.iter().cloned()),
        }
    }
    Value::Names(names)
}

/// Reads `FETCH [flags] PATTERN…` into what it says about the query's name.
fn acl_value(cx: &mut Cx, file: &str, words: &[Word], src: &Src<'_>, http: bool) -> Option<Value> {
    let fetch_word = &words[0];
    let fat = Pos::of(file, fetch_word);
    let (fetch_text, converters) = match fetch_word.text.split_once(',') {
        Some((f, c)) => (f, Some(c)),
        None => (fetch_word.text.as_str(), None),
    };
    let lower_fetch = fetch_text.to_ascii_lowercase();
    let (fetch, mut method) = match lower_fetch.as_str() {
        "req.ssl_sni" | "req_ssl_sni" | "ssl_fc_sni" => (Fetch::Sni, Method::Str),
        "ssl_fc_sni_end" => (Fetch::Sni, Method::End),
        "ssl_fc_sni_reg" => (Fetch::Sni, Method::Reg),
        "req.ssl_hello_type" | "req_ssl_hello_type" if !http => {
            // Type 1 is a ClientHello: what every `via tls` query is.
            let rest: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
            return Some(if rest == ["1"] {
                Value::Always
            } else {
                Value::Other(format!("`{} {}`", fetch_word.text, rest.join(" ")))
            });
        }
        f => match host_fetch(f) {
            Some(m) => (Fetch::Host, m),
            None => {
                warn(
                    cx,
                    &fat,
                    format!(
                        "`{}` is not decided by the destination name: conditions on it are read \
                         fail closed (as holding for deny rules, not holding for allow rules)",
                        fetch_word.text
                    ),
                );
                return Some(Value::Other(format!("`{}`", fetch_word.text)));
            }
        },
    };
    if (fetch == Fetch::Host) != http {
        err(
            cx,
            &fat,
            format!(
                "`{}` reads the {} but this proxy is in mode {}: a tcp frontend is read for \
                 the SNI, an http frontend for the Host header",
                fetch_word.text,
                fetch.what(),
                if http { "http" } else { "tcp" }
            ),
        );
        return None;
    }
    let mut lower = false;
    if let Some(conv) = converters {
        for c in conv.split(',') {
            if c == "lower" {
                lower = true;
            } else {
                err(cx, &fat, format!("converter `{c}` is not read"));
                return None;
            }
        }
    }
    let mut icase = false;
    let mut patterns: Vec<(String, Pos)> = Vec::new();
    let mut i = 1;
    let mut flags_done = false;
    while i < words.len() {
        let w = &words[i];
        let at = Pos::of(file, w);
        if !flags_done && w.text.starts_with('-') {
            match w.text.as_str() {
                "-i" => icase = true,
                "-n" | "-u" => {}
                "--" => flags_done = true,
                "-m" => {
                    i += 1;
                    let Some(m) = words.get(i) else {
                        err(cx, &at, "`-m` needs a match method");
                        return None;
                    };
                    method = match m.text.as_str() {
                        "str" => Method::Str,
                        "beg" => Method::Beg,
                        "end" => Method::End,
                        "sub" => Method::Sub,
                        "dom" => Method::Dom,
                        "reg" => Method::Reg,
                        "found" | "len" | "int" | "ip" | "bool" | "bin" | "dir" => {
                            warn(
                                cx,
                                &Pos::of(file, m),
                                format!(
                                    "`-m {}` does not compare the name: read fail closed",
                                    m.text
                                ),
                            );
                            return Some(Value::Other(format!("`-m {}`", m.text)));
                        }
                        other => {
                            err(
                                cx,
                                &Pos::of(file, m),
                                format!("unknown match method `{other}`"),
                            );
                            return None;
                        }
                    };
                }
                "-f" => {
                    i += 1;
                    let Some(f) = words.get(i) else {
                        err(cx, &at, "`-f` needs a file name");
                        return None;
                    };
                    let bytes = match src.open(&f.text) {
                        Ok(b) => b,
                        Err(e) => {
                            err(
                                cx,
                                &Pos::of(file, f),
                                format!("pattern file `{}`: {e}", f.text),
                            );
                            return None;
                        }
                    };
                    let Ok(text) = String::from_utf8(bytes) else {
                        err(
                            cx,
                            &Pos::of(file, f),
                            format!("pattern file `{}` is not UTF-8", f.text),
                        );
                        return None;
                    };
                    for (n, line) in text.lines().enumerate() {
                        let t = line.trim();
                        if t.is_empty() || t.starts_with('#') {
                            continue;
                        }
                        patterns.push((
                            t.to_string(),
                            Pos {
                                file: f.text.clone(),
                                line: n as u32 + 1,
                                column: (line.len() - line.trim_start().len()) as u32 + 1,
                            },
                        ));
                    }
                }
                "-M" => {
                    err(cx, &at, "`-M` (map files as pattern files) is not read");
                    return None;
                }
                other => {
                    err(cx, &at, format!("unknown acl flag `{other}`"));
                    return None;
                }
            }
            i += 1;
            continue;
        }
        flags_done = true;
        patterns.push((w.text.clone(), at));
        i += 1;
    }
    if patterns.is_empty() {
        err(
            cx,
            &fat,
            format!(
                "acl on `{}` without patterns never matches: write one",
                fetch_word.text
            ),
        );
        return None;
    }
    let mut out = Vec::new();
    for (pat, at) in patterns {
        let Some(re) = pattern_regex(cx, &at, fetch, method, icase, lower, &pat) else {
            continue;
        };
        match regex_problem(&format!("~{re}")) {
            None => out.push(re),
            Some(p) if p.contains("can never match") => warn(
                cx,
                &at,
                format!("`{pat}` never matches a name as received ({p}): left out"),
            ),
            Some(p) => {
                err(cx, &at, format!("`{pat}` as `~{re}`: {p}"));
                return None;
            }
        }
    }
    Some(Value::Names(out))
}

/// The match method of a Host-header fetch, when `f` is one.
fn host_fetch(f: &str) -> Option<Method> {
    let f = f.strip_prefix("req.").unwrap_or(f);
    let (name, arg) = f.split_once('(')?;
    let arg = arg.strip_suffix(')')?;
    let header = arg.split(',').next()?.trim();
    if !header.eq_ignore_ascii_case("host") {
        return None;
    }
    match name {
        "hdr" | "hdr_str" => Some(Method::Str),
        "hdr_beg" => Some(Method::Beg),
        "hdr_end" => Some(Method::End),
        "hdr_sub" => Some(Method::Sub),
        "hdr_dom" => Some(Method::Dom),
        "hdr_reg" => Some(Method::Reg),
        _ => None,
    }
}

/// Escapes a literal for the regex syntax.
fn lit(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '<' | '>') || !c.is_ascii() {
            // `\<` and `\>` would be word boundaries, not the characters.
            out.push(c);
        } else if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:02x}}}", u32::from(c)));
        }
    }
    out
}

/// The `received` regex a pattern matches with, and its quirk warning.
fn pattern_regex(
    cx: &mut Cx,
    at: &Pos,
    fetch: Fetch,
    method: Method,
    icase: bool,
    lower: bool,
    pat: &str,
) -> Option<String> {
    if lower && !icase && pat.chars().any(|c| c.is_ascii_uppercase()) {
        warn(
            cx,
            at,
            format!("`{pat}` has capitals but the value is lowercased first (`,lower`): it never matches"),
        );
        return None;
    }
    let icase = icase || lower;
    let case = if icase { "(?i)" } else { "" };
    let port_note = if fetch == Fetch::Host {
        " (a Host header carries the port when it is not the scheme's default)"
    } else {
        ""
    };
    let example_upper = pat.to_ascii_uppercase();
    let body = match method {
        Method::Str => {
            if !icase && pat.chars().any(|c| c.is_ascii_alphabetic()) {
                warn(
                    cx,
                    at,
                    format!(
                        "`{pat}` is compared case-sensitively (no `-i`): `{example_upper}` does not match"
                    ),
                );
            }
            if fetch == Fetch::Host {
                warn(
                    cx,
                    at,
                    format!("`{pat}` is an exact comparison of the Host header: `{pat}:8080` does not match{port_note}"),
                );
            }
            lit(pat)
        }
        Method::Beg => {
            warn(
                cx,
                at,
                format!("`-m beg {pat}` compares characters: `{pat}evil.example` matches too"),
            );
            format!("{}.*", lit(pat))
        }
        Method::End => {
            if !pat.starts_with('.') {
                warn(
                    cx,
                    at,
                    format!(
                        "`-m end {pat}` compares characters, not labels: `not{pat}` matches too"
                    ),
                );
            }
            if fetch == Fetch::Host {
                warn(
                    cx,
                    at,
                    format!("`-m end {pat}` on the Host header: `x{pat}:8080` does not match{port_note}"),
                );
            }
            format!(".*{}", lit(pat))
        }
        Method::Sub => {
            warn(
                cx,
                at,
                format!("`-m sub {pat}` matches anywhere in the name: `x{pat}y.evil.example` matches too"),
            );
            format!(".*{}.*", lit(pat))
        }
        Method::Dom => {
            let core = pat.trim_matches(|c| matches!(c, '.' | '/' | '?' | ':'));
            if core.is_empty() {
                warn(
                    cx,
                    at,
                    format!("`-m dom {pat}` has no word between delimiters: it never matches"),
                );
                return None;
            }
            warn(
                cx,
                at,
                format!(
                    "`-m dom {pat}` matches `{core}` between dots anywhere in the name, not only \
                     as a suffix: `{core}.evil.example` matches too"
                ),
            );
            format!("(?:.*[./?:])?{}(?:[./?:].*)?", lit(core))
        }
        Method::Reg => {
            if !pat.starts_with('^') {
                warn(
                    cx,
                    at,
                    format!(
                        "`-m reg {pat}` searches anywhere in the name unless anchored with `^`/`$`"
                    ),
                );
            }
            format!(".*(?:{pat}).*")
        }
    };
    Some(format!("{case}{body}"))
}

/// One emitted rule group: patterns (`None` for every name) and an action.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Emit {
    patterns: Option<Vec<String>>,
    action: Action,
    at: Pos,
}

/// A first-match list and its default.
#[derive(Clone, Debug, PartialEq, Eq)]
struct List {
    rules: Vec<Emit>,
    default: Action,
    default_at: Option<Pos>,
}

impl List {
    fn constant(action: Action, at: Option<Pos>) -> List {
        List {
            rules: Vec::new(),
            default: action,
            default_at: at,
        }
    }
}

/// Resolves a condition for a rule whose effect, when it holds, is a deny (`deny`) or not:
/// literals no name decides are read fail closed.
fn resolve(cx: &mut Cx, cond: &Option<Cond>, deny: bool, what: &Pos) -> Option<Resolved> {
    let Some(cond) = cond else {
        return Some(Resolved::True);
    };
    let mut unions = Vec::new();
    let mut nots: Option<Vec<String>> = None;
    let mut any_true = false;
    for term in cond {
        let mut names: Vec<(bool, Vec<String>, &Literal)> = Vec::new();
        let mut holds = true;
        for l in term {
            match &l.value {
                Value::Always => {
                    if l.negated {
                        holds = false;
                    }
                }
                Value::Other(w) => {
                    warn(
                        cx,
                        &l.at,
                        format!(
                            "`{}{}` depends on {w}, not on the name: read as {} for this {} rule",
                            if l.negated { "!" } else { "" },
                            l.text,
                            if deny { "holding" } else { "not holding" },
                            if deny { "deny" } else { "allow" },
                        ),
                    );
                    if !deny {
                        holds = false;
                    }
                }
                Value::Names(n) => names.push((l.negated, n.clone(), l)),
            }
        }
        if !holds {
            continue;
        }
        match names.len() {
            0 => any_true = true,
            1 => {
                let (neg, n, _) = names.remove(0);
                if neg && n.is_empty() {
                    // Not in an empty set: always.
                    any_true = true;
                } else if neg {
                    if nots.is_some() {
                        err(cx, what, "an OR of two negated name acls is not read");
                        return None;
                    }
                    nots = Some(n);
                } else {
                    unions.extend(n);
                }
            }
            _ if names.iter().all(|(neg, _, _)| *neg) => {
                // `!A !B` = not (A or B).
                let n: Vec<String> = names.into_iter().flat_map(|(_, n, _)| n).collect();
                if n.is_empty() {
                    any_true = true;
                    continue;
                }
                if nots.is_some() {
                    err(cx, what, "an OR of two negated name conditions is not read");
                    return None;
                }
                nots = Some(n);
            }
            _ => {
                err(
                    cx,
                    &names[1].2.at,
                    "an AND of two name conditions is not read: hostgate rules test one pattern each",
                );
                return None;
            }
        }
    }
    if any_true {
        return Some(Resolved::True);
    }
    match nots {
        Some(n) if unions.is_empty() => Some(Resolved::Not(n)),
        Some(_) => {
            err(
                cx,
                what,
                "an OR of a negated name acl and other name acls is not read",
            );
            None
        }
        None if unions.is_empty() => Some(Resolved::False),
        None => Some(Resolved::Union(unions)),
    }
}

/// The list a frontend's stages fold to.
fn frontend(cx: &mut Cx, p: &Proxy, backends: &HashMap<&str, &Proxy>, http: bool) -> Option<List> {
    let verdict_of = |cx: &mut Cx, name: &str, at: &Pos| -> Option<Action> {
        match backends.get(name) {
            Some(b) => backend_verdict(cx, b, http),
            None => {
                err(cx, at, format!("backend `{name}` is not defined"));
                None
            }
        }
    };
    // The last stage: use_backend rules, then default_backend (or the listen section itself).
    let mut last = match &p.default_backend {
        Some((b, at)) => List::constant(verdict_of(cx, b, at)?, Some(at.clone())),
        None if p.kind == "listen" => List::constant(backend_verdict(cx, p, http)?, p.at.clone()),
        None => List::constant(Action::Deny, None),
    };
    for d in p.use_backends.iter().rev() {
        let Some((b, bat)) = &d.backend else {
            continue;
        };
        let action = verdict_of(cx, b, bat)?;
        let c = resolve(cx, &d.cond, action == Action::Deny, &d.at)?;
        last = prepend(cx, last, c, action, &d.at)?;
    }
    let mut next = last;
    let mut stages: Vec<&[Directive]> = p.tcp.iter().map(Vec::as_slice).collect();
    if http {
        stages.push(&p.http_rules);
    }
    for stage in stages.into_iter().rev() {
        let mut cur = next.clone();
        for d in stage.iter().rev() {
            let Some(outcome) = d.outcome else { continue };
            let c = resolve(cx, &d.cond, outcome == Outcome::Deny, &d.at)?;
            cur = match outcome {
                Outcome::Deny => prepend(cx, cur, c, Action::Deny, &d.at)?,
                Outcome::Next => goto(cx, cur, &next, c, &d.at)?,
            };
        }
        next = cur;
    }
    Some(next)
}

/// `(c → action)` in front of `rest`.
fn prepend(cx: &mut Cx, mut rest: List, c: Resolved, action: Action, at: &Pos) -> Option<List> {
    Some(match c {
        Resolved::True => List::constant(action, Some(at.clone())),
        Resolved::False => rest,
        Resolved::Union(n) => {
            rest.rules.insert(
                0,
                Emit {
                    patterns: Some(n),
                    action,
                    at: at.clone(),
                },
            );
            rest
        }
        Resolved::Not(n) => {
            // Names in `n` go on to `rest`; all others get `action`.
            if !rest.rules.is_empty() {
                err(
                    cx,
                    at,
                    "a negated name acl followed by rules that also test the name is not read: \
                     hostgate rules cannot test two patterns at once",
                );
                return None;
            }
            List {
                rules: vec![Emit {
                    patterns: Some(n),
                    action: rest.default,
                    at: at.clone(),
                }],
                default: action,
                default_at: Some(at.clone()),
            }
        }
    })
}

/// `(c → next stage)` in front of `rest` (this stage's later rules, then `next`).
fn goto(cx: &mut Cx, rest: List, next: &List, c: Resolved, at: &Pos) -> Option<List> {
    if rest == *next {
        // Going on or falling through come to the same.
        return Some(rest);
    }
    let refuse = |cx: &mut Cx| {
        err(
            cx,
            at,
            "this rule lets names on to later rules that test the name again: hostgate rules \
             cannot test two patterns at once",
        );
        None
    };
    match c {
        Resolved::True => Some(next.clone()),
        Resolved::False => Some(rest),
        Resolved::Union(n) => {
            if !next.rules.is_empty() {
                return refuse(cx);
            }
            let mut rest = rest;
            rest.rules.insert(
                0,
                Emit {
                    patterns: Some(n),
                    action: next.default,
                    at: at.clone(),
                },
            );
            Some(rest)
        }
        Resolved::Not(n) => {
            if !rest.rules.is_empty() || !next.rules.is_empty() {
                return refuse(cx);
            }
            Some(List {
                rules: vec![Emit {
                    patterns: Some(n),
                    action: rest.default,
                    at: at.clone(),
                }],
                default: next.default,
                default_at: Some(at.clone()),
            })
        }
    }
}

/// Whether a backend lets traffic through: not when it has no `server`, or when one of its
/// deny rules always applies. Rules of a backend that test the name are not read.
fn backend_verdict(cx: &mut Cx, b: &Proxy, http: bool) -> Option<Action> {
    if b.servers == 0 {
        return Some(Action::Deny);
    }
    let mut rules: Vec<&Directive> = b.tcp.iter().flatten().collect();
    if http {
        rules.extend(&b.http_rules);
    }
    if b.kind == "backend" {
        if let Some(d) = b.use_backends.first() {
            err(cx, &d.at, "`use_backend` in a backend section");
            return None;
        }
    }
    for d in rules {
        if d.outcome != Some(Outcome::Deny) {
            continue;
        }
        if b.kind == "listen" {
            // A listen section's own rules are its frontend's; they ran already.
            continue;
        }
        match resolve(cx, &d.cond, true, &d.at)? {
            Resolved::True => return Some(Action::Deny),
            Resolved::False => {}
            _ => {
                err(
                    cx,
                    &d.at,
                    format!(
                        "a `{}` rule of backend `{}` tests the name: backends' name rules are \
                         not read; write them in the frontend",
                        d.kind, b.name
                    ),
                );
                return None;
            }
        }
    }
    Some(Action::Allow)
}
