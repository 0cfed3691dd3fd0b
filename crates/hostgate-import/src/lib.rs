//! # hostgate-import
//!
//! Reads other systems' egress policies, as written, into a hostgate [`Engine`], keeping each
//! system's exact meaning for name-based decisions: every construct is either mapped to rules
//! that decide the same, refused with an error at its YAML position, or (where no name-based
//! engine can reproduce it) accepted with a warning at its position saying what is not
//! reproduced. `docs/import.md` has the mapping tables.
//!
//! Formats: [`Format::Cilium`] (`CiliumNetworkPolicy`, `CiliumClusterwideNetworkPolicy`),
//! [`Format::Gke`] (`FQDNNetworkPolicy`), [`Format::Istio`] (`ServiceEntry`, `Sidecar`,
//! `VirtualService`, the mesh's `outboundTrafficPolicy`), [`Format::Anp`] (network-policy-api
//! `AdminNetworkPolicy`, `BaselineAdminNetworkPolicy`, `ClusterNetworkPolicy`) and
//! [`Format::Calico`] (`NetworkPolicy`, `GlobalNetworkPolicy`, network sets, tiers): YAML
//! (several documents), `kind: List`, or JSON, as `kubectl get -o yaml|json` prints them, from
//! one or more files. Without a workload all objects are taken to select the workload asked
//! about, and are combined into one policy, `default`. [`Format::Squid`] reads a `squid.conf`
//! (with its includes and acl files), [`Format::AwsNfw`] AWS Network Firewall domain-list rule
//! groups, [`Format::Route53`] Route 53 DNS Firewall rule groups, [`Format::Nginx`] an
//! `nginx.conf` (with its includes), [`Format::Haproxy`] an `haproxy.cfg` (its frontends'
//! SNI and Host decisions), [`Format::Envoy`] an Envoy static bootstrap (its listeners' SNI and
//! Host decisions) and [`Format::Swp`] Google Cloud Secure Web Proxy gateway security policy
//! rules and URL lists, each into one policy, `default`.
//!
//! ```
//! use hostgate::{Action, Format, Query, Via};
//! use hostgate_import::{import, Options};
//!
//! let yaml = b"apiVersion: cilium.io/v2
//! kind: CiliumNetworkPolicy
//! metadata: {name: web, namespace: shop}
//! spec:
//!   endpointSelector: {}
//!   egress:
//!   - toFQDNs: [{matchPattern: '*.stripe.com'}]
//!     toPorts: [{ports: [{port: '443', protocol: TCP}]}]
//! ";
//! let imported = import(Format::Cilium, &[("cnp.yaml", yaml)], &Options::default()).unwrap();
//! let engine = imported.engine();
//! let p = engine.policy("default").unwrap();
//! let v = engine.check(p, &Query::new("api.stripe.com").port(443).via(Via::Tls));
//! assert_eq!(v.action, Action::Allow);
//! assert_eq!(v.rule.unwrap().id(), "CiliumNetworkPolicy/shop/web:0");
//! assert_eq!(v.rule.unwrap().line(), 7);
//! // `*.` is one label in Cilium.
//! let v = engine.check(p, &Query::new("a.b.stripe.com").port(443).via(Via::Tls));
//! assert_eq!(v.action, Action::Deny);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod anp;
mod aws_nfw;
mod calico;
mod cilium;
mod cloud;
mod envoy;
mod gke;
mod haproxy;
mod istio;
mod kube;
mod nginx;
mod route53;
mod squid;
mod swp;
mod terraform;
mod yaml;

use std::fmt;
use std::str::FromStr;

use hostgate::{
    Action, Diagnostic, Engine, EngineBuilder, LoadError, LoadedPolicy, PolicySource, PolicySpec,
    Precedence, RuleSpec, Severity,
};

pub use hostgate::Format;

/// An error or warning in an import's input: file, line and column (from 1, columns in
/// characters) and what is wrong or not reproduced.
///
/// ```
/// use hostgate::Format;
/// let errs = hostgate_import::import(
///     Format::Cilium,
///     &[("a.yaml", b"kind: Pod\napiVersion: v1\nmetadata: {name: x}\n".as_slice())],
///     &Default::default(),
/// )
/// .unwrap_err();
/// assert_eq!(errs[0].to_string(), "a.yaml:1:7: kind `Pod` is not a Cilium policy; \
///     expected CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportDiagnostic {
    /// The file, as given.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
    /// Error (nothing is imported) or warning (the import is used; this part is not
    /// reproduced).
    pub severity: Severity,
    /// What is wrong or not reproduced.
    pub message: String,
}

impl ImportDiagnostic {
    /// The diagnostic in the core's form, for [`LoadError`] and [`LoadedPolicy`].
    ///
    /// ```
    /// let d = hostgate_import::ImportDiagnostic {
    ///     file: "a.yaml".into(), line: 2, column: 3,
    ///     severity: hostgate::Severity::Warning, message: "m".into(),
    /// };
    /// assert_eq!(d.to_core().render("a.yaml"), "a.yaml:2:3: warning: m");
    /// ```
    pub fn to_core(&self) -> Diagnostic {
        Diagnostic::new(self.severity, self.line, self.column, self.message.clone())
    }
}

impl fmt::Display for ImportDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_core().render(&self.file))
    }
}

/// A Cilium release, `MAJOR.MINOR`: it decides what a leading `**.` and `serverNames`
/// wildcards mean.
///
/// ```
/// use hostgate_import::CiliumVersion;
/// assert_eq!("v1.18.4".parse::<CiliumVersion>().unwrap(), CiliumVersion::new(1, 18));
/// assert_eq!(CiliumVersion::default().to_string(), "1.19");
/// assert!("one".parse::<CiliumVersion>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CiliumVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl CiliumVersion {
    /// The current release, the default.
    ///
    /// ```
    /// assert_eq!(hostgate_import::CiliumVersion::CURRENT.to_string(), "1.19");
    /// ```
    pub const CURRENT: CiliumVersion = CiliumVersion::new(1, 19);

    /// `major.minor`.
    ///
    /// ```
    /// assert!(hostgate_import::CiliumVersion::new(1, 18) < hostgate_import::CiliumVersion::CURRENT);
    /// ```
    pub const fn new(major: u16, minor: u16) -> CiliumVersion {
        CiliumVersion { major, minor }
    }
}

impl Default for CiliumVersion {
    fn default() -> Self {
        CiliumVersion::CURRENT
    }
}

impl fmt::Display for CiliumVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for CiliumVersion {
    type Err = String;
    /// `1.19`, `v1.19` or `1.19.2` (the patch level does not change policy meaning).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("Cilium version `{s}`: expected MAJOR.MINOR such as 1.19");
        let t = s.strip_prefix('v').unwrap_or(s);
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(CiliumVersion::new(major, minor))
    }
}

/// How to read the input.
///
/// ```
/// let o = hostgate_import::Options::default().cilium_version(hostgate_import::CiliumVersion::new(1, 18));
/// assert_eq!(o.cilium_version.minor, 18);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// The Cilium release whose meaning is reproduced.
    pub cilium_version: CiliumVersion,
    /// The workload asked about; `None`: every object applies to it.
    pub workload: Option<Workload>,
    /// One policy per object (named `kind/namespace/name`, each object read alone) instead
    /// of one policy, `default`, combining them all. With a workload, only the objects that
    /// select it.
    pub per_object: bool,
    /// Squid and nginx: `include` files (and Squid's `"file"` acl values) are taken only from the files given
    /// (by their resolved name), never read from the filesystem.
    pub sandboxed: bool,
}

impl Options {
    /// Sets the Cilium release.
    ///
    /// ```
    /// use hostgate_import::{CiliumVersion, Options};
    /// assert_eq!(Options::default().cilium_version(CiliumVersion::new(1, 20)).cilium_version.minor, 20);
    /// ```
    pub fn cilium_version(mut self, version: CiliumVersion) -> Self {
        self.cilium_version = version;
        self
    }

    /// Keeps only the policies (and `specs` entries) whose selector selects `workload`.
    ///
    /// ```
    /// let w: hostgate_import::Workload = "shop/app=web".parse().unwrap();
    /// assert!(hostgate_import::Options::default().workload(w).workload.is_some());
    /// ```
    pub fn workload(mut self, workload: Workload) -> Self {
        self.workload = Some(workload);
        self
    }

    /// One policy per object instead of one combined policy.
    ///
    /// ```
    /// use hostgate::Format;
    /// let y = b"apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a, namespace: n}\nspec:\n  egress:\n  - matches: [{name: a.io}]\n---\napiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: b, namespace: n}\nspec:\n  egress:\n  - matches: [{name: b.io}]\n";
    /// let o = hostgate_import::Options::default().per_object(true);
    /// let i = hostgate_import::import(Format::Gke, &[("f.yaml", y.as_slice())], &o).unwrap();
    /// let names: Vec<&str> = i.policies().iter().map(|p| p.name.as_str()).collect();
    /// assert_eq!(names, ["FQDNNetworkPolicy/n/a", "FQDNNetworkPolicy/n/b"]);
    /// ```
    pub fn per_object(mut self, yes: bool) -> Self {
        self.per_object = yes;
        self
    }

    /// Squid: read `include` files and `"file"` acl values only from the files given, never
    /// from the filesystem. A path is resolved against the directory of the file that names
    /// it, then looked up among the given names; without this option a name not given is
    /// read from the filesystem.
    ///
    /// ```
    /// use hostgate::Format;
    /// let conf = b"acl ok dstdomain -n \"lists/ok.txt\"\nhttp_access allow ok\n";
    /// let files = [("etc/squid.conf", conf.as_slice()), ("etc/lists/ok.txt", b".example.org\n".as_slice())];
    /// let o = hostgate_import::Options::default().sandboxed(true);
    /// let i = hostgate_import::import(Format::Squid, &files, &o).unwrap();
    /// assert_eq!(i.policies()[0].rules[0].pattern, ".example.org");
    /// let missing = hostgate_import::import(Format::Squid, &files[..1], &o).unwrap_err();
    /// assert!(missing[0].message.contains("etc/lists/ok.txt"));
    /// ```
    pub fn sandboxed(mut self, yes: bool) -> Self {
        self.sandboxed = yes;
        self
    }
}

/// A workload: its namespace, its pod labels, written `[NAMESPACE/]KEY=VALUE[,KEY=VALUE…]`
/// (namespace `default` when not given), and its namespace's labels
/// ([`Workload::with_namespace_labels`]).
///
/// A namespaced policy applies only in its own namespace (a `CiliumNetworkPolicy` or
/// `FQDNNetworkPolicy` without `metadata.namespace` is taken to be in `default`); its
/// `endpointSelector` / `podSelector` must select the labels. Cilium selector keys may carry
/// the `k8s:` or `any:` source; `io.kubernetes.pod.namespace` is the namespace.
///
/// ```
/// let w: hostgate_import::Workload = "shop/app=web,tier=front".parse().unwrap();
/// assert_eq!(w.namespace, "shop");
/// assert_eq!(w.labels["tier"], "front");
/// assert!("app".parse::<hostgate_import::Workload>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// The pod's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The namespace's labels, as given (see [`Workload::namespace_labels`]).
    pub namespace_labels: std::collections::BTreeMap<String, String>,
}

impl Workload {
    /// Sets the namespace's labels from `KEY=VALUE[,KEY=VALUE…]`.
    ///
    /// ```
    /// let w: hostgate_import::Workload = "shop/app=web".parse().unwrap();
    /// let w = w.with_namespace_labels("team=pay,env=prod").unwrap();
    /// assert_eq!(w.namespace_labels["env"], "prod");
    /// assert!(w.clone().with_namespace_labels("env").is_err());
    /// ```
    pub fn with_namespace_labels(mut self, pairs: &str) -> Result<Workload, String> {
        self.namespace_labels =
            label_pairs(pairs).map_err(|e| format!("namespace labels `{pairs}`: {e}"))?;
        Ok(self)
    }

    /// The namespace's labels as Kubernetes sets them: those given, and
    /// `kubernetes.io/metadata.name` = the namespace's name.
    ///
    /// ```
    /// let w: hostgate_import::Workload = "shop/app=web".parse().unwrap();
    /// assert_eq!(w.namespace_labels()["kubernetes.io/metadata.name"], "shop");
    /// ```
    pub fn namespace_labels(&self) -> std::collections::BTreeMap<String, String> {
        let mut labels = self.namespace_labels.clone();
        labels.insert("kubernetes.io/metadata.name".into(), self.namespace.clone());
        labels
    }
}

/// `KEY=VALUE[,KEY=VALUE…]` into a map (empty entries skipped).
fn label_pairs(s: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut labels = std::collections::BTreeMap::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not KEY=VALUE"));
        };
        if k.is_empty() {
            return Err("empty label key".into());
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

impl fmt::Display for Workload {
    /// ```
    /// let w: hostgate_import::Workload = "app=web".parse().unwrap();
    /// assert_eq!(w.to_string(), "default/app=web");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.namespace)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (namespace, rest) = match s.split_once('/') {
            Some((ns, rest)) if !ns.contains('=') => (ns.to_string(), rest),
            _ => ("default".to_string(), s),
        };
        if namespace.is_empty() {
            return Err(format!("workload `{s}`: empty namespace"));
        }
        let labels = label_pairs(rest).map_err(|e| format!("workload `{s}`: {e}"))?;
        Ok(Workload {
            namespace,
            labels,
            namespace_labels: Default::default(),
        })
    }
}

/// Where one generated rule came from.
///
/// ```
/// # use hostgate::Format;
/// let y = b"apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a, namespace: n}\nspec:\n  egress:\n  - matches: [{name: api.example.com}]\n";
/// let i = hostgate_import::import(Format::Gke, &[("f.yaml", y.as_slice())], &Default::default()).unwrap();
/// let s = &i.sources()[0];
/// assert_eq!((s.file.as_str(), s.line, s.object.as_str()), ("f.yaml", 6, "FQDNNetworkPolicy/n/a"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    /// The file.
    pub file: String,
    /// Line of the YAML node the rule comes from.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// `kind/namespace/name` (or `kind/name`) of the object.
    pub object: String,
}

/// The result of an import: the policy, the built engine, and the warnings.
///
/// ```
/// use hostgate::{Format, Query, Via};
/// let y = b"apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a}\nspec:\n  egress:\n  - matches: [{name: api.example.com}]\n";
/// let i = hostgate_import::import(Format::Gke, &[("f.yaml", y.as_slice())], &Default::default()).unwrap();
/// assert_eq!(i.format(), Format::Gke);
/// assert_eq!(i.sources().len(), 1);
/// // GKE does not filter DNS by name: said once, at `egress`.
/// assert_eq!(i.warnings()[0].line, 5);
/// let engine = i.into_engine();
/// let p = engine.policy("default").unwrap();
/// assert!(engine.check(p, &Query::new("api.example.com").port(443).via(Via::Tls)).is_allow());
/// ```
#[derive(Debug)]
pub struct Imported {
    format: Format,
    options: Options,
    files: Vec<String>,
    policies: Vec<PolicySpec>,
    sources: Vec<RuleSource>,
    warnings: Vec<ImportDiagnostic>,
    engine: Engine,
}

impl Imported {
    /// The policies (one, `default`, unless [`Options::per_object`]), as the builder takes
    /// them.
    ///
    /// ```
    /// # use hostgate::Format;
    /// let y = b"apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a}\nspec:\n  egress:\n  - matches: [{pattern: '*.example.com'}]\n";
    /// let i = hostgate_import::import(Format::Gke, &[("f.yaml", y.as_slice())], &Default::default()).unwrap();
    /// assert_eq!(i.policies()[0].name, "default");
    /// assert_eq!(i.policies()[0].rules[0].pattern, "*.example.com");
    /// ```
    pub fn policies(&self) -> &[PolicySpec] {
        &self.policies
    }

    /// Where each rule came from, in rule order, policy after policy.
    pub fn sources(&self) -> &[RuleSource] {
        &self.sources
    }

    /// What is accepted but not reproduced, each at its position.
    pub fn warnings(&self) -> &[ImportDiagnostic] {
        &self.warnings
    }

    /// The engine built from the policy.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, owned.
    pub fn into_engine(self) -> Engine {
        self.engine
    }

    /// The format read.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// What one format's reader made of a set of objects (or of a configuration): one policy.
pub(crate) struct Read {
    /// How the rules combine.
    pub precedence: Precedence,
    /// The verdict when no rule matches.
    pub default: Action,
    /// The rules, in order.
    pub rules: Vec<RuleSpec>,
    /// Where each rule came from, one per rule.
    pub sources: Vec<RuleSource>,
    /// Whether any object read selects the workload (always, without one): `--per-object`
    /// emits a policy only for these.
    pub applies: bool,
}

impl Read {
    /// An empty policy: no rules, `default`, deny-overrides.
    pub(crate) fn new(default: Action) -> Read {
        Read {
            precedence: Precedence::DenyOverrides,
            default,
            rules: Vec::new(),
            sources: Vec::new(),
            applies: true,
        }
    }
}

/// A Kubernetes-style format: which objects it reads, and how it reads them into one policy.
type KubeCheck = fn(&str, &str) -> Result<(), String>;
type KubeRead = fn(&mut kube::Cx, &[(&str, &[u8])], &[kube::Object], &Options) -> Read;

/// How a format is read.
enum Reader {
    /// Kubernetes objects (YAML, JSON, `kind: List`), checked then read.
    Kube(KubeCheck, KubeRead),
    /// A configuration file that is not Kubernetes objects (its includes among `files`).
    Config(ConfigRead),
}

type ConfigRead = fn(&mut kube::Cx, &[(&str, &[u8])], &Options) -> Read;

/// Each import format's reader; `None` for the hostgate language.
fn reader(format: Format) -> Option<Reader> {
    match format {
        Format::Cilium => Some(Reader::Kube(cilium::check_kind, cilium::import)),
        Format::Gke => Some(Reader::Kube(gke::check_kind, gke::import)),
        Format::Istio => Some(Reader::Kube(istio::check_kind, istio::import)),
        Format::Anp => Some(Reader::Kube(anp::check_kind, anp::import)),
        Format::Calico => Some(Reader::Kube(calico::check_kind, calico::import)),
        Format::Squid => Some(Reader::Config(squid::import)),
        Format::AwsNfw => Some(Reader::Config(aws_nfw::import)),
        Format::Route53 => Some(Reader::Config(route53::import)),
        Format::Nginx => Some(Reader::Config(nginx::import)),
        Format::Haproxy => Some(Reader::Config(haproxy::import)),
        Format::Envoy => Some(Reader::Config(envoy::import)),
        Format::Swp => Some(Reader::Config(swp::import)),
        _ => None,
    }
}

/// Reads `files` (name, bytes) as `format` into one policy named `default` (with
/// [`Options::per_object`], one policy per object instead).
///
/// Errors: every problem found, each at its file, line and column; nothing is imported then.
///
/// ```
/// use hostgate::Format;
/// let bad = b"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  egress:\n  - toFQDNs: [{matchName: 'a b'}]\n";
/// let errs = hostgate_import::import(Format::Cilium, &[("x.yaml", bad.as_slice())], &Default::default()).unwrap_err();
/// assert!(errs[0].to_string().starts_with("x.yaml:6:27: matchName `a b` is not valid"));
/// ```
pub fn import(
    format: Format,
    files: &[(&str, &[u8])],
    options: &Options,
) -> Result<Imported, Vec<ImportDiagnostic>> {
    let mut cx = kube::Cx::default();
    let Some(reader) = reader(format) else {
        return Err(vec![ImportDiagnostic {
            file: files.first().map_or(String::new(), |f| f.0.to_string()),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: format!("format `{format}` is not an import format"),
        }]);
    };
    let mut parts: Vec<(String, Read)> = Vec::new();
    match reader {
        Reader::Kube(check, read) => {
            let objects = kube::objects(&mut cx, files, &check);
            if objects.is_empty() && cx.errors.is_empty() {
                if let Some((file, _)) = files.first() {
                    cx.warnings.push(ImportDiagnostic {
                        file: (*file).to_string(),
                        line: 1,
                        column: 1,
                        severity: Severity::Warning,
                        message: "no policy objects: all egress is allowed".into(),
                    });
                }
            }
            if options.per_object {
                for object in &objects {
                    let one = read(&mut cx, files, std::slice::from_ref(object), options);
                    if one.applies {
                        parts.push((object.label(), one));
                    }
                }
            }
            if parts.is_empty() {
                parts.push(("default".into(), read(&mut cx, files, &objects, options)));
            }
        }
        Reader::Config(read) => {
            let refuse = |message: String| {
                Err(vec![ImportDiagnostic {
                    file: files.first().map_or(String::new(), |f| f.0.to_string()),
                    line: 0,
                    column: 0,
                    severity: Severity::Error,
                    message,
                }])
            };
            if options.per_object {
                return refuse(format!(
                    "--per-object: the {format} input is one policy, not objects"
                ));
            }
            if options.workload.is_some() {
                return refuse(format!(
                    "--workload: the {format} input does not select workloads"
                ));
            }
            parts.push(("default".into(), read(&mut cx, files, options)));
        }
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    let mut policies = Vec::new();
    let mut sources = Vec::new();
    for (name, read) in parts {
        let mut policy = PolicySpec::new(name)
            .precedence(read.precedence)
            .default_action(read.default);
        policy.rules = read.rules;
        policies.push(policy);
        sources.extend(read.sources);
    }
    let mut builder = EngineBuilder::new();
    for p in &policies {
        builder = builder.policy(p.clone());
    }
    let engine = match builder.build() {
        Ok(e) => e,
        Err(_) => return Err(locate_build_errors(&policies, &sources)),
    };
    Ok(Imported {
        format,
        options: options.clone(),
        files: files.iter().map(|(f, _)| (*f).to_string()).collect(),
        policies,
        sources,
        warnings: cx.warnings,
        engine,
    })
}

/// Builds each rule alone to put the builder's errors back at the YAML they came from.
fn locate_build_errors(policies: &[PolicySpec], sources: &[RuleSource]) -> Vec<ImportDiagnostic> {
    let mut out = Vec::new();
    for (rule, src) in policies.iter().flat_map(|p| &p.rules).zip(sources) {
        let one = PolicySpec::new("p").rule(rule.clone());
        if let Err(e) = EngineBuilder::new().policy(one).build() {
            for d in e.errors() {
                let message = d
                    .message
                    .split_once(": ")
                    .map_or(d.message.as_str(), |(_, m)| m);
                out.push(ImportDiagnostic {
                    file: src.file.clone(),
                    line: src.line,
                    column: src.column,
                    severity: Severity::Error,
                    message: format!("`{}`: {message}", rule.pattern),
                });
            }
        }
    }
    if out.is_empty() {
        out.push(ImportDiagnostic {
            file: sources.first().map_or(String::new(), |s| s.file.clone()),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: "the imported rules do not compile together".into(),
        });
    }
    out
}

/// The imported policy as hostgate policy text, each rule after a comment naming its source
/// (`# FILE:LINE KIND/NAMESPACE/NAME`). It compiles to an engine with the same verdicts.
///
/// ```
/// use hostgate::Format;
/// let y = b"apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: a, namespace: n}\nspec:\n  egress:\n  - matches: [{name: api.example.com}]\n    ports: [{protocol: TCP, port: 443}]\n";
/// let i = hostgate_import::import(Format::Gke, &[("f.yaml", y.as_slice())], &Default::default()).unwrap();
/// let text = hostgate_import::render(&i);
/// assert!(text.contains("# f.yaml:6 FQDNNetworkPolicy/n/a\nallow api.example.com port 443 via tls,http,connect id FQDNNetworkPolicy/n/a:0\n"));
/// assert!(hostgate::Engine::compile(&text).is_ok());
/// ```
pub fn render(imported: &Imported) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Imported from {} by hostgate import",
        imported.format
    ));
    if imported.format == Format::Cilium {
        out.push_str(&format!(
            " (Cilium {} meaning)",
            imported.options.cilium_version
        ));
    }
    out.push_str(&format!(": {}\n", imported.files.join(", ")));
    // Workload selection is a Kubernetes notion; a configuration file has nothing to select.
    if matches!(reader(imported.format), Some(Reader::Kube(..))) {
        match &imported.options.workload {
            Some(w) => out.push_str(&format!("# Policies that select workload {w}\n")),
            None => out.push_str("# Every policy given applies (no workload selection)\n"),
        }
    }
    for w in &imported.warnings {
        // A message may quote input text with line breaks: each warning stays one comment.
        let one = w.to_string().replace(['\n', '\r'], " ");
        out.push_str(&format!("# {one}\n"));
    }
    let mut sources = imported.sources.iter();
    for (i, p) in imported.policies.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "policy {}\nprecedence {}\ndefault {}\n",
            p.name,
            p.precedence.as_str(),
            p.default.as_str()
        ));
        for (rule, src) in p.rules.iter().zip(sources.by_ref()) {
            out.push_str(&format!("\n# {}:{} {}\n", src.file, src.line, src.object));
            out.push_str(&format!("{rule}\n"));
        }
    }
    out
}

/// The front ends' one loading entry: [`Format::Hostgate`] through the core's
/// [`PolicySource::compile`], the import formats through [`import`] (default [`Options`]).
///
/// ```
/// use hostgate::{Format, PolicySource, Query, Via};
/// let src = PolicySource::from_bytes("dns.yaml", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: d}\nspec:\n  egress:\n  - toPorts:\n    - ports: [{port: '53', protocol: ANY}]\n      rules: {dns: [{matchPattern: '*.cilium.io'}]}\n")
///     .with_format(Format::Cilium);
/// let loaded = hostgate_import::load(&src).unwrap();
/// let p = loaded.select(None).unwrap();
/// assert!(loaded.engine().check(p, &Query::new("docs.cilium.io").via(Via::Dns)).is_allow());
///
/// let bad = PolicySource::from_bytes("bad.yaml", "a: [").with_format(Format::Cilium);
/// assert!(hostgate_import::load(&bad).unwrap_err().to_string().starts_with("bad.yaml:1:5: invalid YAML"));
/// ```
pub fn load(source: &PolicySource<'_>) -> Result<LoadedPolicy, LoadError> {
    load_with(source, &Options::default())
}

/// [`load`] with options.
///
/// ```
/// use hostgate::{Format, PolicySource};
/// use hostgate_import::{CiliumVersion, Options};
/// let src = PolicySource::from_bytes("p.policy", "allow a.io\n");
/// let o = Options::default().cilium_version(CiliumVersion::new(1, 18));
/// assert!(hostgate_import::load_with(&src, &o).is_ok());
/// ```
pub fn load_with(source: &PolicySource<'_>, options: &Options) -> Result<LoadedPolicy, LoadError> {
    if source.format() == Format::Hostgate {
        return source.compile();
    }
    let origin = source.origin().to_string();
    match import(source.format(), &[(&origin, source.bytes())], options) {
        Ok(imported) => {
            let warnings = imported
                .warnings
                .iter()
                .map(|w| (w.file.clone(), w.to_core()))
                .collect();
            Ok(LoadedPolicy::with_warnings(
                imported.into_engine(),
                origin,
                warnings,
            ))
        }
        Err(errors) => Err(LoadError::positioned(
            origin,
            errors
                .iter()
                .map(|e| (e.file.clone(), e.to_core()))
                .collect(),
        )),
    }
}
