//! The Istio importer: the example files, a case table from Istio's documentation and tests,
//! a property test against a matcher written from Istio's documented host rule, and bad input.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, ImportDiagnostic, Imported, Options};
use proptest::prelude::*;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/istio/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn options(workload: Option<&str>) -> Options {
    match workload {
        Some(w) => Options::default().workload(w.parse().unwrap()),
        None => Options::default(),
    }
}

fn imp(yaml: &str, workload: Option<&str>) -> Imported {
    import(
        Format::Istio,
        &[("t.yaml", yaml.as_bytes())],
        &options(workload),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn errors(yaml: &str) -> Vec<ImportDiagnostic> {
    match import(
        Format::Istio,
        &[("t.yaml", yaml.as_bytes())],
        &Options::default(),
    ) {
        Ok(_) => panic!("imported: {yaml}"),
        Err(e) => e,
    }
}

fn verdict(i: &Imported, name: &str, port: u16, via: Via) -> &'static str {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    match e.check(p, &Query::new(name).port(port).via(via)).action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

const REGISTRY_ONLY: &str = "\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    outboundTrafficPolicy: {mode: REGISTRY_ONLY}
";

fn with_registry_only(yaml: &str) -> String {
    format!("{REGISTRY_ONLY}---\n{yaml}")
}

// ---------------------------------------------------------------------------------------------
// The examples.

#[test]
fn every_example_imports_and_renders_to_an_equivalent_policy() {
    let dir = format!("{}/tests/data/istio", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        n += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let i = import(Format::Istio, &[(&name, &bytes)], &Options::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!i.policies()[0].rules.is_empty(), "{name}: no rules");
        // Istio's default mode is ALLOW_ANY.
        assert_eq!(i.policies()[0].default, Action::Allow, "{name}");
        let text = render(&i);
        let again =
            hostgate::Engine::compile(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(
            again.rule_count(again.policy("default").unwrap()) as usize,
            i.policies()[0].rules.len()
        );
        for s in i.sources() {
            assert_eq!(s.file, name);
            assert!(s.line >= 1);
        }
    }
    assert_eq!(n, 6);
}

/// Each example under REGISTRY_ONLY (the mesh config in a second file): what its comments
/// say it makes reachable is allowed, on its ports and protocols only.
#[test]
fn examples_under_registry_only() {
    let cases: &[(&str, &str, u16, Via, &str)] = &[
        // samples/external/github.yaml: HTTPS github.com; TCP 22 only by address.
        (
            "samples-external-github.yaml",
            "github.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "samples-external-github.yaml",
            "github.com",
            443,
            Via::Http,
            "deny",
        ),
        (
            "samples-external-github.yaml",
            "github.com",
            80,
            Via::Http,
            "deny",
        ),
        (
            "samples-external-github.yaml",
            "api.github.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            "samples-external-github.yaml",
            "dummy.github.com",
            22,
            Via::Tls,
            "deny",
        ),
        (
            "samples-external-github.yaml",
            "140.82.112.5",
            22,
            Via::Connect,
            "allow",
        ),
        (
            "samples-external-github.yaml",
            "140.82.112.5",
            443,
            Via::Connect,
            "deny",
        ),
        // samples/external/pypi.yaml
        (
            "samples-external-pypi.yaml",
            "pypi.org",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "samples-external-pypi.yaml",
            "files.pythonhosted.org",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "samples-external-pypi.yaml",
            "pythonhosted.org",
            443,
            Via::Tls,
            "deny",
        ),
        // samples/external/aptget.yaml: HTTP port 80.
        (
            "samples-external-aptget.yaml",
            "deb.debian.org",
            80,
            Via::Http,
            "allow",
        ),
        (
            "samples-external-aptget.yaml",
            "DEB.Debian.org",
            80,
            Via::Http,
            "allow",
        ),
        (
            "samples-external-aptget.yaml",
            "deb.debian.org",
            443,
            Via::Tls,
            "deny",
        ),
        (
            "samples-external-aptget.yaml",
            "ftp.debian.org",
            80,
            Via::Http,
            "deny",
        ),
        // egress-rule-google-apis.yaml: HTTP 80 and HTTPS 443.
        (
            "samples-bookinfo-egress-rule-google-apis.yaml",
            "www.googleapis.com",
            80,
            Via::Http,
            "allow",
        ),
        (
            "samples-bookinfo-egress-rule-google-apis.yaml",
            "www.googleapis.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "samples-bookinfo-egress-rule-google-apis.yaml",
            "www.googleapis.com",
            443,
            Via::Http,
            "deny",
        ),
        // se-example.yaml: TLS 443 hosts and SNI routes, `*.bar.com` HTTP on 80.
        (
            "tests-testdata-config-se-example.yaml",
            "api.facebook.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "a.bar.com",
            80,
            Via::Http,
            "allow",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "a.b.bar.com",
            80,
            Via::Http,
            "allow",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "bar.com",
            80,
            Via::Http,
            "deny",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "foo.bar.com",
            8000,
            Via::Http,
            "allow",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "mymongodb.somedomain",
            27018,
            Via::Tls,
            "deny",
        ),
        (
            "tests-testdata-config-se-example.yaml",
            "192.192.192.7",
            27018,
            Via::Connect,
            "allow",
        ),
        // external_services.yaml: port 1443 is HTTP ("not HTTPS").
        (
            "tests-testdata-config-external_services.yaml",
            "external.extsvc.com",
            1443,
            Via::Http,
            "allow",
        ),
        (
            "tests-testdata-config-external_services.yaml",
            "external.extsvc.com",
            1443,
            Via::Tls,
            "deny",
        ),
        (
            "tests-testdata-config-external_services.yaml",
            "ports1.extsvc.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            "tests-testdata-config-external_services.yaml",
            "ports1.extsvc.com",
            8443,
            Via::Http,
            "allow",
        ),
    ];
    for &(file, name, port, via, want) in cases {
        let bytes = data(file);
        let files: [(&str, &[u8]); 2] = [("mesh.yaml", REGISTRY_ONLY.as_bytes()), (file, &bytes)];
        let i = import(Format::Istio, &files, &Options::default()).unwrap();
        assert_eq!(i.policies()[0].default, Action::Deny);
        assert_eq!(
            verdict(&i, name, port, via),
            want,
            "{file}: {name}:{port} {via:?}"
        );
    }
}

#[test]
fn examples_warn_at_what_is_not_reproduced() {
    let bytes = data("samples-external-github.yaml");
    let i = import(
        Format::Istio,
        &[("github.yaml", &bytes)],
        &Options::default(),
    )
    .unwrap();
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "github.yaml:50:5: warning: port 22 carries TCP: Istio matches it by destination \
          address and port, never by name: only the addresses are allowed on it"
        ]
    );
    let bytes = data("samples-bookinfo-egress-rule-google-apis.yaml");
    let i = import(Format::Istio, &[("g.yaml", &bytes)], &Options::default()).unwrap();
    let at: Vec<(u32, u32)> = i.warnings().iter().map(|w| (w.line, w.column)).collect();
    // The VirtualService's `http` routes, the DestinationRule.
    assert_eq!(at, [(24, 3), (33, 1)]);
    // A rule points at its host.
    let s = &i.sources()[1];
    assert_eq!((s.line, s.object.as_str()), (7, "ServiceEntry/googleapis"));
    assert_eq!(
        i.policies()[0].rules[1].id.as_deref(),
        Some("ServiceEntry/googleapis:1")
    );
}

#[test]
fn the_se_example_sidecar_imports_its_own_namespace() {
    let bytes = data("tests-testdata-config-se-example.yaml");
    let other = "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: elsewhere, namespace: other}
spec:
  hosts: [other.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
";
    let files: [(&str, &[u8]); 3] = [
        ("mesh.yaml", REGISTRY_ONLY.as_bytes()),
        ("se.yaml", &bytes),
        ("other.yaml", other.as_bytes()),
    ];
    for workload in [None, Some("seexamples/app=x")] {
        let i = import(Format::Istio, &files, &options(workload)).unwrap();
        // `seexamples/*` imports only that namespace's entries.
        assert_eq!(verdict(&i, "other.example.com", 443, Via::Tls), "deny");
        assert_eq!(verdict(&i, "api.dropboxapi.com", 443, Via::Tls), "allow");
    }
    // A workload elsewhere has no Sidecar: it sees everything exported to it.
    let i = import(Format::Istio, &files, &options(Some("other/app=x"))).unwrap();
    assert_eq!(verdict(&i, "other.example.com", 443, Via::Tls), "allow");
    assert_eq!(verdict(&i, "api.dropboxapi.com", 443, Via::Tls), "allow");
}

// ---------------------------------------------------------------------------------------------
// The case table.

fn se(name: &str, ns: &str, host: &str, extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  hosts: ['{host}']\n  ports: [{{number: 443, name: tls, protocol: TLS}}, {{number: 80, name: http, protocol: HTTP}}]\n{extra}"
    )
}

fn sidecar(name: &str, ns: &str, body: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{body}"
    )
}

/// (configuration, workload, name, port, via, expected).
type Case = (
    String,
    Option<&'static str>,
    &'static str,
    u16,
    Via,
    &'static str,
);

#[test]
fn case_table() {
    let wildcard = with_registry_only(&se("w", "shop", "*.example.com", ""));
    let exact = with_registry_only(&se("e", "shop", "api.example.com", ""));
    let cases: Vec<Case> = vec![
        // pkg/config/host/name_test.go: "wildcard matches subdomains" (`*.foo.com` matches
        // `bar.foo.com`), "wildcarded sub-domain does not match domain", and `*.baz` matches
        // `foo.bar.baz` (any depth).
        (
            wildcard.clone(),
            None,
            "a.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            wildcard.clone(),
            None,
            "a.b.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        (wildcard.clone(), None, "example.com", 443, Via::Tls, "deny"),
        (
            wildcard.clone(),
            None,
            "aexample.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            wildcard.clone(),
            None,
            "a.example.com",
            80,
            Via::Http,
            "allow",
        ),
        // HTTPS/TLS ports match the SNI, HTTP ports the Host header (ServiceEntry docs).
        (
            wildcard.clone(),
            None,
            "a.example.com",
            443,
            Via::Http,
            "deny",
        ),
        (
            wildcard.clone(),
            None,
            "a.example.com",
            80,
            Via::Tls,
            "deny",
        ),
        (
            wildcard.clone(),
            None,
            "a.example.com",
            8443,
            Via::Tls,
            "deny",
        ),
        (
            exact.clone(),
            None,
            "api.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            exact.clone(),
            None,
            "www.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        // Envoy lowercases the Host before matching virtual hosts.
        (
            exact.clone(),
            None,
            "API.Example.COM",
            80,
            Via::Http,
            "allow",
        ),
        // DNS questions are not filtered by Istio; under REGISTRY_ONLY the default decides.
        (exact.clone(), None, "api.example.com", 53, Via::Dns, "deny"),
        // MeshConfig outboundTrafficPolicy: ALLOW_ANY (the default) passes unknown hosts,
        // REGISTRY_ONLY drops them.
        (
            se("e", "shop", "api.example.com", ""),
            None,
            "other.io",
            443,
            Via::Tls,
            "allow",
        ),
        (exact.clone(), None, "other.io", 443, Via::Tls, "deny"),
        // A Sidecar's outboundTrafficPolicy overrides the mesh's.
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "shop", "  outboundTrafficPolicy: {mode: ALLOW_ANY}\n")
            ),
            Some("shop/app=web"),
            "other.io",
            443,
            Via::Tls,
            "allow",
        ),
        (
            format!(
                "{}---\n{}",
                se("e", "shop", "api.example.com", ""),
                sidecar(
                    "s",
                    "shop",
                    "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n"
                )
            ),
            Some("shop/app=web"),
            "other.io",
            443,
            Via::Tls,
            "deny",
        ),
        // exportTo: `.` is the entry's own namespace only; a namespace list; `~` nowhere.
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: ['.']\n")),
            Some("shop/app=web"),
            "a.io",
            443,
            Via::Tls,
            "allow",
        ),
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: ['.']\n")),
            Some("bank/app=web"),
            "a.io",
            443,
            Via::Tls,
            "deny",
        ),
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: [bank]\n")),
            Some("bank/app=web"),
            "a.io",
            443,
            Via::Tls,
            "allow",
        ),
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: [bank]\n")),
            Some("shop/app=web"),
            "a.io",
            443,
            Via::Tls,
            "deny",
        ),
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: ['~']\n")),
            Some("shop/app=web"),
            "a.io",
            443,
            Via::Tls,
            "deny",
        ),
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: ['*']\n")),
            Some("bank/app=web"),
            "a.io",
            443,
            Via::Tls,
            "allow",
        ),
        // Without a workload, exportTo is not evaluated: every entry is visible.
        (
            with_registry_only(&se("e", "shop", "a.io", "  exportTo: ['~']\n")),
            None,
            "a.io",
            443,
            Via::Tls,
            "allow",
        ),
        // Sidecar imports (Sidecar docs, pilot/pkg/model/sidecar_test.go).
        (
            format!(
                "{wildcard}---\n{}",
                sidecar("s", "shop", "  egress: [{hosts: ['./a.example.com']}]\n")
            ),
            Some("shop/app=web"),
            // "service is wildcard, but not listener's subset": `*.example.com` is not
            // imported by `./a.example.com`.
            "a.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "shop", "  egress: [{hosts: ['./*.example.com']}]\n")
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "bank", "  egress: [{hosts: ['./*']}]\n")
            ),
            Some("bank/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "bank", "  egress: [{hosts: ['shop/*']}]\n")
            ),
            Some("bank/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "bank", "  egress: [{hosts: ['*/api.example.com']}]\n")
            ),
            Some("bank/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        // The control plane compares case-sensitively (name_test.go "mixed case").
        (
            format!(
                "{exact}---\n{}",
                sidecar("s", "shop", "  egress: [{hosts: ['*/API.example.com']}]\n")
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        // `~NS/HOST` excludes; `~/HOST` from every namespace.
        (
            format!(
                "{exact}---\n{}",
                sidecar(
                    "s",
                    "shop",
                    "  egress: [{hosts: ['*/*', '~shop/api.example.com']}]\n"
                )
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar(
                    "s",
                    "shop",
                    "  egress: [{hosts: ['*/*', '~/*.example.com']}]\n"
                )
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar(
                    "s",
                    "shop",
                    "  egress: [{hosts: ['*/*', '~bank/api.example.com']}]\n"
                )
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "allow",
        ),
        // A listener bound to a port imports on that port only; no catch-all: nothing else.
        (
            format!(
                "{exact}---\n{}",
                sidecar(
                    "s",
                    "shop",
                    "  egress: [{port: {number: 80, protocol: HTTP, name: h}, hosts: ['*/*']}]\n"
                )
            ),
            Some("shop/app=web"),
            "api.example.com",
            443,
            Via::Tls,
            "deny",
        ),
        (
            format!(
                "{exact}---\n{}",
                sidecar(
                    "s",
                    "shop",
                    "  egress: [{port: {number: 80, protocol: HTTP, name: h}, hosts: ['*/*']}]\n"
                )
            ),
            Some("shop/app=web"),
            "api.example.com",
            80,
            Via::Http,
            "allow",
        ),
    ];
    for (i, (yaml, workload, name, port, via, want)) in cases.iter().enumerate() {
        let imported = imp(yaml, *workload);
        assert_eq!(
            verdict(&imported, name, *port, *via),
            *want,
            "case {i}: {name}:{port} {via:?} for {workload:?}\n{yaml}\n{}",
            render(&imported)
        );
    }
}

/// Which Sidecar applies: the one selecting the workload, then the namespace's, then the
/// root namespace's (Sidecar docs).
#[test]
fn the_sidecar_that_applies() {
    let yaml = with_registry_only(&format!(
        "{}---\n{}---\n{}---\n{}---\n{}---\n{}",
        se("a", "shop", "a.io", ""),
        se("b", "shop", "b.io", ""),
        se("c", "shop", "c.io", ""),
        sidecar(
            "web",
            "shop",
            "  workloadSelector: {labels: {app: web}}\n  egress: [{hosts: ['*/a.io']}]\n"
        ),
        sidecar("ns", "shop", "  egress: [{hosts: ['*/b.io']}]\n"),
        sidecar("root", "istio-system", "  egress: [{hosts: ['*/c.io']}]\n"),
    ));
    let allowed = |w: &str| -> Vec<&str> {
        let i = imp(&yaml, Some(w));
        ["a.io", "b.io", "c.io"]
            .into_iter()
            .filter(|n| verdict(&i, n, 443, Via::Tls) == "allow")
            .collect()
    };
    assert_eq!(allowed("shop/app=web,tier=x"), ["a.io"]);
    assert_eq!(allowed("shop/app=api"), ["b.io"]);
    assert_eq!(allowed("bank/app=web"), ["c.io"]);
    // The mesh config's rootNamespace names the root namespace.
    let moved = yaml.replace(
        "outboundTrafficPolicy: {mode: REGISTRY_ONLY}",
        "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n    rootNamespace: mesh-root",
    );
    let i = imp(&moved, Some("bank/app=web"));
    for n in ["a.io", "b.io", "c.io"] {
        assert_eq!(verdict(&i, n, 443, Via::Tls), "allow", "{n}");
    }
}

#[test]
fn virtual_service_sni_hosts_are_reachable_on_the_services_tls_port() {
    let yaml = with_registry_only(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wiki, namespace: shop}
spec:
  hosts: ['*.wikipedia.org']
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wiki, namespace: shop}
spec:
  hosts: ['*.wikipedia.org']
  tls:
  - match: [{port: 443, sniHosts: [en.wikipedia.org]}]
    route: [{destination: {host: www.wikipedia.org}}]
",
    );
    let i = imp(&yaml, None);
    let ids: Vec<&str> = i.policies()[0]
        .rules
        .iter()
        .map(|r| r.id.as_deref().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["ServiceEntry/shop/wiki:0", "VirtualService/shop/wiki:0"]
    );
    assert_eq!(i.sources()[1].line, 21);
    assert_eq!(verdict(&i, "en.wikipedia.org", 443, Via::Tls), "allow");
}

#[test]
fn mesh_config_as_a_config_map() {
    let yaml = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    accessLogFile: /dev/stdout
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
---
"
    .to_string()
        + &se("a", "shop", "a.io", "");
    let i = imp(&yaml, None);
    assert_eq!(i.policies()[0].default, Action::Deny);
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w[0].starts_with("t.yaml:6:5: warning: mesh config fields not read"),
        "{w:?}"
    );
    assert!(w[0].ends_with(": accessLogFile"), "{w:?}");
    assert!(
        w[1].starts_with(
            "t.yaml:8:13: warning: REGISTRY_ONLY: Istio's docs say it is not a security boundary"
        ),
        "{w:?}"
    );
    // An error inside the embedded text points into the file.
    let bad = yaml.replace("mode: REGISTRY_ONLY", "mode: DENY");
    let e = errors(&bad);
    assert_eq!(
        e[0].to_string(),
        "t.yaml:8:13: mode `DENY`; expected REGISTRY_ONLY, ALLOW_ANY or ALLOW_ANY_DYNAMIC_DNS"
    );
}

// ---------------------------------------------------------------------------------------------
// The property test.

/// Istio's documented rule (ServiceEntry `hosts`, `pkg/config/host/name.go`), as Envoy
/// applies it to a Host or SNI it has lowercased: `*` matches every name; `*.x` any name that
/// ends in `.x` with something before it (so any depth below `x`, never `x`); otherwise the
/// same name.
fn istio_matches(host: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return true;
    }
    match host.strip_prefix('*') {
        Some(suffix) => name.len() > suffix.len() && name.ends_with(suffix),
        None => name == host,
    }
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("x".to_string()),
        Just("ab".to_string()),
        Just("xa".to_string()),
        Just("A".to_string()),
        Just("a-b".to_string()),
    ]
}

fn host() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..3), prop::bool::ANY).prop_map(|(labels, wild)| {
        let base = format!("{}.com", labels.join("."));
        if wild {
            format!("*.{base}")
        } else {
            base
        }
    })
}

/// Names near a pattern: its base, with 0–2 labels more or less, a label changed, a partial
/// label glued on, in either case; a trailing dot.
fn name_near(host: String) -> impl Strategy<Value = (String, String)> {
    let base = host.trim_start_matches("*.").to_string();
    (
        prop::collection::vec(label(), 0..3),
        prop_oneof![Just(""), Just("x"), Just("-")],
        prop::bool::ANY,
        prop::bool::ANY,
        0usize..2,
    )
        .prop_map(move |(extra, glue, upper, dot, drop)| {
            let mut labels: Vec<String> = base.split('.').map(str::to_string).collect();
            for _ in 0..drop.min(labels.len().saturating_sub(1)) {
                labels.remove(0);
            }
            let mut name = labels.join(".");
            if !glue.is_empty() {
                name = format!("{glue}{name}");
            }
            for l in extra {
                name = format!("{l}.{name}");
            }
            if upper {
                name = name.to_uppercase();
            }
            if dot {
                name.push('.');
            }
            (host.clone(), name)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn hosts_match_as_istio_documents(
        (h, name) in host().prop_flat_map(name_near),
        http in prop::bool::ANY,
    ) {
        let (port, via, protocol) = if http { (80, Via::Http, "HTTP") } else { (443, Via::Tls, "TLS") };
        let yaml = with_registry_only(&format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: p}}\nspec:\n  hosts: ['{h}']\n  ports: [{{number: {port}, name: p, protocol: {protocol}}}]\n"
        ));
        let i = imp(&yaml, None);
        // A trailing dot: Envoy does not strip it (Istio never sets strip_trailing_host_dot),
        // hostgate does; the import warns about this. Everything else is Istio's rule.
        let bare = name.strip_suffix('.').unwrap_or(&name);
        let want = if istio_matches(&h, bare) { "allow" } else { "deny" };
        prop_assert_eq!(verdict(&i, &name, port, via), want, "{} vs {}", h, name);
        // Never on another port or source.
        prop_assert_eq!(verdict(&i, &name, port + 1, via), "deny");
        let other = if http { Via::Tls } else { Via::Http };
        prop_assert_eq!(verdict(&i, &name, port, other), "deny");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn bad_input_is_refused_at_its_position() {
    let se_host = |h: &str, extra: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: x}}\nspec:\n  hosts: ['{h}']\n  ports: [{{number: 443, name: p, protocol: TLS}}]\n{extra}"
        )
    };
    let sc = |h: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: x}}\nspec:\n  egress: [{{hosts: ['{h}']}}]\n"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (se_host("*", ""), "t.yaml:5:11: host `*` is not valid: `*` is not allowed in a ServiceEntry"),
        (se_host("*foo.com", ""), "t.yaml:5:11: host `*foo.com`: a partial wildcard; Istio matches it as a character suffix in the control plane but Envoy never lets `*` match nothing, so its meaning differs by protocol: refused"),
        (se_host("a.*.com", ""), "t.yaml:5:11: host `a.*.com` is not valid: label `*` invalid"),
        (se_host("a_b.com", ""), "t.yaml:5:11: host `a_b.com` is not valid: label `a_b` invalid"),
        (se_host("a.123", ""), "t.yaml:5:11: host `a.123` is not valid: top level domain `123` cannot be all-numeric"),
        (se_host("*.a.com", "  resolution: DNS\n"), "t.yaml:5:11: host `*.a.com`: resolution DNS without endpoints needs a name without wildcards (label `*` invalid)"),
        (se_host("a.com", "  resolution: DNZ\n"), "t.yaml:7:15: resolution `DNZ`; expected NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS"),
        (se_host("a.com", "  addresses: [10.0.0.0/33]\n"), "t.yaml:7:15: address `10.0.0.0/33` is not an IP address or a CIDR"),
        (se_host("a.com", "  exportTo: [shop, shop]\n"), "t.yaml:7:20: duplicate entry `shop` in exportTo"),
        (se_host("a.com", "  exportTo: ['*', shop]\n"), "t.yaml:7:13: exportTo: `*` or `~` cannot be given with other entries"),
        (se_host("a.com", "  port: 443\n"), "t.yaml:7:3: unknown field `port` in a ServiceEntry spec; known: hosts, addresses, ports, location, resolution, endpoints, workloadSelector, exportTo, subjectAltNames"),
        (se_host("a.com", "").replace("protocol: TLS", "protocol: QUIC"), "t.yaml:6:44: protocol `QUIC`; expected HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, TLS, TCP, UDP, Mongo, MySQL or Redis"),
        (se_host("a.com", "").replace("number: 443", "number: 0"), "t.yaml:6:20: port `0` is not a number in 1-65535"),
        (sc("a.com"), "t.yaml:5:21: host `a.com` must be NAMESPACE/HOST"),
        (sc("./foo"), "t.yaml:5:21: host `./foo`: short names (without a dot) are not allowed"),
        (sc("./*foo.com"), "t.yaml:5:21: host `./*foo.com`: partial wildcards are not allowed in a Sidecar"),
        (sc("Bad_ns/a.com"), "t.yaml:5:21: host `Bad_ns/a.com`: namespace `Bad_ns` is not `*`, `.`, `~` or a namespace"),
        (
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: x}\nspec:\n  outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}\n".into(),
            "t.yaml:5:33: mode `ALLOW_ANY_DYNAMIC_DNS`; expected REGISTRY_ONLY or ALLOW_ANY (ALLOW_ANY_DYNAMIC_DNS is for the mesh config only)",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [a.com]\n  tls:\n  - match: [{sniHosts: [b.com]}]\n".into(),
            "t.yaml:7:25: sniHost `b.com` is not one of the VirtualService's hosts",
        ),
        (
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\n".into(),
            "t.yaml:2:7: kind `AuthorizationPolicy` is not read as Istio egress configuration; expected ServiceEntry, Sidecar, VirtualService, DestinationRule, IstioOperator or the ConfigMap `istio`",
        ),
        (
            "apiVersion: networking.istio.io/v2\nkind: ServiceEntry\nmetadata: {name: x}\n".into(),
            "t.yaml:1:13: apiVersion `networking.istio.io/v2`: ServiceEntry is read as networking.istio.io/v1, v1beta1 or v1alpha3",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {a: b}\n".into(),
            "t.yaml:1:1: ConfigMap `app-config`: only Istio's mesh config, the ConfigMap `istio` (or `istio-REVISION`) with `data.mesh`, is read",
        ),
        (
            format!("{REGISTRY_ONLY}---\n{REGISTRY_ONLY}"),
            "t.yaml:12:3: a second mesh config: give one IstioOperator or ConfigMap `istio`",
        ),
        (
            format!("{}---\n{}", sc("*/*"), sc("*/*").replace("name: x", "name: y")),
            "t.yaml:7:1: several Sidecars: which one applies depends on the workload; give --workload NAMESPACE/LABELS (or --per-object)",
        ),
    ];
    let mut wrong = Vec::new();
    for (yaml, want) in cases {
        let e = errors(&yaml);
        if e[0].to_string() != want {
            wrong.push(format!("{yaml}\n  got  {}\n  want {want}", e[0]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn trailing_dot_hosts_are_left_out_with_a_warning() {
    let i = imp(
        &with_registry_only(&se("e", "shop", "a.example.com.", "")),
        None,
    );
    assert!(i.policies()[0].rules.is_empty());
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.line == 12 && w.message.contains("trailing dot")));
}

// ---------------------------------------------------------------------------------------------
// Mutated input: never a panic, every position inside the file, every success renders.

fn line_breaks(data: &[u8]) -> u32 {
    let mut n = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        if data[i] == b'\n' || data[i] == b'\r' {
            n += 1;
        }
        i += 1;
    }
    n
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "samples-external-github.yaml",
        "tests-testdata-config-se-example.yaml",
        "samples-bookinfo-egress-rule-google-apis.yaml",
    ]
    .iter()
    .map(|f| data(f))
    .collect();
    out.push(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata:\n  mesh: |-\n    rootNamespace: r\n    outboundTrafficPolicy:\n      mode: REGISTRY_ONLY\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s, namespace: r}\nspec:\n  egress: [{port: {number: 443}, hosts: ['*/*.a.io', '~/b.a.io']}, {hosts: ['./*']}]\n"
            .to_vec(),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn mutated_input_is_handled(
        seed in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
            b"*.~/: -\n'\"|{}[]#0aZ_\xc3\xa9".to_vec())), 1..6),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, op, b) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ => { bytes.remove(i); }
            }
        }
        let lines = line_breaks(&bytes);
        let check = |d: &ImportDiagnostic| {
            assert_eq!(d.file, "in.yaml");
            assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {lines} lines");
            assert!(d.column >= 1, "{d}");
        };
        for workload in [None, Some("r/app=x")] {
            match import(Format::Istio, &[("in.yaml", &bytes)], &options(workload)) {
                Err(errors) => errors.iter().for_each(check),
                Ok(i) => {
                    i.warnings().iter().for_each(check);
                    let text = render(&i);
                    let engine = hostgate::Engine::compile(&text)
                        .unwrap_or_else(|e| panic!("{e}\n{text}"));
                    let p = engine.policy("default").unwrap();
                    prop_assert_eq!(engine.rule_count(p) as usize, i.policies()[0].rules.len());
                }
            }
        }
    }
}

#[test]
fn mesh_default_export_to_applies_to_entries_without_export_to() {
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio}}\ndata:\n  mesh: \"defaultServiceExportTo: ['.']\\noutboundTrafficPolicy: {{mode: REGISTRY_ONLY}}\"\n---\n{}---\n{}",
        se("own", "shop", "own.io", ""),
        se("all", "shop", "all.io", "  exportTo: ['*']\n"),
    );
    let shop = imp(&yaml, Some("shop/app=x"));
    let bank = imp(&yaml, Some("bank/app=x"));
    assert_eq!(verdict(&shop, "own.io", 443, Via::Tls), "allow");
    assert_eq!(verdict(&bank, "own.io", 443, Via::Tls), "deny");
    assert_eq!(verdict(&bank, "all.io", 443, Via::Tls), "allow");
    // In a quoted string, positions are the string's own.
    let w = &bank.warnings()[0];
    assert_eq!((w.line, w.column), (5, 9), "{w}");
}

#[test]
fn a_sidecar_imported_virtual_service_is_warned() {
    let yaml = format!(
        "{}---\n{}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v, namespace: shop}}\nspec:\n  hosts: [a.io]\n  tls:\n  - match: [{{sniHosts: [a.io]}}]\n    route: [{{destination: {{host: b.io}}}}]\n",
        se("a", "shop", "a.io", ""),
        sidecar("s", "shop", "  egress: [{hosts: ['./a.io']}]\n"),
    );
    let i = imp(&yaml, Some("shop/app=x"));
    let w: Vec<&str> = i.warnings().iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.starts_with("the Sidecar imports this VirtualService")),
        "{w:?}"
    );
    assert_eq!(i.warnings()[0].line, 14);
}
