//! Istio egress configuration (`networking.istio.io`): `ServiceEntry`, `Sidecar`,
//! `VirtualService` (TLS routes), the mesh config's `outboundTrafficPolicy` (an
//! `IstioOperator` or the `istio` ConfigMap), combined for one workload as istiod does.
//!
//! The allowed names are the ServiceEntry hosts the workload's sidecar sees: visible through
//! `exportTo` and imported by the Sidecar that applies. `REGISTRY_ONLY` denies everything
//! else, `ALLOW_ANY` (the default) allows it.

use std::collections::{BTreeMap, BTreeSet};

use hostgate::{Action, RuleSpec, Via};

use crate::kube::{checked, finish, Cx, Emitted, Fields, Object};
use crate::yaml::{self, Node, Value};
use crate::{Options, Read};

const NETWORKING: &[&str] = &[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
];

/// A port number 1-65535 (Istio's `ValidatePort`; 0 is not a port here).
fn port_number(text: &str) -> Option<u16> {
    crate::kube::port_number(text).filter(|&n| n != 0)
}

/// The root namespace when the mesh config does not set `rootNamespace`.
const ROOT_NAMESPACE: &str = "istio-system";

pub(crate) fn check_kind(api: &str, kind: &str) -> Result<(), String> {
    match kind {
        "ServiceEntry" | "Sidecar" | "VirtualService" | "DestinationRule" => {
            if NETWORKING.contains(&api) {
                Ok(())
            } else {
                Err(format!(
                    "apiVersion `{api}`: {kind} is read as networking.istio.io/v1, v1beta1 or v1alpha3"
                ))
            }
        }
        "IstioOperator" if api == "install.istio.io/v1alpha1" => Ok(()),
        "IstioOperator" => Err(format!(
            "apiVersion `{api}`: IstioOperator is read as install.istio.io/v1alpha1"
        )),
        "ConfigMap" if api == "v1" => Ok(()),
        "ConfigMap" => Err(format!("apiVersion `{api}`: a ConfigMap is v1")),
        other => Err(format!(
            "kind `{other}` is not read as Istio egress configuration; expected ServiceEntry, \
             Sidecar, VirtualService, DestinationRule, IstioOperator or the ConfigMap `istio`"
        )),
    }
}

/// An outbound traffic policy mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    RegistryOnly,
    AllowAny,
}

/// How a port's traffic is matched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    /// HTTP, HTTP2, GRPC, GRPC-Web, HTTP_PROXY: the Host header.
    Http,
    /// HTTPS, TLS: the SNI.
    Tls,
    /// TCP, Mongo, MySQL, Redis: address and port only.
    Tcp,
    /// UDP: not proxied.
    Udp,
    /// No protocol: sniffed (HTTP by Host, the rest by address).
    Sniffed,
}

/// `exportTo`, its namespaces resolved (`.` is the object's own).
#[derive(Clone, Debug)]
enum Export {
    All,
    Nowhere,
    To(Vec<String>),
}

impl Export {
    fn visible(&self, namespace: &str) -> bool {
        match self {
            Export::All => true,
            Export::Nowhere => false,
            Export::To(list) => list.iter().any(|n| n == namespace),
        }
    }
}

struct SePort {
    number: u16,
    proto: Proto,
    node: Node,
}

struct ServiceEntry {
    object: usize,
    namespace: String,
    hosts: Vec<(String, Node)>,
    addresses: Vec<(String, Node)>,
    ports: Vec<SePort>,
    export: Option<Export>,
}

/// One `egress[].hosts` entry, namespace resolved against the sidecar's namespace later.
#[derive(Clone)]
struct Import {
    /// `*`, `.` or a namespace.
    namespace: String,
    host: String,
    excluded: bool,
}

struct Listener {
    port: Option<u16>,
    imports: Vec<Import>,
}

struct Sidecar {
    object: usize,
    namespace: String,
    /// `workloadSelector.labels`; `None` (or empty labels, which Istio applies to the whole
    /// namespace) for a namespace-wide Sidecar.
    selector: Option<BTreeMap<String, String>>,
    /// `None`: no `egress`, which imports `*/*`.
    listeners: Option<Vec<Listener>>,
    mode: Option<(Mode, Node)>,
    node: Node,
}

struct TlsMatch {
    port: Option<u16>,
    sni: Vec<(String, Node)>,
}

struct VirtualService {
    object: usize,
    node: Node,
    namespace: String,
    hosts: Vec<String>,
    export: Option<Export>,
    tls: Vec<TlsMatch>,
}

#[derive(Default)]
struct Mesh {
    mode: Option<(Mode, Node, usize)>,
    root_namespace: Option<String>,
    service_export: Option<Export>,
    vs_export: Option<Export>,
    /// Whether a mesh config was read (a second one is refused).
    seen: bool,
}

#[derive(Default)]
struct Config {
    entries: Vec<ServiceEntry>,
    sidecars: Vec<Sidecar>,
    services: Vec<VirtualService>,
    mesh: Mesh,
}

/// The format's reader.
pub(crate) fn import(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    options: &Options,
) -> Read {
    let mut config = Config::default();
    for (index, object) in objects.iter().enumerate() {
        cx.file = files[object.file_index].0.to_string();
        let namespace = object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        match object.kind.as_str() {
            "ServiceEntry" => {
                if let Some(se) = read_service_entry(cx, object, index, &namespace) {
                    config.entries.push(se);
                }
            }
            "Sidecar" => {
                if let Some(s) = read_sidecar(cx, object, index, &namespace) {
                    config.sidecars.push(s);
                }
            }
            "VirtualService" => {
                if let Some(v) = read_virtual_service(cx, object, index, &namespace) {
                    config.services.push(v);
                }
            }
            "DestinationRule" => {
                cx.warn(
                    &object.root,
                    format!(
                        "{}: a DestinationRule sets how traffic to a host is sent (TLS, load \
                         balancing), not whether it may go: not read",
                        object.label()
                    ),
                );
            }
            "IstioOperator" => read_operator(cx, object, &mut config.mesh),
            "ConfigMap" => {
                let text = std::str::from_utf8(files[object.file_index].1).unwrap_or("");
                read_config_map(cx, object, text, &mut config.mesh);
            }
            _ => {}
        }
    }
    combine(cx, files, objects, &config, options)
}

// ---------------------------------------------------------------------------------------------
// Hosts, as Istio validates and compares them.

/// A DNS-1123 label as Istio checks it (`pkg/config/labels`): letters of either case.
fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A first label that may carry a wildcard: `*`, `*foo`, `*-foo` or a plain label.
fn wildcard_label(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    if s.len() > 63 {
        return false;
    }
    let rest = s
        .strip_prefix("*-")
        .or_else(|| s.strip_prefix('*'))
        .unwrap_or(s);
    dns_label(rest)
}

/// Go's `strconv.Atoi` success: an optional sign and decimal digits that fit.
fn all_numeric(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && s.parse::<i64>().is_ok()
}

/// The labels after the first: DNS-1123, the last may be empty (a trailing dot), the top
/// level domain not all-numeric.
fn dns_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if all_numeric(tld) {
        return Err(format!("top level domain `{tld}` cannot be all-numeric"));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !dns_label(label) {
            return Err(format!("label `{label}` invalid"));
        }
    }
    Ok(())
}

/// Istio's `ValidateWildcardDomain`: a wildcard only in the first label.
fn wildcard_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain name".into());
    }
    if domain.len() > 255 {
        return Err("too long (max 255)".into());
    }
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    if !wildcard_label(first) {
        return Err(format!("label `{first}` invalid"));
    }
    match rest {
        Some(r) => dns_labels(r),
        None => Ok(()),
    }
}

/// Istio's `ValidateFQDN`: no wildcard at all.
fn fqdn(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain name".into());
    }
    if domain.len() > 255 {
        return Err("too long (max 255)".into());
    }
    dns_labels(domain)
}

fn wildcarded(h: &str) -> bool {
    h.starts_with('*')
}

/// `host.Name.SubsetOf`: `n` is covered by `o` (case-sensitive, as the control plane compares).
fn subset_of(n: &str, o: &str) -> bool {
    match (wildcarded(n), wildcarded(o)) {
        (true, true) => n.len() >= o.len() && n[1..].ends_with(&o[1..]),
        (true, false) => false,
        (false, true) => n.ends_with(&o[1..]),
        (false, false) => n == o,
    }
}

/// `host.Name.Matches`: the two overlap.
fn overlaps(n: &str, o: &str) -> bool {
    match (wildcarded(n), wildcarded(o)) {
        (true, true) => {
            if n.len() < o.len() {
                o[1..].ends_with(&n[1..])
            } else {
                n[1..].ends_with(&o[1..])
            }
        }
        (true, false) => o.ends_with(&n[1..]),
        (false, true) => n.ends_with(&o[1..]),
        (false, false) => n == o,
    }
}

/// A validated host as a hostgate pattern: `a.x` as is, `*.x` (any depth below `x`) as
/// `**.x`, `*` as `*`. Partial wildcards and trailing dots are reported by the caller.
fn pattern_of(host: &str) -> Option<String> {
    if host == "*" {
        return Some("*".into());
    }
    if let Some(rest) = host.strip_prefix("*.") {
        return Some(format!("**.{rest}"));
    }
    if wildcarded(host) {
        return None;
    }
    Some(host.to_string())
}

/// Checks a ServiceEntry or VirtualService host and returns its hostgate pattern; `None`
/// (after an error or a warning) when it gives no rule.
fn host_pattern(cx: &mut Cx, node: &Node, host: &str, what: &str) -> Option<String> {
    if wildcarded(host) && host != "*" && !host.starts_with("*.") {
        cx.err(
            node,
            format!(
                "{what} `{host}`: a partial wildcard; Istio matches it as a character suffix \
                 in the control plane but Envoy never lets `*` match nothing, so its meaning \
                 differs by protocol: refused"
            ),
        );
        return None;
    }
    if host.ends_with('.') {
        cx.warn(
            node,
            format!(
                "{what} `{host}`: with a trailing dot it matches only names sent with the dot \
                 (Istio does not strip it), which hostgate reads as without it: left out"
            ),
        );
        return None;
    }
    let p = pattern_of(host)?;
    checked(cx, node, p)
}

// ---------------------------------------------------------------------------------------------
// Reading the objects.

fn spec<'n>(cx: &mut Cx, object: &'n Object, kind: &str) -> Option<&'n Node> {
    let top = cx.fields(
        &object.root,
        kind,
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let Some(spec) = top.get("spec") else {
        cx.err(&object.root, format!("{} without `spec`", object.label()));
        return None;
    };
    Some(spec)
}

fn strings<'n>(cx: &mut Cx, node: &'n Node, what: &str) -> Vec<(String, &'n Node)> {
    let mut out = Vec::new();
    for item in cx.list(node, what).unwrap_or(&[]) {
        if let Some(s) = cx.str(item, what) {
            out.push((s.to_string(), item));
        }
    }
    out
}

/// `exportTo`, as Istio validates it.
fn read_export(cx: &mut Cx, node: &Node, namespace: &str, service_entry: bool) -> Option<Export> {
    let items = strings(cx, node, "exportTo");
    if items.is_empty() {
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    let (mut all, mut none) = (false, false);
    for (e, n) in &items {
        let key = if e == "." { namespace } else { e.as_str() };
        if !seen.insert(key.to_string()) {
            cx.err(n, format!("duplicate entry `{e}` in exportTo"));
            return None;
        }
        match e.as_str() {
            "*" => all = true,
            "~" if service_entry => none = true,
            "." => list.push(namespace.to_string()),
            _ if dns_label(e) => list.push(e.clone()),
            _ => {
                cx.err(
                    n,
                    format!("exportTo `{e}`: expected `*`, `.`, `~` or a namespace"),
                );
                return None;
            }
        }
    }
    if (all || none) && items.len() > 1 {
        cx.err(
            node,
            "exportTo: `*` or `~` cannot be given with other entries",
        );
        return None;
    }
    Some(if all {
        Export::All
    } else if none {
        Export::Nowhere
    } else {
        Export::To(list)
    })
}

fn read_service_entry(
    cx: &mut Cx,
    object: &Object,
    index: usize,
    namespace: &str,
) -> Option<ServiceEntry> {
    let spec = spec(cx, object, "ServiceEntry")?;
    let f = cx.fields(
        spec,
        "a ServiceEntry spec",
        &[
            "hosts",
            "addresses",
            "ports",
            "location",
            "resolution",
            "endpoints",
            "workloadSelector",
            "exportTo",
            "subjectAltNames",
        ],
    )?;
    let resolution = match f.get("resolution") {
        Some(n) => {
            let r = cx.str(n, "resolution")?;
            if !["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"].contains(&r) {
                cx.err(
                    n,
                    format!(
                        "resolution `{r}`; expected NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS"
                    ),
                );
                return None;
            }
            r
        }
        None => "NONE",
    };
    if let Some(n) = f.get("location") {
        let l = cx.str(n, "location")?;
        if l != "MESH_EXTERNAL" && l != "MESH_INTERNAL" {
            cx.err(
                n,
                format!("location `{l}`; expected MESH_EXTERNAL or MESH_INTERNAL"),
            );
            return None;
        }
    }
    let endpoints = match f.get("endpoints") {
        Some(n) => cx.list(n, "endpoints")?.len(),
        None => 0,
    };
    if endpoints > 0 && resolution == "NONE" {
        cx.err(
            f.key("endpoints").unwrap_or(spec),
            "no endpoints may be given with resolution NONE",
        );
        return None;
    }
    let Some(hosts_node) = f.get("hosts") else {
        cx.err(spec, "a ServiceEntry without `hosts`");
        return None;
    };
    let mut hosts = Vec::new();
    let mut ok = true;
    for (h, n) in strings(cx, hosts_node, "hosts") {
        let valid = if h == "*" {
            Err("`*` is not allowed in a ServiceEntry".to_string())
        } else {
            wildcard_domain(&h)
        };
        if let Err(e) = valid {
            cx.err(n, format!("host `{h}` is not valid: {e}"));
            ok = false;
            continue;
        }
        if matches!(resolution, "DNS" | "DNS_ROUND_ROBIN") && endpoints == 0 {
            if let Err(e) = fqdn(&h) {
                cx.err(
                    n,
                    format!(
                        "host `{h}`: resolution {resolution} without endpoints needs a name \
                         without wildcards ({e})"
                    ),
                );
                ok = false;
                continue;
            }
        }
        if resolution == "DYNAMIC_DNS" && !wildcarded(&h) {
            cx.err(
                n,
                format!("host `{h}`: resolution DYNAMIC_DNS needs wildcard hosts"),
            );
            ok = false;
            continue;
        }
        hosts.push((h, n.clone()));
    }
    if hosts.is_empty() && ok {
        cx.err(hosts_node, "a ServiceEntry needs at least one host");
        return None;
    }
    let mut addresses = Vec::new();
    if let Some(list) = f.get("addresses") {
        for (a, n) in strings(cx, list, "addresses") {
            let Some(cidr) = ip_or_prefix(&a) else {
                cx.err(n, format!("address `{a}` is not an IP address or a CIDR"));
                ok = false;
                continue;
            };
            if a.contains('/') && !matches!(resolution, "NONE" | "STATIC") {
                cx.err(
                    n,
                    format!("CIDR `{a}`: CIDR addresses need resolution NONE or STATIC"),
                );
                ok = false;
                continue;
            }
            if let Some(p) = checked(cx, n, cidr) {
                addresses.push((p, n.clone()));
            }
        }
    }
    let mut ports = Vec::new();
    if let Some(list) = f.get("ports") {
        let (mut names, mut numbers) = (BTreeSet::new(), BTreeSet::new());
        for p in cx.list(list, "ports").unwrap_or(&[]) {
            let Some(pf) = cx.fields(p, "a port", &["number", "protocol", "name", "targetPort"])
            else {
                ok = false;
                continue;
            };
            let Some(port) = read_port(cx, p, pf) else {
                ok = false;
                continue;
            };
            let name = pf.get("name").and_then(|n| cx.str(n, "name")).unwrap_or("");
            if !dns_label(name) {
                cx.err(p, format!("port name `{name}` is not a DNS-1123 label"));
                ok = false;
                continue;
            }
            if !names.insert(name.to_string()) || !numbers.insert(port.number) {
                cx.err(p, format!("port {} or its name given twice", port.number));
                ok = false;
                continue;
            }
            ports.push(port);
        }
    }
    if resolution == "DYNAMIC_DNS" {
        if let Some(p) = ports
            .iter()
            .find(|p| !matches!(p.proto, Proto::Http | Proto::Tls))
        {
            cx.err(
                &p.node,
                "resolution DYNAMIC_DNS supports only HTTP, HTTP2, GRPC and TLS ports",
            );
            ok = false;
        }
    }
    let export = match f.get("exportTo") {
        Some(n) => read_export(cx, n, namespace, true),
        None => None,
    };
    ok.then_some(ServiceEntry {
        object: index,
        namespace: namespace.to_string(),
        hosts,
        addresses,
        ports,
        export,
    })
}

/// `number` and `protocol` of a ServiceEntry port.
fn read_port(cx: &mut Cx, p: &Node, pf: Fields<'_>) -> Option<SePort> {
    let Some(n) = pf.get("number") else {
        cx.err(p, "a port without `number`");
        return None;
    };
    let text = cx.str(n, "number")?;
    let Some(number) = port_number(text) else {
        cx.err(n, format!("port `{text}` is not a number in 1-65535"));
        return None;
    };
    if let Some(t) = pf.get("targetPort") {
        let tt = cx.str(t, "targetPort")?;
        if port_number(tt).is_none() {
            cx.err(t, format!("targetPort `{tt}` is not a number in 1-65535"));
            return None;
        }
    }
    let proto = match pf.get("protocol") {
        None => Proto::Sniffed,
        Some(pn) => {
            let s = cx.str(pn, "protocol")?;
            // Istio parses protocols ignoring case.
            match s.to_ascii_lowercase().as_str() {
                "http" | "http2" | "grpc" | "grpc-web" | "http_proxy" => Proto::Http,
                "https" | "tls" => Proto::Tls,
                "tcp" | "mongo" | "mysql" | "redis" => Proto::Tcp,
                "udp" => Proto::Udp,
                "" => Proto::Sniffed,
                _ => {
                    cx.err(
                        pn,
                        format!(
                            "protocol `{s}`; expected HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, TLS, \
                             TCP, UDP, Mongo, MySQL or Redis"
                        ),
                    );
                    return None;
                }
            }
        }
    };
    Some(SePort {
        number,
        proto,
        node: p.clone(),
    })
}

/// An address or CIDR as Istio accepts it, written as hostgate reads it: a prefix with host
/// bits set (`192.192.192.192/24`, which Istio accepts) is the prefix it denotes.
fn ip_or_prefix(s: &str) -> Option<String> {
    use std::net::IpAddr;
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip = addr.parse::<IpAddr>().ok()?;
    let Some(b) = bits else {
        return Some(ip.to_string());
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if b.is_empty() || b.len() > 3 || !b.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u32 = b.parse().ok().filter(|n| *n <= max)?;
    let masked = match ip {
        IpAddr::V4(v) => {
            let m = u32::MAX.checked_shl(32 - n).unwrap_or(0);
            IpAddr::from((u32::from(v) & m).to_be_bytes())
        }
        IpAddr::V6(v) => {
            let m = u128::MAX.checked_shl(128 - n).unwrap_or(0);
            IpAddr::from((u128::from(v) & m).to_be_bytes())
        }
    };
    Some(format!("{masked}/{n}"))
}

/// `outboundTrafficPolicy.mode`.
fn read_mode(cx: &mut Cx, node: &Node, mesh: bool) -> Option<(Mode, Node)> {
    let known: &[&str] = if mesh {
        &["mode"]
    } else {
        &["mode", "egressProxy"]
    };
    let f = cx.fields(node, "outboundTrafficPolicy", known)?;
    let mode = match f.get("mode") {
        None => Mode::AllowAny,
        Some(m) => match cx.str(m, "mode")? {
            "REGISTRY_ONLY" => Mode::RegistryOnly,
            "ALLOW_ANY" => Mode::AllowAny,
            "ALLOW_ANY_DYNAMIC_DNS" if mesh => {
                cx.warn(
                    m,
                    "ALLOW_ANY_DYNAMIC_DNS: unknown names are allowed as with ALLOW_ANY; how \
                     they are resolved is not reproduced",
                );
                Mode::AllowAny
            }
            other => {
                let expected = if mesh {
                    "REGISTRY_ONLY, ALLOW_ANY or ALLOW_ANY_DYNAMIC_DNS"
                } else {
                    "REGISTRY_ONLY or ALLOW_ANY (ALLOW_ANY_DYNAMIC_DNS is for the mesh config only)"
                };
                cx.err(m, format!("mode `{other}`; expected {expected}"));
                return None;
            }
        },
    };
    if let Some(p) = f.get("egressProxy") {
        if mode != Mode::AllowAny {
            cx.err(p, "egressProxy is allowed only with mode ALLOW_ANY");
            return None;
        }
        cx.warn(
            p,
            "egressProxy: unknown destinations are sent to this proxy, which decides on its \
             own; they are allowed here",
        );
    }
    let at = f.get("mode").unwrap_or(node).clone();
    Some((mode, at))
}

fn read_sidecar(cx: &mut Cx, object: &Object, index: usize, namespace: &str) -> Option<Sidecar> {
    let spec = spec(cx, object, "Sidecar")?;
    let f = cx.fields(
        spec,
        "a Sidecar spec",
        &[
            "workloadSelector",
            "ingress",
            "egress",
            "outboundTrafficPolicy",
            "inboundConnectionPool",
        ],
    )?;
    if [
        "egress",
        "ingress",
        "outboundTrafficPolicy",
        "inboundConnectionPool",
    ]
    .iter()
    .all(|k| f.get(k).is_none())
    {
        cx.err(spec, "a Sidecar with empty configuration");
        return None;
    }
    let mut selector = None;
    if let Some(ws) = f.get("workloadSelector") {
        let wf = cx.fields(ws, "workloadSelector", &["labels"])?;
        let mut labels = BTreeMap::new();
        if let Some(l) = wf.get("labels") {
            let Value::Map(entries) = &l.value else {
                cx.err(l, "labels must be a mapping");
                return None;
            };
            for (k, v) in entries {
                let key = cx.str(k, "a label key")?;
                let value = if v.is_null() {
                    ""
                } else {
                    cx.str(v, "a label value")?
                };
                if key.is_empty() || key.contains('*') || value.contains('*') {
                    cx.err(k, format!("selector label `{key}={value}` is not valid"));
                    return None;
                }
                labels.insert(key.to_string(), value.to_string());
            }
        }
        if labels.is_empty() {
            cx.warn(
                ws,
                "workloadSelector without labels: Istio applies this Sidecar to the whole \
                 namespace",
            );
        } else {
            selector = Some(labels);
        }
    }
    let mut listeners = None;
    if let Some(egress) = f.get("egress") {
        let items = cx.list(egress, "egress")?;
        let mut out = Vec::new();
        let mut ports = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let l = read_listener(cx, item)?;
            match l.port {
                None if i + 1 != items.len() => {
                    cx.err(
                        item,
                        "the egress listener without a port must be the last and only one",
                    );
                    return None;
                }
                Some(p) if !ports.insert(p) => {
                    cx.err(item, format!("two egress listeners on port {p}"));
                    return None;
                }
                _ => {}
            }
            out.push(l);
        }
        if !out.is_empty() {
            listeners = Some(out);
        }
    }
    let mode = match f.get("outboundTrafficPolicy") {
        Some(n) => Some(read_mode(cx, n, false)?),
        None => None,
    };
    Some(Sidecar {
        object: index,
        namespace: namespace.to_string(),
        selector,
        listeners,
        mode,
        node: object.root.clone(),
    })
}

fn read_listener(cx: &mut Cx, item: &Node) -> Option<Listener> {
    let f = cx.fields(
        item,
        "an egress listener",
        &["port", "bind", "captureMode", "hosts"],
    )?;
    let mut port = None;
    if let Some(p) = f.get("port") {
        let pf = cx.fields(
            p,
            "an egress port",
            &["number", "protocol", "name", "targetPort"],
        )?;
        let Some(n) = pf.get("number") else {
            cx.err(
                p,
                "an egress port without `number` (a Unix socket listener): not read",
            );
            return None;
        };
        let text = cx.str(n, "number")?;
        let Some(number) = port_number(text) else {
            cx.err(n, format!("port `{text}` is not a number in 1-65535"));
            return None;
        };
        if pf.get("protocol").is_some() {
            cx.warn(
                p,
                "the listener's protocol is not reproduced: each service port keeps its own",
            );
        }
        port = Some(number);
    }
    for key in ["bind", "captureMode"] {
        if let Some(k) = f.key(key).filter(|_| f.get(key).is_some()) {
            cx.warn(
                k,
                format!("`{key}` decides which traffic reaches this listener: not reproduced"),
            );
        }
    }
    let Some(hosts) = f.get("hosts") else {
        cx.err(item, "an egress listener needs at least one host");
        return None;
    };
    let mut imports = Vec::new();
    for (h, n) in strings(cx, hosts, "hosts") {
        imports.push(read_import(cx, n, &h)?);
    }
    if imports.is_empty() {
        cx.err(hosts, "an egress listener needs at least one host");
        return None;
    }
    Some(Listener { port, imports })
}

/// `NAMESPACE/HOST`, as `ValidateNamespaceSlashWildcardHostname` checks a Sidecar host.
fn read_import(cx: &mut Cx, node: &Node, text: &str) -> Option<Import> {
    let Some((ns, host)) = text.split_once('/') else {
        cx.err(node, format!("host `{text}` must be NAMESPACE/HOST"));
        return None;
    };
    if ns.is_empty() || host.is_empty() {
        cx.err(
            node,
            format!("host `{text}`: namespace and host cannot be empty"),
        );
        return None;
    }
    let excluded = ns.starts_with('~');
    let bare = ns.strip_prefix('~').unwrap_or(ns);
    if !(bare.is_empty() || bare == "*" || bare == "." || dns_label(bare)) {
        cx.err(
            node,
            format!("host `{text}`: namespace `{ns}` is not `*`, `.`, `~` or a namespace"),
        );
        return None;
    }
    if host != "*" && !host.contains('.') {
        cx.err(
            node,
            format!("host `{text}`: short names (without a dot) are not allowed"),
        );
        return None;
    }
    if let Err(e) = wildcard_domain(host) {
        cx.err(node, format!("host `{text}` is not valid: {e}"));
        return None;
    }
    if host.contains('*') && host != "*" && !host.starts_with("*.") {
        cx.err(
            node,
            format!("host `{text}`: partial wildcards are not allowed in a Sidecar"),
        );
        return None;
    }
    // `~/host` excludes the host from every namespace.
    let namespace = if bare.is_empty() { "*" } else { bare };
    Some(Import {
        namespace: namespace.to_string(),
        host: host.to_string(),
        excluded,
    })
}

fn read_virtual_service(
    cx: &mut Cx,
    object: &Object,
    index: usize,
    namespace: &str,
) -> Option<VirtualService> {
    let spec = spec(cx, object, "VirtualService")?;
    let f = cx.fields(
        spec,
        "a VirtualService spec",
        &["hosts", "gateways", "http", "tls", "tcp", "exportTo"],
    )?;
    let mut mesh = true;
    if let Some(g) = f.get("gateways") {
        let gateways = strings(cx, g, "gateways");
        if !gateways.is_empty() {
            mesh = gateways.iter().any(|(g, _)| g == "mesh");
        }
    }
    let mut hosts = Vec::new();
    if let Some(h) = f.get("hosts") {
        for (host, n) in strings(cx, h, "hosts") {
            if host != "*" {
                if let Err(e) = wildcard_domain(&host) {
                    cx.err(n, format!("host `{host}` is not valid: {e}"));
                    return None;
                }
            }
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        cx.err(spec, "a VirtualService needs at least one host");
        return None;
    }
    for key in ["http", "tcp"] {
        if let (Some(_), Some(k)) = (f.get(key), f.key(key)) {
            cx.warn(
                k,
                format!(
                    "`{key}` routes are not reproduced: they choose where traffic goes; a host \
                     they make reachable without a ServiceEntry is not allowed here"
                ),
            );
        }
    }
    let mut tls = Vec::new();
    if let Some(routes) = f.get("tls") {
        for r in cx.list(routes, "tls")? {
            let rf = cx.fields(r, "a TLS route", &["match", "route"])?;
            let Some(matches) = rf.get("match") else {
                cx.err(r, "a TLS route without `match`");
                return None;
            };
            for m in cx.list(matches, "match")? {
                let mf = cx.fields(
                    m,
                    "a TLS match",
                    &[
                        "sniHosts",
                        "port",
                        "destinationSubnets",
                        "gateways",
                        "sourceLabels",
                        "sourceNamespace",
                    ],
                )?;
                tls.push(read_tls_match(cx, m, mf, &hosts)?);
            }
        }
    }
    let export = match f.get("exportTo") {
        Some(n) => read_export(cx, n, namespace, false),
        None => None,
    };
    if !mesh {
        if let Some(k) = f.key("gateways") {
            cx.warn(
                k,
                "bound to gateways, not to sidecars (`mesh`): not applied to the workload",
            );
        }
        return None;
    }
    Some(VirtualService {
        object: index,
        node: object.root.clone(),
        namespace: namespace.to_string(),
        hosts,
        export,
        tls,
    })
}

fn read_tls_match(cx: &mut Cx, m: &Node, mf: Fields<'_>, hosts: &[String]) -> Option<TlsMatch> {
    let Some(sni) = mf.get("sniHosts") else {
        cx.err(m, "a TLS match without `sniHosts`");
        return None;
    };
    let mut out = Vec::new();
    for (h, n) in strings(cx, sni, "sniHosts") {
        if h != "*" {
            if let Err(e) = wildcard_domain(&h) {
                cx.err(n, format!("sniHost `{h}` is not valid: {e}"));
                return None;
            }
        }
        if !hosts.iter().any(|v| subset_of(&h, v)) {
            cx.err(
                n,
                format!("sniHost `{h}` is not one of the VirtualService's hosts"),
            );
            return None;
        }
        if let Some(p) = host_pattern(cx, n, &h, "sniHost") {
            out.push((p, n.clone()));
        }
    }
    let mut port = None;
    if let Some(p) = mf.get("port") {
        let t = cx.str(p, "port")?;
        let Some(n) = port_number(t) else {
            cx.err(p, format!("port `{t}` is not a number in 1-65535"));
            return None;
        };
        port = Some(n);
    }
    for key in [
        "destinationSubnets",
        "gateways",
        "sourceLabels",
        "sourceNamespace",
    ] {
        if let Some(k) = mf.key(key).filter(|_| mf.get(key).is_some()) {
            cx.warn(
                k,
                format!("`{key}` narrows this match further: not reproduced"),
            );
        }
    }
    Some(TlsMatch { port, sni: out })
}

// ---------------------------------------------------------------------------------------------
// The mesh config.

/// The MeshConfig fields read; the others are listed in one warning.
const MESH_READ: &[&str] = &[
    "outboundTrafficPolicy",
    "rootNamespace",
    "defaultServiceExportTo",
    "defaultVirtualServiceExportTo",
];

fn read_mesh(cx: &mut Cx, node: &Node, file_index: usize, mesh: &mut Mesh, at: &Node) {
    if mesh.seen {
        cx.err(
            at,
            "a second mesh config: give one IstioOperator or ConfigMap `istio`",
        );
        return;
    }
    mesh.seen = true;
    let Value::Map(entries) = &node.value else {
        if !node.is_null() {
            cx.err(
                node,
                format!("the mesh config must be a mapping, not {}", node.kind()),
            );
        }
        return;
    };
    let mut others = Vec::new();
    let mut first_other = None;
    for (k, v) in entries {
        let key = yaml::scalar(k).unwrap_or("");
        if v.is_null() {
            continue;
        }
        match key {
            "outboundTrafficPolicy" => {
                if let Some((m, n)) = read_mode(cx, v, true) {
                    mesh.mode = Some((m, n, file_index));
                }
            }
            "rootNamespace" => {
                if let Some(s) = cx.str(v, "rootNamespace") {
                    if dns_label(s) {
                        mesh.root_namespace = Some(s.to_string());
                    } else {
                        cx.err(v, format!("rootNamespace `{s}` is not a namespace name"));
                    }
                }
            }
            "defaultServiceExportTo" | "defaultVirtualServiceExportTo" => {
                // `.` here is each object's own namespace: resolved when it is used.
                let export = read_export(cx, v, ".", key == "defaultServiceExportTo");
                if key == "defaultServiceExportTo" {
                    mesh.service_export = export;
                } else {
                    mesh.vs_export = export;
                }
            }
            _ => {
                first_other.get_or_insert(k);
                others.push(key.to_string());
            }
        }
    }
    if let Some(k) = first_other {
        cx.warn(
            k,
            format!(
                "mesh config fields not read (only {} are): {}",
                MESH_READ.join(", "),
                others.join(", ")
            ),
        );
    }
}

fn read_operator(cx: &mut Cx, object: &Object, mesh: &mut Mesh) {
    let Some(spec) = spec(cx, object, "IstioOperator") else {
        return;
    };
    let Value::Map(entries) = &spec.value else {
        cx.err(spec, "spec must be a mapping");
        return;
    };
    let mut others = Vec::new();
    let mut first_other = None;
    let mut found = false;
    for (k, v) in entries {
        match yaml::scalar(k).unwrap_or("") {
            "meshConfig" => {
                found = true;
                read_mesh(cx, v, object.file_index, mesh, k);
            }
            other => {
                first_other.get_or_insert(k);
                others.push(other.to_string());
            }
        }
    }
    if let Some(k) = first_other {
        cx.warn(
            k,
            format!(
                "IstioOperator fields not read (only meshConfig is): {}",
                others.join(", ")
            ),
        );
    }
    if !found {
        cx.warn(
            spec,
            "an IstioOperator without meshConfig: Istio's defaults apply",
        );
    }
}

fn read_config_map(cx: &mut Cx, object: &Object, text: &str, mesh: &mut Mesh) {
    if object.name != "istio" && !object.name.starts_with("istio-") {
        cx.err(
            &object.root,
            format!(
                "ConfigMap `{}`: only Istio's mesh config, the ConfigMap `istio` (or \
                 `istio-REVISION`) with `data.mesh`, is read",
                object.name
            ),
        );
        return;
    }
    let Some(top) = cx.fields(
        &object.root,
        "a ConfigMap",
        &["apiVersion", "kind", "metadata", "data"],
    ) else {
        return;
    };
    let Some(data) = top.get("data") else {
        cx.err(&object.root, "the ConfigMap `istio` without `data`");
        return;
    };
    let Some(df) = cx.fields(data, "data", &["mesh", "meshNetworks"]) else {
        return;
    };
    if let Some(k) = df
        .key("meshNetworks")
        .filter(|_| df.get("meshNetworks").is_some())
    {
        cx.warn(k, "meshNetworks (multi-network endpoints) is not read");
    }
    let Some(m) = df.get("mesh") else {
        cx.err(data, "the ConfigMap `istio` without `data.mesh`");
        return;
    };
    let Some(inner) = cx.str(m, "data.mesh") else {
        return;
    };
    let (dl, dc) = block_offset(text, m);
    let docs = match yaml::parse(inner) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = if dl == 0 {
                (m.line, m.column)
            } else {
                (e.line.max(1) + dl, e.column.max(1) + dc)
            };
            cx.err_at(line, column, format!("in data.mesh: {}", e.message));
            return;
        }
    };
    let mut node = docs.into_iter().next().unwrap_or(Node {
        line: 1,
        column: 1,
        value: Value::Map(Vec::new()),
    });
    if dl == 0 {
        pin(&mut node, m.line, m.column);
    } else {
        shift(&mut node, dl, dc);
    }
    read_mesh(cx, &node, object.file_index, mesh, m);
}

/// For a literal block scalar (`mesh: |`), the line and column to add to positions inside
/// its text to get positions in the file; `(0, 0)` when they cannot be mapped (a quoted or
/// folded scalar), and then positions are the scalar's own.
fn block_offset(text: &str, node: &Node) -> (u32, u32) {
    // The node starts at its first content character; its header (`|`, `|-`, `|2`…) is the
    // last word before it.
    let mut offset = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == node.line as usize {
            let col: usize = l
                .chars()
                .take(node.column.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            offset += col;
            break;
        }
        offset += l.len() + 1;
    }
    let before = text.get(..offset.min(text.len())).unwrap_or("").trim_end();
    let header = before.rsplit(char::is_whitespace).next().unwrap_or("");
    if !header.starts_with('|') {
        return (0, 0);
    }
    (node.line.saturating_sub(1), node.column.saturating_sub(1))
}

fn shift(node: &mut Node, dl: u32, dc: u32) {
    node.line = node.line.saturating_add(dl);
    node.column = node.column.saturating_add(dc);
    match &mut node.value {
        Value::Scalar { .. } => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| shift(n, dl, dc)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            shift(k, dl, dc);
            shift(v, dl, dc);
        }),
    }
}

fn pin(node: &mut Node, line: u32, column: u32) {
    node.line = line;
    node.column = column;
    match &mut node.value {
        Value::Scalar { .. } => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| pin(n, line, column)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            pin(k, line, column);
            pin(v, line, column);
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Combining, for one workload.

/// Whether a list of imports (one listener's) imports `host` of a service in `namespace`,
/// `.` meaning `config_ns` (istiod's `selectServices`: an entry for the service's namespace
/// first, then `*/`; `~` entries exclude).
fn imports(list: &[Import], config_ns: &str, namespace: &str, host: &str) -> bool {
    let resolve = |i: &Import| -> String {
        if i.namespace == "." {
            config_ns.to_string()
        } else {
            i.namespace.clone()
        }
    };
    let in_scope = |scope: &str, excluded: bool| {
        list.iter()
            .filter(|i| i.excluded == excluded && resolve(i) == scope)
            .map(|i| i.host.as_str())
            .collect::<Vec<_>>()
    };
    let hit = |hosts: &[&str]| hosts.iter().any(|i| subset_of(host, i));
    let excluded = in_scope(namespace, true)
        .iter()
        .chain(in_scope("*", true).iter())
        .any(|e| subset_of(host, e));
    !excluded && (hit(&in_scope(namespace, false)) || hit(&in_scope("*", false)))
}

/// Whether a listener imports a VirtualService (istiod's `SelectVirtualServices`, overlap
/// semantics).
fn imports_vs(list: &[Import], config_ns: &str, vs: &VirtualService) -> bool {
    list.iter().filter(|i| !i.excluded).any(|i| {
        let ns = if i.namespace == "." {
            config_ns
        } else {
            i.namespace.as_str()
        };
        (ns == "*" || ns == vs.namespace) && vs.hosts.iter().any(|h| overlaps(h, &i.host))
    })
}

fn export_visible(export: Option<&Export>, default: Option<&Export>, own: &str, ws: &str) -> bool {
    match export.or(default) {
        None => true,
        Some(Export::To(list)) => list.iter().any(|n| n == ws || (n == "." && own == ws)),
        Some(e) => e.visible(ws),
    }
}

/// The Sidecar that applies to the workload, and the namespace `.` means for its imports.
fn applied_sidecar<'c>(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    config: &'c Config,
    options: &Options,
) -> Option<(&'c Sidecar, String)> {
    let Some(w) = &options.workload else {
        let mut it = config.sidecars.iter();
        let first = it.next()?;
        if let Some(second) = it.next() {
            cx.file = files[objects[second.object].file_index].0.to_string();
            cx.err(
                &second.node,
                "several Sidecars: which one applies depends on the workload; give --workload \
                 NAMESPACE/LABELS (or --per-object)",
            );
        }
        return Some((first, first.namespace.clone()));
    };
    let root = config
        .mesh
        .root_namespace
        .as_deref()
        .unwrap_or(ROOT_NAMESPACE);
    let pick = |cx: &mut Cx, found: Vec<&'c Sidecar>, what: &str| -> Option<&'c Sidecar> {
        let first = *found.first()?;
        if found.len() > 1 {
            let s = found[1];
            cx.file = files[objects[s.object].file_index].0.to_string();
            cx.warn(
                &s.node,
                format!(
                    "several {what} Sidecars apply: Istio uses the oldest, taken here to be the \
                     first given ({})",
                    objects[first.object].label()
                ),
            );
        }
        Some(first)
    };
    let in_ns = |ns: &str| -> Vec<&'c Sidecar> {
        config
            .sidecars
            .iter()
            .filter(|s| s.namespace == ns)
            .collect()
    };
    let selecting: Vec<&Sidecar> = in_ns(&w.namespace)
        .into_iter()
        .filter(|s| {
            s.selector
                .as_ref()
                .is_some_and(|sel| sel.iter().all(|(k, v)| w.labels.get(k) == Some(v)))
        })
        .collect();
    if let Some(s) = pick(cx, selecting, "workload-selecting") {
        return Some((s, w.namespace.clone()));
    }
    let namespace_wide: Vec<&Sidecar> = in_ns(&w.namespace)
        .into_iter()
        .filter(|s| s.selector.is_none())
        .collect();
    if let Some(s) = pick(cx, namespace_wide, "namespace") {
        return Some((s, w.namespace.clone()));
    }
    let root_wide: Vec<&Sidecar> = in_ns(root)
        .into_iter()
        .filter(|s| s.selector.is_none())
        .collect();
    pick(cx, root_wide, "root namespace").map(|s| (s, w.namespace.clone()))
}

fn rule(pattern: &str, ports: &[u16], via: &[Via]) -> RuleSpec {
    let mut r = RuleSpec::new(Action::Allow, pattern.to_string());
    r.ports = ports.iter().map(|&p| (p, p)).collect();
    r.via = via.to_vec();
    r
}

fn combine(
    cx: &mut Cx,
    files: &[(&str, &[u8])],
    objects: &[Object],
    config: &Config,
    options: &Options,
) -> Read {
    let workload_ns = options.workload.as_ref().map(|w| w.namespace.as_str());
    let (sidecar, config_ns) = match applied_sidecar(cx, files, objects, config, options) {
        Some((s, ns)) => (Some(s), Some(ns)),
        None => (None, None),
    };
    let everything = [Import {
        namespace: "*".into(),
        host: "*".into(),
        excluded: false,
    }];
    let listeners: Vec<(Option<u16>, &[Import])> = match sidecar.and_then(|s| s.listeners.as_ref())
    {
        Some(ls) => ls.iter().map(|l| (l.port, l.imports.as_slice())).collect(),
        None => vec![(None, &everything[..])],
    };
    let cns = config_ns.as_deref().or(workload_ns).unwrap_or("default");
    // The listener that serves a port: the one bound to it, else the catch-all.
    let listener_for = |port: u16| -> Option<&[Import]> {
        listeners
            .iter()
            .find(|(p, _)| *p == Some(port))
            .or_else(|| listeners.iter().find(|(p, _)| p.is_none()))
            .map(|(_, l)| *l)
    };
    let visible_se = |se: &ServiceEntry| match workload_ns {
        None => true,
        Some(ws) => export_visible(
            se.export.as_ref(),
            config.mesh.service_export.as_ref(),
            &se.namespace,
            ws,
        ),
    };

    // Which ServiceEntry hosts are imported on which ports.
    struct Hit {
        se: usize,
        host: usize,
        port: usize,
    }
    let mut hits = Vec::new();
    for (si, se) in config.entries.iter().enumerate() {
        if !visible_se(se) {
            continue;
        }
        for (hi, (h, _)) in se.hosts.iter().enumerate() {
            for (pi, p) in se.ports.iter().enumerate() {
                if listener_for(p.number).is_some_and(|l| imports(l, cns, &se.namespace, h)) {
                    hits.push(Hit {
                        se: si,
                        host: hi,
                        port: pi,
                    });
                }
            }
        }
    }
    // A host imported from several namespaces: Istio keeps one, the workload's own namespace
    // first.
    if let Some(ws) = workload_ns {
        let mut chosen: BTreeMap<&str, &str> = BTreeMap::new();
        for h in &hits {
            let se = &config.entries[h.se];
            let host = se.hosts[h.host].0.as_str();
            let e = chosen.entry(host).or_insert(se.namespace.as_str());
            if se.namespace == ws {
                *e = ws;
            }
        }
        let mut warned = BTreeSet::new();
        hits.retain(|h| {
            let se = &config.entries[h.se];
            let (host, node) = &se.hosts[h.host];
            let keep = chosen.get(host.as_str()) == Some(&se.namespace.as_str());
            if !keep && warned.insert((h.se, h.host)) {
                cx.file = files[objects[se.object].file_index].0.to_string();
                cx.warn(
                    node,
                    format!(
                        "host `{host}` is also imported from namespace {}: Istio uses one \
                         namespace's entry, this one is left out",
                        chosen[host.as_str()]
                    ),
                );
            }
            keep
        });
    }

    let mut emitted: Vec<Vec<Emitted>> = (0..objects.len()).map(|_| Vec::new()).collect();
    let mut warned_ports = BTreeSet::new();
    for (si, se) in config.entries.iter().enumerate() {
        let mine: Vec<&Hit> = hits.iter().filter(|h| h.se == si).collect();
        if mine.is_empty() {
            continue;
        }
        cx.file = files[objects[se.object].file_index].0.to_string();
        for (hi, (h, node)) in se.hosts.iter().enumerate() {
            let ports: Vec<&SePort> = mine
                .iter()
                .filter(|x| x.host == hi)
                .map(|x| &se.ports[x.port])
                .collect();
            if ports.is_empty() {
                continue;
            }
            let Some(pattern) = host_pattern(cx, node, h, "host") else {
                continue;
            };
            let of = |want: &[Proto]| -> Vec<u16> {
                ports
                    .iter()
                    .filter(|p| want.contains(&p.proto))
                    .map(|p| p.number)
                    .collect()
            };
            let http = of(&[Proto::Http, Proto::Sniffed]);
            let tls = of(&[Proto::Tls]);
            if !http.is_empty() {
                emitted[se.object].push(Emitted {
                    rule: rule(&pattern, &http, &[Via::Http]),
                    node: node.clone(),
                });
            }
            if !tls.is_empty() {
                emitted[se.object].push(Emitted {
                    rule: rule(&pattern, &tls, &[Via::Tls]),
                    node: node.clone(),
                });
            }
        }
        // Facts about ports, said once per port.
        for x in &mine {
            let p = &se.ports[x.port];
            if !warned_ports.insert((si, x.port)) {
                continue;
            }
            let message = match p.proto {
                Proto::Tcp if se.addresses.is_empty() => format!(
                    "port {} carries TCP: Istio matches it by destination address and port, \
                     never by name, and without `addresses` by port alone: not reproduced",
                    p.number
                ),
                Proto::Tcp => format!(
                    "port {} carries TCP: Istio matches it by destination address and port, \
                     never by name: only the addresses are allowed on it",
                    p.number
                ),
                Proto::Udp => format!(
                    "port {}: UDP is not proxied by Istio's sidecar: not reproduced",
                    p.number
                ),
                Proto::Sniffed => format!(
                    "port {} has no protocol: Istio sniffs it; HTTP (by Host) is reproduced, \
                     other traffic on it is matched by address and is not",
                    p.number
                ),
                _ => continue,
            };
            cx.warn(&p.node, message);
        }
        let tcp: Vec<u16> = mine
            .iter()
            .map(|x| &se.ports[x.port])
            .filter(|p| p.proto == Proto::Tcp)
            .map(|p| p.number)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !tcp.is_empty() {
            for (a, node) in &se.addresses {
                emitted[se.object].push(Emitted {
                    rule: rule(a, &tcp, &[Via::Tls, Via::Http, Via::Connect]),
                    node: node.clone(),
                });
            }
        }
    }

    // VirtualService TLS routes: their sniHosts become filter chains on the TLS ports of the
    // imported services the VirtualService is for.
    let mut done = BTreeSet::new();
    for (vi, vs) in config.services.iter().enumerate() {
        let object = vs.object;
        cx.file = files[objects[object].file_index].0.to_string();
        if let Some(ws) = workload_ns {
            if !export_visible(
                vs.export.as_ref(),
                config.mesh.vs_export.as_ref(),
                &vs.namespace,
                ws,
            ) {
                continue;
            }
        }
        let restricted = sidecar.is_some_and(|s| s.listeners.is_some());
        if restricted && listeners.iter().any(|(_, l)| imports_vs(l, cns, vs)) {
            cx.warn(
                &vs.node,
                "the Sidecar imports this VirtualService: Istio then also imports the services \
                 its routes send to, even those the Sidecar's hosts leave out; not reproduced",
            );
        }
        for h in &hits {
            let se = &config.entries[h.se];
            let port = &se.ports[h.port];
            if port.proto != Proto::Tls {
                continue;
            }
            let host = &se.hosts[h.host].0;
            if !vs.hosts.iter().any(|v| overlaps(v, host)) {
                continue;
            }
            if !listener_for(port.number).is_some_and(|l| imports_vs(l, cns, vs)) {
                continue;
            }
            for (mi, m) in vs.tls.iter().enumerate() {
                if m.port.is_some_and(|p| p != port.number) {
                    continue;
                }
                for (ni, (p, node)) in m.sni.iter().enumerate() {
                    if done.insert((vi, mi, ni, port.number)) {
                        emitted[object].push(Emitted {
                            rule: rule(p, &[port.number], &[Via::Tls]),
                            node: node.clone(),
                        });
                    }
                }
            }
        }
    }

    // The mode: the Sidecar's, else the mesh config's, else ALLOW_ANY.
    let mode = match sidecar.and_then(|s| s.mode.as_ref().map(|m| (s, m))) {
        Some((s, (m, n))) => Some((*m, n.clone(), objects[s.object].file_index)),
        None => config.mesh.mode.clone(),
    };
    let default = match &mode {
        Some((Mode::RegistryOnly, node, file)) => {
            cx.file = files[*file].0.to_string();
            cx.warn(
                node,
                "REGISTRY_ONLY: Istio's docs say it is not a security boundary (traffic that \
                 bypasses the sidecar is not controlled); Kubernetes Services are in Istio's \
                 registry but not in these files, and are denied here; Istio does not filter \
                 DNS questions by name, here they (via dns) are denied by the default",
            );
            Action::Deny
        }
        _ => Action::Allow,
    };

    let mut out = Read::new(default);
    for (i, e) in emitted.into_iter().enumerate() {
        let file = files[objects[i].file_index].0;
        finish(&objects[i], file, e, &mut out.rules, &mut out.sources);
    }
    out.applies = options.workload.is_none()
        || !out.rules.is_empty()
        || sidecar.is_some()
        || config.mesh.seen;
    out
}
