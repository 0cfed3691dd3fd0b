//! POSIX extended regular expressions (as Squid compiles `dstdom_regex` with `regcomp`) into
//! the regex syntax of hostgate's `~` patterns, with the same meaning on host names.
//!
//! Only the POSIX grammar is translated; the GNU extensions (`\w`, `\b`, `\<`, back
//! references), collating elements, equivalence classes and forms POSIX leaves undefined
//! (a quantifier with nothing to repeat, an empty alternative) are refused, as is any
//! non-ASCII character (glibc matches bytes, hostgate characters).

/// A translation failure: the character offset in the expression and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EreError {
    pub offset: usize,
    pub message: String,
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, EreError> {
    Err(EreError {
        offset,
        message: message.into(),
    })
}

/// Translates one expression; `icase`: Squid's `-i`. The result is an unanchored search
/// written as a whole-match (`.*(?:…).*`), which hostgate anchors.
pub(crate) fn translate(re: &str, icase: bool) -> Result<String, EreError> {
    let chars: Vec<char> = re.chars().collect();
    if let Some(i) = chars.iter().position(|c| !c.is_ascii()) {
        return fail(i, "a non-ASCII character (glibc matches bytes)");
    }
    let mut p = Parser {
        chars: &chars,
        i: 0,
        icase,
        depth: 0,
    };
    let body = p.alternation()?;
    if p.i < chars.len() {
        return fail(p.i, "unmatched `)`");
    }
    Ok(if icase {
        format!(".*(?i:{body}).*")
    } else {
        format!(".*(?:{body}).*")
    })
}

struct Parser<'a> {
    chars: &'a [char],
    i: usize,
    icase: bool,
    depth: u32,
}

/// Escapes an ASCII character for the hostgate (regex-syntax) grammar.
fn lit(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() || c == '_' || c == ' ' {
        out.push(c);
    } else if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else {
        out.push_str(&format!("\\x{:02X}", u32::from(c)));
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn alternation(&mut self) -> Result<String, EreError> {
        let mut out = String::new();
        loop {
            let start = self.i;
            let branch = self.branch()?;
            if branch.is_empty() {
                return fail(start, "an empty alternative (undefined in POSIX)");
            }
            out.push_str(&branch);
            if self.peek() == Some('|') {
                self.i += 1;
                out.push('|');
            } else {
                return Ok(out);
            }
        }
    }

    fn branch(&mut self) -> Result<String, EreError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let at = self.i;
            let (atom, repeatable) = self.atom()?;
            out.push_str(&atom);
            if let Some(q) = self.quantifier()? {
                if !repeatable {
                    return fail(at, "a quantifier after an anchor (undefined in POSIX)");
                }
                out.push_str(&q);
                if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
                    return fail(self.i, "two quantifiers in a row (undefined in POSIX)");
                }
            }
        }
        Ok(out)
    }

    fn quantifier(&mut self) -> Result<Option<String>, EreError> {
        match self.peek() {
            Some(c @ ('*' | '+' | '?')) => {
                self.i += 1;
                Ok(Some(c.to_string()))
            }
            Some('{') => {
                let start = self.i;
                self.i += 1;
                let min = self.number();
                let Some(min) = min else {
                    return fail(
                        start,
                        "`{` that does not start an interval `{m}`, `{m,}` or `{m,n}`",
                    );
                };
                let max = if self.peek() == Some(',') {
                    self.i += 1;
                    match self.number() {
                        Some(n) => Some(Some(n)),
                        None => Some(None),
                    }
                } else {
                    None
                };
                if self.peek() != Some('}') {
                    return fail(start, "an interval without its closing `}`");
                }
                self.i += 1;
                // RE_DUP_MAX is 255 in glibc.
                let too_big = min > 255 || matches!(max, Some(Some(n)) if n > 255);
                if too_big {
                    return fail(start, "an interval bound above 255 (RE_DUP_MAX)");
                }
                if let Some(Some(n)) = max {
                    if n < min {
                        return fail(start, "an interval whose maximum is below its minimum");
                    }
                }
                Ok(Some(match max {
                    None => format!("{{{min}}}"),
                    Some(None) => format!("{{{min},}}"),
                    Some(Some(n)) => format!("{{{min},{n}}}"),
                }))
            }
            _ => Ok(None),
        }
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start || self.i - start > 5 {
            return None;
        }
        self.chars[start..self.i]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    /// One atom and whether a quantifier may follow it.
    fn atom(&mut self) -> Result<(String, bool), EreError> {
        let at = self.i;
        let Some(c) = self.peek() else {
            return fail(at, "end of expression");
        };
        self.i += 1;
        let mut out = String::new();
        match c {
            '(' => {
                self.depth += 1;
                if self.depth > 32 {
                    return fail(at, "groups nested deeper than 32");
                }
                if self.peek() == Some(')') {
                    return fail(at, "an empty group `()` (undefined in POSIX)");
                }
                let inner = self.alternation()?;
                if self.peek() != Some(')') {
                    return fail(at, "unmatched `(`");
                }
                self.i += 1;
                self.depth -= 1;
                out.push_str(&format!("(?:{inner})"));
            }
            '*' | '+' | '?' | '{' => {
                return fail(
                    at,
                    format!("`{c}` with nothing to repeat (undefined in POSIX)"),
                )
            }
            '^' | '$' => return Ok((c.to_string(), false)),
            '.' => out.push('.'),
            '[' => out.push_str(&self.bracket(at)?),
            '\\' => {
                let Some(e) = self.peek() else {
                    return fail(at, "a trailing `\\`");
                };
                if e.is_ascii_alphanumeric() {
                    return fail(
                        at,
                        format!("`\\{e}` (a GNU extension or back reference) is not translated"),
                    );
                }
                if e == '<' || e == '>' || e == '`' || e == '\'' {
                    return fail(at, format!("`\\{e}` (a GNU anchor) is not translated"));
                }
                self.i += 1;
                lit(e, &mut out);
            }
            c => lit(c, &mut out),
        }
        Ok((out, true))
    }

    /// A bracket expression, after its `[`.
    fn bracket(&mut self, at: usize) -> Result<String, EreError> {
        let mut out = String::from("[");
        if self.peek() == Some('^') {
            self.i += 1;
            out.push('^');
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return fail(at, "unmatched `[`");
            };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            if c == '[' {
                match self.chars.get(self.i + 1) {
                    Some(':') => {
                        let start = self.i;
                        let rest: String = self.chars[self.i + 2..].iter().collect();
                        let Some(end) = rest.find(":]") else {
                            return fail(start, "unterminated `[:`");
                        };
                        let name = &rest[..end];
                        const CLASSES: &[&str] = &[
                            "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                            "punct", "space", "upper", "xdigit",
                        ];
                        if !CLASSES.contains(&name) {
                            return fail(start, format!("unknown character class `[:{name}:]`"));
                        }
                        if self.icase && (name == "upper" || name == "lower") {
                            return fail(
                                start,
                                format!("`[:{name}:]` under -i: write the letters out"),
                            );
                        }
                        out.push_str(&format!("[:{name}:]"));
                        self.i += 2 + end + 2;
                        continue;
                    }
                    Some(k @ ('=' | '.')) => {
                        return fail(
                            self.i,
                            format!(
                                "`[{k}` (collating element or equivalence class) is not translated"
                            ),
                        )
                    }
                    _ => {}
                }
            }
            self.i += 1;
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.i + 1).is_some_and(|&n| n != ']');
            if is_range {
                let end = self.chars[self.i + 1];
                if end == '[' {
                    return fail(self.i, "a range ending in `[` is not translated");
                }
                if end < c {
                    return fail(self.i - 1, format!("invalid range `{c}-{end}`"));
                }
                if self.icase && (c..=end).any(|x| x.is_ascii_uppercase()) {
                    return fail(
                        self.i - 1,
                        format!("range `{c}-{end}` with upper-case letters under -i: write it in lower case"),
                    );
                }
                self.i += 2;
                lit(c, &mut out);
                out.push('-');
                lit(end, &mut out);
            } else {
                lit(c, &mut out);
            }
        }
        out.push(']');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn translates_posix_forms() {
        assert_eq!(translate(r"^ads\.", false).unwrap(), r".*(?:^ads\.).*");
        assert_eq!(translate("a|b{2,}", true).unwrap(), ".*(?i:a|b{2,}).*");
        assert_eq!(translate("[]a-]", false).unwrap(), r".*(?:[\]a\-]).*");
        assert_eq!(translate(r"[\.]", false).unwrap(), r".*(?:[\\\.]).*");
        assert_eq!(
            translate("[[:digit:]x]", false).unwrap(),
            ".*(?:[[:digit:]x]).*"
        );
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            r"\d", "a**", "*a", "a|", "()", "[[=a=]]", "a{", "[b-a]", "é", "(a", "a)",
        ] {
            assert!(translate(bad, false).is_err(), "{bad}");
        }
        assert!(translate("[A-Z]", true).is_err());
    }
}
