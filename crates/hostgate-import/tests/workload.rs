//! `Options::workload`: only the policies whose selector selects the workload apply.

use hostgate::{Action, Format, Query, Via};
use hostgate_import::{import, Options};

const POLICIES: &str = "\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress: [{toFQDNs: [{matchName: web.io}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: k8s-prefixed, namespace: shop}
spec:
  endpointSelector:
    matchLabels: {'k8s:app': web}
    matchExpressions: [{key: tier, operator: In, values: [front, edge]}]
  egress: [{toFQDNs: [{matchName: front.io}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: other-ns, namespace: bank}
spec:
  endpointSelector: {}
  egress: [{toFQDNs: [{matchName: bank.io}]}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: all-shop}
specs:
- endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': shop}}
  egress: [{toFQDNs: [{matchName: shared.io}]}]
- endpointSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}
  egress: [{toFQDNs: [{matchName: nolabel.io}]}]
- nodeSelector: {}
  egress: [{toFQDNs: [{matchName: node.io}]}]
";

fn allowed(workload: &str) -> Vec<&'static str> {
    let o = Options::default().workload(workload.parse().unwrap());
    let i = import(Format::Cilium, &[("p.yaml", POLICIES.as_bytes())], &o).unwrap();
    let e = i.engine();
    let p = e.policy("default").unwrap();
    [
        "web.io",
        "front.io",
        "bank.io",
        "shared.io",
        "nolabel.io",
        "node.io",
        "none.io",
    ]
    .into_iter()
    .filter(|n| e.check(p, &Query::new(*n).port(443).via(Via::Tls)).action == Action::Allow)
    .collect()
}

#[test]
fn selectors_namespaces_and_sources() {
    assert_eq!(
        allowed("shop/app=web,tier=front"),
        ["web.io", "front.io", "shared.io"]
    );
    assert_eq!(allowed("shop/app=web,tier=back"), ["web.io", "shared.io"]);
    assert_eq!(allowed("shop/app=api"), ["shared.io"]);
    assert_eq!(allowed("bank/role=x"), ["bank.io", "nolabel.io"]);
    // Not selected by anything with egress: default allow.
    assert_eq!(allowed("other/app=web").len(), 7);
}

#[test]
fn bad_selectors_are_refused() {
    let y = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  endpointSelector: {matchExpressions: [{key: a, operator: Near}]}\n  egress: []\n";
    let o = Options::default().workload("app=x".parse().unwrap());
    let e = import(Format::Cilium, &[("s.yaml", y.as_bytes())], &o).unwrap_err();
    assert!(
        e[0].to_string().starts_with("s.yaml:5:60: operator `Near`"),
        "{}",
        e[0]
    );
}

#[test]
fn gke_pod_selector() {
    let y = "apiVersion: networking.gke.io/v1alpha1\nkind: FQDNNetworkPolicy\nmetadata: {name: g, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress:\n  - matches: [{name: g.io}]\n";
    let at = |w: &str, name: &str| {
        let o = Options::default().workload(w.parse().unwrap());
        let i = import(Format::Gke, &[("g.yaml", y.as_bytes())], &o).unwrap();
        let e = i.engine();
        e.check(
            e.policy("default").unwrap(),
            &Query::new(name).port(443).via(Via::Tls),
        )
        .action
    };
    assert_eq!(at("shop/app=web", "g.io"), Action::Allow);
    assert_eq!(at("shop/app=web", "x.io"), Action::Deny);
    assert_eq!(at("shop/app=api", "x.io"), Action::Allow);
    assert_eq!(at("default/app=web", "x.io"), Action::Allow);
}

/// Cilium gives an endpoint its namespace's labels as
/// `io.cilium.k8s.namespace.labels.KEY`; `kubernetes.io/metadata.name` is always among them.
#[test]
fn cilium_namespace_labels() {
    let y = "\
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: pay-teams}
spec:
  endpointSelector: {matchLabels: {'k8s:io.cilium.k8s.namespace.labels.team': pay}}
  egress: [{toFQDNs: [{matchName: pay.io}]}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: by-name}
spec:
  endpointSelector:
    matchExpressions:
    - {key: 'io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name', operator: In, values: [shop]}
  egress: [{toFQDNs: [{matchName: shop.io}]}]
";
    let allowed = |w: &str, ns_labels: Option<&str>| -> Vec<&'static str> {
        let mut w: hostgate_import::Workload = w.parse().unwrap();
        if let Some(l) = ns_labels {
            w = w.with_namespace_labels(l).unwrap();
        }
        let o = Options::default().workload(w);
        let i = import(Format::Cilium, &[("n.yaml", y.as_bytes())], &o).unwrap();
        let e = i.engine();
        let p = e.policy("default").unwrap();
        ["pay.io", "shop.io", "other.io"]
            .into_iter()
            .filter(|n| {
                e.check(p, &Query::new(*n).port(443).via(Via::Tls))
                    .is_allow()
            })
            .collect()
    };
    assert_eq!(
        allowed("shop/app=web", Some("team=pay")),
        ["pay.io", "shop.io"]
    );
    assert_eq!(allowed("shop/app=web", None), ["shop.io"]);
    assert_eq!(allowed("bank/app=web", Some("team=pay")), ["pay.io"]);
    assert_eq!(allowed("bank/app=web", Some("team=ops")).len(), 3);
}

/// `per_object`: each object read alone, one policy each; with a workload, only those that
/// select it.
#[test]
fn per_object_policies() {
    let names = |o: Options| -> Vec<String> {
        let i = import(Format::Cilium, &[("p.yaml", POLICIES.as_bytes())], &o).unwrap();
        i.policies().iter().map(|p| p.name.clone()).collect()
    };
    assert_eq!(
        names(Options::default().per_object(true)),
        [
            "CiliumNetworkPolicy/shop/web",
            "CiliumNetworkPolicy/shop/k8s-prefixed",
            "CiliumNetworkPolicy/bank/other-ns",
            "CiliumClusterwideNetworkPolicy/all-shop",
        ]
    );
    let o = Options::default()
        .per_object(true)
        .workload("shop/app=web,tier=back".parse().unwrap());
    assert_eq!(
        names(o.clone()),
        [
            "CiliumNetworkPolicy/shop/web",
            "CiliumClusterwideNetworkPolicy/all-shop"
        ]
    );
    // Each policy decides alone: `web` allows web.io and denies shared.io.
    let i = import(Format::Cilium, &[("p.yaml", POLICIES.as_bytes())], &o).unwrap();
    let e = i.engine();
    let web = e.policy("CiliumNetworkPolicy/shop/web").unwrap();
    let all = e.policy("CiliumClusterwideNetworkPolicy/all-shop").unwrap();
    let q = |n: &'static str| Query::new(n).port(443).via(Via::Tls);
    assert!(e.check(web, &q("web.io")).is_allow());
    assert!(!e.check(web, &q("shared.io")).is_allow());
    assert!(e.check(all, &q("shared.io")).is_allow());
    assert!(!e.check(all, &q("web.io")).is_allow());
    // The rendered text compiles to the same policies.
    let text = hostgate_import::render(&i);
    let again = hostgate::Engine::compile(&text).unwrap();
    assert!(again.policy("CiliumNetworkPolicy/shop/web").is_some());
}
