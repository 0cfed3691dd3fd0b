//! The one way a front end turns a policy source into an engine.
//!
//! Every front end — the CLI, the Squid helper, the Envoy module, the egress proxy, the C ABI and
//! its bindings — loads policy through this module, so the same bad file gives the same
//! `FILE:LINE:COL: message` lines everywhere and the same policy is chosen when none is named:
//!
//! 1. a [`PolicySource`]: bytes, the name diagnostics call them by (a file name, or a label such
//!    as `filter_config.policy` for inline text), and their [`Format`];
//! 2. [`PolicySource::compile`] checks the bytes are UTF-8, compiles them, and returns a
//!    [`LoadedPolicy`] (the engine and its origin) or a [`LoadError`];
//! 3. [`LoadedPolicy::select`] picks the policy a front end asks: the one named, or
//!    [`Engine::default_policy`] when none is.
//!
//! An engine file (written by `hostgate compile`, see `docs/engine-file.md`) is accepted
//! wherever policy text is: it is recognized by its magic, whatever format the source is said
//! to be in, and opened instead of compiled. Its errors name the file like any other.
//!
//! ```
//! use hostgate::{LoadErrorKind, PolicySource};
//!
//! let source = PolicySource::from_bytes("egress.policy", "allow api.kadath.io\nallow *google.com\n");
//! let loaded = source.compile().expect("compiles");
//! let policy = loaded.select(None).unwrap(); // `default`
//! assert!(loaded.engine().check(policy, &hostgate::Query::new("api.kadath.io")).is_allow());
//! // Warnings carry the origin too.
//! let w: Vec<String> = loaded.warnings().collect();
//! assert!(w[0].starts_with("egress.policy:2:7: warning: "));
//!
//! let err = PolicySource::from_bytes("bad.policy", "allow a..b\n").compile().unwrap_err();
//! assert!(matches!(err.kind(), LoadErrorKind::Compile(_)));
//! assert!(err.to_string().starts_with("bad.policy:1:9: "));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::{is_engine_file, CompileErrors, Diagnostic, Engine, EngineFileError, ParseEnumError};
use crate::{PolicyId, SharedBytes};

/// The dialect a policy source is written in.
///
/// The core compiles hostgate's own language; the other formats are read by the
/// `hostgate-import` crate (its `load` takes a [`PolicySource`] of any format).
///
/// ```
/// use hostgate::Format;
/// assert_eq!("hostgate".parse::<Format>().unwrap(), Format::Hostgate);
/// assert_eq!("cilium".parse::<Format>().unwrap(), Format::Cilium);
/// assert_eq!(Format::default().as_str(), "hostgate");
/// assert!("squid.conf".parse::<Format>().is_err());
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The hostgate policy language (`docs/policy-language.md`).
    #[default]
    Hostgate,
    /// Cilium `CiliumNetworkPolicy` / `CiliumClusterwideNetworkPolicy` (`cilium.io/v2`) YAML or
    /// JSON, read by `hostgate-import`.
    Cilium,
    /// GKE `FQDNNetworkPolicy` (`networking.gke.io/v1alpha1`) YAML or JSON, read by
    /// `hostgate-import`.
    Gke,
    /// Istio `ServiceEntry`, `Sidecar`, `VirtualService` (`networking.istio.io`) and the mesh
    /// config's `outboundTrafficPolicy` (an `IstioOperator` or the ConfigMap `istio`) YAML or
    /// JSON, read by `hostgate-import`.
    Istio,
    /// network-policy-api `AdminNetworkPolicy` / `BaselineAdminNetworkPolicy`
    /// (`policy.networking.k8s.io/v1alpha1`) and `ClusterNetworkPolicy` (`v1alpha2`) YAML or
    /// JSON, read by `hostgate-import`.
    Anp,
    /// Calico `NetworkPolicy` / `GlobalNetworkPolicy`, `NetworkSet` / `GlobalNetworkSet` and
    /// `Tier` (`projectcalico.org/v3`) YAML or JSON, read by `hostgate-import`.
    Calico,
    /// A Squid `squid.conf` (`acl`, `http_access`, `ssl_bump`, `include`), read by
    /// `hostgate-import`.
    Squid,
    /// AWS Network Firewall stateful domain-list rule groups (`RulesSourceList`) and their
    /// firewall policy: AWS CLI JSON, the `RuleGroup` object, or CloudFormation, read by
    /// `hostgate-import`.
    AwsNfw,
    /// Route 53 Resolver DNS Firewall rule groups and domain lists (AWS CLI JSON outputs in
    /// one bundle, domain list files), read by `hostgate-import`.
    Route53,
    /// An nginx `nginx.conf` (`stream` and `http` servers, `map`, `server_name`, `include`),
    /// read by `hostgate-import`.
    Nginx,
    /// An HAProxy `haproxy.cfg` (`frontend`/`listen`/`backend` sections, `acl`,
    /// `tcp-request content`, `http-request`, `use_backend`), read by `hostgate-import`.
    Haproxy,
    /// An Envoy static bootstrap (YAML or JSON: listeners, filter chains' `server_names`,
    /// network and HTTP RBAC, virtual hosts' `domains`), read by `hostgate-import`.
    Envoy,
    /// Google Cloud Secure Web Proxy gateway security policies, their rules (`sessionMatcher`
    /// CEL) and URL lists, as `gcloud network-security` exports them or as Terraform
    /// resources (`.tf`, `terraform show -json`), read by `hostgate-import`.
    Swp,
}

impl Format {
    /// Every format, in the order `--from` lists them.
    pub const ALL: &'static [Format] = &[
        Format::Hostgate,
        Format::Cilium,
        Format::Gke,
        Format::Istio,
        Format::Anp,
        Format::Calico,
        Format::Squid,
        Format::AwsNfw,
        Format::Route53,
        Format::Nginx,
        Format::Haproxy,
        Format::Envoy,
        Format::Swp,
    ];
    /// Their names, in the same order.
    const NAMES: &'static [&'static str] = &[
        "hostgate", "cilium", "gke", "istio", "anp", "calico", "squid", "aws-nfw", "route53",
        "nginx", "haproxy", "envoy", "swp",
    ];

    /// The name `--from` and `FORMAT:FILE` operands use.
    ///
    /// ```
    /// assert_eq!(hostgate::Format::Hostgate.as_str(), "hostgate");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Hostgate => "hostgate",
            Format::Cilium => "cilium",
            Format::Gke => "gke",
            Format::Istio => "istio",
            Format::Anp => "anp",
            Format::Calico => "calico",
            Format::Squid => "squid",
            Format::AwsNfw => "aws-nfw",
            Format::Route53 => "route53",
            Format::Nginx => "nginx",
            Format::Haproxy => "haproxy",
            Format::Envoy => "envoy",
            Format::Swp => "swp",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ParseEnumError;
    /// ```
    /// let e = "nginx-plus".parse::<hostgate::Format>().unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "unknown policy format `nginx-plus`: expected hostgate, cilium, gke, istio, anp, \
    ///      calico, squid, aws-nfw, route53, nginx, haproxy, envoy or swp"
    /// );
    /// ```
    fn from_str(s: &str) -> Result<Format, ParseEnumError> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ParseEnumError::new("policy format", s, Format::NAMES))
    }
}

/// Policy bytes, the name diagnostics call them by, and their format.
///
/// ```
/// use hostgate::{Format, PolicySource};
/// let s = PolicySource::from_bytes("inline", "allow a.io\n").with_format(Format::Hostgate);
/// assert_eq!(s.origin(), "inline");
/// assert_eq!(s.format(), Format::Hostgate);
/// ```
#[derive(Clone)]
pub struct PolicySource<'a> {
    origin: Cow<'a, str>,
    bytes: Cow<'a, [u8]>,
    /// Bytes shared with others (a mapped engine file), used in place of `bytes`.
    shared: Option<SharedBytes>,
    format: Format,
}

impl fmt::Debug for PolicySource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySource")
            .field("origin", &self.origin)
            .field("bytes", &self.bytes().len())
            .field("shared", &self.shared.is_some())
            .field("format", &self.format)
            .finish()
    }
}

impl<'a> PolicySource<'a> {
    /// Bytes given by the caller (inline text, a buffer read elsewhere), named `origin` in
    /// diagnostics.
    ///
    /// ```
    /// let s = hostgate::PolicySource::from_bytes("filter_config.policy", b"allow a.io\n".as_slice());
    /// assert!(s.compile().is_ok());
    /// ```
    pub fn from_bytes(
        origin: impl Into<Cow<'a, str>>,
        bytes: impl Into<Vec<u8>>,
    ) -> PolicySource<'a> {
        PolicySource {
            origin: origin.into(),
            bytes: Cow::Owned(bytes.into()),
            shared: None,
            format: Format::Hostgate,
        }
    }

    /// Bytes shared with others, typically a mapped engine file (see the `hostgate-map`
    /// crate): an engine file among them is opened in place, its arrays not copied.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
    /// let s = hostgate::PolicySource::shared("a.engine", Arc::new(bytes));
    /// assert!(s.is_engine_file());
    /// assert!(s.compile().unwrap().engine().is_shared());
    /// ```
    pub fn shared(origin: impl Into<Cow<'a, str>>, bytes: SharedBytes) -> PolicySource<'a> {
        PolicySource {
            origin: origin.into(),
            bytes: Cow::Borrowed(&[]),
            shared: Some(bytes),
            format: Format::Hostgate,
        }
    }

    /// Bytes borrowed for the source's lifetime, without a copy.
    ///
    /// ```
    /// let text = String::from("allow a.io\n");
    /// let s = hostgate::PolicySource::borrowed("p.policy", text.as_bytes());
    /// assert!(s.compile().is_ok());
    /// ```
    pub fn borrowed(origin: &'a str, bytes: &'a [u8]) -> PolicySource<'a> {
        PolicySource {
            origin: Cow::Borrowed(origin),
            bytes: Cow::Borrowed(bytes),
            shared: None,
            format: Format::Hostgate,
        }
    }

    /// Reads a file; its path (as given) names it in diagnostics.
    ///
    /// ```
    /// let err = hostgate::PolicySource::read("/nonexistent/egress.policy").unwrap_err();
    /// assert!(err.to_string().starts_with("cannot read policy file /nonexistent/egress.policy: "));
    /// ```
    pub fn read(path: impl AsRef<Path>) -> Result<PolicySource<'static>, LoadError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => Ok(PolicySource {
                origin: Cow::Owned(origin),
                bytes: Cow::Owned(bytes),
                shared: None,
                format: Format::Hostgate,
            }),
            Err(e) => Err(LoadError {
                origin,
                kind: LoadErrorKind::Read(e),
            }),
        }
    }

    /// The same source read as `format`. An engine file stays one: it was compiled already,
    /// whatever its source's format was, so its format stays [`Format::Hostgate`] and every
    /// loader opens it.
    ///
    /// ```
    /// use hostgate::{Engine, Format, PolicySource};
    /// let bytes = Engine::compile("allow a.io\n").unwrap().to_bytes();
    /// let s = PolicySource::from_bytes("a.engine", bytes).with_format(Format::Cilium);
    /// assert_eq!(s.format(), Format::Hostgate);
    /// assert!(s.compile().is_ok());
    /// ```
    pub fn with_format(mut self, format: Format) -> PolicySource<'a> {
        if !self.is_engine_file() {
            self.format = format;
        }
        self
    }

    /// Whether the bytes are an engine file (by its magic), to be opened, not compiled.
    ///
    /// ```
    /// let bytes = hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes();
    /// assert!(hostgate::PolicySource::from_bytes("a.engine", bytes).is_engine_file());
    /// assert!(!hostgate::PolicySource::from_bytes("a.policy", "allow a.io\n").is_engine_file());
    /// ```
    pub fn is_engine_file(&self) -> bool {
        is_engine_file(self.bytes())
    }

    /// The name diagnostics use.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The format the bytes are read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.shared {
            Some(shared) => (**shared).as_ref(),
            None => &self.bytes,
        }
    }

    /// Compiles the source into an engine.
    ///
    /// Fails on bytes that are not UTF-8 (pointing at the first bad byte by line and column,
    /// like a compile error), on every compile error, and on a format the core cannot read
    /// alone ([`LoadErrorKind::NeedsImporter`]). An engine file is opened instead (a bad one
    /// fails with [`LoadErrorKind::EngineFile`]).
    ///
    /// ```
    /// use hostgate::{Format, PolicySource};
    /// let err = PolicySource::from_bytes("p.yaml", "kind: CiliumNetworkPolicy\n")
    ///     .with_format(Format::Cilium)
    ///     .compile()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "p.yaml: format `cilium` is read by hostgate-import");
    /// ```
    ///
    /// ```
    /// let err = hostgate::PolicySource::from_bytes("p", b"allow a.io\nallow \xff.io\n".as_slice())
    ///     .compile()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "p:2:7: policy file is not UTF-8 text");
    /// ```
    pub fn compile(&self) -> Result<LoadedPolicy, LoadError> {
        let fail = |kind| LoadError {
            origin: self.origin.to_string(),
            kind,
        };
        if self.is_engine_file() {
            let opened = match &self.shared {
                Some(shared) => Engine::from_shared(shared),
                None => Engine::from_bytes(&self.bytes),
            };
            // Its warnings were shown when it was compiled; their lines are the source's, not
            // this file's, so they are not repeated on every open (`Engine::warnings` keeps them).
            return match opened {
                Ok(engine) => Ok(LoadedPolicy::with_warnings(
                    engine,
                    self.origin.to_string(),
                    Vec::new(),
                )),
                Err(e) => Err(fail(LoadErrorKind::EngineFile(e))),
            };
        }
        if self.format != Format::Hostgate {
            return Err(fail(LoadErrorKind::NeedsImporter(self.format)));
        }
        let bytes = self.bytes();
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let (line, column) = position(&bytes[..e.valid_up_to()]);
                return Err(fail(LoadErrorKind::NotUtf8 { line, column }));
            }
        };
        match Engine::compile(text) {
            Ok(engine) => Ok(LoadedPolicy::new(engine, self.origin.to_string())),
            Err(errors) => Err(fail(LoadErrorKind::Compile(errors))),
        }
    }
}

/// Line and column (from 1, columns in characters) just past `good`, which is valid UTF-8.
fn position(good: &[u8]) -> (u32, u32) {
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    // Valid UTF-8: counting characters is counting the bytes that start one.
    let column = good[start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// A compiled engine and the origin its diagnostics name.
///
/// ```
/// let loaded = hostgate::PolicySource::from_bytes("p.policy", "policy a\nallow x.io\n")
///     .compile()
///     .unwrap();
/// assert_eq!(loaded.origin(), "p.policy");
/// let engine: hostgate::Engine = loaded.into_engine();
/// assert_eq!(engine.policies().count(), 1);
/// ```
#[derive(Debug)]
pub struct LoadedPolicy {
    engine: Engine,
    origin: String,
    /// Warnings given by whoever built the engine, each with its own file; `None` means the
    /// engine's own warnings, positioned in `origin`.
    positioned: Option<Vec<(String, Diagnostic)>>,
}

impl LoadedPolicy {
    /// An engine compiled from `origin`; its warnings are the engine's own.
    ///
    /// ```
    /// let engine = hostgate::Engine::compile("allow *google.com\n").unwrap();
    /// let loaded = hostgate::LoadedPolicy::new(engine, "g.policy");
    /// assert!(loaded.warnings().next().unwrap().starts_with("g.policy:1:7: warning: "));
    /// ```
    pub fn new(engine: Engine, origin: impl Into<String>) -> LoadedPolicy {
        LoadedPolicy {
            engine,
            origin: origin.into(),
            positioned: None,
        }
    }

    /// An engine built from other text (an importer's input): its warnings are the given
    /// diagnostics, each in its own file, in place of the engine's own.
    ///
    /// ```
    /// use hostgate::{Diagnostic, Engine, LoadedPolicy, Severity};
    /// let engine = Engine::compile("allow a.io\n").unwrap();
    /// let w = Diagnostic::new(Severity::Warning, 3, 5, "pod peers are not reproduced");
    /// let loaded = LoadedPolicy::with_warnings(engine, "cnp.yaml", vec![("cnp.yaml".into(), w)]);
    /// assert_eq!(
    ///     loaded.warnings().collect::<Vec<_>>(),
    ///     ["cnp.yaml:3:5: warning: pod peers are not reproduced"]
    /// );
    /// ```
    pub fn with_warnings(
        engine: Engine,
        origin: impl Into<String>,
        warnings: Vec<(String, Diagnostic)>,
    ) -> LoadedPolicy {
        LoadedPolicy {
            engine,
            origin: origin.into(),
            positioned: Some(warnings),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, owned.
    pub fn into_engine(self) -> Engine {
        self.engine
    }

    /// The name diagnostics use.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every warning as `ORIGIN:LINE:COL: warning: message`, in text order.
    ///
    /// ```
    /// let loaded = hostgate::PolicySource::from_bytes("w.policy", "allow *google.com\n").compile().unwrap();
    /// assert!(loaded.warnings().next().unwrap().starts_with("w.policy:1:7: warning: "));
    /// ```
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        let own = match &self.positioned {
            None => self.engine.warnings(),
            Some(_) => &[],
        };
        let given = self.positioned.as_deref().unwrap_or(&[]);
        own.iter()
            .map(|w| w.render(&self.origin))
            .chain(given.iter().map(|(file, w)| w.render(file)))
    }

    /// The policy a front end asks: the one named, else [`Engine::default_policy`].
    ///
    /// ```
    /// let loaded = hostgate::PolicySource::from_bytes("two.policy", "policy a\npolicy b\n").compile().unwrap();
    /// assert_eq!(loaded.select(Some("b")).unwrap().index(), 1);
    /// assert_eq!(loaded.select(None).unwrap().index(), 0);
    /// let err = loaded.select(Some("c")).unwrap_err();
    /// assert_eq!(err.to_string(), "no policy named `c` in two.policy; available: a, b");
    /// ```
    pub fn select(&self, name: Option<&str>) -> Result<PolicyId, LoadError> {
        let Some(name) = name else {
            return Ok(self.engine.default_policy());
        };
        self.engine.policy(name).ok_or_else(|| LoadError {
            origin: self.origin.clone(),
            kind: LoadErrorKind::UnknownPolicy {
                name: name.to_string(),
                available: self.engine.policies().map(|(_, n)| n.to_string()).collect(),
            },
        })
    }
}

impl Engine {
    /// The policy a front end asks when none is named: `default` when the text has rules or
    /// settings outside any `policy` block, else the first policy in the file.
    ///
    /// ```
    /// let e = hostgate::Engine::compile("policy first\npolicy second\n").unwrap();
    /// assert_eq!(e.policy_name(e.default_policy()), Some("first"));
    /// let e = hostgate::Engine::compile("allow a.io\npolicy other\n").unwrap();
    /// assert_eq!(e.policy_name(e.default_policy()), Some("default"));
    /// ```
    pub fn default_policy(&self) -> PolicyId {
        self.policy("default")
            .unwrap_or_else(|| PolicyId::from_index(0))
    }
}

/// Why a policy could not be loaded, with the origin it names.
///
/// Its `Display` is what a front end prints: compile errors as `ORIGIN:LINE:COL: message` lines
/// (one per error, no trailing newline).
///
/// ```
/// let err = hostgate::PolicySource::from_bytes("x.policy", "allow a.io port 0\nbogus\n").compile().unwrap_err();
/// assert_eq!(err.origin(), "x.policy");
/// assert_eq!(err.diagnostics().len(), 2);
/// assert_eq!(err.to_string().lines().count(), 2);
/// ```
#[derive(Debug)]
pub struct LoadError {
    origin: String,
    kind: LoadErrorKind,
}

/// What went wrong when loading a policy.
///
/// ```
/// let err = hostgate::PolicySource::from_bytes("p", b"\xc3(".as_slice()).compile().unwrap_err();
/// assert!(matches!(err.kind(), hostgate::LoadErrorKind::NotUtf8 { line: 1, column: 1 }));
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum LoadErrorKind {
    /// The file could not be read.
    Read(std::io::Error),
    /// The bytes are not UTF-8; the position is that of the first bad byte.
    NotUtf8 {
        /// Line, from 1.
        line: u32,
        /// Column in characters, from 1.
        column: u32,
    },
    /// The text does not compile.
    Compile(CompileErrors),
    /// The format is read by an importer (the `hostgate-import` crate), not by the core alone.
    NeedsImporter(Format),
    /// Errors found by an importer, each in its own file (an import may read several).
    Positioned(Vec<(String, Diagnostic)>),
    /// The bytes are an engine file (by its magic) that cannot be opened.
    EngineFile(EngineFileError),
    /// The policy asked for is not in the file.
    UnknownPolicy {
        /// The name asked for.
        name: String,
        /// The policies the file has, in file order.
        available: Vec<String>,
    },
}

impl LoadError {
    /// Whether the error is `FILE:LINE:COL: message` lines (compile, import and UTF-8 errors),
    /// which front ends print as they are, as compilers do; the others are one sentence a front
    /// end prefixes with its own name.
    ///
    /// ```
    /// use hostgate::PolicySource;
    /// assert!(PolicySource::from_bytes("p", "alow a.io\n").compile().unwrap_err().is_positioned());
    /// assert!(!PolicySource::read("/nonexistent/p").unwrap_err().is_positioned());
    /// ```
    pub fn is_positioned(&self) -> bool {
        matches!(
            self.kind,
            LoadErrorKind::Compile(_)
                | LoadErrorKind::NotUtf8 { .. }
                | LoadErrorKind::Positioned(_)
        )
    }

    /// Errors an importer found, each with its own file; `origin` names the input as a whole.
    ///
    /// ```
    /// use hostgate::{Diagnostic, LoadError, Severity};
    /// let d = Diagnostic::new(Severity::Error, 4, 9, "unknown field `toFQDN`");
    /// let err = LoadError::positioned("cnp.yaml", vec![("cnp.yaml".into(), d)]);
    /// assert_eq!(err.to_string(), "cnp.yaml:4:9: unknown field `toFQDN`");
    /// assert_eq!(err.diagnostics()[0].line, 4);
    /// ```
    pub fn positioned(origin: impl Into<String>, errors: Vec<(String, Diagnostic)>) -> LoadError {
        LoadError {
            origin: origin.into(),
            kind: LoadErrorKind::Positioned(errors),
        }
    }

    /// A file that could not be read (for loaders that read files their own way, such as
    /// `hostgate-map`'s mapping): the same error [`PolicySource::read`] gives.
    ///
    /// ```
    /// let e = std::io::Error::from(std::io::ErrorKind::NotFound);
    /// let err = hostgate::LoadError::unreadable("/etc/e.engine", e);
    /// assert!(err.to_string().starts_with("cannot read policy file /etc/e.engine: "));
    /// ```
    pub fn unreadable(origin: impl Into<String>, error: std::io::Error) -> LoadError {
        LoadError {
            origin: origin.into(),
            kind: LoadErrorKind::Read(error),
        }
    }

    /// The origin (file name or label) the error is about.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What went wrong.
    pub fn kind(&self) -> &LoadErrorKind {
        &self.kind
    }

    /// The error as positioned diagnostics (line 0 and column 0 where it has no position), for
    /// front ends that hand out lines and columns (the C ABI).
    ///
    /// ```
    /// let err = hostgate::PolicySource::from_bytes("p", "allow\n").compile().unwrap_err();
    /// let d = &err.diagnostics()[0];
    /// assert_eq!((d.line, d.column), (1, 6));
    /// ```
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match &self.kind {
            LoadErrorKind::Compile(errors) => errors.errors().to_vec(),
            LoadErrorKind::NotUtf8 { line, column } => {
                vec![Diagnostic::error(*line, *column, NOT_UTF8)]
            }
            LoadErrorKind::Positioned(errors) => errors.iter().map(|(_, d)| d.clone()).collect(),
            LoadErrorKind::Read(_)
            | LoadErrorKind::UnknownPolicy { .. }
            | LoadErrorKind::EngineFile(_)
            | LoadErrorKind::NeedsImporter(_) => {
                vec![Diagnostic::error(0, 0, self.message())]
            }
        }
    }

    /// The message without the origin, for the kinds that have no position.
    fn message(&self) -> String {
        match &self.kind {
            LoadErrorKind::Read(e) => format!("cannot read policy file {}: {e}", self.origin),
            LoadErrorKind::UnknownPolicy { name, available } => format!(
                "no policy named `{name}` in {}; available: {}",
                self.origin,
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                }
            ),
            LoadErrorKind::NotUtf8 { .. } => NOT_UTF8.to_string(),
            LoadErrorKind::Compile(errors) => errors.to_string(),
            LoadErrorKind::NeedsImporter(format) => {
                format!("format `{format}` is read by hostgate-import")
            }
            LoadErrorKind::EngineFile(e) => format!("{}: {e}", self.origin),
            LoadErrorKind::Positioned(errors) => errors
                .iter()
                .map(|(file, d)| d.render(file))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

const NOT_UTF8: &str = "policy file is not UTF-8 text";

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LoadErrorKind::Compile(errors) => {
                for (i, e) in errors.errors().iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    f.write_str(&e.render(&self.origin))?;
                }
                Ok(())
            }
            LoadErrorKind::NotUtf8 { line, column } => {
                write!(f, "{}:{line}:{column}: {NOT_UTF8}", self.origin)
            }
            LoadErrorKind::NeedsImporter(_) => write!(f, "{}: {}", self.origin, self.message()),
            LoadErrorKind::Read(_)
            | LoadErrorKind::UnknownPolicy { .. }
            | LoadErrorKind::EngineFile(_)
            | LoadErrorKind::Positioned(_) => f.write_str(&self.message()),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LoadErrorKind::Read(e) => Some(e),
            LoadErrorKind::Compile(e) => Some(e),
            LoadErrorKind::EngineFile(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_position_counts_characters() {
        // `é` is two bytes, one column; the bad byte is the 4th character of line 2.
        let err = PolicySource::from_bytes("p", b"a\n\xc3\xa9x\xff".as_slice())
            .compile()
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            LoadErrorKind::NotUtf8 { line: 2, column: 3 }
        ));
    }

    #[test]
    fn an_engine_file_loads_in_place_of_text_and_its_errors_name_it() {
        let text = "policy web\ndeny api.leng.com id no\nallow .leng.com\n";
        let bytes = Engine::compile(text).unwrap().to_bytes();
        for format in Format::ALL {
            let loaded = PolicySource::from_bytes("web.engine", bytes.clone())
                .with_format(*format)
                .compile()
                .unwrap();
            let e = loaded.engine();
            let p = loaded.select(Some("web")).unwrap();
            let v = e.check(p, &crate::Query::new("api.leng.com"));
            assert_eq!(
                (v.rule.unwrap().id().to_string(), v.rule.unwrap().line()),
                ("no".into(), 2)
            );
        }
        let mut bad = bytes.clone();
        bad.truncate(bytes.len() - 3);
        let err = PolicySource::from_bytes("web.engine", bad)
            .compile()
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            LoadErrorKind::EngineFile(EngineFileError::Length { .. })
        ));
        assert!(!err.is_positioned());
        assert!(
            err.to_string().starts_with("web.engine: engine file is "),
            "{err}"
        );
        assert_eq!(err.diagnostics()[0].message, err.to_string());
    }

    #[test]
    fn select_in_a_file_with_no_policy_name_matches() {
        let loaded = PolicySource::from_bytes("e", "").compile().unwrap();
        let id = loaded.select(None).unwrap();
        assert_eq!(loaded.engine().policy_name(id), Some("default"));
    }
}
