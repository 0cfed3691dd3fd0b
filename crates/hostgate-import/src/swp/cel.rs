//! The part of CEL a Secure Web Proxy `sessionMatcher` is read in: a tokenizer and a
//! recursive-descent parser for CEL's expression grammar (literals, identifiers, member access,
//! calls, lists, unary and binary operators) with byte offsets, and the classification of the
//! parsed expression into a boolean formula over the tests hostgate can decide by name and
//! port.
//!
//! Everything the grammar has but the subset does not (arithmetic, `?:`, maps, other
//! functions) is an error at its offset; identity tests (`source.*`, `inIpRange`) are errors
//! too, since dropping them would change verdicts either way; `request.*` tests are kept as
//! [`Atom::L7`] for the reader to decide.

/// An error at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CelError {
    pub offset: usize,
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, CelError> {
    Err(CelError {
        offset,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    /// Floats, bytes and unsigned literals: recognised so the error can say what they are.
    Other(&'static str),
    Punct(&'static str),
}

/// Tokens with their start offsets.
fn lex(src: &str) -> Result<Vec<(Tok, usize)>, CelError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        // String prefixes: r / R (raw), b / B (bytes), in either order.
        let mut j = i;
        let mut raw = false;
        let mut bytes = false;
        while j < b.len() && j - i < 2 && matches!(b[j], b'r' | b'R' | b'b' | b'B') {
            if matches!(b[j], b'r' | b'R') {
                raw = true;
            } else {
                bytes = true;
            }
            j += 1;
        }
        if j < b.len() && matches!(b[j], b'\'' | b'"') {
            let (s, end) = string(src, j, raw)?;
            if bytes {
                out.push((Tok::Other("a bytes literal"), start));
            } else {
                out.push((Tok::Str(s), start));
            }
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && ident_char(b[j]) {
                j += 1;
            }
            out.push((Tok::Ident(src[i..j].to_string()), start));
            i = j;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut j = i;
            let hex = c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X'));
            if hex {
                j += 2;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
            } else {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let mut float = false;
            if !hex && j < b.len() && b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
                float = true;
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if !hex && j < b.len() && matches!(b[j], b'e' | b'E') {
                float = true;
                j += 1;
                if j < b.len() && matches!(b[j], b'+' | b'-') {
                    j += 1;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if float {
                out.push((Tok::Other("a floating-point literal"), start));
            } else if j < b.len() && matches!(b[j], b'u' | b'U') {
                j += 1;
                out.push((Tok::Other("an unsigned literal"), start));
            } else {
                let text = &src[i..j];
                let n = if hex {
                    i64::from_str_radix(&text[2..], 16).ok()
                } else {
                    text.parse::<i64>().ok()
                };
                match n {
                    Some(n) => out.push((Tok::Int(n), start)),
                    None => return err(start, format!("integer `{text}` is out of range")),
                }
            }
            if j < b.len() && ident_char(b[j]) {
                return err(j, "a number directly followed by a letter");
            }
            i = j;
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let p: &'static str = match two {
            "==" => "==",
            "!=" => "!=",
            "&&" => "&&",
            "||" => "||",
            "<=" => "<=",
            ">=" => ">=",
            _ => match c {
                b'!' => "!",
                b'(' => "(",
                b')' => ")",
                b'[' => "[",
                b']' => "]",
                b'{' => "{",
                b'}' => "}",
                b'.' => ".",
                b',' => ",",
                b'<' => "<",
                b'>' => ">",
                b'+' => "+",
                b'-' => "-",
                b'*' => "*",
                b'/' => "/",
                b'%' => "%",
                b'?' => "?",
                b':' => ":",
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return err(i, format!("unexpected character `{ch}`"));
                }
            },
        };
        out.push((Tok::Punct(p), start));
        i += p.len();
    }
    Ok(out)
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A string literal starting at its quote `q` (offset `at`): its value and the offset after it.
fn string(src: &str, at: usize, raw: bool) -> Result<(String, usize), CelError> {
    let b = src.as_bytes();
    let q = b[at];
    let triple = b.get(at + 1) == Some(&q) && b.get(at + 2) == Some(&q);
    let mut i = at + if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let Some(&c) = b.get(i) else {
            return err(at, "string literal without its closing quote");
        };
        if c == q && (!triple || (b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q))) {
            return Ok((out, i + if triple { 3 } else { 1 }));
        }
        if !triple && matches!(c, b'\n' | b'\r') {
            return err(at, "string literal without its closing quote on its line");
        }
        if c == b'\\' && !raw {
            let Some(&e) = b.get(i + 1) else {
                return err(i, "`\\` at the end of the expression");
            };
            let simple = match e {
                b'\\' => Some('\\'),
                b'\'' => Some('\''),
                b'"' => Some('"'),
                b'`' => Some('`'),
                b'?' => Some('?'),
                b'a' => Some('\x07'),
                b'b' => Some('\x08'),
                b'f' => Some('\x0c'),
                b'n' => Some('\n'),
                b'r' => Some('\r'),
                b't' => Some('\t'),
                b'v' => Some('\x0b'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                i += 2;
                continue;
            }
            let (len, radix) = match e {
                b'x' | b'X' => (2, 16),
                b'u' => (4, 16),
                b'U' => (8, 16),
                b'0'..=b'3' => (3, 8),
                _ => return err(i, format!("unknown escape `\\{}`", e as char)),
            };
            let digits_at = if radix == 8 { i + 1 } else { i + 2 };
            let digits = src.get(digits_at..digits_at + len).unwrap_or("");
            let ok = digits.len() == len && digits.chars().all(|d| d.is_digit(radix));
            let ch = ok
                .then(|| u32::from_str_radix(digits, radix).ok())
                .flatten()
                .and_then(char::from_u32);
            let Some(ch) = ch else {
                return err(i, "bad escape in a string literal");
            };
            out.push(ch);
            i = digits_at + len;
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
}

/// A parsed CEL expression.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub at: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Ident(String),
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    Member(Box<Expr>, String),
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    List(Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

/// Deeper nesting is refused: the parser recurses.
const MAX_DEPTH: usize = 64;
/// More operators are refused: the formula is walked recursively, and chains of `&&` nest.
const MAX_OPERATORS: usize = 256;

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    end: usize,
    depth: usize,
    operators: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }

    fn at(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.1)
    }

    fn punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn expect(&mut self, p: &str) -> Result<(), CelError> {
        if self.punct(p) {
            self.i += 1;
            Ok(())
        } else {
            err(self.at(), format!("expected `{p}`"))
        }
    }

    fn operator(&mut self) -> Result<(), CelError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return err(self.at(), format!("more than {MAX_OPERATORS} operators"));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), CelError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at(), format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, CelError> {
        self.enter()?;
        let e = self.or()?;
        if self.punct("?") {
            return err(
                self.at(),
                "the conditional `? :` is not read: write it with && and ||",
            );
        }
        self.depth -= 1;
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, CelError> {
        let mut l = self.and()?;
        while self.punct("||") {
            let at = self.at();
            self.operator()?;
            self.i += 1;
            let r = self.and()?;
            l = Expr {
                at,
                kind: Kind::Binary("||", Box::new(l), Box::new(r)),
            };
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, CelError> {
        let mut l = self.relation()?;
        while self.punct("&&") {
            let at = self.at();
            self.operator()?;
            self.i += 1;
            let r = self.relation()?;
            l = Expr {
                at,
                kind: Kind::Binary("&&", Box::new(l), Box::new(r)),
            };
        }
        Ok(l)
    }

    fn relation(&mut self) -> Result<Expr, CelError> {
        let mut l = self.additive()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct(p)) if matches!(*p, "==" | "!=" | "<" | "<=" | ">" | ">=") => *p,
                Some(Tok::Ident(w)) if w == "in" => "in",
                _ => return Ok(l),
            };
            let at = self.at();
            self.operator()?;
            self.i += 1;
            let r = self.additive()?;
            l = Expr {
                at,
                kind: Kind::Binary(op, Box::new(l), Box::new(r)),
            };
        }
    }

    fn additive(&mut self) -> Result<Expr, CelError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct(p)) if matches!(*p, "+" | "-" | "*" | "/" | "%") => *p,
                _ => return Ok(l),
            };
            let at = self.at();
            self.operator()?;
            self.i += 1;
            let r = self.unary()?;
            l = Expr {
                at,
                kind: Kind::Binary(op, Box::new(l), Box::new(r)),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, CelError> {
        let at = self.at();
        if self.punct("!") || self.punct("-") {
            let not = self.punct("!");
            self.operator()?;
            self.i += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            let kind = if not {
                Kind::Not(Box::new(e))
            } else {
                Kind::Neg(Box::new(e))
            };
            return Ok(Expr { at, kind });
        }
        self.member()
    }

    fn member(&mut self) -> Result<Expr, CelError> {
        let mut e = self.primary()?;
        loop {
            if self.punct(".") {
                self.i += 1;
                let at = self.at();
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return err(at, "expected a field or method name after `.`");
                };
                self.i += 1;
                if self.punct("(") {
                    let args = self.args()?;
                    e = Expr {
                        at,
                        kind: Kind::Call(Some(Box::new(e)), name, args),
                    };
                } else {
                    e = Expr {
                        at,
                        kind: Kind::Member(Box::new(e), name),
                    };
                }
            } else if self.punct("[") {
                return err(self.at(), "indexing `[…]` is not read");
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Expr>, CelError> {
        self.expect("(")?;
        let mut args = Vec::new();
        if self.punct(")") {
            self.i += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.punct(",") {
                self.i += 1;
                continue;
            }
            self.expect(")")?;
            return Ok(args);
        }
    }

    fn primary(&mut self) -> Result<Expr, CelError> {
        let at = self.at();
        let Some(tok) = self.peek().cloned() else {
            return err(at, "expected an expression");
        };
        self.i += 1;
        let kind = match tok {
            Tok::Str(s) => Kind::Str(s),
            Tok::Int(n) => Kind::Int(n),
            Tok::Other(what) => return err(at, format!("{what} is not read here")),
            Tok::Ident(w) => match w.as_str() {
                "true" => Kind::Bool(true),
                "false" => Kind::Bool(false),
                "null" => Kind::Null,
                "in" => return err(at, "expected an expression, not `in`"),
                _ if self.punct("(") => {
                    let args = self.args()?;
                    Kind::Call(None, w, args)
                }
                _ => Kind::Ident(w),
            },
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                return Ok(e);
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                while !self.punct("]") {
                    items.push(self.expr()?);
                    if self.punct(",") {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                self.expect("]")?;
                Kind::List(items)
            }
            Tok::Punct("{") => return err(at, "map literals are not read"),
            Tok::Punct(p) => return err(at, format!("expected an expression, not `{p}`")),
        };
        Ok(Expr { at, kind })
    }
}

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Expr, CelError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        end: src.len(),
        depth: 0,
        operators: 0,
    };
    let e = p.expr()?;
    if p.i < p.toks.len() {
        return err(p.at(), "unexpected text after the expression");
    }
    Ok(e)
}

/// A test on `host()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostTest {
    Eq(String),
    EndsWith(String),
    StartsWith(String),
    Contains(String),
    Matches(String),
    /// `inUrlList(host(), NAME)`.
    UrlList(String),
}

/// A test hostgate decides, or one it cannot see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Atom {
    Host(HostTest),
    /// `destination.port == N`.
    Port(i64),
    /// A test on the request (`request.*`, `inUrlList(request.url(), …)`): HTTP layer data
    /// that hostgate does not see.
    L7,
}

/// A boolean formula over atoms, each with the offset of the expression it came from and the
/// offset of its string argument.
#[derive(Debug, Clone)]
pub(crate) enum Formula {
    Const(bool),
    Atom(Atom, usize, usize),
    Not(Box<Formula>),
    And(Box<Formula>, Box<Formula>),
    Or(Box<Formula>, Box<Formula>),
}

fn is_host(e: &Expr) -> bool {
    matches!(&e.kind, Kind::Call(None, name, args) if name == "host" && args.is_empty())
}

fn is_port(e: &Expr) -> bool {
    matches!(&e.kind, Kind::Member(t, f) if f == "port"
        && matches!(&t.kind, Kind::Ident(d) if d == "destination"))
}

/// The first identity test (`source.*`, `inIpRange`) or request reference in `e`.
fn mentions(e: &Expr, what: &str) -> Option<usize> {
    let here = match &e.kind {
        Kind::Ident(n) if n == what => Some(e.at),
        Kind::Call(None, n, _) if what == "source" && n == "inIpRange" => Some(e.at),
        _ => None,
    };
    here.or_else(|| match &e.kind {
        Kind::Member(t, _) | Kind::Not(t) | Kind::Neg(t) => mentions(t, what),
        Kind::Call(t, _, args) => t
            .as_deref()
            .and_then(|t| mentions(t, what))
            .or_else(|| args.iter().find_map(|a| mentions(a, what))),
        Kind::List(items) => items.iter().find_map(|a| mentions(a, what)),
        Kind::Binary(_, l, r) => mentions(l, what).or_else(|| mentions(r, what)),
        _ => None,
    })
}

/// Where an expression's text starts (a member or call is named after its target).
fn start(e: &Expr) -> usize {
    match &e.kind {
        Kind::Member(t, _) | Kind::Call(Some(t), _, _) | Kind::Binary(_, t, _) => {
            start(t).min(e.at)
        }
        _ => e.at,
    }
}

/// The formula of a boolean expression in the subset.
pub(crate) fn classify(e: &Expr) -> Result<Formula, CelError> {
    if let Some(at) = mentions(e, "source") {
        // Checked first, anywhere, so that the error names the identity test itself.
        return err(
            at,
            "a test on the client (source.ip, inIpRange, source.matchTag, \
             source.matchServiceAccount): hostgate does not know which client asks, and \
             dropping the test would widen an ALLOW or narrow a DENY",
        );
    }
    classify_in(e)
}

fn classify_in(e: &Expr) -> Result<Formula, CelError> {
    match &e.kind {
        Kind::Bool(b) => Ok(Formula::Const(*b)),
        Kind::Not(inner) => Ok(Formula::Not(Box::new(classify_in(inner)?))),
        Kind::Binary("&&", l, r) => Ok(Formula::And(
            Box::new(classify_in(l)?),
            Box::new(classify_in(r)?),
        )),
        Kind::Binary("||", l, r) => Ok(Formula::Or(
            Box::new(classify_in(l)?),
            Box::new(classify_in(r)?),
        )),
        _ if mentions(e, "request").is_some() => Ok(Formula::Atom(Atom::L7, start(e), start(e))),
        Kind::Binary(op @ ("==" | "!="), l, r) => {
            let (side, other) = if is_host(r) || is_port(r) {
                (r, l)
            } else {
                (l, r)
            };
            let atom = match (&other.kind, is_host(side), is_port(side)) {
                (Kind::Str(s), true, _) => Atom::Host(HostTest::Eq(s.clone())),
                (Kind::Int(n), _, true) => Atom::Port(*n),
                (_, true, _) => return err(other.at, "host() is compared with a string literal"),
                (_, _, true) => {
                    return err(
                        other.at,
                        "destination.port is compared with an integer literal",
                    )
                }
                _ => {
                    return err(
                        e.at,
                        "only host() and destination.port comparisons are read",
                    )
                }
            };
            let f = Formula::Atom(atom, start(e), other.at);
            Ok(if *op == "!=" {
                Formula::Not(Box::new(f))
            } else {
                f
            })
        }
        Kind::Binary("in", l, r) if is_host(l) || is_port(l) => {
            // `host() in ['a', 'b']`: one equality per item.
            let Kind::List(items) = &r.kind else {
                return err(r.at, "`in` is read with a list literal");
            };
            let mut out = Formula::Const(false);
            for item in items {
                let atom = match (&item.kind, is_host(l)) {
                    (Kind::Str(s), true) => Atom::Host(HostTest::Eq(s.clone())),
                    (Kind::Int(n), false) => Atom::Port(*n),
                    _ => {
                        return err(
                            item.at,
                            "a list of string (host) or integer (port) literals",
                        )
                    }
                };
                let f = Formula::Atom(atom, item.at, item.at);
                out = match out {
                    Formula::Const(false) => f,
                    o => Formula::Or(Box::new(o), Box::new(f)),
                };
            }
            Ok(out)
        }
        Kind::Call(Some(target), name, args) if is_host(target) => {
            let test = match name.as_str() {
                "endsWith" => HostTest::EndsWith,
                "startsWith" => HostTest::StartsWith,
                "contains" => HostTest::Contains,
                "matches" => HostTest::Matches,
                other => return err(e.at, format!("host().{other}() is not read")),
            };
            let [arg] = args.as_slice() else {
                return err(e.at, format!("host().{name}() takes one string"));
            };
            let Kind::Str(s) = &arg.kind else {
                return err(
                    arg.at,
                    format!("host().{name}() is read with a string literal"),
                );
            };
            Ok(Formula::Atom(Atom::Host(test(s.clone())), start(e), arg.at))
        }
        Kind::Call(None, name, args) if name == "inUrlList" => {
            let [what, list] = args.as_slice() else {
                return err(e.at, "inUrlList takes two arguments");
            };
            if !is_host(what) {
                return err(what.at, "inUrlList is read on host() (or request.url())");
            }
            let Kind::Str(s) = &list.kind else {
                return err(list.at, "the URL list is named by a string literal");
            };
            Ok(Formula::Atom(
                Atom::Host(HostTest::UrlList(s.clone())),
                e.at,
                list.at,
            ))
        }
        Kind::Ident(n) => err(e.at, format!("`{n}` is not a boolean test hostgate reads")),
        Kind::Call(_, n, _) => err(e.at, format!("`{n}()` is not a test hostgate reads")),
        _ => err(
            e.at,
            "not in the CEL subset read: host() tests, inUrlList, destination.port ==, \
             `in` a list, &&, ||, !",
        ),
    }
}

/// A literal of a conjunction: an atom, whether negated, and its offsets.
#[derive(Debug, Clone)]
pub(crate) struct Lit {
    pub atom: Atom,
    pub negated: bool,
    pub at: usize,
    pub arg_at: usize,
}

/// More conjunctions than this are refused (the disjunctive form can grow exponentially).
pub(crate) const MAX_TERMS: usize = 256;

/// The formula as a disjunction of conjunctions, with each L7 literal replaced by `l7` (so
/// that the caller can choose the value that keeps its rule on the safe side).
pub(crate) fn dnf(f: &Formula, l7: bool) -> Result<Vec<Vec<Lit>>, ()> {
    dnf_in(f, false, l7)
}

fn dnf_in(f: &Formula, neg: bool, l7: bool) -> Result<Vec<Vec<Lit>>, ()> {
    let t = || Ok(vec![Vec::new()]);
    match f {
        Formula::Const(b) => {
            if *b != neg {
                t()
            } else {
                Ok(Vec::new())
            }
        }
        Formula::Atom(Atom::L7, _, _) => {
            if l7 {
                t()
            } else {
                Ok(Vec::new())
            }
        }
        Formula::Atom(a, at, arg_at) => Ok(vec![vec![Lit {
            atom: a.clone(),
            negated: neg,
            at: *at,
            arg_at: *arg_at,
        }]]),
        Formula::Not(inner) => dnf_in(inner, !neg, l7),
        Formula::And(a, b) | Formula::Or(a, b) => {
            let and = matches!(f, Formula::And(..)) != neg;
            let x = dnf_in(a, neg, l7)?;
            let y = dnf_in(b, neg, l7)?;
            if and {
                if x.len().saturating_mul(y.len()) > MAX_TERMS {
                    return Err(());
                }
                let mut out = Vec::new();
                for p in &x {
                    for q in &y {
                        out.push(p.iter().chain(q).cloned().collect());
                    }
                }
                Ok(out)
            } else {
                let mut out = x;
                out.extend(y);
                if out.len() > MAX_TERMS {
                    return Err(());
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(src: &str) -> Result<Formula, CelError> {
        classify(&parse(src)?)
    }

    #[test]
    fn strings_and_escapes() {
        let e =
            parse(r#"host() == "a\x2eb\u0063" || host() == r'\d' || host() == '''x'y'''"#).unwrap();
        let s = format!("{e:?}");
        assert!(s.contains("\"a.bc\""), "{s}");
        assert!(s.contains("\"\\\\d\""), "{s}");
        assert!(s.contains("\"x'y\""), "{s}");
        assert_eq!(parse("host() == 'a").unwrap_err().offset, 10);
        assert_eq!(parse("host() == '\\q'").unwrap_err().offset, 11);
    }

    #[test]
    fn subset_and_refusals_at_offsets() {
        assert!(f("host() == 'a.io' && destination.port == 443").is_ok());
        assert!(matches!(
            f("host() in ['a', 'b']").unwrap(),
            Formula::Or(..)
        ));
        assert!(f("destination.port in [80, 443]").is_ok());
        assert_eq!(f("host() in ['a', 1]").unwrap_err().offset, 16);
        assert!(f(
            "!(host().endsWith('.x') || inUrlList(host(), 'projects/p/locations/l/urlLists/u'))"
        )
        .is_ok());
        let e = f("host() == 'a' && source.matchTag('t')").unwrap_err();
        assert_eq!(e.offset, 17);
        let e = f("inIpRange(source.ip, '10.0.0.0/8')").unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(matches!(
            f("request.method == 'POST'").unwrap(),
            Formula::Atom(Atom::L7, 0, 0)
        ));
        assert_eq!(f("host().size() > 3").unwrap_err().offset, 14);
        assert_eq!(f("host() == 'a' ? true : false").unwrap_err().offset, 14);
        assert_eq!(f("host() == 1").unwrap_err().offset, 10);
        assert_eq!(f("(host() == 'a'").unwrap_err().offset, 14);
    }

    #[test]
    fn dnf_distributes_and_negates() {
        let g = f(
            "!(host() == 'a' || host() == 'b') && (destination.port == 1 || destination.port == 2)",
        )
        .unwrap();
        let d = dnf(&g, false).unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|c| c.len() == 3));
        assert!(d[0][0].negated && d[0][1].negated && !d[0][2].negated);
        let l7 = f("request.method == 'GET' && host() == 'a'").unwrap();
        assert_eq!(dnf(&l7, false).unwrap().len(), 0);
        assert_eq!(dnf(&l7, true).unwrap().len(), 1);
        let deep = "(".repeat(100) + "true" + &")".repeat(100);
        assert!(parse(&deep).is_err());
        let long = vec!["true"; 300].join(" && ");
        assert!(parse(&long).unwrap_err().message.contains("operators"));
        assert!(parse(&vec!["true"; 200].join(" || ")).is_ok());
    }
}
