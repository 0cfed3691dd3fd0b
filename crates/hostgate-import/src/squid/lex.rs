//! The squid.conf tokenizer: logical lines (a trailing `\` joins the next line), tokens split
//! at spaces and tabs, `#` starting a comment at the start of a token, and `"…"` tokens (an
//! acl's file of values). Every token keeps its line and column (columns in characters, from
//! 1). It works on any bytes: text that is not UTF-8 is reported, never unwrapped.

/// One token of a directive line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    /// The text, without quotes.
    pub text: String,
    /// Written in double quotes.
    pub quoted: bool,
    pub line: u32,
    pub column: u32,
}

/// A directive: its tokens (at least one).
#[derive(Clone, Debug)]
pub(crate) struct Directive {
    pub toks: Vec<Tok>,
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

/// Splits a configuration into directives.
pub(crate) fn directives(text: &str) -> Result<Vec<Directive>, LexError> {
    let mut out = Vec::new();
    // Characters of the current logical line, each with its position.
    let mut logical: Vec<(char, u32, u32)> = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let line = n32(i + 1);
        let (body, continued) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        for (c, ch) in body.chars().enumerate() {
            logical.push((ch, line, n32(c + 1)));
        }
        if continued && lines.peek().is_some() {
            continue;
        }
        let toks = tokens(&logical)?;
        logical.clear();
        if !toks.is_empty() {
            out.push(Directive { toks });
        }
    }
    Ok(out)
}

fn tokens(chars: &[(char, u32, u32)]) -> Result<Vec<Tok>, LexError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (ch, line, column) = chars[i];
        if ch == ' ' || ch == '\t' {
            i += 1;
            continue;
        }
        if ch == '#' {
            break;
        }
        if ch == '"' {
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                let Some(&(c, _, _)) = chars.get(j) else {
                    return Err(LexError {
                        line,
                        column,
                        message: "unterminated `\"`".into(),
                    });
                };
                j += 1;
                match c {
                    '"' => break,
                    '\\' => match chars.get(j) {
                        Some(&(e @ ('"' | '\\'), _, _)) => {
                            text.push(e);
                            j += 1;
                        }
                        _ => text.push('\\'),
                    },
                    c => text.push(c),
                }
            }
            if let Some(&(c, l, col)) = chars.get(j) {
                if c != ' ' && c != '\t' {
                    return Err(LexError {
                        line: l,
                        column: col,
                        message: "text right after a closing `\"`".into(),
                    });
                }
            }
            toks.push(Tok {
                text,
                quoted: true,
                line,
                column,
            });
            i = j;
            continue;
        }
        let mut text = String::new();
        while let Some(&(c, l, col)) = chars.get(i) {
            if c == ' ' || c == '\t' {
                break;
            }
            if c == '#' || c == '"' {
                return Err(LexError {
                    line: l,
                    column: col,
                    message: format!(
                        "`{c}` inside a word: Squid's reading of it is not reproduced; put a space before it"
                    ),
                });
            }
            if c.is_control() {
                return Err(LexError {
                    line: l,
                    column: col,
                    message: format!("control character U+{:04X}", u32::from(c)),
                });
            }
            text.push(c);
            i += 1;
        }
        toks.push(Tok {
            text,
            quoted: false,
            line,
            column,
        });
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<(String, u32, u32)>> {
        directives(text)
            .unwrap()
            .into_iter()
            .map(|d| {
                d.toks
                    .into_iter()
                    .map(|t| (t.text, t.line, t.column))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn splits_comments_continuations_quotes() {
        let w = words(
            "# c\n  acl a dstdomain .x.io # y\n\nacl b \\\n  port 80\r\nacl c dstdomain \"/f s\"\n",
        );
        assert_eq!(w[0][1], ("a".into(), 2, 7));
        assert_eq!(w[0].len(), 4);
        assert_eq!(w[1][2], ("port".into(), 5, 3));
        assert_eq!(w[2][3], ("/f s".into(), 6, 17));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(directives("acl a \"x").unwrap_err().column, 7);
        assert_eq!(directives("acl a b#c").unwrap_err().column, 8);
        assert_eq!(utf8(b"ok\n\xff").unwrap_err().line, 2);
    }
}
