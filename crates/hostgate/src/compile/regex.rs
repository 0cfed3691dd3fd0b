//! The `~regex` rules: each checked alone when its rule is compiled (so that its errors point
//! at its rule), then all of them built into one multi-pattern regex set.
//!
//! The set is searched by `crate::engine`'s lookup only when a regex rule could still beat
//! the best rank found; the rest of the compiler is in [`super`].

use regex_automata::meta::{self, Regex};
use regex_automata::{Anchored, MatchKind};

use crate::engine::RegexSet;
use crate::error::{CompileErrors, Diagnostic};

/// Compiled-size limit for one `~regex` (bytes of NFA).
const REGEX_NFA_LIMIT: usize = 1 << 20;
/// Nesting limit for `~regex` syntax.
const REGEX_NEST_LIMIT: u32 = 64;

/// The regex set of an engine from its distinct sources and, per source, its rules; `order`
/// sorts each list by policy then rank. `None` when there are no regex rules.
pub(crate) fn build_set(
    sources: &[String],
    mut lists: Vec<Vec<u32>>,
    order: impl Fn(u32) -> (u32, u32),
) -> Result<Option<RegexSet>, CompileErrors> {
    if sources.is_empty() {
        return Ok(None);
    }
    let sources: Vec<String> = sources.iter().map(|s| anchored_source(s)).collect();
    let mut b = regex_builder();
    // The set may be larger than one rule; each rule was checked against the limit.
    b.configure(
        Regex::config()
            .nfa_size_limit(Some(REGEX_NFA_LIMIT.saturating_mul(sources.len())))
            .dfa_size_limit(Some(REGEX_NFA_LIMIT)),
    );
    let regex = b.build_many(&sources).map_err(|e| CompileErrors {
        errors: vec![Diagnostic::error(
            0,
            0,
            format!(
                "the regex rules together are too large: {}",
                regex_error_text(&e)
            ),
        )],
    })?;
    for v in &mut lists {
        v.sort_by_key(|&g| order(g));
    }
    Ok(Some(RegexSet {
        regex,
        rules: lists,
    }))
}

fn regex_builder() -> meta::Builder {
    let mut b = Regex::builder();
    b.configure(
        Regex::config()
            .match_kind(MatchKind::All)
            .nfa_size_limit(Some(REGEX_NFA_LIMIT))
            .dfa_size_limit(Some(REGEX_NFA_LIMIT)),
    )
    .syntax(regex_automata::util::syntax::Config::new().nest_limit(REGEX_NEST_LIMIT));
    b
}

/// Whole-match: the name must end where the regex ends (the start is anchored by the input).
fn anchored_source(re: &str) -> String {
    format!("(?:{re})\\z")
}

/// Compiles one rule's regex alone, so that its errors point at its rule. A `received` regex
/// sees names as the query carried them (any case, a trailing dot, `:PORT`).
pub(super) fn check_regex(re: &str, received: bool) -> Result<(), String> {
    // A built rule's regex may hold white space; the length limit is on its text form, so
    // that every rule that compiles can be written as policy text that compiles.
    if re.chars().any(char::is_whitespace)
        && one_token(re).is_some_and(|t| t.len() > crate::pattern::MAX_REGEX_LEN)
    {
        return Err(format!(
            "regex longer than {} bytes as policy text, with its white space written as \
             `\\x{{HEX}}`",
            crate::pattern::MAX_REGEX_LEN
        ));
    }
    // The source must stand on its own: `a)|(b` would escape the `(?:…)\z` wrapper below.
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse(re)
        .map_err(|e| {
            let text = e.to_string();
            format!(
                "invalid regex: {}",
                text.lines().last().unwrap_or("syntax error").trim()
            )
        })?;
    if let Err(e) = regex_builder().build(&anchored_source(re)) {
        return Err(format!("invalid regex: {}", regex_error_text(&e)));
    }
    // A regex whose shortest match is longer than any name can never match.
    if let Some(min) = hir.properties().minimum_len() {
        if min > crate::name::MAX_NAME_LEN {
            return Err(format!(
                "regex can never match: its shortest match is {min} bytes, names are at most 253"
            ));
        }
    }
    if hir.properties().maximum_len() == Some(0) {
        return Err("regex can never match: it only matches the empty string".into());
    }
    if received {
        if matches_some_name(re, RECEIVED_ALPHABET) == Some(false) {
            return Err(
                "regex can never match: names as received are [A-Za-z0-9_-] labels and dots, \
                 with `:PORT` after them for HTTP and CONNECT"
                    .into(),
            );
        }
    } else if matches_some_name(re, NAME_ALPHABET) == Some(false) {
        return Err(
            "regex can never match: normalized names are lowercase [a-z0-9_-] labels and dots"
                .into(),
        );
    }
    Ok(())
}

/// The bytes of normalized host names.
const NAME_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
/// The bytes of ASCII names as received, with a `:PORT` suffix.
const RECEIVED_ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:";

/// Whether the anchored regex accepts some string over `alphabet`: a search of its DFA that
/// follows only those bytes. `None` when the DFA is too large to build within the limit (the
/// check is then skipped; matching stays linear-time either way).
fn matches_some_name(re: &str, alphabet: &[u8]) -> Option<bool> {
    use regex_automata::dfa::{dense, Automaton};
    use regex_automata::util::start;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(REGEX_NFA_LIMIT))
                .determinize_size_limit(Some(REGEX_NFA_LIMIT)),
        )
        .syntax(regex_automata::util::syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .build(&anchored_source(re))
        .ok()?;
    let first = dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .ok()?;
    let mut seen = std::collections::HashSet::new();
    let mut queue = vec![first];
    seen.insert(first);
    while let Some(state) = queue.pop() {
        if dfa.is_match_state(state) || dfa.is_match_state(dfa.next_eoi_state(state)) {
            return Some(true);
        }
        for &b in alphabet {
            let next = dfa.next_state(state, b);
            if !dfa.is_dead_state(next) && seen.insert(next) {
                queue.push(next);
            }
        }
    }
    Some(false)
}

/// `re` written without white space, so that `~re` is one token of policy text: each white
/// space literal as `\x{HEX}`, and verbose-mode (`(?x)`) comments and ignored white space
/// dropped. `None` when `re` does not parse, or when the result would not parse to the same
/// regex (both are parsed and compared, so a form the rewrite misreads is refused).
pub(crate) fn one_token(re: &str) -> Option<String> {
    use regex_syntax::ast::{self, Ast, ClassSetItem, Span};
    if !re.chars().any(char::is_whitespace) {
        return Some(re.to_owned());
    }
    struct Literals(Vec<(Span, char)>);
    impl ast::Visitor for Literals {
        type Output = Vec<(Span, char)>;
        type Err = ();
        fn finish(self) -> Result<Self::Output, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, node: &Ast) -> Result<(), ()> {
            if let Ast::Literal(l) = node {
                self.0.push((l.span, l.c));
            }
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
            match item {
                ClassSetItem::Literal(l) => self.0.push((l.span, l.c)),
                ClassSetItem::Range(r) => {
                    self.0.push((r.start.span, r.start.c));
                    self.0.push((r.end.span, r.end.c));
                }
                _ => {}
            }
            Ok(())
        }
    }
    let parsed = ast::parse::ParserBuilder::new()
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse_with_comments(re)
        .ok()?;
    let mut edits: Vec<(usize, usize, Option<char>)> =
        ast::visit(&parsed.ast, Literals(Vec::new()))
            .ok()?
            .into_iter()
            .filter(|(_, c)| c.is_whitespace())
            .map(|(span, c)| (span.start.offset, span.end.offset, Some(c)))
            .collect();
    edits.extend(
        parsed
            .comments
            .iter()
            .map(|c| (c.span.start.offset, c.span.end.offset, None)),
    );
    edits.sort_unstable();
    let mut out = String::with_capacity(re.len() + 8);
    let mut at = 0;
    for (start, end, literal) in edits {
        if start < at {
            return None;
        }
        out.extend(re[at..start].chars().filter(|c| !c.is_whitespace()));
        if let Some(c) = literal {
            out.push_str(&format!("\\x{{{:X}}}", c as u32));
        }
        at = end;
    }
    out.extend(re[at..].chars().filter(|c| !c.is_whitespace()));
    let hir = |s: &str| {
        regex_syntax::ParserBuilder::new()
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            .parse(s)
            .ok()
    };
    (hir(re)? == hir(&out)?).then_some(out)
}

fn regex_error_text(e: &regex_automata::meta::BuildError) -> String {
    match e.syntax_error() {
        Some(s) => s
            .to_string()
            .lines()
            .last()
            .unwrap_or("syntax error")
            .trim()
            .to_owned(),
        None => match e.size_limit() {
            Some(limit) => format!("it compiles to more than the {limit}-byte limit"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Query};

    #[test]
    fn regex_whole_match_and_limits() {
        let e = Engine::compile("allow ~ads[0-9]+\\.example\\.net\n").unwrap();
        let p = e.policy("default").unwrap();
        assert!(e.check(p, &Query::new("ads12.example.net")).is_allow());
        assert!(!e.check(p, &Query::new("xads12.example.net")).is_allow());
        assert!(!e.check(p, &Query::new("ads12.example.net.evil")).is_allow());
        let errs = Engine::compile("allow ~(a\n").unwrap_err();
        assert_eq!((errs.errors()[0].line, errs.errors()[0].column), (1, 8));
        let errs = Engine::compile("allow ~((a{100}){100}){100}\n").unwrap_err();
        assert!(errs.errors()[0].message.contains("limit"), "{errs}");
        let errs = Engine::compile("allow ~(a{100}){100}\n").unwrap_err();
        assert!(errs.errors()[0].message.contains("never match"), "{errs}");
        // Names are lowercase: an uppercase literal, or a space, can never match.
        for never in ["~API\\.x\\.io", "~a\\x20b", "~[A-Z]+"] {
            let errs = Engine::compile(&format!("allow {never}\n")).unwrap_err();
            assert!(
                errs.errors()[0].message.contains("never match"),
                "{never}: {errs}"
            );
        }
        assert!(Engine::compile("allow ~(?i)API\\.x\\.io\n").is_ok());
        // The source must be a regex on its own: it cannot close the implicit anchor group.
        assert!(Engine::compile("allow ~a\\.io)|(zz\n").is_err());
    }

    /// Policy text splits on white space: a rule's text form writes a regex's white space so
    /// that it reads back as the same regex. Each case: the regex, its one-token form, and
    /// strings that the `regex` crate must match the same way with both.
    #[test]
    fn a_regex_with_white_space_is_written_as_one_token_of_the_same_meaning() {
        use crate::{EngineBuilder, PolicySpec, RuleSpec};
        let cases = [
            ("a b|x\\.io", "a\\x{20}b|x\\.io"),
            ("[ \t]x|x\\.io", "[\\x{20}\\x{9}]x|x\\.io"),
            ("[\t- ]+x|y\\.io", "[\\x{9}-\\x{20}]+x|y\\.io"),
            ("(?x) x \\. io # a comment\n | y\\.io", "(?x)x\\.io|y\\.io"),
            (
                "(?x)x\\ y|(?-x:a b)|y\\.io",
                "(?x)x\\x{20}y|(?-x:a\\x{20}b)|y\\.io",
            ),
            ("\u{3000}x|x\\.io", "\\x{3000}x|x\\.io"),
            ("x\\.io", "x\\.io"),
        ];
        let probes = [
            "a b",
            "a\tb",
            " x",
            "\tx",
            "x y",
            "x.io",
            "y.io",
            "xy",
            "a\u{3000}x",
        ];
        for (re, want) in cases {
            let rule = RuleSpec::allow(format!("~{re}")).id("r");
            let text = rule.to_string();
            assert_eq!(text, format!("allow ~{want} id r"), "{re:?}");
            let whole = |r: &str| regex::Regex::new(&format!("^(?:{r})$")).unwrap();
            let (a, b) = (whole(re), whole(want));
            for p in probes {
                assert_eq!(a.is_match(p), b.is_match(p), "{re:?} on {p:?}");
            }
            let from_text = Engine::compile(&format!("{text}\n")).unwrap();
            let built = EngineBuilder::new()
                .policy(PolicySpec::new("default").rule(rule))
                .build()
                .unwrap();
            let (pt, pb) = (
                from_text.policy("default").unwrap(),
                built.policy("default").unwrap(),
            );
            for name in ["x.io", "y.io", "xio", "a.io"] {
                let q = Query::new(name);
                assert_eq!(
                    from_text.check(pt, &q).action,
                    built.check(pb, &q).action,
                    "{re:?} {name}"
                );
            }
        }
        // The length limit is on the text form: a regex that fits only because a space is one
        // byte is refused, built or written.
        let long = format!("~{}|x\\.io", "a ".repeat(200));
        assert!(long.len() < 1024);
        let built = EngineBuilder::new()
            .policy(PolicySpec::new("default").rule(RuleSpec::allow(long.clone())))
            .build();
        let errs = built.unwrap_err();
        assert!(
            errs.errors()[0].message.contains("as policy text"),
            "{errs}"
        );
        let text = format!("{}\n", RuleSpec::allow(long));
        assert!(Engine::compile(&text).is_err());
        // A regex that does not parse is written as it is, and compiling it says why.
        let bad = RuleSpec::allow("~(a b");
        assert_eq!(bad.to_string(), "allow ~(a b");
    }
}
