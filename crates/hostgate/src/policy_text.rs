//! The policy text parser: lines → [`PolicySpec`]s, collecting every error with line and column.
//!
//! Patterns are only split out here; they are parsed (and their errors reported) by the
//! compiler, which sees rules from text and from the builder alike.

use crate::builder::{PolicySpec, RuleSpec};
use crate::error::Diagnostic;
use crate::verdict::{Action, Precedence, Via};

/// The policy that owns statements before the first `policy` line.
pub(crate) const IMPLICIT_POLICY: &str = "default";

/// A whitespace-separated token with its 1-based character column.
struct Token<'a> {
    text: &'a str,
    column: u32,
}

/// Splits a line into tokens, dropping a `#` comment that starts a token.
fn tokenize<'a>(line: &'a str, tokens: &mut Vec<Token<'a>>) {
    tokens.clear();
    if line.is_ascii() {
        // Bytes are characters: no decoding, columns are byte offsets.
        let bytes = line.as_bytes();
        // The same white space as `char::is_whitespace` for ASCII (which includes \x0b).
        let space = |b: u8| b.is_ascii_whitespace() || b == 0x0b;
        let mut i = 0;
        while i < bytes.len() {
            if space(bytes[i]) {
                i += 1;
                continue;
            }
            if bytes[i] == b'#' {
                return;
            }
            let start = i;
            while i < bytes.len() && !space(bytes[i]) {
                i += 1;
            }
            tokens.push(Token {
                text: &line[start..i],
                column: start as u32 + 1,
            });
        }
        return;
    }
    let mut start: Option<(usize, u32)> = None;
    let mut column = 0u32;
    for (i, c) in line.char_indices() {
        column += 1;
        if c.is_whitespace() {
            if let Some((s, col)) = start.take() {
                tokens.push(Token {
                    text: &line[s..i],
                    column: col,
                });
            }
        } else if start.is_none() {
            if c == '#' {
                return;
            }
            start = Some((i, column));
        }
    }
    if let Some((s, col)) = start {
        tokens.push(Token {
            text: &line[s..],
            column: col,
        });
    }
}

/// What a line says, before it is known which policy it belongs to.
enum Item<'a> {
    /// `policy NAME`.
    Policy {
        name: &'a str,
        column: u32,
        line: u32,
    },
    /// `precedence MODE`, with the mode when it is a valid one.
    Precedence {
        mode: Option<Precedence>,
        column: u32,
        line: u32,
    },
    /// `default ACTION`, with the action when it is a valid one.
    Default {
        action: Option<Action>,
        column: u32,
        line: u32,
    },
    /// Consecutive rules (those that parsed; the others left only errors).
    Rules(Vec<RuleSpec>),
    /// A line that is not `policy` and left only errors.
    Other,
}

/// Below this many bytes, policy text is parsed on the calling thread alone.
const PARALLEL_TEXT_MIN: usize = 1 << 20;

/// Parses policy text. Returns the policies (possibly partial when there are errors) and the
/// syntax errors, by line and column. Rule-level checks that need the pattern (and id
/// uniqueness) are the compiler's.
///
/// Lines are parsed on their own first (a large text in two halves, on two threads: a line
/// needs nothing from the lines before it), then the statements are applied in order, which is
/// where which policy a rule belongs to, and every check across lines, is decided.
pub(crate) fn parse(text: &str) -> (Vec<PolicySpec>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    // The second half starts after the first line break past the middle.
    let split = (text.len() >= PARALLEL_TEXT_MIN && two_cores())
        .then(|| {
            text.as_bytes()[text.len() / 2..]
                .iter()
                .position(|&b| b == b'\n')
        })
        .flatten()
        .map(|at| text.len() / 2 + at + 1);
    let items = match split {
        Some(at) => {
            let (first, second) = text.split_at(at);
            let first_lines = first.bytes().filter(|&b| b == b'\n').count();
            let (mut items, rest) = std::thread::scope(|scope| {
                let other = std::thread::Builder::new()
                    .spawn_scoped(scope, || parse_lines(second, first_lines));
                let mine = parse_lines(first, 0);
                let theirs = match other.map(|h| h.join()) {
                    Ok(Ok(theirs)) => theirs,
                    _ => parse_lines(second, first_lines),
                };
                (mine, theirs)
            });
            errors.extend(items.1);
            errors.extend(rest.1);
            items.0.extend(rest.0);
            items.0
        }
        None => {
            let (items, line_errors) = parse_lines(text, 0);
            errors.extend(line_errors);
            items
        }
    };
    let done = apply(items, &mut errors);
    // Each half's errors are in line order, and so are those found applying statements; all
    // together, by line and column.
    errors.sort_by_key(|e| (e.line, e.column));
    (done, errors)
}

/// Whether this machine gives the process more than one core (asked only for large inputs:
/// the answer reads the cgroup limits).
pub(crate) fn two_cores() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Parses each line of `text` (whose first line is line `first_line + 1` of the policy) into
/// what it says, with the errors a line shows on its own.
fn parse_lines(text: &str, first_line: usize) -> (Vec<Item<'_>>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut items: Vec<Item<'_>> = Vec::new();
    // One token buffer for every line: most policies are many short lines.
    let mut tokens: Vec<Token<'_>> = Vec::with_capacity(16);
    // A run of rules can be no longer than the lines left: reserved when it starts (untouched
    // capacity is only address space) and given back when it ends, so that a large policy
    // is not copied at every doubling of its rule list.
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut run: Vec<RuleSpec> = Vec::new();
    let end_run = |run: &mut Vec<RuleSpec>, items: &mut Vec<Item<'_>>| {
        if !run.is_empty() {
            let mut rules = std::mem::take(run);
            rules.shrink_to_fit();
            items.push(Item::Rules(rules));
        }
    };
    for (idx, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(first_line + idx + 1).unwrap_or(u32::MAX);
        tokenize(raw, &mut tokens);
        let Some(first) = tokens.first() else {
            continue;
        };
        // Only error paths need it; ASCII lines (nearly all) need no character count.
        let end_column = if raw.is_ascii() {
            raw.len() as u32 + 1
        } else {
            raw.chars().count() as u32 + 1
        };
        let mut e = |column: u32, msg: String, help: Option<String>| {
            errors.push(Diagnostic::error(line_no, column, msg).with_help(help));
        };
        if let "allow" | "deny" = first.text {
            match parse_rule(&tokens, line_no, end_column, &mut e) {
                Some(rule) => {
                    if run.is_empty() {
                        run.reserve(lines - idx);
                    }
                    run.push(rule);
                }
                None => {
                    end_run(&mut run, &mut items);
                    items.push(Item::Other);
                }
            }
            continue;
        }
        end_run(&mut run, &mut items);
        let item = match first.text {
            "policy" => {
                let Some(name) = tokens.get(1) else {
                    e(end_column, "`policy` needs a name".into(), None);
                    continue;
                };
                if let Some(extra) = tokens.get(2) {
                    e(
                        extra.column,
                        format!("unexpected `{}` after the policy name", extra.text),
                        None,
                    );
                }
                Item::Policy {
                    name: name.text,
                    column: name.column,
                    line: line_no,
                }
            }
            "precedence" => {
                let Some(mode) = tokens.get(1) else {
                    e(
                        end_column,
                        "`precedence` needs first-match, most-specific or deny-overrides".into(),
                        None,
                    );
                    items.push(Item::Other);
                    continue;
                };
                let parsed = mode.text.parse::<Precedence>().ok();
                if parsed.is_none() {
                    e(
                        mode.column,
                        format!("unknown precedence `{}`", mode.text),
                        Some(suggest(
                            mode.text,
                            &["first-match", "most-specific", "deny-overrides"],
                        )),
                    );
                }
                extra_tokens(&tokens, 2, &mut e);
                Item::Precedence {
                    mode: parsed,
                    column: first.column,
                    line: line_no,
                }
            }
            "default" => {
                let Some(action) = tokens.get(1) else {
                    e(end_column, "`default` needs allow or deny".into(), None);
                    items.push(Item::Other);
                    continue;
                };
                let parsed = action.text.parse::<Action>().ok();
                if parsed.is_none() {
                    e(
                        action.column,
                        format!("`default` takes allow or deny, not `{}`", action.text),
                        None,
                    );
                }
                extra_tokens(&tokens, 2, &mut e);
                Item::Default {
                    action: parsed,
                    column: first.column,
                    line: line_no,
                }
            }
            other => {
                e(
                    first.column,
                    format!("unknown statement `{other}`"),
                    Some(suggest(
                        other,
                        &["allow", "deny", "policy", "precedence", "default"],
                    )),
                );
                Item::Other
            }
        };
        items.push(item);
    }
    end_run(&mut run, &mut items);
    (items, errors)
}

/// Per-policy bookkeeping used only while parsing.
struct Open {
    spec: PolicySpec,
    precedence_line: Option<u32>,
    default_line: Option<u32>,
}

impl Open {
    fn new(name: &str, line: u32) -> Self {
        let mut spec = PolicySpec::new(name);
        spec.line = line;
        Open {
            spec,
            precedence_line: None,
            default_line: None,
        }
    }
}

/// Applies the statements in order: which policy each belongs to, and the checks across
/// lines (a policy defined twice, a setting given twice, statements before the first
/// `policy` line and a later `policy default`).
fn apply(items: Vec<Item<'_>>, errors: &mut Vec<Diagnostic>) -> Vec<PolicySpec> {
    let mut done: Vec<PolicySpec> = Vec::new();
    let mut current = Open::new(IMPLICIT_POLICY, 0);
    // The implicit policy exists only if something is written before the first `policy`.
    let mut implicit_used = false;
    let mut seen_policy = false;
    let mut policy_lines: Vec<(&str, u32)> = Vec::new();
    for item in items {
        if !seen_policy && !matches!(item, Item::Policy { .. }) {
            implicit_used = true;
        }
        match item {
            Item::Policy { name, column, line } => {
                let mut e = |msg: String| errors.push(Diagnostic::error(line, column, msg));
                if let Some((_, at)) = policy_lines.iter().find(|(n, _)| *n == name) {
                    e(format!("policy `{name}` is already defined on line {at}"));
                } else if name == IMPLICIT_POLICY && implicit_used {
                    e(format!(
                        "policy `{IMPLICIT_POLICY}` already holds the statements above this line"
                    ));
                }
                let previous = std::mem::replace(&mut current, Open::new(name, line));
                if seen_policy || implicit_used {
                    done.push(previous.spec);
                }
                seen_policy = true;
                policy_lines.push((name, line));
            }
            Item::Precedence { mode, column, line } => {
                if let Some(p) = mode {
                    current.spec.precedence = p;
                }
                once(
                    &mut current.precedence_line,
                    "precedence",
                    line,
                    column,
                    errors,
                );
            }
            Item::Default {
                action,
                column,
                line,
            } => {
                if let Some(a) = action {
                    current.spec.default = a;
                }
                once(&mut current.default_line, "default", line, column, errors);
            }
            Item::Rules(mut rules) => {
                // A policy's first run becomes its list; a later one (after a line with
                // errors, or from the second half of the text) is appended.
                if current.spec.rules.is_empty() {
                    current.spec.rules = rules;
                } else {
                    current.spec.rules.append(&mut rules);
                }
            }
            Item::Other => {}
        }
    }
    if seen_policy || implicit_used || done.is_empty() {
        done.push(current.spec);
    }
    done
}

/// A setting allowed once per policy: report a repeat, remember where it was set.
fn once(seen: &mut Option<u32>, what: &str, line: u32, column: u32, errors: &mut Vec<Diagnostic>) {
    if let Some(at) = *seen {
        errors.push(Diagnostic::error(
            line,
            column,
            format!("{what} already set on line {at}"),
        ));
    }
    *seen = Some(line);
}

fn extra_tokens(
    tokens: &[Token<'_>],
    from: usize,
    e: &mut impl FnMut(u32, String, Option<String>),
) {
    if let Some(t) = tokens.get(from) {
        e(t.column, format!("unexpected `{}`", t.text), None);
    }
}

fn parse_rule(
    tokens: &[Token<'_>],
    line: u32,
    end_column: u32,
    e: &mut impl FnMut(u32, String, Option<String>),
) -> Option<RuleSpec> {
    // Only called for lines that start with `allow` or `deny`.
    let action = tokens[0].text.parse::<Action>();
    debug_assert!(action.is_ok(), "parse_rule on `{}`", tokens[0].text);
    let action = action.ok()?;
    let Some(pattern) = tokens.get(1) else {
        e(
            end_column,
            format!("`{}` needs a pattern", action.as_str()),
            None,
        );
        return None;
    };
    let mut rule = RuleSpec::new(action, pattern.text);
    rule.line = line;
    rule.pattern_column = pattern.column;
    let mut ok = true;
    let mut seen: Vec<&str> = Vec::new();
    let mut i = 2;
    while i < tokens.len() {
        let key = &tokens[i];
        let value = tokens.get(i + 1);
        match key.text {
            "received" => {
                if seen.contains(&key.text) {
                    e(key.column, "`received` given twice".into(), None);
                    ok = false;
                }
                seen.push(key.text);
                rule.received = true;
                rule.received_column = key.column;
                i += 1;
            }
            "port" | "via" | "id" => {
                if seen.contains(&key.text) {
                    e(key.column, format!("`{}` given twice", key.text), None);
                    ok = false;
                }
                seen.push(key.text);
                let Some(value) = value else {
                    e(end_column, format!("`{}` needs a value", key.text), None);
                    return None;
                };
                let parsed = match key.text {
                    "port" => parse_ports(value, e).map(|p| rule.ports = p),
                    "via" => parse_via(value, e).map(|v| rule.via = v),
                    _ => {
                        debug_assert_eq!(key.text, "id");
                        rule.id = Some(value.text.to_owned());
                        rule.id_column = value.column;
                        Some(())
                    }
                };
                ok &= parsed.is_some();
                i += 2;
            }
            other => {
                let help = if other.starts_with(|c: char| c.is_ascii_digit())
                    && seen.last() == Some(&"port")
                {
                    Some("write port lists without spaces: `port 80,443`".to_owned())
                } else if i == 2 {
                    Some("one pattern per rule; write another rule for the next one".to_owned())
                } else {
                    None
                };
                e(
                    key.column,
                    format!("unexpected `{other}`; expected `port`, `via`, `id` or `received`"),
                    help,
                );
                ok = false;
                i += 1;
            }
        }
    }
    ok.then_some(rule)
}

fn parse_ports(
    tok: &Token<'_>,
    e: &mut impl FnMut(u32, String, Option<String>),
) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    let mut col = tok.column;
    let mut ok = true;
    for item in tok.text.split(',') {
        let here = col;
        col += item.chars().count() as u32 + 1;
        if item.is_empty() {
            e(here, "empty item in port list".into(), None);
            ok = false;
            continue;
        }
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a, b),
            None => (item, item),
        };
        let parse = |s: &str| -> Option<u16> { s.parse::<u16>().ok().filter(|&p| p != 0) };
        match (parse(lo), parse(hi)) {
            (Some(a), Some(b)) if a <= b => out.push((a, b)),
            (Some(a), Some(b)) => {
                e(
                    here,
                    format!("port range `{item}` is backwards"),
                    Some(format!("did you mean `{b}-{a}`?")),
                );
                ok = false;
            }
            _ => {
                e(
                    here,
                    format!("`{item}` is not a port or range (ports are 1-65535)"),
                    None,
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn parse_via(tok: &Token<'_>, e: &mut impl FnMut(u32, String, Option<String>)) -> Option<Vec<Via>> {
    let mut out = Vec::new();
    let mut col = tok.column;
    let mut ok = true;
    for item in tok.text.split(',') {
        let here = col;
        col += item.chars().count() as u32 + 1;
        match item.parse::<Via>() {
            Ok(v) if out.contains(&v) => {
                e(here, format!("`{item}` repeated in via list"), None);
                ok = false;
            }
            Ok(v) => out.push(v),
            Err(err) => {
                e(
                    here,
                    format!("unknown source `{item}`; expected tls, http, connect or dns"),
                    Some(suggest(item, err.expected())),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// "did you mean" for a misspelt keyword: the candidate with the smallest edit distance.
fn suggest(word: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .min_by_key(|c| edit_distance(word, c))
        .copied()
        .unwrap_or_default();
    if edit_distance(word, best) <= 2 {
        format!("did you mean `{best}`?")
    } else {
        format!("expected one of: {}", candidates.join(", "))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_and_named_policies() {
        let (p, e) = parse("allow a.io\npolicy x\nallow b.io\n");
        assert!(e.is_empty());
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[1].name.as_str()), ("default", "x"));
        let (p, _) = parse("# only a comment\npolicy x\n");
        assert_eq!(p.len(), 1);
        let (p, _) = parse("");
        assert_eq!(p[0].name, "default");
    }

    #[test]
    fn rule_options() {
        let (p, e) = parse("allow a.io via tls,http port 80,8000-8999 id web # c\n");
        assert!(e.is_empty(), "{e:?}");
        let r = &p[0].rules[0];
        assert_eq!(r.ports, vec![(80, 80), (8000, 8999)]);
        assert_eq!(r.via, vec![Via::Tls, Via::Http]);
        assert_eq!(r.id.as_deref(), Some("web"));
        assert_eq!(r.pattern_column, 7);
    }

    /// Parses `text` as two halves split before line `k + 1`, as a large text is on two
    /// threads.
    fn parse_split(text: &str, k: usize) -> (Vec<PolicySpec>, Vec<Diagnostic>) {
        let at = text
            .match_indices('\n')
            .nth(k)
            .map_or(text.len(), |(i, _)| i + 1);
        let (first, second) = text.split_at(at);
        let (mut items, mut errors) = parse_lines(first, 0);
        let (rest, more) = parse_lines(second, first.matches('\n').count());
        items.extend(rest);
        errors.extend(more);
        let done = apply(items, &mut errors);
        errors.sort_by_key(|e| (e.line, e.column));
        (done, errors)
    }

    #[test]
    fn a_text_split_anywhere_parses_the_same() {
        // Every statement kind, errors that need earlier lines (a policy defined twice, a
        // setting given twice, `policy default` after implicit statements) and runs of rules
        // broken by bad lines: split before every line, the result is the whole text's.
        let text =
            "allow a.io\nalow b.io\nallow c.io port 0\nallow d.io\nprecedence most-specific\n\
                    precedence first-match\ndefault allow\npolicy x extra\nallow e.io\n# note\n\
                    \nallow f.io via tls\ndeny g.io id g\ndefault\npolicy default\nallow h.io\n\
                    policy x\nprecedence bogus\ndefault maybe\nallow i.io\npolicy\nallow j.io\n";
        let whole = parse(text);
        assert!(!whole.1.is_empty());
        assert_eq!(whole.0.len(), 4);
        for k in 0..=text.matches('\n').count() {
            assert_eq!(parse_split(text, k), whole, "split before line {}", k + 1);
        }
        // And the same for a text that starts with a policy line (no implicit policy).
        let text = "policy a\nallow a.io\nallow b.io\npolicy b\ndeny c.io\nallow d.io\n";
        let whole = parse(text);
        assert!(whole.1.is_empty());
        for k in 0..=6 {
            assert_eq!(parse_split(text, k), whole, "split before line {}", k + 1);
        }
    }

    #[test]
    fn a_large_text_is_parsed_in_two_halves_like_a_small_one() {
        // Past the size where the halves go to two threads: the same policies as the lines
        // parsed one by one, with errors in both halves at their lines.
        let mut text = String::new();
        let mut want_errors = Vec::new();
        for i in 0..60_000 {
            match i % 9_973 {
                0 => text.push_str(&format!("policy p{i}\n")),
                17 => {
                    text.push_str("allow bad.io port 0\n");
                    want_errors.push(i + 1);
                }
                _ => text.push_str(&format!("allow host{i}.example.com\n")),
            }
        }
        assert!(text.len() >= PARALLEL_TEXT_MIN);
        let (policies, errors) = parse(&text);
        let lines: Vec<usize> = errors.iter().map(|e| e.line as usize).collect();
        assert_eq!(lines, want_errors);
        assert_eq!(policies.len(), 7);
        let rules: usize = policies.iter().map(|p| p.rules.len()).sum();
        assert_eq!(rules, 60_000 - 7 - want_errors.len());
        // Every rule kept its line, in order, in the policy that precedes it.
        for p in &policies {
            for r in &p.rules {
                assert_eq!(r.pattern, format!("host{}.example.com", r.line - 1));
                assert!(r.line > p.line);
            }
        }
    }

    #[test]
    fn errors_with_columns() {
        let (_, e) = parse("alow a.io\nallow b.io port 0\nallow c port 9-1\nprecedence first\n");
        let got: Vec<(u32, u32)> = e.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(got, vec![(1, 1), (2, 17), (3, 14), (4, 12)]);
        assert_eq!(e[0].help.as_deref(), Some("did you mean `allow`?"));
        assert_eq!(e[2].help.as_deref(), Some("did you mean `1-9`?"));
    }
}
