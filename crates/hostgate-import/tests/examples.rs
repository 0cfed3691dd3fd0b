//! Every Cilium example file in tests/data/cilium imports, and means what Cilium means.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, render, CiliumVersion, Options};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/cilium/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn verdict(i: &hostgate_import::Imported, name: &str, port: Option<u16>, via: Via) -> Action {
    let e = i.engine();
    let p = e.policy("default").unwrap();
    let mut q = Query::new(name).via(via);
    if let Some(port) = port {
        q = q.port(port);
    }
    e.check(p, &q).action
}

#[test]
fn every_example_imports_and_renders_to_an_equivalent_policy() {
    let dir = format!("{}/tests/data/cilium", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        n += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let i = import(Format::Cilium, &[(&name, &bytes)], &Options::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!i.policies()[0].rules.is_empty(), "{name}: no rules");
        let text = render(&i);
        let again =
            hostgate::Engine::compile(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        // The rendered text decides like the imported engine on the rules' own names.
        let p1 = i.engine().policy("default").unwrap();
        let p2 = again.policy("default").unwrap();
        for r in &i.policies()[0].rules {
            let probe = r
                .pattern
                .trim_start_matches("**.")
                .trim_start_matches("*.")
                .replace('*', "x");
            for via in [Via::Tls, Via::Http, Via::Dns] {
                for port in [None, Some(80), Some(443), Some(53)] {
                    let mut q = Query::new(&probe).via(via);
                    if let Some(p) = port {
                        q = q.port(p);
                    }
                    assert_eq!(
                        i.engine().check(p1, &q).action,
                        again.check(p2, &q).action,
                        "{name} {probe}"
                    );
                }
            }
        }
    }
    assert_eq!(n, 7);
}

#[test]
fn fqdn_example_allows_the_exact_name_on_any_port_but_not_dns() {
    let b = data("examples-policies-l3-fqdn-fqdn.yaml");
    let i = import(Format::Cilium, &[("fqdn.yaml", &b)], &Options::default()).unwrap();
    assert_eq!(
        verdict(&i, "my-remote-service.com", Some(8080), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "MY-REMOTE-SERVICE.COM.", Some(443), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "a.my-remote-service.com", Some(443), Via::Tls),
        Action::Deny
    );
    // DNS is only allowed by DNS rules; this policy has none (and a pod peer).
    assert_eq!(
        verdict(&i, "my-remote-service.com", None, Via::Dns),
        Action::Deny
    );
    let w: Vec<String> = i.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("fqdn.yaml:10:7: warning: `toEndpoints`")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.contains("toFQDNs without any DNS rule")),
        "{w:?}"
    );
}

#[test]
fn dns_example_splits_dns_rules_from_connection_rules() {
    let b = data("examples-policies-l7-dns-dns.yaml");
    let i = import(Format::Cilium, &[("dns.yaml", &b)], &Options::default()).unwrap();
    // rules.dns: the DNS questions.
    assert_eq!(verdict(&i, "cilium.io", None, Via::Dns), Action::Allow);
    assert_eq!(
        verdict(&i, "x.api.cilium.io", None, Via::Dns),
        Action::Allow
    );
    assert_eq!(verdict(&i, "a.b.cilium.io", None, Via::Dns), Action::Deny);
    // toFQDNs on port 80/TCP.
    assert_eq!(
        verdict(&i, "sub.cilium.io", Some(80), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "sub.cilium.io", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "specialxservice.api.cilium.io", Some(80), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "specialservice.api.cilium.io", Some(80), Via::Http),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "special.service.api.cilium.io", Some(80), Via::Http),
        Action::Deny
    );
    // The rule points back at the YAML.
    let e = i.engine();
    let v = e.check(
        e.policy("default").unwrap(),
        &Query::new("sub.cilium.io").port(80).via(Via::Http),
    );
    let r = v.rule.unwrap();
    assert_eq!(r.line(), 26); // `- matchName: "sub.cilium.io"`
    assert_eq!(r.id(), "CiliumNetworkPolicy/tofqdn-dns-visibility:4");
}

#[test]
fn double_star_depends_on_the_cilium_version() {
    let b = data("examples-policies-l3-fqdn-fqdn-short.yaml");
    let new = import(Format::Cilium, &[("s.yaml", &b)], &Options::default()).unwrap();
    assert_eq!(
        verdict(&new, "a.b.cilium.io", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&new, "cilium.io", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&new, "a.b.c.cluster.local", None, Via::Dns),
        Action::Allow
    );
    let old = Options::default().cilium_version(CiliumVersion::new(1, 18));
    let old = import(Format::Cilium, &[("s.yaml", &b)], &old).unwrap();
    assert_eq!(
        verdict(&old, "a.cilium.io", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&old, "a.b.cilium.io", Some(443), Via::Tls),
        Action::Deny
    );
    assert!(render(&old).contains("allow *.cilium.io via tls,http,connect"));
}

#[test]
fn sni_example_is_tls_only_on_its_port() {
    let b = data("examples-policies-l4-l4_sni.yaml");
    let i = import(Format::Cilium, &[("sni.yaml", &b)], &Options::default()).unwrap();
    assert_eq!(
        verdict(&i, "one.one.one.one", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "one.one.one.one", Some(443), Via::Http),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "one.one.one.one", Some(8443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "two.one.one.one", Some(443), Via::Tls),
        Action::Deny
    );
}

#[test]
fn specs_list_form_and_cascades() {
    let b = data("examples-policies-getting-started-dns-pattern.yaml");
    let i = import(Format::Cilium, &[("p.yaml", &b)], &Options::default()).unwrap();
    assert_eq!(
        verdict(&i, "api.twitter.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "twitter.com", Some(443), Via::Tls),
        Action::Deny
    );
    assert_eq!(
        verdict(&i, "anything.example", None, Via::Dns),
        Action::Allow
    );
    let b = data("examples-policies-l3-fqdn-fqdn-cascade.yaml");
    let i = import(Format::Cilium, &[("c.yaml", &b)], &Options::default()).unwrap();
    assert_eq!(
        verdict(&i, "a.b.c.d.e.f.g.h.cilium.io", Some(1), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "a.b.c.d.e.f.g.h.i.cilium.io", Some(1), Via::Tls),
        Action::Deny
    );
}

#[test]
fn several_files_are_one_union() {
    let a = data("examples-policies-l3-fqdn-fqdn.yaml");
    let b = data("examples-policies-l4-l4_sni.yaml");
    let i = import(
        Format::Cilium,
        &[("a.yaml", &a), ("b.yaml", &b)],
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        verdict(&i, "my-remote-service.com", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(
        verdict(&i, "one.one.one.one", Some(443), Via::Tls),
        Action::Allow
    );
    assert_eq!(i.sources().last().unwrap().file, "b.yaml");
}
