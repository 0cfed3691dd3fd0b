//! What the policy language means where a table row cannot say it (the verdict tables are in
//! `tests/contract/`, run by `contract.rs`): policy and rule indices, ids and names through the
//! API, and the lookup entry points agreeing with each other. Every expectation is written from
//! `docs/policy-language.md` and `docs/semantics.md`.

use hostgate::{Engine, Query, Verdict, Via};
use hostgate_reference::Policies;

/// The deciding rule of `name` in `policy`: (index, id, line).
fn rule_of(e: &Engine, policy: &str, q: &Query<'_>) -> Option<(u32, String, u32)> {
    let v = e.check(e.policy(policy).expect("policy exists"), q);
    v.rule.map(|r| (r.index(), r.id().to_string(), r.line()))
}

// ---------------------------------------------------------------------------------------------
// Policies, rules and ids

#[test]
fn policies_are_numbered_in_file_order_and_rules_per_policy() {
    let text = "allow a.io\n\
                policy egress\n\
                default allow\n\
                deny b.io\n\
                policy other\n\
                precedence deny-overrides\n\
                allow b.io\n\
                deny *\n";
    let e = Engine::compile(text).unwrap();
    let ids: Vec<u32> = ["default", "egress", "other"]
        .iter()
        .map(|name| e.policy(name).unwrap().index())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(e.policy("nope"), None);
    assert_eq!(e.policy_name(e.policy("egress").unwrap()), Some("egress"));
    // Index and id are per policy.
    assert_eq!(
        rule_of(&e, "egress", &Query::new("b.io")),
        Some((0, "egress:4".to_string(), 4))
    );
    assert_eq!(
        rule_of(&e, "other", &Query::new("b.io")),
        Some((1, "other:8".to_string(), 8))
    );
}

#[test]
fn the_default_policy_exists_only_when_used() {
    let only_named = "# header\n\npolicy a\nallow x.io\n";
    let e = Engine::compile(only_named).unwrap();
    assert_eq!(e.policy("default"), None);
    assert_eq!(e.policy("a").map(|p| p.index()), Some(0));
    let r = Policies::parse(only_named).unwrap();
    assert_eq!(r.names().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn rule_indices_count_rules_not_lines() {
    let text = "allow a.io id my-a\n# comment\n\nallow b.io   # trailing\npolicy p\nallow c.io\n";
    let e = Engine::compile(text).unwrap();
    assert_eq!(
        rule_of(&e, "default", &Query::new("a.io")),
        Some((0, "my-a".to_owned(), 1))
    );
    assert_eq!(
        rule_of(&e, "default", &Query::new("b.io")),
        Some((1, "default:4".to_owned(), 4))
    );
    assert_eq!(
        rule_of(&e, "p", &Query::new("c.io")),
        Some((0, "p:6".to_owned(), 6))
    );
    let r = Policies::parse(text).unwrap();
    let v = r.check("default", b"b.io", None, None).unwrap();
    assert_eq!(
        (v.rule_index, v.id.as_deref()),
        (Some(1), Some("default:4"))
    );
}

#[test]
fn rule_options_in_any_order_keep_their_index_and_id() {
    let text = "allow a.io id first via tls port 443\n\
                allow b.io via http id second port 80\n\
                allow c.io port 80 id third via dns\n";
    let e = Engine::compile(text).unwrap();
    let q = Query::new("b.io").port(80).via(Via::Http);
    assert_eq!(
        rule_of(&e, "default", &q).map(|(i, id, _)| (i, id)),
        Some((1, "second".to_string()))
    );
}

// ---------------------------------------------------------------------------------------------
// Lookup entry points

#[test]
fn check_name_and_check_batch_agree_with_check() {
    let text = "allow api.kadath.io\nallow **.stripe.com port 443\ndeny ~ads.*\nallow 10.0.0.0/8\n";
    let e = Engine::compile(text).unwrap();
    let p = e.policy("default").unwrap();
    let names = [
        "api.kadath.io",
        "a.stripe.com",
        "ads1.x",
        "10.1.1.1",
        "a..b",
        "bücher.de",
    ];
    let queries: Vec<Query<'_>> = names
        .iter()
        .flat_map(|n| [Query::new(*n), Query::new(*n).port(443).via(Via::Tls)])
        .collect();
    let mut out = vec![Verdict::default(); queries.len() + 1];
    assert_eq!(e.check_batch(p, &queries, &mut out), queries.len());
    for (q, v) in queries.iter().zip(&out) {
        assert_eq!(*v, e.check(p, q));
        if let Ok(name) = hostgate::normalize(q.name) {
            assert_eq!(e.check_name(p, &name, q.port, q.via), *v);
        }
    }
    assert_eq!(e.check_batch(p, &queries, &mut out[..3]), 3);
}
