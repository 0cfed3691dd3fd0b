//! The nginx.conf tokenizer, after nginx's documented grammar: words separated by spaces,
//! tabs and line breaks; `;` ends a directive, `{` opens its block and `}` closes one; `#` at
//! the start of a word starts a comment to the end of the line; `"…"` and `'…'` quote a word;
//! a backslash makes the next character part of the word (`\"`, `\'`, `\\`, `\t`, `\r`, `\n`
//! are unescaped, any other `\x` is kept as written, as nginx keeps it for regexes). As in
//! nginx, `}` inside an unquoted word is part of it, and `{` right after `$` is part of a
//! variable name. Every word keeps its line and column (columns in characters, from 1).

/// One word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    /// The text, unescaped, without quotes.
    pub text: String,
    pub line: u32,
    pub column: u32,
}

/// A directive: its name, its arguments and, for a block directive, what the block holds.
#[derive(Clone, Debug)]
pub(crate) struct Directive {
    pub name: Tok,
    pub args: Vec<Tok>,
    pub block: Option<Vec<Directive>>,
    /// The file it was read from.
    pub file: String,
}

/// A problem at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

fn n32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What ended a directive's words.
enum End {
    Semicolon,
    Open,
    Close,
    Eof,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    column: u32,
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 0;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    fn err(&self, message: impl Into<String>) -> LexError {
        LexError {
            line: self.line,
            column: self.column.max(1),
            message: message.into(),
        }
    }

    /// The words up to the next `;`, `{`, `}` or the end of the text.
    fn words(&mut self) -> Result<(Vec<Tok>, End, u32, u32), LexError> {
        let mut words = Vec::new();
        loop {
            // Between words.
            let Some(c) = self.next() else {
                return Ok((words, End::Eof, self.line, self.column));
            };
            let (line, column) = (self.line, self.column);
            match c {
                ' ' | '\t' | '\r' | '\n' => continue,
                ';' | '{' if words.is_empty() => {
                    return Err(self.err(format!("unexpected \"{c}\"")));
                }
                ';' => return Ok((words, End::Semicolon, line, column)),
                '{' => return Ok((words, End::Open, line, column)),
                '}' if !words.is_empty() => return Err(self.err("unexpected \"}\"")),
                '}' => return Ok((words, End::Close, line, column)),
                '#' => {
                    while let Some(c) = self.chars.peek() {
                        if *c == '\n' {
                            break;
                        }
                        self.next();
                    }
                    continue;
                }
                '"' | '\'' => {
                    let text = self.quoted(c)?;
                    words.push(Tok { text, line, column });
                    // A quoted word must be followed by a separator.
                    match self.chars.peek().copied() {
                        None | Some(' ' | '\t' | '\r' | '\n' | ';' | '{') => {}
                        Some(')') => {
                            self.next();
                            words.push(Tok {
                                text: ")".into(),
                                line: self.line,
                                column: self.column,
                            });
                        }
                        Some(o) => {
                            self.next();
                            return Err(self.err(format!("unexpected \"{o}\"")));
                        }
                    }
                }
                c => {
                    let text = self.plain(c);
                    words.push(Tok { text, line, column });
                }
            }
        }
    }

    /// A quoted word, after its opening quote `q`.
    fn quoted(&mut self, q: char) -> Result<String, LexError> {
        let mut text = String::new();
        loop {
            match self.next() {
                None => return Err(self.err("unexpected end of file in a quoted string")),
                Some('\\') => match self.next() {
                    None => return Err(self.err("unexpected end of file in a quoted string")),
                    Some(e) => unescape(&mut text, e),
                },
                Some(c) if c == q => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// An unquoted word starting with `first`.
    fn plain(&mut self, first: char) -> String {
        let mut text = String::new();
        let mut c = first;
        loop {
            if c == '\\' {
                match self.next() {
                    Some(e) => unescape(&mut text, e),
                    None => text.push('\\'),
                }
            } else {
                text.push(c);
            }
            let variable = c == '$';
            match self.chars.peek().copied() {
                None | Some(' ' | '\t' | '\r' | '\n' | ';') => return text,
                Some('{') if !variable => return text,
                Some(_) => {}
            }
            match self.next() {
                Some(n) => c = n,
                None => return text,
            }
        }
    }
}

/// The character after a backslash, as nginx copies it into the word.
fn unescape(text: &mut String, e: char) {
    match e {
        '"' | '\'' | '\\' => text.push(e),
        't' => text.push('\t'),
        'r' => text.push('\r'),
        'n' => text.push('\n'),
        o => {
            text.push('\\');
            text.push(o);
        }
    }
}

/// The position of the first byte that is not UTF-8, for the error.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, LexError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = good[start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
        LexError {
            line: n32(line),
            column: n32(column),
            message: "file is not UTF-8 text".into(),
        }
    })
}

/// Deepest block nesting read (nginx's real configurations nest a few levels).
const MAX_DEPTH: usize = 64;

/// Splits one file into directives and blocks (without expanding `include`).
pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<Directive>, LexError> {
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        column: 0,
    };
    // The open blocks: the directive that opened each, and what it holds so far.
    let mut stack: Vec<(Directive, Vec<Directive>)> = Vec::new();
    let mut top: Vec<Directive> = Vec::new();
    loop {
        let (mut words, end, line, column) = lx.words()?;
        let directive = if words.is_empty() {
            None
        } else {
            let name = words.remove(0);
            Some(Directive {
                name,
                args: words,
                block: None,
                file: file.to_string(),
            })
        };
        match end {
            End::Semicolon => {
                if let Some(d) = directive {
                    match stack.last_mut() {
                        Some((_, inner)) => inner.push(d),
                        None => top.push(d),
                    }
                }
            }
            End::Open => {
                if stack.len() >= MAX_DEPTH {
                    return Err(LexError {
                        line,
                        column,
                        message: format!("blocks nested deeper than {MAX_DEPTH}"),
                    });
                }
                if let Some(d) = directive {
                    stack.push((d, Vec::new()));
                }
            }
            End::Close => match stack.pop() {
                Some((mut d, inner)) => {
                    d.block = Some(inner);
                    match stack.last_mut() {
                        Some((_, outer)) => outer.push(d),
                        None => top.push(d),
                    }
                }
                None => {
                    return Err(LexError {
                        line,
                        column,
                        message: "unexpected \"}\"".into(),
                    })
                }
            },
            End::Eof => {
                if directive.is_some() {
                    return Err(LexError {
                        line,
                        column: column.max(1),
                        message: "unexpected end of file, expecting \";\" or \"}\"".into(),
                    });
                }
                if let Some((d, _)) = stack.last() {
                    return Err(LexError {
                        line,
                        column: column.max(1),
                        message: format!(
                            "unexpected end of file, expecting \"}}\" (to close `{}` at line {})",
                            d.name.text, d.name.line
                        ),
                    });
                }
                return Ok(top);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        parse("t", text)
            .unwrap()
            .iter()
            .map(|d| {
                std::iter::once(&d.name)
                    .chain(&d.args)
                    .map(|t| t.text.clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn quoting_escapes_comments() {
        assert_eq!(
            words("a \"b c\" 'd\\'e' f\\;g # x ;\n h~^a\\.b}; i ${x}y;"),
            [
                vec!["a", "b c", "d'e", "f\\;g", "h~^a\\.b}"],
                vec!["i", "${x}y"]
            ]
        );
    }

    #[test]
    fn blocks_and_positions() {
        let d = parse("t", "http {\n  server { listen 80; }\n}\n").unwrap();
        let server = &d[0].block.as_ref().unwrap()[0];
        assert_eq!((server.name.line, server.name.column), (2, 3));
        let listen = &server.block.as_ref().unwrap()[0];
        assert_eq!((listen.args[0].line, listen.args[0].column), (2, 19));
    }

    #[test]
    fn errors() {
        let e = parse("t", "a;\n;").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (2, 1, "unexpected \";\"")
        );
        let e = parse("t", "http {\n a b;\n").unwrap_err();
        assert!(e
            .message
            .starts_with("unexpected end of file, expecting \"}\""));
        let e = parse("t", "a \"b\"c;").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (6, "unexpected \"c\""));
        assert!(parse("t", "}").is_err());
        assert!(parse("t", "a 'b").is_err());
        assert!(parse("t", "a b").is_err());
    }
}
