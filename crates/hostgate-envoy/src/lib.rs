//! # hostgate-envoy
//!
//! An Envoy [dynamic module] holding one **listener filter**: for each accepted connection it
//! looks at the first bytes (TLS ClientHello, HTTP/1 request head, CONNECT), pulls out the
//! destination name with [`hostgate::inspect`], asks the policy, and then either lets Envoy go
//! on to the filter chain (allow) or closes the socket (deny). The name, the verdict, the reason
//! and the rule are written to the connection's dynamic metadata (namespace `hostgate` by
//! default) so access logs can show them: `%DYNAMIC_METADATA(hostgate:verdict)%`.
//!
//! The engine is compiled when Envoy loads the filter config; a policy that does not compile
//! makes the config fail, and the `FILE:LINE:COL: message` lines go to Envoy's log. A
//! `policy_file` is then watched (`hostgate-watch`): when it changes, it is loaded again and
//! swapped in for new connections (a connection keeps the engine it started with); one that
//! does not load is refused in Envoy's log and the old engine stays.
//!
//! Filter config (`filter_config`, a `google.protobuf.Struct` — Envoy hands it over as JSON —
//! or a `StringValue` holding the same JSON):
//!
//! | key | meaning |
//! |---|---|
//! | `policy_file` | path of the policy file (this or `policy`) |
//! | `policy` | the policy text itself |
//! | `format` | the policy's format: `hostgate` (default), or an import format such as `cilium` (as the CLI's `--from`) |
//! | `policy_name` | which policy to ask (default: `default` when present, else the first) |
//! | `port` | destination port for every query (default: the socket's local port) |
//! | `max_bytes` | give up and deny when no decision after this many bytes (default 16448) |
//! | `metadata_namespace` | dynamic metadata namespace (default `hostgate`) |
//! | `set_server_name` | also set the requested server name and transport protocol, as the TLS inspector would, for filter chain matching (default true) |
//! | `watch` | reload `policy_file` when it changes (default true) |
//!
//! [dynamic module]: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/dynamic_modules

use std::sync::Arc;

use arc_swap::ArcSwap;
use hostgate::inspect::{Inspection, Protocol, Status};
use hostgate::{Engine, PolicyId, PolicySource, Reason, Verdict};

mod abi;
mod hooks;

/// Default cap: the inspect parsers' 16 KiB limit plus room for TLS record headers.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 + 64;

/// One compiled filter config, shared by every connection of the listener (all workers).
pub struct Config {
    current: Arc<ArcSwap<Current>>,
    port: Option<u16>,
    max_bytes: usize,
    namespace: String,
    set_server_name: bool,
    /// The policy's warnings as `FILE:LINE:COL: warning: message`, for the log.
    warnings: Vec<String>,
    /// The policy file's watch, while the config lives.
    _watch: Option<hostgate_watch::Watch>,
}

/// The engine in force and the policy to ask: what a connection decides on, from its start
/// to its end, whatever reloads happen meanwhile.
pub struct Current {
    engine: Engine,
    policy: PolicyId,
}

/// What a reload did, for the log: the new policy's warnings, or why it was refused.
pub type Reloaded<'a> = Result<&'a [String], &'a str>;

/// Loads a policy source as the filter config says: compile errors as `FILE:LINE:COL`
/// lines, other errors as `hostgate: message`.
fn load(
    source: PolicySource<'_>,
    format: hostgate::Format,
    policy_name: Option<&str>,
) -> Result<(Current, Vec<String>), String> {
    let loaded = hostgate_import::load(&source.with_format(format)).map_err(|e| {
        if e.is_positioned() {
            e.to_string()
        } else {
            format!("hostgate: {e}")
        }
    })?;
    let policy = loaded
        .select(policy_name)
        .map_err(|e| format!("hostgate: {e}"))?;
    let warnings = loaded.warnings().collect();
    Ok((
        Current {
            engine: loaded.into_engine(),
            policy,
        },
        warnings,
    ))
}

/// What became of the bytes seen so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A valid prefix under the cap: wait for more bytes.
    NeedMore,
    /// Decided: let the connection through or close it.
    Decided(Decision),
}

/// One connection's verdict, in the words the metadata and the log use.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    /// True to let the connection through.
    pub allow: bool,
    /// `tls`, `http`, `dns` or `unknown`.
    pub protocol: &'static str,
    /// The normalized name, when one was found.
    pub name: Option<String>,
    /// `allow` or `deny`.
    pub verdict: &'static str,
    /// `matched`, `default`, `invalid-name`, `no-name`.
    pub reason: &'static str,
    /// The deciding rule's id, when a rule decided.
    pub rule: Option<String>,
    /// One line for Envoy's connection termination details and logs.
    pub details: String,
}

impl Config {
    /// Parses the filter config JSON and compiles the policy. The error is what Envoy's log
    /// should show (compile errors as `FILE:LINE:COL: message` lines).
    pub fn from_json(config: &[u8]) -> Result<Config, String> {
        Config::from_json_with(config, |_| {})
    }

    /// [`Config::from_json`], and `on_reload` told of every reload of a watched `policy_file`
    /// (on the watch's thread).
    pub fn from_json_with(
        config: &[u8],
        on_reload: impl Fn(Reloaded<'_>) + Send + 'static,
    ) -> Result<Config, String> {
        let value: serde_json::Value = serde_json::from_slice(config)
            .map_err(|e| format!("hostgate: filter_config is not JSON: {e}"))?;
        let obj = value
            .as_object()
            .ok_or("hostgate: filter_config must be a JSON object")?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "policy"
                    | "policy_file"
                    | "format"
                    | "policy_name"
                    | "port"
                    | "max_bytes"
                    | "metadata_namespace"
                    | "set_server_name"
                    | "watch"
            ) {
                return Err(format!("hostgate: unknown filter_config key `{key}`"));
            }
        }
        let string = |key: &str| -> Result<Option<&str>, String> {
            match obj.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .map(Some)
                    .ok_or_else(|| format!("hostgate: filter_config `{key}` must be a string")),
            }
        };
        let number = |key: &str, max: u64| -> Result<Option<u64>, String> {
            match obj.get(key) {
                None => Ok(None),
                // A Struct carries numbers as doubles: accept 443.0 as 443.
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as u64))
                    .filter(|&n| n >= 1 && n <= max)
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "hostgate: filter_config `{key}` must be an integer from 1 to {max}"
                        )
                    }),
            }
        };
        let boolean = |key: &str, default: bool| -> Result<bool, String> {
            match obj.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| format!("hostgate: filter_config `{key}` must be a boolean")),
            }
        };
        let file = string("policy_file")?;
        let source = match (string("policy")?, file) {
            (Some(text), None) => PolicySource::from_bytes("filter_config.policy", text),
            (None, Some(path)) => {
                hostgate_map::read_source(path).map_err(|e| format!("hostgate: {e}"))?
            }
            _ => {
                return Err(
                    "hostgate: filter_config needs exactly one of `policy`, `policy_file`".into(),
                )
            }
        };
        let format = match string("format")? {
            None => hostgate::Format::Hostgate,
            Some(f) => f
                .parse()
                .map_err(|e| format!("hostgate: filter_config `format`: {e}"))?,
        };
        let policy_name = string("policy_name")?;
        let (current, warnings) = load(source, format, policy_name)?;
        let current = Arc::new(ArcSwap::from_pointee(current));
        let watch = match file {
            Some(path) if boolean("watch", true)? => {
                let (owned, name) = (path.to_string(), policy_name.map(str::to_string));
                let swap = current.clone();
                let reload = move || {
                    let loaded = hostgate_map::read_source(&owned)
                        .map_err(|e| format!("hostgate: {e}"))
                        .and_then(|source| load(source, format, name.as_deref()));
                    match loaded {
                        Ok((new, warnings)) => {
                            swap.store(Arc::new(new));
                            on_reload(Ok(&warnings));
                        }
                        Err(e) => on_reload(Err(&e)),
                    }
                };
                Some(
                    hostgate_watch::watch(std::path::Path::new(path), reload)
                        .map_err(|e| format!("hostgate: {e}"))?,
                )
            }
            _ => None,
        };
        let max_bytes = number("max_bytes", 1 << 20)?.map_or(DEFAULT_MAX_BYTES, |n| n as usize);
        Ok(Config {
            current,
            port: number("port", 65535)?.map(|p| p as u16),
            max_bytes,
            namespace: string("metadata_namespace")?
                .unwrap_or("hostgate")
                .to_string(),
            set_server_name: boolean("set_server_name", true)?,
            warnings,
            _watch: watch,
        })
    }

    /// The compiled engine's warnings, rendered for the log with the policy's file name.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The engine in force now: a new connection keeps it until it is decided.
    pub fn current(&self) -> Arc<Current> {
        self.current.load_full()
    }

    /// The decision for the bytes peeked so far, on the engine in force now. `local_port` is
    /// the socket's destination port, used when the config names none.
    pub fn decide(&self, buf: &[u8], local_port: Option<u16>) -> Step {
        self.decide_on(&self.current(), buf, local_port)
    }

    /// The decision for the bytes peeked so far, on `current` (from [`Config::current`]).
    pub fn decide_on(&self, current: &Current, buf: &[u8], local_port: Option<u16>) -> Step {
        let port = self.port.or(local_port);
        let (engine, policy) = (&current.engine, current.policy);
        let (inspection, verdict) = engine.inspect_check(policy, buf, port);
        if inspection.status == Status::NeedMore {
            if buf.len() < self.max_bytes {
                return Step::NeedMore;
            }
            let v = Verdict::deny(policy, Reason::NoName);
            let mut d = self.decision(&inspection, &v);
            d.details = format!("hostgate: deny, no name in the first {} bytes", buf.len());
            return Step::Decided(d);
        }
        Step::Decided(self.decision(&inspection, &verdict))
    }

    fn decision(&self, i: &Inspection<'_>, v: &Verdict<'_>) -> Decision {
        let name = i.name.as_ref().map(|n| n.as_str().to_string());
        let rule = v.rule.map(|r| r.id().to_string());
        let mut details = format!("hostgate: {} {}", v.action, v.reason);
        if let Some(n) = &name {
            details.push_str(&format!(" name {n}"));
        }
        if let Some(r) = &rule {
            details.push_str(&format!(" rule {r}"));
        }
        if let Some(e) = i.error {
            details.push_str(&format!(" ({e})"));
        } else if i.status != Status::Complete {
            details.push_str(&format!(" ({} {})", i.protocol, i.status));
        }
        Decision {
            allow: v.is_allow(),
            protocol: i.protocol.as_str(),
            name,
            verdict: v.action.as_str(),
            reason: v.reason.as_str(),
            rule,
            details,
        }
    }

    /// The largest number of bytes to peek.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Decision {
    /// The transport protocol name Envoy's filter chain match uses, when known.
    pub fn transport_protocol(&self) -> Option<&'static str> {
        match self.protocol {
            p if p == Protocol::Tls.as_str() => Some("tls"),
            p if p == Protocol::Unknown.as_str() => None,
            _ => Some("raw_buffer"),
        }
    }
}

/// Per-connection state.
pub struct Filter {
    config: Arc<Config>,
    /// The engine this connection decides on, taken when it was accepted.
    current: Arc<Current>,
    decided: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let json = format!(
            r#"{{"policy": "allow api.kadath.io id kadath-api\ndeny .leng.com id block-leng\nallow **.stripe.com port 443\n"{extra}}}"#
        );
        Config::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn decided(s: Step) -> Decision {
        match s {
            Step::Decided(d) => d,
            Step::NeedMore => panic!("need more"),
        }
    }

    #[test]
    fn http_allow_and_deny() {
        let c = config("");
        let d = decided(c.decide(b"GET / HTTP/1.1\r\nHost: api.kadath.io\r\n\r\n", Some(80)));
        assert!(d.allow);
        assert_eq!(d.rule.as_deref(), Some("kadath-api"));
        assert_eq!(d.name.as_deref(), Some("api.kadath.io"));
        assert_eq!(d.transport_protocol(), Some("raw_buffer"));
        let d = decided(c.decide(b"GET / HTTP/1.1\r\nHost: x.leng.com\r\n\r\n", Some(80)));
        assert!(!d.allow);
        assert_eq!((d.verdict, d.reason), ("deny", "matched"));
        assert!(d.details.contains("block-leng"), "{}", d.details);
    }

    #[test]
    fn need_more_until_cap() {
        let c = config(r#", "max_bytes": 40"#);
        assert_eq!(c.decide(b"GET / HTTP/1.1\r\n", None), Step::NeedMore);
        let long = b"GET / HTTP/1.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let d = decided(c.decide(long, None));
        assert!(!d.allow && d.details.contains("first"), "{}", d.details);
    }

    #[test]
    fn port_from_config_or_socket() {
        let c = config("");
        let req = b"GET / HTTP/1.1\r\nHost: a.stripe.com\r\n\r\n";
        assert!(decided(c.decide(req, Some(443))).allow);
        assert!(!decided(c.decide(req, Some(8443))).allow);
        let c = config(r#", "port": 443"#);
        assert!(decided(c.decide(req, Some(8443))).allow);
    }

    #[test]
    fn garbage_is_denied() {
        let c = config("");
        let d = decided(c.decide(b"SSH-2.0-OpenSSH_9.6\r\n", None));
        assert!(!d.allow);
        assert_eq!(d.reason, "no-name");
        assert_eq!(d.transport_protocol(), None);
    }

    #[test]
    fn config_errors() {
        let e = Config::from_json(br#"{"policy": "allow a.example\nallow **\n"}"#)
            .err()
            .unwrap();
        assert!(e.starts_with("filter_config.policy:2:"), "{e}");
        for bad in [
            &br#"[]"#[..],
            br#"{"policy_file": "/nonexistent/x.policy"}"#,
            br#"{"policy": "allow a.example", "policy_file": "x"}"#,
            br#"{}"#,
            br#"{"policy": "allow a.example", "port": 0}"#,
            br#"{"policy": "allow a.example", "polcy_name": "x"}"#,
            br#"{"policy": "allow a.example", "policy_name": "nope"}"#,
            b"not json",
        ] {
            assert!(
                Config::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            Config::from_json(br#"{"policy": "allow a.example", "port": 443.0}"#)
                .unwrap()
                .port,
            Some(443)
        );
    }

    /// `tests/policy-errors/NAME.expected` for a policy given as `file`.
    fn expected(name: &str, file: &str) -> String {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        std::fs::read_to_string(format!("{root}/tests/policy-errors/{name}.expected"))
            .expect("fixture")
            .replace("{FILE}", file)
    }

    #[test]
    fn policy_file_errors_and_warnings_are_the_shared_text_with_the_path() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let bad = format!("{root}/tests/policy-errors/bad.policy");
        let json = serde_json::json!({ "policy_file": bad }).to_string();
        let e = Config::from_json(json.as_bytes()).err().unwrap();
        assert_eq!(format!("{e}\n"), expected("bad", &bad));

        let warn = format!("{root}/tests/policy-errors/warn.policy");
        let json = serde_json::json!({ "policy_file": warn }).to_string();
        let c = Config::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let got: String = c.warnings().iter().map(|w| format!("{w}\n")).collect();
        assert_eq!(got, expected("warn", &warn));

        // Inline text is named `filter_config.policy`.
        let text = std::fs::read_to_string(&warn).unwrap();
        let json = serde_json::json!({ "policy": text }).to_string();
        let c = Config::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.warnings().concat() + "\n",
            expected("warn", "filter_config.policy")
        );
    }

    /// An HTTP/1 request head for `name`.
    fn head(name: &str) -> Vec<u8> {
        format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n").into_bytes()
    }

    fn allows(c: &Config, current: Option<&Current>, name: &str) -> bool {
        let step = match current {
            Some(cur) => c.decide_on(cur, &head(name), Some(80)),
            None => c.decide(&head(name), Some(80)),
        };
        decided(step).allow
    }

    #[test]
    fn a_watched_policy_file_is_swapped_for_new_connections_only() {
        use std::sync::mpsc;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("envoy.policy");
        std::fs::write(&path, "default deny\nallow a.test\n").unwrap();
        let json = serde_json::json!({ "policy_file": path }).to_string();
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let tx = std::sync::Mutex::new(tx);
        let c = Config::from_json_with(json.as_bytes(), move |r| {
            let _ = tx
                .lock()
                .unwrap()
                .send(r.map(|_| ()).map_err(str::to_string));
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let before = c.current();
        assert!(allows(&c, None, "a.test") && !allows(&c, None, "b.test"));

        let next = dir.path().join(".envoy.policy.new");
        std::fs::write(&next, "default deny\nallow b.test\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        let r = rx.recv_timeout(Duration::from_secs(10)).expect("a reload");
        assert_eq!(r, Ok(()));
        assert!(allows(&c, None, "b.test") && !allows(&c, None, "a.test"));
        // A connection accepted before the reload decides on the engine it started with.
        assert!(allows(&c, Some(&before), "a.test") && !allows(&c, Some(&before), "b.test"));

        std::fs::write(&next, "default deny\nallow b..test\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a refused reload");
        let e = r.unwrap_err();
        assert!(e.starts_with(&format!("{}:2:", path.display())), "{e}");
        assert!(allows(&c, None, "b.test"), "old policy kept");

        // `watch: false`: no reloads.
        let json = serde_json::json!({ "policy_file": path, "watch": false }).to_string();
        assert!(
            Config::from_json(json.as_bytes()).is_err(),
            "the broken file is refused at load"
        );
        std::fs::write(&path, "allow c.test\n").unwrap();
        let json = serde_json::json!({ "policy_file": path, "watch": false }).to_string();
        let (tx, rx) = mpsc::channel::<()>();
        let tx = std::sync::Mutex::new(tx);
        let c = Config::from_json_with(json.as_bytes(), move |_| {
            let _ = tx.lock().unwrap().send(());
        })
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&next, "allow d.test\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(800)).is_err());
        assert!(allows(&c, None, "c.test"));
        let json = serde_json::json!({ "policy_file": path, "watch": "yes" }).to_string();
        let e = Config::from_json(json.as_bytes()).err().unwrap();
        assert_eq!(e, "hostgate: filter_config `watch` must be a boolean");
    }

    #[test]
    fn imported_formats_load_with_their_meaning_and_errors() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let bad = format!("{root}/tests/policy-errors/bad-cilium.yaml");
        let json = serde_json::json!({ "policy_file": bad, "format": "cilium" }).to_string();
        let e = Config::from_json(json.as_bytes()).err().unwrap();
        assert_eq!(format!("{e}\n"), expected("bad-cilium", &bad));

        let good = format!("{root}/examples/migrate/cilium.yaml");
        let json = serde_json::json!({ "policy_file": good, "format": "cilium" }).to_string();
        let c = Config::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        // Cilium's `*.` is one label.
        let req = b"GET / HTTP/1.1\r\nHost: a.kadath.io\r\n\r\n";
        assert!(decided(c.decide(req, Some(443))).allow);
        let req = b"GET / HTTP/1.1\r\nHost: a.b.kadath.io\r\n\r\n";
        assert!(!decided(c.decide(req, Some(443))).allow);

        let json = serde_json::json!({ "policy_file": good, "format": "kyverno" }).to_string();
        let e = Config::from_json(json.as_bytes()).err().unwrap();
        assert!(e.starts_with("hostgate: filter_config `format`: "), "{e}");
    }
}
