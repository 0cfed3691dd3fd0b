//! `hostgate squid-helper`: a Squid external ACL helper.
//!
//! Squid starts the helper from `external_acl_type` and writes one request per line on its
//! standard input; the helper answers one line per request on standard output, in any order when
//! `concurrency=N` is set (each request then starts with a channel ID that the answer repeats).
//!
//! Request: `[CHANNEL-ID] NAME [PORT] [METHOD-OR-VIA]`, each value URL-escaped by Squid (its
//! default `%`-quoting), `-` for a value Squid does not have. The third value is an HTTP method
//! (`CONNECT` → via `connect`, any other method → via `http`) or a via word (`tls`, `http`,
//! `connect`, `dns`); without it `--via` applies. Squid then appends the `acl` line's arguments
//! (`%DATA`), `-` when there are none: trailing `-` values are ignored, any other extra value is
//! refused.
//!
//! Answer: `[CHANNEL-ID] OK|ERR message="…" rule=ID reason=R` — `OK` means the policy allows the
//! name (the ACL matches), `ERR` means it denies. `message=` shows in Squid's logs (`%ea`) and
//! error pages. A line that cannot be read is answered `BH` ("broken helper": Squid counts it as
//! a failure, never as a match), so a bad line can never allow anything.
//!
//! The policy file is watched: when it changes, it is loaded again on the watch's thread and
//! the next request is answered by the new engine; one that does not load is refused on stderr
//! (which Squid logs to cache.log) and the old engine keeps answering. (`squid -k reconfigure`
//! restarts the helpers, which load the file anew.) `--no-watch` turns this off.

use std::io::{self, BufRead, Write};
use std::sync::mpsc;

use clap::Args;
use hostgate::{Action, Query, Via};

use crate::load::{load, policy_file, Loaded};
use crate::{Failure, QueryArgs};

#[derive(Args)]
pub struct SquidArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Each request line starts with a channel ID: set this when the `external_acl_type` line
    /// has `concurrency=N` with N > 0
    #[arg(long)]
    concurrency: bool,
    /// Do not watch the policy file for changes
    #[arg(long)]
    no_watch: bool,
}

pub fn run(args: SquidArgs) -> Result<(), Failure> {
    let mut loaded = load(&args.query)?;
    // A changed file is compiled on the watch's thread, so requests are answered meanwhile.
    let (tx, reloaded) = mpsc::channel::<Loaded>();
    let _watch = if args.no_watch {
        None
    } else {
        let query = args.query.clone();
        let watch = hostgate_watch::watch(&policy_file(&args.query), move || match load(&query) {
            Ok(l) => {
                let _ = tx.send(l);
            }
            Err(Failure(e)) => {
                eprint!("hostgate squid-helper: reload refused, old policy kept:\n{e}")
            }
        });
        Some(watch.map_err(Failure::msg)?)
    };
    let stdin = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut line = Vec::new();
    let mut input = io::BufReader::new(stdin);
    loop {
        line.clear();
        // Lines are bytes: a name that is not UTF-8 is still answered (denied as invalid).
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()), // Squid closed the pipe: shut down quietly.
            Ok(_) => {}
            Err(e) => return Err(Failure::msg(format!("cannot read standard input: {e}"))),
        }
        if let Some(newest) = reloaded.try_iter().last() {
            loaded = newest;
            eprintln!("hostgate squid-helper: policy reloaded");
        }
        let helper = Helper {
            loaded: &loaded,
            port: args.query.port,
            via: args.query.via,
            concurrency: args.concurrency,
        };
        let answer = helper.answer(&line);
        // Squid waits for each answer: flush per line.
        if let Err(e) = out.write_all(answer.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::msg(format!("cannot write standard output: {e}")));
        }
    }
}

struct Helper<'a> {
    loaded: &'a Loaded,
    port: Option<u16>,
    via: Option<Via>,
    concurrency: bool,
}

impl Helper<'_> {
    /// The answer line (with its newline) for one request line.
    fn answer(&self, line: &[u8]) -> String {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut tokens = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let mut prefix = String::new();
        if self.concurrency {
            match tokens.next() {
                Some(id) if id.iter().all(u8::is_ascii_digit) => {
                    prefix.push_str(std::str::from_utf8(id).unwrap_or("0"));
                    prefix.push(' ');
                }
                // Without a channel ID Squid cannot match the answer to a request; `BH` on its
                // own is the best that can be said, and it never allows.
                _ => return bh("", "request without a channel ID"),
            }
        }
        let tokens: Vec<&[u8]> = tokens.collect();
        let request = match self.parse(&tokens) {
            Ok(r) => r,
            Err(why) => return bh(&prefix, why),
        };
        let Some(name) = request.name else {
            return format!("{prefix}ERR message=\"hostgate: deny, no name\" reason=no-name\n");
        };
        let mut query = Query::new(&name);
        if let Some(p) = request.port {
            query = query.port(p);
        }
        if let Some(v) = request.via {
            query = query.via(v);
        }
        let v = self.loaded.engine.check(self.loaded.policy, &query);
        let word = match v.action {
            Action::Allow => "OK",
            Action::Deny => "ERR",
        };
        let policy = self.loaded.policy_name();
        let mut message = format!("hostgate: {} {}", v.action, v.reason);
        let mut extra = format!(" reason={}", v.reason);
        if let Some(rule) = v.rule {
            message.push_str(&format!(
                " rule {} (policy {policy}, line {})",
                rule.id(),
                rule.line()
            ));
            extra.push_str(" rule=");
            extra.push_str(&quote(&rule.id().to_string()));
        } else {
            message.push_str(&format!(" (policy {policy})"));
        }
        format!("{prefix}{word} message={}{extra}\n", quote(&message))
    }

    fn parse(&self, tokens: &[&[u8]]) -> Result<Request, &'static str> {
        let (name, rest) = match tokens.split_first() {
            Some((n, rest)) => (*n, rest),
            None => return Err("empty request"),
        };
        // Squid appends the `acl` line's arguments (`%DATA`), `-` when there are none; this
        // helper takes none.
        if rest.iter().skip(2).any(|t| *t != b"-") {
            return Err("too many values (expected NAME [PORT] [METHOD-OR-VIA])");
        }
        let name = unescape(name).ok_or("bad %-escape in the name")?;
        let name = (name != b"-" && !name.is_empty()).then_some(name);
        let mut port = self.port;
        let mut via = self.via;
        if let Some(p) = rest.first() {
            if *p != b"-" {
                let p = std::str::from_utf8(p).map_err(|_| "bad port")?;
                port = Some(p.parse::<u16>().ok().filter(|&p| p > 0).ok_or("bad port")?);
            }
        }
        if let Some(w) = rest.get(1) {
            if *w != b"-" {
                via = Some(via_word(w).ok_or("bad method or via word")?);
            }
        }
        Ok(Request { name, port, via })
    }
}

struct Request {
    name: Option<Vec<u8>>,
    port: Option<u16>,
    via: Option<Via>,
}

fn bh(prefix: &str, why: &str) -> String {
    format!(
        "{prefix}BH message={}\n",
        quote(&format!("hostgate: {why}"))
    )
}

/// `CONNECT` → connect; another HTTP method (uppercase letters) → http; or a via word.
fn via_word(w: &[u8]) -> Option<Via> {
    match w {
        b"CONNECT" => Some(Via::Connect),
        b"tls" => Some(Via::Tls),
        b"http" => Some(Via::Http),
        b"connect" => Some(Via::Connect),
        b"dns" => Some(Via::Dns),
        m if !m.is_empty() && m.len() <= 32 && m.iter().all(u8::is_ascii_uppercase) => {
            Some(Via::Http)
        }
        _ => None,
    }
}

/// Undoes Squid's `%XX` escaping; `None` for a broken escape.
fn unescape(t: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'%' {
            let hex = t.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A Squid helper value: double-quoted, with `"` and `\` escaped, control bytes dropped.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            c if c.is_control() => q.push('?'),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostgate::Engine;

    fn helper(concurrency: bool) -> (Loaded, bool) {
        let engine = Engine::compile(
            "allow api.kadath.io id kadath-api\n\
             allow **.stripe.com port 443 via connect id stripe\n\
             deny .leng.com id block-leng\n",
        )
        .unwrap();
        let policy = engine.policy("default").unwrap();
        (
            Loaded {
                engine,
                policy,
                origin: "test.policy".into(),
            },
            concurrency,
        )
    }

    fn ask(concurrency: bool, line: &str) -> String {
        let (loaded, c) = helper(concurrency);
        Helper {
            loaded: &loaded,
            port: None,
            via: None,
            concurrency: c,
        }
        .answer(line.as_bytes())
    }

    #[test]
    fn allow_and_deny_name_the_rule() {
        assert_eq!(
            ask(false, "api.kadath.io\n"),
            "OK message=\"hostgate: allow matched rule kadath-api (policy default, line 1)\" \
             reason=matched rule=\"kadath-api\"\n"
        );
        let a = ask(false, "ads.leng.com\n");
        assert!(
            a.starts_with("ERR ") && a.contains("rule=\"block-leng\""),
            "{a}"
        );
        let a = ask(false, "other.example\n");
        assert!(a.starts_with("ERR ") && a.contains("reason=default"), "{a}");
    }

    #[test]
    fn channel_ids_port_and_method() {
        let a = ask(true, "7 files.stripe.com 443 CONNECT\n");
        assert!(a.starts_with("7 OK "), "{a}");
        // Wrong port, or not a CONNECT: the port/via-limited allow does not match.
        assert!(ask(true, "8 files.stripe.com 80 CONNECT\n").starts_with("8 ERR "));
        assert!(ask(true, "9 files.stripe.com 443 GET\n").starts_with("9 ERR "));
        assert!(ask(true, "10 files.stripe.com 443 connect\r\n").starts_with("10 OK "));
        // What Squid really sends: the empty %DATA as a trailing `-`.
        assert!(ask(true, "11 files.stripe.com 443 CONNECT -\n").starts_with("11 OK "));
        assert!(ask(true, "12 api.kadath.io - -\n").starts_with("12 OK "));
    }

    #[test]
    fn escapes_and_missing_values() {
        assert!(ask(false, "api%2Ekadath%2Eio\n").starts_with("OK "));
        assert!(ask(true, "3 - 443 CONNECT\n").starts_with("3 ERR "));
        let a = ask(false, "a..b\n");
        assert!(a.starts_with("ERR ") && a.contains("invalid-name"), "{a}");
    }

    #[test]
    fn malformed_lines_never_allow() {
        for line in [
            "\n",
            "api.kadath.io 99999\n",
            "api.kadath.io 443 bogus\n",
            "api.kadath.io 443 CONNECT extra\n",
            "api.kadath.io 443 CONNECT - x\n",
            "api%zzkadath.io\n",
            "api.kadath.io 0\n",
        ] {
            let a = ask(false, line);
            assert!(a.starts_with("BH "), "{line:?} -> {a}");
        }
        assert!(ask(true, "api.kadath.io\n").starts_with("BH "));
        assert!(ask(true, "5\n").starts_with("5 BH "));
        assert!(ask(true, "\n").starts_with("BH "));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a \"b\" \\c\n"), "\"a \\\"b\\\" \\\\c?\"");
    }
}
